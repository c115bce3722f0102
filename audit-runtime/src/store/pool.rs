//! Connections: parsing and migrating, the pools, per-connection settings, and the chain's
//! write lock.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection};

use super::url::{Backend, DatabaseUrl};
use super::{StoreError, db_error, dialect, events, schema};

/// Parses `url` and brings its schema up to `version` over one direct connection: an
/// unreachable server is reported at once (a pool would retry until its timeout).
pub(super) async fn migrated(url: &str, version: i64) -> Result<DatabaseUrl, StoreError> {
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
