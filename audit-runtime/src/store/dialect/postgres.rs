//! PostgreSQL: the store many replicas share. An advisory lock is the chain's lock (readers
//! never wait), the `(object_type, object_id, seq)` index finds histories (a B-tree insert is a
//! small WAL record here, cheaper than updating a heads row), and server-side timeouts keep a
//! vanished client from holding the lock.

use super::Dialect;
use crate::store::chain::EntryRow;
use crate::store::conn::{WriteConn, on_conn};
use crate::store::{StoreError, db_error};

pub(super) static DIALECT: Dialect = Dialect {
    // A statement that runs a minute is stuck, and a transaction left idle for ten seconds
    // belongs to a client that is gone (a stalled network, a killed process): the server ends
    // it, so the chain's lock it holds does not stop every other replica. The writer has its
    // own, shorter limit on the client side (`AuditorBuilder::write_timeout`).
    connection_setup: "SET statement_timeout = '60s'; SET idle_in_transaction_session_timeout = '10s'",
    writer_setup: "",
    // The advisory lock serialises migrations and chain appends across the processes sharing
    // the database; its key is "auditcha" read as a number (0x6175_6469_7463_6861).
    begin_exclusive: "BEGIN; SELECT pg_advisory_xact_lock(7022629598041172065)",
    migrations: &[
        (1, POSTGRES_V1),
        (2, super::RATE_LIMITS_V2),
        (3, POSTGRES_INDEX_COSTS_V3),
        (4, POSTGRES_IDENTITY_V4),
        (5, POSTGRES_PURGE_V5),
    ],
    purge: |conn, cut, last_revision| Box::pin(purge(conn, cut, last_revision)),
    object_lists: false,
    own_checkpoints: false,
    refuses_data,
    append: |conn, rows, _recent, _end_before| Box::pin(write_rows(conn, rows)),
};

/// Version 5: purging only through `audit_purge`, a `SECURITY DEFINER` function that the
/// application's role may call (as `purge_before` does) but not imitate: the triggers let a
/// delete through only while the purge flag is on *and* the current user is the table's owner,
/// which inside the function it is, and for a role that sets the flag itself it is not. (The
/// owner can drop the triggers anyway; anchors and witnessed checkpoints catch what that hides.)
/// A direct call of the function leaves no checkpoint the chain attests, which `verify` reports.
const POSTGRES_PURGE_V5: &str = r#"
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit.purging', true) = 'on'
       AND current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: %', TG_TABLE_NAME,
        CASE WHEN TG_OP = 'UPDATE' THEN 'rows cannot be changed'
             ELSE 'remove old entries with purge_before' END;
END
$$;
CREATE TRIGGER audit_revisions_no_truncate BEFORE TRUNCATE ON audit_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_versions_no_truncate BEFORE TRUNCATE ON audit_versions
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE FUNCTION audit_purge(cut BIGINT, last_revision BIGINT) RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE removed BIGINT;
BEGIN
    PERFORM set_config('audit.purging', 'on', true);
    DELETE FROM audit_versions WHERE revision_id <= last_revision;
    DELETE FROM audit_revisions WHERE id <= last_revision;
    DELETE FROM audit_entries WHERE seq <= cut;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('audit.purging', 'off', true);
    RETURN removed;
END
$$;
"#;

async fn purge(conn: &mut WriteConn, cut: i64, last_revision: i64) -> Result<u64, StoreError> {
    let removed: i64 = on_conn!(conn, c => {
        sqlx::query_scalar("SELECT audit_purge($1, $2)").bind(cut).bind(last_revision).fetch_one(&mut *c).await
    })
    .map_err(db_error("removing old entries"))?;
    Ok(removed as u64)
}

/// Classes 22 (data exception) and 23 (integrity constraint violation).
fn refuses_data(code: &str) -> bool {
    code.starts_with("22") || code.starts_with("23")
}

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
const POSTGRES_IDENTITY_V4: &str = r#"
CREATE TABLE audit_writers (origin TEXT COLLATE "C" PRIMARY KEY, last_number BIGINT NOT NULL);
CREATE TABLE audit_outbox (
    id         BIGSERIAL PRIMARY KEY,
    created_us BIGINT NOT NULL,
    record     TEXT NOT NULL
);
"#;

/// The whole batch in one statement: one array per column, unnested by the server. Where a
/// multi-row `VALUES` list made the server set up an expression per row and value (the busy
/// side, measured), `UNNEST` reads each binary array once; one statement is one round trip.
/// (One JSON parameter per batch, `json_to_recordset`, was tried earlier: the server then parses
/// text where arrays arrive in binary, and it was slower.)
#[cfg(feature = "postgres")]
const INSERT_UNNEST: &str = "INSERT INTO audit_entries (seq, time_us, actor_kind, actor_id, action, object_type, \
    object_id, object_repr, message, changes, request_id, prev_hash, hash) \
    SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
    $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])";

async fn write_rows(conn: &mut WriteConn, rows: &[EntryRow]) -> Result<(), StoreError> {
    #[cfg(feature = "postgres")]
    {
        let conn = conn.postgres();
        let text = |column: fn(&EntryRow) -> &str| rows.iter().map(column).collect::<Vec<&str>>();
        sqlx::query(INSERT_UNNEST)
            .bind(rows.iter().map(|row| row.seq).collect::<Vec<i64>>())
            .bind(rows.iter().map(|row| row.time_us).collect::<Vec<i64>>())
            .bind(text(|row| &row.actor_kind))
            .bind(text(|row| &row.actor_id))
            .bind(text(|row| &row.action))
            .bind(text(|row| &row.object_type))
            .bind(text(|row| &row.object_id))
            .bind(text(|row| &row.object_repr))
            .bind(text(|row| &row.message))
            .bind(text(|row| &row.changes))
            .bind(rows.iter().map(|row| row.request_id.as_deref()).collect::<Vec<Option<&str>>>())
            .bind(text(|row| &row.prev_hash))
            .bind(text(|row| &row.hash))
            .execute(&mut *conn)
            .await
            .map_err(db_error("writing audit entries"))?;
        Ok(())
    }
    #[cfg(not(feature = "postgres"))]
    {
        let _ = (conn, rows);
        Err(StoreError::BackendNotBuilt { backend: "PostgreSQL", feature: "postgres" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_key_is_the_constant() {
        let key = i64::from_be_bytes(*b"auditcha");
        assert!(DIALECT.begin_exclusive.ends_with(&format!("({key})")));
    }
}
