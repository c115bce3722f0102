//! SQLite: the embedded store. One file, WAL, `BEGIN IMMEDIATE` as the chain's lock, and an
//! object's history kept as a list linked backwards through `object_prev`, whose newest entry
//! is named in `audit_object_heads`: a batch writes its entries at the end of the table (a few
//! pages) and one small row per object it touches, where an `(object, seq)` index would put
//! each entry into a leaf page of its own (see the version 3 migration).

use super::Dialect;
use crate::store::conn::{WriteConn, on_conn};
use crate::store::{StoreError, db_error};

pub(super) static DIALECT: Dialect = Dialect {
    // WAL lets readers work beside the writer, FULL makes each commit durable, the busy timeout
    // lets several processes share the file, and a 64 MiB page cache keeps the indexes of a
    // growing trail in memory (the default 2 MiB made the writer re-read pages on every batch).
    connection_setup: "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; \
                       PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;",
    // SQLite's automatic checkpoint runs inside a commit, on the writer's path; it stays as a
    // backstop at 16 MiB of WAL (4 000 pages), reached only under sustained load, when the
    // writer's own checkpoints never find the WAL idle enough.
    writer_setup: "PRAGMA wal_autocheckpoint = 4000;",
    begin_exclusive: "BEGIN IMMEDIATE",
    migrations: &[
        (1, SQLITE_V1),
        (2, super::RATE_LIMITS_V2),
        (3, SQLITE_OBJECT_CHAINS_V3),
        (4, SQLITE_IDENTITY_V4),
        (5, SQLITE_PURGE_V5),
    ],
    purge: |conn, cut, last_revision| Box::pin(purge(conn, cut, last_revision)),
    object_lists: true,
    own_checkpoints: true,
    refuses_data,
    #[cfg(feature = "sqlite")]
    append: |conn, rows, recent, end_before| {
        Box::pin(super::sqlite_write::write_linked(conn.sqlite(), rows, recent, end_before))
    },
    #[cfg(not(feature = "sqlite"))]
    append: |_, _, _, _| Box::pin(async { Err(StoreError::BackendNotBuilt { backend: "SQLite", feature: "sqlite" }) }),
};

/// Version 5: nothing an `UPDATE` can open. The delete triggers refuse every delete; only
/// `purge_before` removes them and puts them back, inside its own transaction (DDL is
/// transactional in SQLite), so a crash in between leaves them in place.
const SQLITE_PURGE_V5: &str = r#"
DROP TRIGGER audit_entries_no_delete;
DROP TABLE audit_purge_gate;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: remove old entries with purge_before'); END;
"#;

const DELETE_TRIGGERS_OFF: [&str; 3] = [
    "DROP TRIGGER IF EXISTS audit_entries_no_delete",
    "DROP TRIGGER IF EXISTS audit_revisions_no_delete",
    "DROP TRIGGER IF EXISTS audit_versions_no_delete",
];

const DELETE_TRIGGERS_ON: [&str; 3] = [
    "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries \
     BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: remove old entries with purge_before'); END",
    "CREATE TRIGGER audit_revisions_no_delete BEFORE DELETE ON audit_revisions \
     BEGIN SELECT RAISE(ABORT, 'audit_revisions is append-only'); END",
    "CREATE TRIGGER audit_versions_no_delete BEFORE DELETE ON audit_versions \
     BEGIN SELECT RAISE(ABORT, 'audit_versions is append-only'); END",
];

async fn run_all(conn: &mut WriteConn, statements: [&'static str; 3], context: &'static str) -> Result<(), StoreError> {
    for statement in statements {
        conn.raw(statement, context).await?;
    }
    Ok(())
}

/// Runs `sql` with one number bound; returns the rows it changed.
async fn delete_through(
    conn: &mut WriteConn,
    sql: &'static str,
    bound: i64,
    context: &'static str,
) -> Result<u64, StoreError> {
    on_conn!(conn, c => sqlx::query(sql).bind(bound).execute(&mut *c).await.map(|done| done.rows_affected()))
        .map_err(db_error(context))
}

async fn purge(conn: &mut WriteConn, cut: i64, last_revision: i64) -> Result<u64, StoreError> {
    run_all(conn, DELETE_TRIGGERS_OFF, "lifting the delete guards").await?;
    let versions = "DELETE FROM audit_versions WHERE revision_id <= $1";
    delete_through(conn, versions, last_revision, "removing old versions").await?;
    let revisions = "DELETE FROM audit_revisions WHERE id <= $1";
    delete_through(conn, revisions, last_revision, "removing old revisions").await?;
    let removed =
        delete_through(conn, "DELETE FROM audit_entries WHERE seq <= $1", cut, "removing old entries").await?;
    // Objects whose every entry went: their lists are empty now.
    let heads = "DELETE FROM audit_object_heads WHERE last_seq <= $1";
    delete_through(conn, heads, cut, "removing the heads of purged histories").await?;
    run_all(conn, DELETE_TRIGGERS_ON, "restoring the delete guards").await?;
    Ok(removed)
}

/// Constraint (19), too big (18) and type mismatch (20), by the primary result code.
fn refuses_data(code: &str) -> bool {
    code.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 18..=20))
}

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
