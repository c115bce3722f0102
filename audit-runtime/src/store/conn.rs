//! The connection that writes: the backend's native sqlx connection, not sqlx's `Any`, so that
//! each backend's write path (in `dialect/`) can use what only its own driver offers: arrays on
//! PostgreSQL, the raw handle on SQLite. Reads keep the `Any` pool.

use std::str::FromStr as _;

use sqlx::Connection as _;

use super::url::{Backend, DatabaseUrl};
use super::{StoreError, db_error};

/// A native connection to the store's database.
pub(crate) enum WriteConn {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgConnection),
}

/// Evaluates `$body` with `$c` bound to the native connection (`&mut SqliteConnection` or
/// `&mut PgConnection`) inside `$conn`, a `&mut WriteConn`: the same SQL text, compiled against
/// each driver.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            #[cfg(feature = "sqlite")]
            $crate::store::conn::WriteConn::Sqlite($c) => $body,
            #[cfg(feature = "postgres")]
            $crate::store::conn::WriteConn::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_conn;

impl WriteConn {
    /// Connects to `url` (options parsed exactly as the `Any` driver parses them, TLS included)
    /// and runs each of `setup` on the new connection.
    pub(crate) async fn connect(url: &DatabaseUrl, setup: &[&str]) -> Result<Self, StoreError> {
        let connect_error = |source| url.connect_error(source);
        let mut conn = match url.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url.connect).map_err(connect_error)?;
                WriteConn::Sqlite(sqlx::SqliteConnection::connect_with(&options).await.map_err(connect_error)?)
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let options = sqlx::postgres::PgConnectOptions::from_str(&url.connect).map_err(connect_error)?;
                WriteConn::Postgres(sqlx::PgConnection::connect_with(&options).await.map_err(connect_error)?)
            }
            #[cfg(not(feature = "sqlite"))]
            Backend::Sqlite => return Err(StoreError::BackendNotBuilt { backend: "SQLite", feature: "sqlite" }),
            #[cfg(not(feature = "postgres"))]
            Backend::Postgres => {
                return Err(StoreError::BackendNotBuilt { backend: "PostgreSQL", feature: "postgres" });
            }
        };
        for statements in setup.iter().filter(|s| !s.is_empty()) {
            conn.raw(statements, "configuring the connection").await?;
        }
        Ok(conn)
    }

    /// Runs `sql` (one or more statements, no parameters). Through `Executor::execute`, whose
    /// future is boxed: `raw_sql`'s `async fn` trips the compiler's proof that the dialects'
    /// boxed futures are `Send` for every lifetime.
    pub(crate) async fn raw(&mut self, sql: &str, context: &'static str) -> Result<(), StoreError> {
        use sqlx::Executor as _;
        on_conn!(self, c => c.execute(sql).await.map(drop).map_err(db_error(context)))
    }

    /// The SQLite connection: the dialect is chosen by the same URL as the connection, so a
    /// SQLite dialect never holds another backend's.
    #[cfg(feature = "sqlite")]
    pub(crate) fn sqlite(&mut self) -> &mut sqlx::SqliteConnection {
        match self {
            WriteConn::Sqlite(conn) => conn,
            #[cfg(feature = "postgres")]
            WriteConn::Postgres(_) => unreachable!("the SQLite dialect on a PostgreSQL connection"),
        }
    }

    /// The PostgreSQL connection (see [`sqlite`](Self::sqlite)).
    #[cfg(feature = "postgres")]
    pub(crate) fn postgres(&mut self) -> &mut sqlx::PgConnection {
        match self {
            WriteConn::Postgres(conn) => conn,
            #[cfg(feature = "sqlite")]
            WriteConn::Sqlite(_) => unreachable!("the PostgreSQL dialect on a SQLite connection"),
        }
    }

    /// Closes the connection politely (a dropped one is closed too, abruptly).
    pub(crate) async fn close(self) {
        let _ = on_conn!(self, c => c.close().await);
    }
}
