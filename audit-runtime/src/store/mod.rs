//! The audit store: entries, revisions and view counts in SQLite (embedded, the default) or
//! PostgreSQL (shared by many replicas), append-only and hash-chained.
//!
//! [`AuditStore`] reads (history, versions, verify, view counts); [`Auditor`] writes, in batches,
//! from a background thread, spooling to a local file while the database is away.
//!
//! ```no_run
//! # async fn demo() -> Result<(), audit_runtime::store::StoreError> {
//! use audit_runtime::store::AuditStore;
//! let store = AuditStore::connect("sqlite://audit.db").await?;
//! for stored in store.history("observation", "17").await? {
//!     println!("{} {} {}", stored.seq, stored.entry.action, stored.entry.message);
//! }
//! assert!(store.verify().await?.is_intact());
//! # Ok(()) }
//! ```

mod anchor;
mod append;
mod attest;
mod auditor;
mod chain;
mod dialect;
mod events;
mod journal;
mod outbox;
mod record;
mod record_log;
mod schema;
mod snapshot;
mod spool;
mod url;
#[cfg(feature = "witness")]
pub mod witness;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection, Row};
use time::{Date, OffsetDateTime};

use crate::audit::{Action, Actor, AuditEntry, Audited};

pub use anchor::{Anchor, AnchorMismatch, AnchorParseError};
pub use auditor::{Auditor, AuditorBuilder, AuditorStats, Revision};
pub use chain::{BrokenEntry, Tampering};
pub use outbox::{AuditTransaction, InTransaction, TransactionRevision};
pub use url::Backend;

use chain::{ChainWalker, EntryRow, actor_columns, actor_from_columns, from_unix_micros, storable, unix_micros};
use record::RevisionRecord;
use url::DatabaseUrl;

/// What can go wrong with the store. Messages name the input (URLs without their password)
/// and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL cannot be used.
    #[error("invalid database URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, password hidden.
        url: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// The URL names a backend this build does not include.
    #[error("this build has no {backend} support: enable the `{feature}` feature of audit-runtime")]
    BackendNotBuilt {
        /// `SQLite` or `PostgreSQL`.
        backend: &'static str,
        /// The Cargo feature that adds it.
        feature: &'static str,
    },
    /// The database could not be reached.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database was created by a newer version of the toolkit.
    #[error(
        "the audit schema in this database is version {found}, newer than this build understands (up to {supported}): \
         upgrade audit-runtime"
    )]
    NewerSchema {
        /// The version found.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// A statement failed.
    #[error("{context}: {source}")]
    Database {
        /// What the store was doing.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Stored data that does not have the shape the store writes.
    #[error("the audit store holds unexpected data: {what}")]
    Corrupt {
        /// What was found.
        what: String,
    },
    /// A value could not be turned into JSON.
    #[error("cannot serialize an audit record: {0}")]
    Serialize(#[source] serde_json::Error),
    /// A version cannot be restored as the current type.
    #[error(
        "version {version_id} of {object_type} {object_id} cannot be restored as the current type: {reason} \
         (the snapshot has the fields {fields:?}; give fields added since #[serde(default)])"
    )]
    Revert {
        /// The version asked for.
        version_id: i64,
        /// Its object type.
        object_type: String,
        /// Its object id.
        object_id: String,
        /// The fields the snapshot was taken with.
        fields: Vec<String>,
        /// serde's message, naming the field.
        reason: String,
    },
    /// The database was made by an older version of the toolkit: a read-only open
    /// ([`AuditStore::open_existing`]) does not migrate it.
    #[error(
        "the audit schema in this database is version {found}, older than this build reads ({supported}): \
         open it once with AuditStore::connect (or start the application) to migrate it"
    )]
    OlderSchema {
        /// The version found.
        found: i64,
        /// The version this build reads.
        supported: i64,
    },
    /// A read-only open found no store: the SQLite file does not exist, or the database has no
    /// audit tables. Nothing was created.
    #[error("no audit store at {location}: {reason} (nothing was created)")]
    NoStore {
        /// The file path or URL (password hidden).
        location: String,
        /// What was missing.
        reason: String,
    },
    /// [`AuditStore::revert`] was given a version of another object.
    #[error(
        "version {version_id} is a version of {version_object}, not of {current_object}: \
         revert takes a version of the object it is given"
    )]
    VersionOfAnotherObject {
        /// The version asked for.
        version_id: i64,
        /// The object the version belongs to (`type id`).
        version_object: String,
        /// The object given (`type id`).
        current_object: String,
    },
    /// [`AuditStore::verify_against`]: the store does not hold what the anchor saw.
    #[error("the store does not match the anchor {anchor}: {mismatch}")]
    AnchorMismatch {
        /// The anchor checked against.
        anchor: Anchor,
        /// What was found instead.
        mismatch: AnchorMismatch,
    },
    /// A key, checkpoint or witness could not be used (feature `witness`).
    #[cfg(feature = "witness")]
    #[error(transparent)]
    Witness(#[from] witness::WitnessError),
    /// Nothing with that id.
    #[error("{what} does not exist")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// Purging would remove entries that do not verify.
    #[error("refusing to purge: the chain is broken at entry {}: {}", .0.seq, .0.tampering)]
    BrokenChain(BrokenEntry),
    /// The local spool file could not be written or read.
    #[error("audit spool {path}: {source}")]
    Spool {
        /// The spool file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Records could be written neither to the database nor to the spool.
    #[error("audit records are not durable: the database refused them and the spool could not take them: {reason}")]
    NotDurable {
        /// The spool's error.
        reason: String,
    },
    /// The journal directory could not be opened, locked or written.
    #[error("audit journal {path}: {source}")]
    Journal {
        /// The journal directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database did not answer in time: handled like an outage.
    #[error("the database did not answer within {after:?} while {what}")]
    Timeout {
        /// What the store was doing.
        what: &'static str,
        /// The limit.
        after: Duration,
    },
    /// A transaction given to `Auditor::in_transaction` is not on the store's database.
    #[error("cannot record in this transaction: {reason}")]
    WrongDatabase {
        /// What is wrong and what to do.
        reason: String,
    },
    /// The auditor's writer thread is gone (it was shut down).
    #[error("the auditor has been shut down")]
    WriterStopped,
}

/// Wraps a driver error with what the store was doing.
pub(crate) fn db_error(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { context, source }
}

/// One stored entry: its place in the chain, the entry, and its hash.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StoredEntry {
    /// Position in the hash chain (1 for the first entry ever written).
    pub seq: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// SHA-256 (hex) over the entry and the previous entry's hash.
    pub hash: String,
}

/// A filter over entries, newest first; page with [`before`](Self::before).
///
/// ```
/// use audit_runtime::store::EntryQuery;
/// let page = EntryQuery::new().object("observation", "17").limit(50);
/// ```
#[derive(Clone, Debug, Default)]
pub struct EntryQuery {
    object_type: Option<String>,
    object_id: Option<String>,
    actor: Option<Actor>,
    action: Option<Action>,
    request_id: Option<String>,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    before_seq: Option<i64>,
    limit: Option<u32>,
}

impl EntryQuery {
    /// Every entry.
    pub fn new() -> Self {
        Self::default()
    }
    /// Entries of one object.
    pub fn object(mut self, object_type: &str, object_id: &str) -> Self {
        self.object_type = Some(object_type.to_owned());
        self.object_id = Some(object_id.to_owned());
        self
    }
    /// Entries of one object type.
    pub fn object_type(mut self, object_type: &str) -> Self {
        self.object_type = Some(object_type.to_owned());
        self
    }
    /// Entries made by one actor.
    pub fn actor(mut self, actor: &Actor) -> Self {
        self.actor = Some(actor.clone());
        self
    }
    /// Entries of one action.
    pub fn action(mut self, action: Action) -> Self {
        self.action = Some(action);
        self
    }
    /// Entries recorded in one request (its request id).
    pub fn request_id(mut self, request_id: &str) -> Self {
        self.request_id = Some(request_id.to_owned());
        self
    }
    /// Entries at or after `time`.
    pub fn since(mut self, time: OffsetDateTime) -> Self {
        self.since = Some(time);
        self
    }
    /// Entries before `time`.
    pub fn until(mut self, time: OffsetDateTime) -> Self {
        self.until = Some(time);
        self
    }
    /// Entries older than the entry `seq` (the `seq` of the last entry of the previous page).
    pub fn before(mut self, seq: i64) -> Self {
        self.before_seq = Some(seq);
        self
    }
    /// At most `limit` entries.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// The result of [`AuditStore::verify`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub checked: u64,
    /// The first entry that does not verify, if any.
    pub first_broken: Option<BrokenEntry>,
    /// The purge checkpoint the check started from (`seq`), if entries were purged.
    pub checkpoint: Option<i64>,
    /// The newest position checked, when intact (see [`VerifyReport::head`]).
    head: Option<Anchor>,
}

impl VerifyReport {
    /// Whether every entry verified.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// The result of [`AuditStore::purge_before`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// Entries removed.
    pub removed: u64,
    /// The `seq` of the checkpoint left in their place (the last removed entry).
    pub checkpoint: Option<i64>,
}

/// A snapshot of an object, as a revision recorded it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Version<T> {
    /// What [`AuditStore::revert`] takes.
    pub id: i64,
    /// The revision it belongs to.
    pub revision_id: i64,
    /// The id of the object it is a version of.
    pub object_id: String,
    /// The object as it was.
    pub object: T,
    /// Who made the revision.
    pub user: Option<Actor>,
    /// The revision's comment.
    pub comment: Option<String>,
    /// When the revision was committed (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Views of one object, from the anonymous analytics entries.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ViewCount {
    /// The object's id.
    pub object_id: String,
    /// Views counted.
    pub views: u64,
}

/// A day from a date or a time, for [`AuditStore::view_counts`].
pub trait IntoDay {
    /// The UTC day.
    fn into_day(self) -> Date;
}
impl IntoDay for Date {
    fn into_day(self) -> Date {
        self
    }
}
impl IntoDay for OffsetDateTime {
    fn into_day(self) -> Date {
        self.to_offset(time::UtcOffset::UTC).date()
    }
}

/// Connections to the audit database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AuditStore {
    inner: Arc<StoreInner>,
}

#[derive(Debug)]
struct StoreInner {
    pool: AnyPool,
    url: DatabaseUrl,
}

const ENTRY_COLUMNS: &str = "seq, time_us, actor_kind, actor_id, action, object_type, object_id, object_repr, \
                             message, changes, request_id, prev_hash, hash";

impl AuditStore {
    /// Connects to `sqlite://path` (the file is created) or `postgres://...`, and applies the
    /// embedded migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let url = migrated(url, schema::SCHEMA_VERSION).await?;
        let pool = open_pool(&url, 8, Duration::from_secs(10)).await?;
        Ok(AuditStore { inner: Arc::new(StoreInner { pool, url }) })
    }

    /// Opens an existing store to read it, and only to read it: nothing is created or migrated.
    /// A missing SQLite file, a database without audit tables, or one whose schema is older or
    /// newer than this build's, is an error. SQLite is opened with `mode=ro`; PostgreSQL
    /// sessions are `default_transaction_read_only`. Writing through the returned store (an
    /// [`Auditor`], [`purge_before`](Self::purge_before)) fails.
    pub async fn open_existing(url: &str) -> Result<Self, StoreError> {
        let mut url = DatabaseUrl::parse(url)?;
        if let Some(path) = &url.sqlite_path {
            if !path.is_file() {
                return Err(StoreError::NoStore {
                    location: path.display().to_string(),
                    reason: "the file does not exist".to_owned(),
                });
            }
            let (base, query) = url.connect.split_once('?').unwrap_or((url.connect.as_str(), ""));
            let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("mode=")).collect();
            params.push("mode=ro");
            url.connect = format!("{base}?{}", params.join("&"));
        }
        sqlx::any::install_default_drivers();
        let backend = url.backend;
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    use sqlx::Executor as _;
                    let setting = match backend {
                        Backend::Sqlite => "PRAGMA busy_timeout = 10000",
                        Backend::Postgres => "SET default_transaction_read_only = on",
                    };
                    conn.execute(setting).await.map(drop)
                })
            })
            .connect(&url.connect)
            .await
            .map_err(|source| StoreError::Connect { url: url.shown.clone(), source })?;
        let version: Option<String> =
            match sqlx::query_scalar("SELECT value FROM audit_meta WHERE key = 'schema_version'")
                .fetch_optional(&pool)
                .await
            {
                Ok(version) => version,
                Err(sqlx::Error::Database(_)) => None,
                Err(source) => return Err(StoreError::Database { context: "reading the schema version", source }),
            };
        let Some(version) = version else {
            let location = url.sqlite_path.as_ref().map_or_else(|| url.shown.clone(), |p| p.display().to_string());
            return Err(StoreError::NoStore { location, reason: "the database has no audit tables".to_owned() });
        };
        let found = version.parse::<i64>().map_err(|_| StoreError::Corrupt {
            what: format!("audit_meta.schema_version is {version:?}, not a number"),
        })?;
        if found > schema::SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { found, supported: schema::SCHEMA_VERSION });
        }
        if found < schema::SCHEMA_VERSION {
            return Err(StoreError::OlderSchema { found, supported: schema::SCHEMA_VERSION });
        }
        Ok(AuditStore { inner: Arc::new(StoreInner { pool, url }) })
    }

    /// Creates the tables of an older schema version, as an earlier release left them: the
    /// toolkit's own migration tests start from it. Not part of the API.
    #[doc(hidden)]
    pub async fn create_at_version(url: &str, version: i64) -> Result<(), StoreError> {
        migrated(url, version).await.map(drop)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.inner.url.backend
    }

    /// The URL, with any password hidden.
    pub fn url(&self) -> &str {
        &self.inner.url.shown
    }

    pub(crate) fn database_url(&self) -> &DatabaseUrl {
        &self.inner.url
    }

    /// The actions and changes of one object, newest first.
    pub async fn history(&self, object_type: &str, object_id: &str) -> Result<Vec<StoredEntry>, StoreError> {
        self.entries(&EntryQuery::new().object(object_type, object_id)).await
    }

    /// Entries matching `query`, newest first. The entries by which the chain attests
    /// revisions, view counts and purges (object types `audit.revision`, `audit.views`,
    /// `audit.purge`: the `audit.` prefix is reserved) are listed only when the query names
    /// their object type.
    pub async fn entries(&self, query: &EntryQuery) -> Result<Vec<StoredEntry>, StoreError> {
        // One object's entries on SQLite: walk its list from the newest (see `append.rs`); $1
        // and $2 are the object's type and id, bound first below. PostgreSQL has an index.
        let walk = dialect::of(self.backend()).object_lists && query.object_type.is_some() && query.object_id.is_some();
        let mut sql = if walk {
            format!(
                "WITH RECURSIVE object_chain (seq) AS (\
                 SELECT last_seq FROM audit_object_heads WHERE object_type = $1 AND object_id = $2 \
                 UNION ALL SELECT entry.object_prev FROM audit_entries AS entry \
                 JOIN object_chain ON entry.seq = object_chain.seq WHERE entry.object_prev IS NOT NULL) \
                 SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE seq IN (SELECT seq FROM object_chain)"
            )
        } else {
            format!("SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE 1 = 1")
        };
        let mut texts: Vec<String> = Vec::new();
        let mut numbers: Vec<i64> = Vec::new();
        // Texts bind first ($1..), numbers after them; placeholders are numbered accordingly.
        let mut text_clauses = Vec::new();
        if let Some(t) = &query.object_type {
            texts.push(t.clone());
            text_clauses.push("object_type");
        }
        if let Some(id) = &query.object_id {
            texts.push(id.clone());
            text_clauses.push("object_id");
        }
        if let Some(actor) = &query.actor {
            let (kind, id) = actor_columns(actor);
            texts.push(kind.to_owned());
            text_clauses.push("actor_kind");
            texts.push(id.to_owned());
            text_clauses.push("actor_id");
        }
        if let Some(action) = query.action {
            texts.push(action.as_str().to_owned());
            text_clauses.push("action");
        }
        if let Some(request_id) = &query.request_id {
            texts.push(request_id.clone());
            text_clauses.push("request_id");
        }
        for (i, column) in text_clauses.iter().enumerate() {
            sql.push_str(&format!(" AND {column} = ${}", i + 1));
        }
        let mut number_clauses = Vec::new();
        if let Some(since) = query.since {
            numbers.push(unix_micros(since));
            number_clauses.push("time_us >=");
        }
        if let Some(until) = query.until {
            numbers.push(unix_micros(until));
            number_clauses.push("time_us <");
        }
        if let Some(seq) = query.before_seq {
            numbers.push(seq);
            number_clauses.push("seq <");
        }
        for (i, clause) in number_clauses.iter().enumerate() {
            sql.push_str(&format!(" AND {clause} ${}", texts.len() + i + 1));
        }
        if query.object_type.is_none() {
            // The chain's own attestations (revisions, view counts, purges) are listed only
            // when asked for by their object type.
            sql.push_str(" AND object_type NOT LIKE 'audit.%'");
        }
        sql.push_str(" ORDER BY seq DESC");
        if let Some(limit) = query.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut statement = sqlx::query(&sql);
        for text in texts {
            statement = statement.bind(text);
        }
        for number in numbers {
            statement = statement.bind(number);
        }
        let rows = statement.fetch_all(&self.inner.pool).await.map_err(db_error("reading audit entries"))?;
        rows.iter()
            .map(|row| {
                let row = entry_row(row)?;
                Ok(StoredEntry { seq: row.seq, entry: row.to_entry()?, hash: row.hash })
            })
            .collect()
    }

    /// Number of entries stored (after any purge), not counting the chain's own attestations
    /// (see [`entries`](Self::entries)).
    pub async fn entry_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_entries WHERE object_type NOT LIKE 'audit.%'")
            .fetch_one(&self.inner.pool)
            .await
            .map_err(db_error("counting audit entries"))?;
        Ok(count as u64)
    }

    /// Checks the hash chain from the oldest entry (or the last purge checkpoint) to the newest.
    pub async fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.verify_with_progress(|_| {}).await
    }

    /// [`verify`](Self::verify), calling `progress` with the number of entries checked so far
    /// after each page (for a progress bar).
    ///
    /// Besides each entry's hash and link, it checks what the chain attests about the other
    /// tables: every revision and version as stored, the view counts, the newest purge
    /// checkpoint, and (SQLite) the object lists and their heads. A problem there is reported
    /// with the `seq` of the entry that attests the row (0 when none does).
    pub async fn verify_with_progress(&self, mut progress: impl FnMut(u64)) -> Result<VerifyReport, StoreError> {
        let checkpoint = self.last_checkpoint().await?;
        let start = checkpoint.as_ref().map(|(seq, hash, _)| (*seq, hash.clone()));
        let mut walker = ChainWalker::new(start.clone());
        let mut after = start.as_ref().map_or(0, |(seq, _)| *seq);
        let mut head: Option<(i64, String)> = None;
        let lists = dialect::of(self.backend()).object_lists;
        let prev = if lists { "object_prev" } else { "NULL AS object_prev" };
        let sql = format!("SELECT {ENTRY_COLUMNS}, {prev} FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT 5000");
        let mut attested = attest::Attested::default();
        let report = |walker: &ChainWalker, first_broken, head| VerifyReport {
            checked: walker.checked,
            first_broken,
            checkpoint: start.as_ref().map(|c| c.0),
            head,
        };
        loop {
            let rows = sqlx::query(&sql)
                .bind(after)
                .fetch_all(&self.inner.pool)
                .await
                .map_err(db_error("reading audit entries to verify"))?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let object_prev: Option<i64> = get(row, "object_prev")?;
                let row = entry_row(row)?;
                after = row.seq;
                if let Some(broken) = walker.check(&row, start.is_some()) {
                    return Ok(report(&walker, Some(broken), None));
                }
                attested.note(&row, lists, object_prev);
                head = Some((row.seq, row.hash));
            }
            progress(walker.checked);
        }
        let mut conn = self.inner.pool.acquire().await.map_err(|source| self.inner.url.connect_error(source))?;
        let found = attested.check(&mut conn, checkpoint, lists).await?;
        if let Some(found) = found {
            return Ok(report(&walker, Some(found.into_broken()), None));
        }
        let head = head.or(start.clone()).map(|(seq, hash)| Anchor { seq, hash });
        Ok(report(&walker, None, head))
    }

    async fn last_checkpoint(&self) -> Result<Option<(i64, String, i64)>, StoreError> {
        let row = sqlx::query("SELECT seq, hash, removed FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(db_error("reading the purge checkpoint"))?;
        row.map(|row| Ok((get(&row, "seq")?, get(&row, "hash")?, get(&row, "removed")?))).transpose()
    }

    /// Removes the entries older than `time` (the oldest ones, up to the first entry at or after
    /// `time`) and leaves a checkpoint, so [`verify`](Self::verify) still holds for the rest.
    /// Refuses when the entries to remove do not verify: purging must not hide tampering.
    pub async fn purge_before(&self, time: OffsetDateTime) -> Result<PurgeReport, StoreError> {
        let report = self.verify().await?;
        let cutoff = unix_micros(time);
        let mut conn = self.inner.pool.acquire().await.map_err(db_error("connecting to purge"))?;
        let backend = self.backend();
        begin_exclusive(&mut conn, backend).await?;
        let result = purge(&mut conn, backend, cutoff, &report).await;
        finish(&mut conn, result, "purging old audit entries").await
    }

    /// The snapshots of one object, newest first. A snapshot never holds redacted and skipped
    /// fields: here they read as empty values (`""`, `0`, `[]`, `None`), and
    /// [`revert`](Self::revert) gives them the current object's values.
    pub async fn versions<T: Audited + DeserializeOwned>(
        &self,
        object_id: &str,
    ) -> Result<Vec<Version<T>>, StoreError> {
        self.version_rows(T::object_type(), object_id).await?.iter().map(version_from_row).collect()
    }

    /// The snapshots of one object as stored (JSON), newest first: for tools that do not know
    /// the object's type, such as `audit versions`.
    pub async fn version_snapshots(
        &self,
        object_type: &str,
        object_id: &str,
    ) -> Result<Vec<Version<serde_json::Value>>, StoreError> {
        self.version_rows(object_type, object_id).await?.iter().map(version_from_row).collect()
    }

    async fn version_rows(&self, object_type: &str, object_id: &str) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        sqlx::query(
            "SELECT v.id, v.revision_id, v.object_type, v.object_id, v.fields, v.snapshot, r.created_us, \
             r.actor_kind, r.actor_id, r.comment \
             FROM audit_versions v JOIN audit_revisions r ON r.id = v.revision_id \
             WHERE v.object_type = $1 AND v.object_id = $2 ORDER BY v.id DESC",
        )
        .bind(object_type)
        .bind(object_id)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db_error("reading versions"))
    }

    /// `current` as the version `version_id` recorded it: the stored fields come from the
    /// version, and the fields a version never stores (redacted and skipped ones) keep
    /// `current`'s values. Fields added to the type since the version was taken take their serde
    /// default (or the error names them). A version of another object (or type) is refused with
    /// [`StoreError::VersionOfAnotherObject`].
    ///
    /// Reverting changes nothing by itself: save the result, and record the change like any other.
    ///
    /// ```no_run
    /// # use audit_runtime::store::{AuditStore, Auditor, StoreError};
    /// # use audit_runtime::{Action, Actor, Audited};
    /// # #[derive(Audited, Clone, serde::Serialize, serde::Deserialize)]
    /// # struct Ward { id: i64, name: String }
    /// # async fn demo(store: AuditStore, auditor: Auditor, current: Ward, version_id: i64) -> Result<(), StoreError> {
    /// let reverted = store.revert(&current, version_id).await?;
    /// // ... save `reverted` in the application's table, then:
    /// auditor.track_change(&Actor::user(42), &current, &reverted);
    /// auditor.log_action(&Actor::user(42), Action::Change, &reverted, &format!("reverted to version {version_id}"));
    /// # Ok(()) }
    /// ```
    pub async fn revert<T>(&self, current: &T, version_id: i64) -> Result<T, StoreError>
    where
        T: Audited + serde::Serialize + DeserializeOwned,
    {
        let row = sqlx::query(
            "SELECT v.id, v.revision_id, v.object_type, v.object_id, v.fields, v.snapshot, r.created_us, \
             r.actor_kind, r.actor_id, r.comment \
             FROM audit_versions v JOIN audit_revisions r ON r.id = v.revision_id WHERE v.id = $1",
        )
        .bind(version_id)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(db_error("reading a version"))?
        .ok_or_else(|| StoreError::NotFound { what: format!("version {version_id}") })?;
        let object_type: String = get(&row, "object_type")?;
        let object_id: String = get(&row, "object_id")?;
        let current_id = current.object_id();
        if object_type != T::object_type() || object_id != current_id {
            return Err(StoreError::VersionOfAnotherObject {
                version_id,
                version_object: format!("{object_type} {object_id}"),
                current_object: format!("{} {current_id}", T::object_type()),
            });
        }
        let whole = serde_json::to_value(current).map_err(StoreError::Serialize)?;
        let snapshot = current.snapshot();
        Ok(version_restored::<T>(&row, |restored| keep_never_stored(restored, &whole, &snapshot), false)?.object)
    }

    /// Claims `key` for the current window of length `window`: `true` for the first claim of the
    /// key in each window, `false` for the others. The count lives in the database, so every
    /// process sharing the store shares one limit (the configuration-error mail uses it).
    ///
    /// One atomic statement: two processes claiming at once cannot both win.
    pub async fn claim(&self, key: &str, window: Duration) -> Result<bool, StoreError> {
        claim(&self.inner.pool, key, window).await
    }

    /// Views per object of `object_type` since `since` (a `time::Date` or an `OffsetDateTime`),
    /// most viewed first.
    pub async fn view_counts(&self, object_type: &str, since: impl IntoDay) -> Result<Vec<ViewCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT object_id, CAST(SUM(count) AS BIGINT) AS views FROM audit_views \
             WHERE object_type = $1 AND day >= $2 GROUP BY object_id ORDER BY views DESC, object_id",
        )
        .bind(object_type)
        .bind(day_text(since.into_day()))
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db_error("reading view counts"))?;
        rows.iter()
            .map(|row| Ok(ViewCount { object_id: get(row, "object_id")?, views: get::<i64>(row, "views")? as u64 }))
            .collect()
    }
}

/// Parses `url` and brings its schema up to `version` over one direct connection: an
/// unreachable server is reported at once (a pool would retry until its timeout).
async fn migrated(url: &str, version: i64) -> Result<DatabaseUrl, StoreError> {
    let url = DatabaseUrl::parse(url)?;
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(&url.connect).await.map_err(|source| url.connect_error(source))?;
    prepare_connection(&mut conn, url.backend).await.map_err(db_error("configuring the connection"))?;
    schema::migrate_to(&mut conn, url.backend, version).await?;
    let _ = conn.close().await;
    Ok(url)
}

/// A connection pool for `url`; connections are opened when first needed.
pub(crate) async fn open_pool(url: &DatabaseUrl, max: u32, acquire: Duration) -> Result<AnyPool, StoreError> {
    pool_with(url, max, acquire, "")
}

/// The writer's pool: its connection, and one for the checkpoints it starts itself.
pub(crate) fn open_writer_pool(url: &DatabaseUrl) -> Result<AnyPool, StoreError> {
    pool_with(url, 2, Duration::from_secs(2), dialect::of(url.backend).writer_setup)
}

fn pool_with(url: &DatabaseUrl, max: u32, acquire: Duration, extra: &'static str) -> Result<AnyPool, StoreError> {
    sqlx::any::install_default_drivers();
    let backend = url.backend;
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(acquire)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                prepare_connection(conn, backend).await?;
                if !extra.is_empty() {
                    use sqlx::Executor as _;
                    conn.execute(extra).await?;
                }
                Ok(())
            })
        })
        .connect_lazy(&url.connect)
        .map_err(|source| url.connect_error(source))
}

/// Per-connection settings (the dialect's).
async fn prepare_connection(conn: &mut AnyConnection, backend: Backend) -> Result<(), sqlx::Error> {
    use sqlx::Executor as _;
    conn.execute(dialect::of(backend).connection_setup).await.map(drop)
}

/// Starts a transaction that holds the chain's write lock (so replicas append one batch at a
/// time; readers never wait).
pub(crate) async fn begin_exclusive(conn: &mut AnyConnection, backend: Backend) -> Result<(), StoreError> {
    sqlx::raw_sql(dialect::of(backend).begin_exclusive)
        .execute(&mut *conn)
        .await
        .map_err(db_error("starting a write transaction"))?;
    Ok(())
}

/// Commits when `result` is Ok, rolls back otherwise.
pub(crate) async fn finish<T>(
    conn: &mut AnyConnection,
    result: Result<T, StoreError>,
    context: &'static str,
) -> Result<T, StoreError> {
    match result {
        Ok(value) => {
            sqlx::raw_sql("COMMIT").execute(&mut *conn).await.map_err(db_error(context))?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await {
                events::RollbackFailed { reason: &rollback.to_string() }.emit();
            }
            Err(error)
        }
    }
}

async fn purge(
    conn: &mut AnyConnection,
    backend: Backend,
    cutoff: i64,
    report: &VerifyReport,
) -> Result<PurgeReport, StoreError> {
    // The chain is cut at a prefix: up to the entry before the first one at or after `time`.
    let first_kept: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM audit_entries WHERE time_us >= $1")
        .bind(cutoff)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error("finding entries to purge"))?;
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_entries")
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error("finding entries to purge"))?;
    let Some(cut) = first_kept.map(|seq| seq - 1).or(last) else {
        return Ok(PurgeReport { removed: 0, checkpoint: None });
    };
    if let Some(broken) = &report.first_broken {
        if broken.seq <= cut + 1 {
            return Err(StoreError::BrokenChain(broken.clone()));
        }
    }
    let hash: Option<String> = sqlx::query_scalar("SELECT hash FROM audit_entries WHERE seq = $1")
        .bind(cut)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error("reading the checkpoint entry"))?;
    let Some(hash) = hash else {
        return Ok(PurgeReport { removed: 0, checkpoint: None });
    };
    // Revisions attested by the entries that go, go with them; the view counts those entries
    // attested are carried by the purge's own entry, so the counts still verify.
    let last_revision: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(CAST(object_id AS BIGINT)) FROM audit_entries WHERE seq <= $1 AND object_type = $2",
    )
    .bind(cut)
    .bind(attest::REVISION)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error("finding revisions to purge"))?;
    let carried = attest::carried_views(conn, cut).await?;
    let removed = (dialect::of(backend).purge)(conn, cut, last_revision.unwrap_or(0)).await?;
    sqlx::query("INSERT INTO audit_checkpoints (seq, hash, removed, created_us) VALUES ($1, $2, $3, $4)")
        .bind(cut)
        .bind(hash.as_str())
        .bind(removed as i64)
        .bind(unix_micros(OffsetDateTime::now_utc()))
        .execute(&mut *conn)
        .await
        .map_err(db_error("writing the purge checkpoint"))?;
    let mut rows = vec![EntryRow::from_entry(&attest::purge_entry(cut, &hash, removed, &carried))?];
    append::append_entries(conn, backend, &mut rows, &mut dialect::RecentHeads::default()).await?;
    events::Purged { removed, checkpoint: cut }.emit();
    Ok(PurgeReport { removed, checkpoint: Some(cut) })
}

/// Writes a revision and its versions; returns its id and the chain entry that attests them
/// (a digest of the rows as stored).
pub(crate) async fn append_revision(
    conn: &mut AnyConnection,
    revision: &RevisionRecord,
) -> Result<(i64, AuditEntry), StoreError> {
    let (kind, id) = match &revision.user {
        Some(actor) => {
            let (kind, id) = actor_columns(actor);
            (Some(kind), Some(storable(id)))
        }
        None => (None, None),
    };
    let comment = revision.comment.as_deref().map(storable);
    let request_id = revision.request_id.as_deref().map(storable);
    let revision_id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_revisions (created_us, actor_kind, actor_id, comment, request_id) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(revision.created_us)
    .bind(kind)
    .bind(id.as_deref())
    .bind(comment.as_deref())
    .bind(request_id.as_deref())
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error("writing a revision"))?;
    let mut digest = attest::RevisionDigest::default();
    attest::revision_fields(
        &mut digest,
        revision.created_us,
        kind,
        id.as_deref(),
        comment.as_deref(),
        request_id.as_deref(),
    );
    for version in &revision.versions {
        let fields: Vec<&str> = match &version.snapshot {
            serde_json::Value::Object(map) => map.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        let (object_type, object_id, object_repr) =
            (storable(&version.object_type), storable(&version.object_id), storable(&version.object_repr));
        let fields = serde_json::to_string(&fields).map_err(StoreError::Serialize)?;
        let snapshot = serde_json::to_string(&version.snapshot).map_err(StoreError::Serialize)?;
        let version_id: i64 = sqlx::query_scalar(
            "INSERT INTO audit_versions (revision_id, object_type, object_id, object_repr, fields, snapshot) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(revision_id)
        .bind(object_type.as_str())
        .bind(object_id.as_str())
        .bind(object_repr.as_str())
        .bind(fields.as_str())
        .bind(snapshot.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error("writing a version"))?;
        attest::version_fields(&mut digest, version_id, &object_type, &object_id, &object_repr, &fields, &snapshot);
    }
    let entry = attest::revision_entry(
        revision_id,
        revision.user.as_ref(),
        revision.comment.as_deref(),
        revision.request_id.as_deref(),
        digest.finish(),
    );
    Ok((revision_id, entry))
}

/// Adds views to the per-day counters.
pub(crate) async fn add_views(
    conn: &mut AnyConnection,
    views: &std::collections::BTreeMap<(String, String, String), i64>,
) -> Result<(), StoreError> {
    for ((object_type, object_id, day), count) in views {
        sqlx::query(
            "INSERT INTO audit_views (object_type, object_id, day, count) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (object_type, object_id, day) DO UPDATE SET count = audit_views.count + excluded.count",
        )
        .bind(storable(object_type))
        .bind(storable(object_id))
        .bind(day.as_str())
        .bind(*count)
        .execute(&mut *conn)
        .await
        .map_err(db_error("counting views"))?;
    }
    Ok(())
}

pub(crate) async fn claim(pool: &AnyPool, key: &str, window: Duration) -> Result<bool, StoreError> {
    let now = unix_micros(OffsetDateTime::now_utc());
    let window_start_before = now - i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
    // Every SET expression reads the row as it was, on both databases.
    let count: i64 = sqlx::query_scalar(
        "INSERT INTO audit_rate_limits (key, window_start_us, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
         count = CASE WHEN audit_rate_limits.window_start_us <= $3 THEN 1 ELSE audit_rate_limits.count + 1 END, \
         window_start_us = CASE WHEN audit_rate_limits.window_start_us <= $3 THEN $2 \
                                ELSE audit_rate_limits.window_start_us END \
         RETURNING count",
    )
    .bind(storable(key))
    .bind(now)
    .bind(window_start_before)
    .fetch_one(pool)
    .await
    .map_err(db_error("claiming a rate limit"))?;
    Ok(count == 1)
}

pub(crate) fn day_text(day: Date) -> String {
    format!("{:04}-{:02}-{:02}", day.year(), u8::from(day.month()), day.day())
}

/// Gives `restored` (a stored snapshot) the fields a snapshot never stores (redacted and
/// skipped ones), from `current` (the object serialised whole) where `current_snapshot` (its
/// own snapshot) lacks them; nested objects likewise. Fields the snapshot lacks because they
/// were added to the type since are left out, so they take their serde default.
fn keep_never_stored(
    restored: &mut serde_json::Value,
    current: &serde_json::Value,
    current_snapshot: &serde_json::Value,
) {
    use serde_json::Value;
    let (Value::Object(restored), Value::Object(current), Value::Object(stored)) =
        (restored, current, current_snapshot)
    else {
        return;
    };
    for (field, value) in current {
        match (stored.get(field), restored.get_mut(field)) {
            (None, _) => {
                restored.insert(field.clone(), value.clone());
            }
            (Some(stored), Some(restored)) => keep_never_stored(restored, value, stored),
            (Some(_), None) => {}
        }
    }
}

fn get<'r, T>(row: &'r sqlx::any::AnyRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(db_error("reading a column"))
}

fn entry_row(row: &sqlx::any::AnyRow) -> Result<EntryRow, StoreError> {
    Ok(EntryRow {
        seq: get(row, "seq")?,
        time_us: get(row, "time_us")?,
        actor_kind: get(row, "actor_kind")?,
        actor_id: get(row, "actor_id")?,
        action: get(row, "action")?,
        object_type: get(row, "object_type")?,
        object_id: get(row, "object_id")?,
        object_repr: get(row, "object_repr")?,
        message: get(row, "message")?,
        changes: get(row, "changes")?,
        request_id: get(row, "request_id")?,
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
    })
}

fn version_from_row<T: DeserializeOwned>(row: &sqlx::any::AnyRow) -> Result<Version<T>, StoreError> {
    version_restored(row, |_| {}, true)
}

/// A version's object from its snapshot, after `complete` has added what the snapshot lacks;
/// `lenient`: fields still missing read as empty values rather than failing.
fn version_restored<T: DeserializeOwned>(
    row: &sqlx::any::AnyRow,
    complete: impl FnOnce(&mut serde_json::Value),
    lenient: bool,
) -> Result<Version<T>, StoreError> {
    let id: i64 = get(row, "id")?;
    let snapshot: String = get(row, "snapshot")?;
    let fields: String = get(row, "fields")?;
    let object_type: String = get(row, "object_type")?;
    let object_id: String = get(row, "object_id")?;
    let mut snapshot: serde_json::Value = serde_json::from_str(&snapshot)
        .map_err(|e| StoreError::Corrupt { what: format!("version {id}: snapshot is not JSON: {e}") })?;
    complete(&mut snapshot);
    let object = if lenient {
        snapshot::with_missing_fields_empty::<T>(snapshot)
    } else {
        serde_json::from_value::<T>(snapshot)
    };
    let object = object.map_err(|e| StoreError::Revert {
        version_id: id,
        object_type,
        object_id: object_id.clone(),
        fields: serde_json::from_str(&fields).unwrap_or_default(),
        reason: e.to_string(),
    })?;
    let kind: Option<String> = get(row, "actor_kind")?;
    Ok(Version {
        id,
        revision_id: get(row, "revision_id")?,
        object_id,
        object,
        user: actor_from_columns(kind.as_deref(), get(row, "actor_id")?),
        comment: get(row, "comment")?,
        created_at: from_unix_micros(get(row, "created_us")?),
    })
}
