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
pub(crate) mod chain;
mod conn;
mod dialect;
mod error;
mod events;
mod journal;
mod marks;
mod model;
mod outbox;
mod pool;
mod read;
mod record;
mod record_log;
mod schema;
mod snapshot;
mod spool;
mod url;
#[cfg(feature = "witness")]
pub mod witness;
mod write;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

pub use anchor::{Anchor, AnchorMismatch, AnchorParseError};
pub use auditor::{Auditor, AuditorBuilder, AuditorStats, Revision};
pub use chain::{BrokenEntry, Tampering};
pub use error::StoreError;
pub use model::{EntryQuery, IntoDay, PurgeReport, StoredEntry, VerifyReport, Version, ViewCount};
pub use outbox::{AuditTransaction, InTransaction, TransactionRevision};
pub use url::Backend;

pub(crate) use error::db_error;
pub(crate) use pool::{begin_exclusive, finish, open_pool, open_writer};
// The mail reporter's rate limit (feature `smtp`) claims through the store's pool.
#[cfg(feature = "smtp")]
pub(crate) use write::claim;
pub(crate) use write::{add_views, append_revision, day_text};

use pool::migrated;
use url::DatabaseUrl;

/// Connections to the audit database. Cheap to clone. Its reads are in `read.rs`, purging and
/// the shared rate limits in `write.rs`.
#[derive(Clone, Debug)]
pub struct AuditStore {
    inner: Arc<StoreInner>,
}

#[derive(Debug)]
struct StoreInner {
    pool: AnyPool,
    url: DatabaseUrl,
    /// Opened by `open_existing`: every connection of it is read-only.
    read_only: bool,
}

const ENTRY_COLUMNS: &str = "seq, time_us, actor_kind, actor_id, action, object_type, object_id, object_repr, \
                             message, changes, request_id, prev_hash, hash";

impl AuditStore {
    /// Connects to `sqlite://path` (the file is created) or `postgres://...`, and applies the
    /// embedded migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let url = migrated(url, schema::SCHEMA_VERSION).await?;
        let pool = open_pool(&url, 8, Duration::from_secs(10))?;
        Ok(AuditStore { inner: Arc::new(StoreInner { pool, url, read_only: false }) })
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
                    conn.execute(read_only_setup(backend)).await.map(drop)
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
        Ok(AuditStore { inner: Arc::new(StoreInner { pool, url, read_only: true }) })
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

    /// A direct connection for writing outside the `Auditor` (purging), set up as this store's
    /// other connections are (read-only for `open_existing`).
    pub(crate) async fn write_connection(&self) -> Result<conn::WriteConn, StoreError> {
        let backend = self.inner.url.backend;
        let setup = if self.inner.read_only { read_only_setup(backend) } else { dialect::of(backend).connection_setup };
        conn::WriteConn::connect(&self.inner.url, &[setup]).await
    }
}

/// The setting of every connection of a store opened read-only (SQLite's is `mode=ro` in the
/// URL).
fn read_only_setup(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "PRAGMA busy_timeout = 10000",
        Backend::Postgres => "SET default_transaction_read_only = on",
    }
}
