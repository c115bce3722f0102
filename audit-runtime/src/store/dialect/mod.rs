//! What differs between the backends, in one place: each backend's file says how its
//! connections are set up, how the chain is locked, its migrations, how entries are appended
//! and which errors mean the data was refused. Nothing else in the store matches on the
//! backend.

mod postgres;
mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_ffi;
#[cfg(feature = "sqlite")]
mod sqlite_write;

use std::future::Future;
use std::pin::Pin;

#[cfg(feature = "sqlite")]
pub(crate) use sqlite_write::RecentHeads;

/// What a SQLite writer remembers of its objects; nothing without SQLite.
#[cfg(not(feature = "sqlite"))]
#[derive(Default)]
pub(crate) struct RecentHeads {
    _nothing: (),
}

use super::StoreError;
use super::chain::EntryRow;
use super::conn::WriteConn;
use super::url::Backend;

/// Appends chained rows; the last argument is the chain's end before them.
pub(crate) type AppendRows = for<'a> fn(
    &'a mut WriteConn,
    &'a [EntryRow],
    &'a mut RecentHeads,
    (i64, String),
) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// Removes entries up to `cut` and the revisions (with their versions) up to `last_revision`,
/// past the append-only triggers; returns the entries removed.
pub(crate) type PurgeRows =
    for<'a> fn(&'a mut WriteConn, i64, i64) -> Pin<Box<dyn Future<Output = Result<u64, StoreError>> + Send + 'a>>;

/// One backend's ways.
pub(crate) struct Dialect {
    /// Run on every new connection.
    pub(crate) connection_setup: &'static str,
    /// Run on the writer's connections as well.
    pub(crate) writer_setup: &'static str,
    /// Starts a transaction that holds the chain's write lock (readers never wait).
    pub(crate) begin_exclusive: &'static str,
    /// The migrations, by the version each brings the schema to.
    pub(crate) migrations: &'static [(i64, &'static str)],
    /// How `purge_before` gets past the append-only triggers, which nothing else can.
    pub(crate) purge: PurgeRows,
    /// Whether an object's history is a linked list with a heads table (else an index).
    pub(crate) object_lists: bool,
    /// Whether the writer runs the WAL checkpoints itself.
    pub(crate) own_checkpoints: bool,
    /// Whether a driver error code means the data was refused (not an outage).
    pub(crate) refuses_data: fn(&str) -> bool,
    /// Writes chained rows the way this backend writes fastest.
    pub(crate) append: AppendRows,
}

/// Version 2 on both: shared rate limits (configuration-error mail, error mail). One row per
/// key; the only table that is updated in place, and it holds no audit data.
const RATE_LIMITS_V2: &str = r#"
CREATE TABLE audit_rate_limits (
    key             TEXT PRIMARY KEY,
    window_start_us BIGINT NOT NULL,
    count           BIGINT NOT NULL
);
"#;

/// The ways of `backend`.
pub(crate) fn of(backend: Backend) -> &'static Dialect {
    match backend {
        Backend::Sqlite => &sqlite::DIALECT,
        Backend::Postgres => &postgres::DIALECT,
    }
}
