//! The tables, as embedded migrations applied by `AuditStore::connect` (their text is in each
//! backend's dialect file).
//!
//! Every table is prefixed `audit_` so the store can share a database with the service's own
//! tables. The entry, checkpoint, revision and version tables are append-only: triggers refuse
//! `UPDATE` and `DELETE` (and, on PostgreSQL, `TRUNCATE`), except the deletes that
//! `purge_before` makes through its gate.

use super::conn::{WriteConn, on_conn};
use super::url::Backend;
use super::{StoreError, db_error};

/// The schema version this build creates and understands.
pub(crate) const SCHEMA_VERSION: i64 = 5;

const META_TABLE: &str = "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

/// Brings the schema up to `target` ([`SCHEMA_VERSION`]; an older version only in the toolkit's
/// migration tests), refusing a database made by a newer build.
pub(crate) async fn migrate_to(conn: &mut WriteConn, backend: Backend, target: i64) -> Result<(), StoreError> {
    conn.raw(META_TABLE, "creating audit_meta").await?;
    super::begin_exclusive(conn, backend).await?;
    let result = apply(conn, backend, target).await;
    super::finish(conn, result, "migrating the audit schema").await
}

async fn apply(conn: &mut WriteConn, backend: Backend, target: i64) -> Result<(), StoreError> {
    let found: Option<String> = on_conn!(conn, c => {
        sqlx::query_scalar("SELECT value FROM audit_meta WHERE key = 'schema_version'").fetch_optional(&mut *c).await
    })
    .map_err(db_error("reading the schema version"))?;
    let found = match found {
        None => 0,
        Some(text) => text.parse::<i64>().map_err(|_| StoreError::Corrupt {
            what: format!("audit_meta.schema_version is {text:?}, not a number"),
        })?,
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { found, supported: SCHEMA_VERSION });
    }
    for (version, sql) in super::dialect::of(backend).migrations.iter().filter(|(v, _)| *v > found && *v <= target) {
        conn.raw(sql, "creating the audit tables").await?;
        let version_text = version.to_string();
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO audit_meta (key, value) VALUES ('schema_version', $1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(version_text.as_str())
            .execute(&mut *c)
            .await
            .map(drop)
        })
        .map_err(db_error("recording the schema version"))?;
        super::events::SchemaMigrated { schema_version: *version }.emit();
    }
    Ok(())
}
