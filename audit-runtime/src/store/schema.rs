//! The tables, as embedded migrations applied by `AuditStore::connect`.
//!
//! Every table is prefixed `audit_` so the store can share a database with the service's own
//! tables. The entry, checkpoint, revision and version tables are append-only: triggers refuse
//! `UPDATE` and `DELETE` (and, on PostgreSQL, `TRUNCATE`), except the deletes that
//! `purge_before` makes through its gate.

use sqlx::AnyConnection;

use super::url::Backend;
use super::{StoreError, db_error};

/// The schema version this build creates and understands.
pub(crate) const SCHEMA_VERSION: i64 = 4;

/// Serialises migrations (and chain appends) across the processes sharing one PostgreSQL.
pub(crate) const ADVISORY_LOCK_KEY: i64 = 0x6175_6469_7463_6861; // "auditcha"

const META_TABLE: &str = "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

const SQLITE_V1: &str = r#"
CREATE TABLE audit_entries (
    seq         INTEGER PRIMARY KEY,
    time_us     INTEGER NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    object_repr TEXT NOT NULL,
    message     TEXT NOT NULL,
    changes     TEXT NOT NULL,
    request_id  TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_entries_by_object ON audit_entries (object_type, object_id, seq);
CREATE INDEX audit_entries_by_actor ON audit_entries (actor_kind, actor_id, seq);
CREATE INDEX audit_entries_by_time ON audit_entries (time_us);
CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL,
    removed    INTEGER NOT NULL,
    created_us INTEGER NOT NULL
);
CREATE TABLE audit_purge_gate (id INTEGER PRIMARY KEY CHECK (id = 1), purging INTEGER NOT NULL);
INSERT INTO audit_purge_gate (id, purging) VALUES (1, 0);
CREATE TABLE audit_revisions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_us INTEGER NOT NULL,
    actor_kind TEXT,
    actor_id   TEXT,
    comment    TEXT,
    request_id TEXT
);
CREATE TABLE audit_versions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    revision_id INTEGER NOT NULL REFERENCES audit_revisions (id),
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    object_repr TEXT NOT NULL,
    fields      TEXT NOT NULL,
    snapshot    TEXT NOT NULL
);
CREATE INDEX audit_versions_by_object ON audit_versions (object_type, object_id, id);
CREATE TABLE audit_views (
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    day         TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (object_type, object_id, day)
);
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: entries cannot be changed'); END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
WHEN (SELECT purging FROM audit_purge_gate WHERE id = 1) = 0
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: remove old entries with purge_before'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_revisions_no_update BEFORE UPDATE ON audit_revisions
BEGIN SELECT RAISE(ABORT, 'audit_revisions is append-only'); END;
CREATE TRIGGER audit_revisions_no_delete BEFORE DELETE ON audit_revisions
BEGIN SELECT RAISE(ABORT, 'audit_revisions is append-only'); END;
CREATE TRIGGER audit_versions_no_update BEFORE UPDATE ON audit_versions
BEGIN SELECT RAISE(ABORT, 'audit_versions is append-only'); END;
CREATE TRIGGER audit_versions_no_delete BEFORE DELETE ON audit_versions
BEGIN SELECT RAISE(ABORT, 'audit_versions is append-only'); END;
"#;

const POSTGRES_V1: &str = r#"
CREATE TABLE audit_entries (
    seq         BIGINT PRIMARY KEY,
    time_us     BIGINT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    object_repr TEXT NOT NULL,
    message     TEXT NOT NULL,
    changes     TEXT NOT NULL,
    request_id  TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_entries_by_object ON audit_entries (object_type, object_id, seq);
CREATE INDEX audit_entries_by_actor ON audit_entries (actor_kind, actor_id, seq);
CREATE INDEX audit_entries_by_time ON audit_entries (time_us);
CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    removed    BIGINT NOT NULL,
    created_us BIGINT NOT NULL
);
CREATE TABLE audit_revisions (
    id         BIGSERIAL PRIMARY KEY,
    created_us BIGINT NOT NULL,
    actor_kind TEXT,
    actor_id   TEXT,
    comment    TEXT,
    request_id TEXT
);
CREATE TABLE audit_versions (
    id          BIGSERIAL PRIMARY KEY,
    revision_id BIGINT NOT NULL REFERENCES audit_revisions (id),
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    object_repr TEXT NOT NULL,
    fields      TEXT NOT NULL,
    snapshot    TEXT NOT NULL
);
CREATE INDEX audit_versions_by_object ON audit_versions (object_type, object_id, id);
CREATE TABLE audit_views (
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    day         TEXT NOT NULL,
    count       BIGINT NOT NULL,
    PRIMARY KEY (object_type, object_id, day)
);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_entries'
       AND current_setting('audit.purging', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: %', TG_TABLE_NAME,
        CASE WHEN TG_OP = 'UPDATE' THEN 'entries cannot be changed'
             ELSE 'remove old entries with purge_before' END;
END
$$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_revisions_append_only BEFORE UPDATE OR DELETE ON audit_revisions
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_versions_append_only BEFORE UPDATE OR DELETE ON audit_versions
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
"#;

/// Version 2: shared rate limits (configuration-error mail, error mail). One row per key; the
/// only table that is updated in place, and it holds no audit data.
const RATE_LIMITS_V2: &str = r#"
CREATE TABLE audit_rate_limits (
    key             TEXT PRIMARY KEY,
    window_start_us BIGINT NOT NULL,
    count           BIGINT NOT NULL
);
"#;

/// Version 3 on SQLite: an object's history is a list linked through `object_prev`, starting at
/// its row in `audit_object_heads`, in place of the `(object_type, object_id, seq)` index. That
/// index took one new entry in a different leaf page for each object a batch touched, and in WAL
/// mode each touched page is written twice (WAL, then checkpoint): a batch about 1 000 objects
/// rewrote about 1 000 pages. The heads table holds one row per object, not per entry, and stays
/// small and cached. Existing entries are linked here, once.
const SQLITE_OBJECT_CHAINS_V3: &str = r#"
ALTER TABLE audit_entries ADD COLUMN object_prev INTEGER;
CREATE TABLE audit_object_heads (
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    last_seq    INTEGER NOT NULL,
    PRIMARY KEY (object_type, object_id)
) WITHOUT ROWID;
DROP TRIGGER audit_entries_no_update;
UPDATE audit_entries SET object_prev = (
    SELECT MAX(earlier.seq) FROM audit_entries AS earlier
    WHERE earlier.object_type = audit_entries.object_type
      AND earlier.object_id = audit_entries.object_id
      AND earlier.seq < audit_entries.seq);
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: entries cannot be changed'); END;
INSERT INTO audit_object_heads (object_type, object_id, last_seq)
    SELECT object_type, object_id, MAX(seq) FROM audit_entries GROUP BY object_type, object_id;
DROP INDEX audit_entries_by_object;
CREATE INDEX audit_entries_by_type ON audit_entries (object_type, seq);
"#;

/// Version 3 on PostgreSQL, what the writer spends its time on:
/// - the identifier columns compare bytewise (`COLLATE "C"`): they are names and ids, not
///   prose, and under a locale collation every index comparison went through `strcoll`;
/// - the time index is a BRIN index: entries arrive in time order, so block ranges summarise
///   them well, and it costs next to nothing per insert where a B-tree costs an entry and a WAL
///   record.
///
/// (A B-tree insert is a small WAL record on PostgreSQL, so the object index stays: here it is
/// cheaper than SQLite's linked heads.)
const POSTGRES_INDEX_COSTS_V3: &str = r#"
ALTER TABLE audit_entries
    ALTER COLUMN actor_kind TYPE TEXT COLLATE "C",
    ALTER COLUMN actor_id TYPE TEXT COLLATE "C",
    ALTER COLUMN object_type TYPE TEXT COLLATE "C",
    ALTER COLUMN object_id TYPE TEXT COLLATE "C";
DROP INDEX audit_entries_by_time;
CREATE INDEX audit_entries_by_time ON audit_entries USING brin (time_us);
"#;

/// Version 4: records' identities and the outbox.
/// - `audit_writers` holds, per writer (or journal), the number of the last record stored,
///   raised in the same transaction as the records: a replayed or retried batch skips what is
///   at or below it, so every record is stored once.
/// - `audit_outbox` takes the records written inside application transactions until the
///   `Auditor` seals them into the chain. Applications insert into it; it holds no chain.
const SQLITE_IDENTITY_V4: &str = r#"
CREATE TABLE audit_writers (origin TEXT PRIMARY KEY, last_number INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE audit_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_us INTEGER NOT NULL,
    record     TEXT NOT NULL
);
"#;

const POSTGRES_IDENTITY_V4: &str = r#"
CREATE TABLE audit_writers (origin TEXT COLLATE "C" PRIMARY KEY, last_number BIGINT NOT NULL);
CREATE TABLE audit_outbox (
    id         BIGSERIAL PRIMARY KEY,
    created_us BIGINT NOT NULL,
    record     TEXT NOT NULL
);
"#;

/// The migrations of a backend, by the version each brings the schema to.
fn migrations(backend: Backend) -> &'static [(i64, &'static str)] {
    match backend {
        Backend::Sqlite => {
            &[(1, SQLITE_V1), (2, RATE_LIMITS_V2), (3, SQLITE_OBJECT_CHAINS_V3), (4, SQLITE_IDENTITY_V4)]
        }
        Backend::Postgres => {
            &[(1, POSTGRES_V1), (2, RATE_LIMITS_V2), (3, POSTGRES_INDEX_COSTS_V3), (4, POSTGRES_IDENTITY_V4)]
        }
    }
}

/// Brings the schema up to `target` ([`SCHEMA_VERSION`]; an older version only in the toolkit's
/// migration tests), refusing a database made by a newer build.
pub(crate) async fn migrate_to(conn: &mut AnyConnection, backend: Backend, target: i64) -> Result<(), StoreError> {
    sqlx::raw_sql(META_TABLE).execute(&mut *conn).await.map_err(db_error("creating audit_meta"))?;
    super::begin_exclusive(conn, backend).await?;
    let result = apply(conn, backend, target).await;
    super::finish(conn, result, "migrating the audit schema").await
}

async fn apply(conn: &mut AnyConnection, backend: Backend, target: i64) -> Result<(), StoreError> {
    let found: Option<String> = sqlx::query_scalar("SELECT value FROM audit_meta WHERE key = 'schema_version'")
        .fetch_optional(&mut *conn)
        .await
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
    for (version, sql) in migrations(backend).iter().filter(|(v, _)| *v > found && *v <= target) {
        sqlx::raw_sql(sql).execute(&mut *conn).await.map_err(db_error("creating the audit tables"))?;
        sqlx::query(
            "INSERT INTO audit_meta (key, value) VALUES ('schema_version', $1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(version.to_string())
        .execute(&mut *conn)
        .await
        .map_err(db_error("recording the schema version"))?;
        super::events::SchemaMigrated { schema_version: *version }.emit();
    }
    Ok(())
}
