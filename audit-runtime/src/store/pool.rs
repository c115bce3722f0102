//! Connections: parsing and migrating, the read pools, the writer's connection, per-connection
//! settings, and the chain's write lock.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool};

use super::conn::WriteConn;
use super::url::{Backend, DatabaseUrl};
use super::{StoreError, dialect, events, schema};

/// Parses `url` and brings its schema up to `version` over one direct connection: an
/// unreachable server is reported at once (a pool would retry until its timeout).
pub(super) async fn migrated(url: &str, version: i64) -> Result<DatabaseUrl, StoreError> {
    let url = DatabaseUrl::parse(url)?;
    let mut conn = WriteConn::connect(&url, &[dialect::of(url.backend).connection_setup]).await?;
    schema::migrate_to(&mut conn, url.backend, version).await?;
    conn.close().await;
    Ok(url)
}

/// The writer's connection, with the dialect's settings for writers.
pub(crate) async fn open_writer(url: &DatabaseUrl) -> Result<WriteConn, StoreError> {
    let dialect = dialect::of(url.backend);
    WriteConn::connect(url, &[dialect.connection_setup, dialect.writer_setup]).await
}

/// A connection pool for `url`; connections are opened when first needed (so opening it does
/// not wait, and works outside async code too).
pub(crate) fn open_pool(url: &DatabaseUrl, max: u32, acquire: Duration) -> Result<AnyPool, StoreError> {
    sqlx::any::install_default_drivers();
    let backend = url.backend;
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(acquire)
        .after_connect(move |conn, _meta| Box::pin(async move { prepare_connection(conn, backend).await }))
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
pub(crate) async fn begin_exclusive(conn: &mut WriteConn, backend: Backend) -> Result<(), StoreError> {
    conn.raw(dialect::of(backend).begin_exclusive, "starting a write transaction").await
}

/// Commits when `result` is Ok, rolls back otherwise.
pub(crate) async fn finish<T>(
    conn: &mut WriteConn,
    result: Result<T, StoreError>,
    context: &'static str,
) -> Result<T, StoreError> {
    match result {
        Ok(value) => {
            conn.raw("COMMIT", context).await?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = conn.raw("ROLLBACK", "rolling back").await {
                events::RollbackFailed { reason: &rollback.to_string() }.emit();
            }
            Err(error)
        }
    }
}
