//! SQLite: the embedded store. One file, WAL, `BEGIN IMMEDIATE` as the chain's lock, and an
//! object's history kept as a list linked backwards through `object_prev`, whose newest entry
//! is named in `audit_object_heads`: a batch writes its entries at the end of the table (a few
//! pages) and one small row per object it touches, where an `(object, seq)` index would put
//! each entry into a leaf page of its own (see the version 3 migration).

use std::collections::HashMap;
use std::sync::OnceLock;

use sqlx::AnyConnection;

use super::Dialect;
use crate::store::append::{CHUNKS, bind_hashed_columns, chunks};
use crate::store::chain::EntryRow;
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
    append: |conn, rows, recent, end_before| Box::pin(write_linked(conn, rows, recent, end_before)),
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

async fn run_all(
    conn: &mut AnyConnection,
    statements: [&'static str; 3],
    context: &'static str,
) -> Result<(), StoreError> {
    for statement in statements {
        sqlx::query(statement).execute(&mut *conn).await.map_err(db_error(context))?;
    }
    Ok(())
}

async fn purge(conn: &mut AnyConnection, cut: i64, last_revision: i64) -> Result<u64, StoreError> {
    run_all(conn, DELETE_TRIGGERS_OFF, "lifting the delete guards").await?;
    sqlx::query("DELETE FROM audit_versions WHERE revision_id <= $1")
        .bind(last_revision)
        .execute(&mut *conn)
        .await
        .map_err(db_error("removing old versions"))?;
    sqlx::query("DELETE FROM audit_revisions WHERE id <= $1")
        .bind(last_revision)
        .execute(&mut *conn)
        .await
        .map_err(db_error("removing old revisions"))?;
    let removed = sqlx::query("DELETE FROM audit_entries WHERE seq <= $1")
        .bind(cut)
        .execute(&mut *conn)
        .await
        .map_err(db_error("removing old entries"))?
        .rows_affected();
    // Objects whose every entry went: their lists are empty now.
    sqlx::query("DELETE FROM audit_object_heads WHERE last_seq <= $1")
        .bind(cut)
        .execute(&mut *conn)
        .await
        .map_err(db_error("removing the heads of purged histories"))?;
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

/// The columns an entry is inserted with: the hashed ones, then the link to the object's
/// previous entry (derived data, not hashed).
const INSERT_COLUMNS: &str = "seq, time_us, actor_kind, actor_id, action, object_type, object_id, object_repr, \
                              message, changes, request_id, prev_hash, hash, object_prev";

/// The multi-row statements of a batch on SQLite.
#[derive(Clone, Copy)]
enum Statement {
    /// Entries whose predecessors are all known: the 13 hashed columns, then `object_prev`.
    InsertLinked,
    /// Entries some of whose predecessors are not known: the 13 hashed columns, then the
    /// predecessor when it is known, else the object's type and id to find it in
    /// `audit_object_heads`.
    InsertLookingUp,
    /// The newest entry of each object: type, id, seq.
    WriteHeads,
}

impl Statement {
    const ALL: usize = 3;

    #[cfg(test)]
    fn parameters_per_row(self) -> usize {
        match self {
            Statement::InsertLinked => 14,
            Statement::InsertLookingUp => 16,
            Statement::WriteHeads => 3,
        }
    }

    /// The text for `rows` rows (one of [`CHUNKS`]), built once per size. Anonymous `?`
    /// placeholders: sqlx-sqlite looks `$N` up by name, once per parameter, which is quadratic
    /// for a multi-row statement.
    fn sql(self, rows: usize) -> &'static str {
        static SQL: [[OnceLock<String>; CHUNKS.len()]; Statement::ALL] =
            [const { [const { OnceLock::new() }; CHUNKS.len()] }; Statement::ALL];
        let size_index = CHUNKS.iter().position(|size| *size == rows).unwrap_or(CHUNKS.len() - 1);
        SQL[self as usize][size_index].get_or_init(|| {
            let (head, row, tail) = match self {
                // `OR FAIL`: a failing row fails the statement without undoing the rows before
                // it, so SQLite keeps no statement journal (a copy of every page the statement
                // touches); the whole transaction is rolled back on error anyway. The
                // predecessor is looked up inside the statement rather than read first:
                // sqlx-sqlite hands each result row across threads, which cost more than the
                // insert.
                Statement::InsertLinked => (
                    format!("INSERT OR FAIL INTO audit_entries ({INSERT_COLUMNS}) VALUES "),
                    "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    "",
                ),
                Statement::InsertLookingUp => (
                    format!("INSERT OR FAIL INTO audit_entries ({INSERT_COLUMNS}) VALUES "),
                    "(?,?,?,?,?,?,?,?,?,?,?,?,?,COALESCE(?, (SELECT last_seq FROM audit_object_heads \
                     WHERE object_type = ? AND object_id = ?)))",
                    "",
                ),
                Statement::WriteHeads => (
                    "INSERT INTO audit_object_heads (object_type, object_id, last_seq) VALUES ".to_owned(),
                    "(?,?,?)",
                    " ON CONFLICT (object_type, object_id) DO UPDATE SET last_seq = excluded.last_seq",
                ),
            };
            format!("{head}{}{tail}", vec![row; CHUNKS[size_index]].join(","))
        })
    }
}

/// Objects a writer keeps the newest entry of, at most; past that it starts again.
const RECENT_HEADS_CAPACITY: usize = 65_536;

/// The newest entry of each object a writer appended to lately, so that its next batches link
/// their entries without asking the database. Trusted only while the chain still ends at the
/// entry this writer appended last: another writer's batch, or a batch of ours that was rolled
/// back, changes the end, and the database is asked again.
#[derive(Default)]
pub(crate) struct RecentHeads {
    /// `seq` and hash of the last entry this writer appended.
    chain_end: Option<(i64, String)>,
    /// Newest `seq` by object type, then object id.
    newest: HashMap<String, HashMap<String, i64>>,
    objects: usize,
}

impl RecentHeads {
    fn get(&self, object_type: &str, object_id: &str) -> Option<i64> {
        self.newest.get(object_type)?.get(object_id).copied()
    }

    fn clear(&mut self) {
        self.newest.clear();
        self.objects = 0;
    }
}

/// SQLite: multi-row `INSERT`s of the cached sizes, each entry linked to its object's previous
/// one, then the objects' new heads.
async fn write_linked(
    conn: &mut AnyConnection,
    rows: &[EntryRow],
    recent: &mut RecentHeads,
    end_before: (i64, String),
) -> Result<(), StoreError> {
    if recent.chain_end.take().as_ref() != Some(&end_before) {
        recent.clear();
    }
    // Each row's predecessor when it is in the batch or known to this writer (else the
    // statement looks it up); the newest entry of each object.
    let mut objects: Vec<(&str, &str)> = Vec::new();
    let mut newest: HashMap<(&str, &str), i64> = HashMap::new();
    let known_prev: Vec<Option<i64>> = rows
        .iter()
        .map(|row| {
            let key = (row.object_type.as_str(), row.object_id.as_str());
            match newest.insert(key, row.seq) {
                Some(before) => Some(before),
                None => {
                    objects.push(key);
                    recent.get(key.0, key.1)
                }
            }
        })
        .collect();

    let mut offset = 0;
    for chunk in chunks(rows) {
        let known_prev = &known_prev[offset..offset + chunk.len()];
        // Objects new to this writer (or first seen since another writer appended) make the
        // statement look their predecessors up; the writer's own objects need no lookup.
        let look_up = known_prev.iter().any(Option::is_none);
        let shape = if look_up { Statement::InsertLookingUp } else { Statement::InsertLinked };
        let mut statement = sqlx::query(shape.sql(chunk.len()));
        for (row, known_prev) in chunk.iter().zip(known_prev) {
            statement = bind_hashed_columns(statement, row).bind(*known_prev);
            if look_up {
                statement = statement.bind(row.object_type.as_str()).bind(row.object_id.as_str());
            }
        }
        offset += chunk.len();
        statement.execute(&mut *conn).await.map_err(db_error("writing audit entries"))?;
    }
    for chunk in chunks(&objects) {
        let mut statement = sqlx::query(Statement::WriteHeads.sql(chunk.len()));
        for key in chunk {
            statement = statement.bind(key.0).bind(key.1).bind(newest[key]);
        }
        statement.execute(&mut *conn).await.map_err(db_error("linking the objects' latest entries"))?;
    }

    if recent.objects + objects.len() > RECENT_HEADS_CAPACITY {
        recent.clear();
    }
    for (object_type, object_id) in objects {
        let ids = match recent.newest.get_mut(object_type) {
            Some(ids) => ids,
            None => recent.newest.entry(object_type.to_owned()).or_default(),
        };
        let seq = newest[&(object_type, object_id)];
        // An object seen before (the common case) is updated in place, without a new key.
        match ids.get_mut(object_id) {
            Some(known) => *known = seq,
            None => {
                ids.insert(object_id.to_owned(), seq);
                recent.objects += 1;
            }
        }
    }
    let last = rows.last().expect("the batch is not empty");
    recent.chain_end = Some((last.seq, last.hash.clone()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_have_one_placeholder_per_parameter() {
        for statement in [Statement::InsertLinked, Statement::InsertLookingUp, Statement::WriteHeads] {
            for rows in CHUNKS {
                let sql = statement.sql(rows);
                assert_eq!(sql.matches('?').count(), rows * statement.parameters_per_row(), "{sql}");
            }
        }
    }
}
