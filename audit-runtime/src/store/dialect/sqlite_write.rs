//! SQLite's write path (feature `sqlite`): a batch's entries, each linked to its object's
//! previous entry, then the objects' new heads (see `sqlite.rs` for the layout).

use std::collections::HashMap;

use sqlx::SqliteConnection;
use sqlx::sqlite::LockedSqliteHandle;

use super::sqlite_ffi::{Statement, Value, last_error};
use crate::store::chain::EntryRow;
use crate::store::{StoreError, db_error};

/// An entry's `INSERT`: the hashed columns, then the link to the object's previous entry
/// (derived data, not hashed), given as `$prev`.
macro_rules! concat_insert {
    ($prev:literal) => {
        concat!(
            "INSERT OR FAIL INTO audit_entries (seq, time_us, actor_kind, actor_id, action, object_type, object_id, \
             object_repr, message, changes, request_id, prev_hash, hash, object_prev) \
             VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,",
            $prev,
            ")"
        )
    };
}

/// An entry whose predecessor is known: the 13 hashed columns, then `object_prev`. `OR FAIL`:
/// a failing row fails the statement without undoing what it did before, so SQLite keeps no
/// statement journal; the whole transaction is rolled back on error anyway.
const INSERT_LINKED: &str = concat_insert!("?");
/// An entry whose predecessor is not known to the writer: the 13 hashed columns, then the
/// object's type and id, to find the predecessor in `audit_object_heads` inside the statement.
const INSERT_LOOKING_UP: &str =
    concat_insert!("(SELECT last_seq FROM audit_object_heads WHERE object_type = ? AND object_id = ?)");
/// The newest entry of objects: `HEADS_HEAD`, a `HEAD_ROW` (type, id, seq) per object,
/// `HEADS_TAIL`.
const HEADS_HEAD: &str = "INSERT INTO audit_object_heads (object_type, object_id, last_seq) VALUES ";
const HEAD_ROW: &str = "(?,?,?)";
const HEADS_TAIL: &str = " ON CONFLICT (object_type, object_id) DO UPDATE SET last_seq = excluded.last_seq";

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

/// SQLite: the batch's entries, each linked to its object's previous one, then the objects' new
/// heads, through statements prepared on the connection's own handle (see `sqlite_ffi.rs`).
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

    let mut handle = conn.lock_handle().await.map_err(db_error("writing audit entries"))?;
    insert_rows(&mut handle, rows, &known_prev).map_err(db_error("writing audit entries"))?;
    write_heads(&mut handle, &objects, &newest).map_err(db_error("linking the objects' latest entries"))?;
    drop(handle);

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

/// Rows per multi-row statement: one statement runs SQLite's program once for all of them (a
/// single-row statement sets up and halts per row), and 64 rows keep the text quick to prepare
/// for each batch. The rows of a batch that fill no such statement go one by one.
const WIDE: usize = 64;

/// `row` (a parenthesised list of placeholders) `rows` times after `head`, then `tail`.
fn repeated(head: &str, row: &str, tail: &str, rows: usize) -> String {
    format!("{head}{}{tail}", vec![row; rows].join(","))
}

/// An entry's 13 hashed columns and its predecessor, in `INSERT_LINKED` order.
fn linked_values<'r>(row: &'r EntryRow, prev: i64) -> [Value<'r>; 14] {
    [
        Value::Int(row.seq),
        Value::Int(row.time_us),
        Value::Text(&row.actor_kind),
        Value::Text(&row.actor_id),
        Value::Text(&row.action),
        Value::Text(&row.object_type),
        Value::Text(&row.object_id),
        Value::Text(&row.object_repr),
        Value::Text(&row.message),
        Value::Text(&row.changes),
        row.request_id.as_deref().into(),
        Value::Text(&row.prev_hash),
        Value::Text(&row.hash),
        Value::Int(prev),
    ]
}

fn insert_rows(
    handle: &mut LockedSqliteHandle<'_>,
    rows: &[EntryRow],
    known_prev: &[Option<i64>],
) -> Result<(), sqlx::Error> {
    let mut linked = Statement::prepare(handle, INSERT_LINKED)?;
    // Only objects new to this writer (or first seen since another writer appended) need it.
    let mut looking_up = None;
    let mut linked_wide = None;
    let mut values = Vec::with_capacity(WIDE * 14);
    let mut one_by_one = |handle: &mut LockedSqliteHandle<'_>, row: &EntryRow, known_prev: Option<i64>| {
        let ran = match known_prev {
            Some(prev) => linked.run(&linked_values(row, prev)),
            None => {
                let statement = match &mut looking_up {
                    Some(statement) => statement,
                    None => looking_up.insert(Statement::prepare(handle, INSERT_LOOKING_UP)?),
                };
                let mut values = linked_values(row, 0).to_vec();
                values[13] = Value::Text(&row.object_type);
                values.push(Value::Text(&row.object_id));
                statement.run(&values)
            }
        };
        ran.map_err(|()| last_error(handle))
    };
    let mut start = 0;
    while start < rows.len() {
        let end = (start + WIDE).min(rows.len());
        let (chunk, prevs) = (&rows[start..end], &known_prev[start..end]);
        if chunk.len() == WIDE && prevs.iter().all(Option::is_some) {
            values.clear();
            for (row, prev) in chunk.iter().zip(prevs.iter().flatten()) {
                values.extend(linked_values(row, *prev));
            }
            let statement = match &mut linked_wide {
                Some(statement) => statement,
                None => {
                    let sql = repeated(&INSERT_LINKED[..INSERT_LINKED.len() - WIDE_ROW.len()], WIDE_ROW, "", WIDE);
                    linked_wide.insert(Statement::prepare(handle, &sql)?)
                }
            };
            statement.run(&values).map_err(|()| last_error(handle))?;
        } else {
            for (row, prev) in chunk.iter().zip(prevs) {
                one_by_one(handle, row, *prev)?;
            }
        }
        start = end;
    }
    Ok(())
}

/// The placeholders of one linked entry (the end of `INSERT_LINKED`).
const WIDE_ROW: &str = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

fn write_heads(
    handle: &mut LockedSqliteHandle<'_>,
    objects: &[(&str, &str)],
    newest: &HashMap<(&str, &str), i64>,
) -> Result<(), sqlx::Error> {
    let mut chunks = objects.chunks_exact(WIDE);
    if chunks.len() > 0 {
        let sql = repeated(HEADS_HEAD, HEAD_ROW, HEADS_TAIL, WIDE);
        let mut statement = Statement::prepare(handle, &sql)?;
        let mut values = Vec::with_capacity(WIDE * 3);
        for chunk in &mut chunks {
            values.clear();
            values
                .extend(chunk.iter().flat_map(|key| [Value::Text(key.0), Value::Text(key.1), Value::Int(newest[key])]));
            statement.run(&values).map_err(|()| last_error(handle))?;
        }
    }
    let mut statement = Statement::prepare(handle, &repeated(HEADS_HEAD, HEAD_ROW, HEADS_TAIL, 1))?;
    for key in chunks.remainder() {
        statement
            .run(&[Value::Text(key.0), Value::Text(key.1), Value::Int(newest[key])])
            .map_err(|()| last_error(handle))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_have_one_placeholder_per_parameter() {
        assert_eq!(INSERT_LINKED.matches('?').count(), 14);
        assert_eq!(INSERT_LOOKING_UP.matches('?').count(), 15);
        assert_eq!(repeated(HEADS_HEAD, HEAD_ROW, HEADS_TAIL, 1).matches('?').count(), 3);
        assert!(INSERT_LINKED.ends_with(WIDE_ROW));
        let linked_wide = repeated(&INSERT_LINKED[..INSERT_LINKED.len() - WIDE_ROW.len()], WIDE_ROW, "", WIDE);
        assert_eq!(linked_wide.matches('?').count(), 14 * WIDE);
        assert_eq!(repeated(HEADS_HEAD, HEAD_ROW, HEADS_TAIL, WIDE).matches('?').count(), 3 * WIDE);
    }
}
