//! SQLite's write path (feature `sqlite`): a batch's entries, each linked to its object's
//! previous entry, then the objects' new heads (see `sqlite.rs` for the layout).

use std::collections::HashMap;
use std::sync::OnceLock;

use sqlx::SqliteConnection;

use crate::store::append::{CHUNKS, chunks};
use crate::store::chain::EntryRow;
use crate::store::{StoreError, db_error};

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
pub(super) async fn write_linked(
    conn: &mut SqliteConnection,
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
            statement = statement
                .bind(row.seq)
                .bind(row.time_us)
                .bind(row.actor_kind.as_str())
                .bind(row.actor_id.as_str())
                .bind(row.action.as_str())
                .bind(row.object_type.as_str())
                .bind(row.object_id.as_str())
                .bind(row.object_repr.as_str())
                .bind(row.message.as_str())
                .bind(row.changes.as_str())
                .bind(row.request_id.as_deref())
                .bind(row.prev_hash.as_str())
                .bind(row.hash.as_str())
                .bind(*known_prev);
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
