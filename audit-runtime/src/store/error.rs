//! What can go wrong with the store.

use std::time::Duration;

use super::{Anchor, AnchorMismatch, BrokenEntry};

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
    /// ([`AuditStore::open_existing`](super::AuditStore::open_existing)) does not migrate it.
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
    /// [`AuditStore::revert`](super::AuditStore::revert) was given a version of another object.
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
    /// [`AuditStore::verify_against`](super::AuditStore::verify_against): the store does not hold what the anchor saw.
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
    Witness(#[from] super::witness::WitnessError),
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
