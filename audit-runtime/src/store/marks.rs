//! Records' identities in the database: per writer (or journal), the number of the last record
//! stored (`audit_writers`), read before a batch and raised in its transaction, so that a
//! replayed or retried batch stores nothing twice.

use std::collections::BTreeMap;

use super::conn::{WriteConn, on_conn};
use super::record::Record;
use super::{StoreError, db_error};

/// The records of `records` the database does not have yet: those numbered above their
/// writer's mark in `audit_writers`.
pub(crate) async fn not_yet_stored<'r>(
    conn: &mut WriteConn,
    records: &'r [Record],
) -> Result<Vec<&'r Record>, StoreError> {
    let mut marks: BTreeMap<&str, u64> = BTreeMap::new();
    for record in records {
        if !marks.contains_key(record.origin.as_str()) {
            let origin = record.origin.as_str();
            let mark: Option<i64> = on_conn!(conn, c => {
                sqlx::query_scalar("SELECT last_number FROM audit_writers WHERE origin = $1")
                    .bind(origin)
                    .fetch_optional(&mut *c)
                    .await
            })
            .map_err(db_error("reading the writers' marks"))?;
            marks.insert(&record.origin, mark.unwrap_or(0) as u64);
        }
    }
    Ok(records.iter().filter(|r| r.number > marks[r.origin.as_str()]).collect())
}

/// Raises each writer's mark to the highest number of `records`, in the batch's transaction.
pub(crate) async fn mark_stored(conn: &mut WriteConn, records: &[Record]) -> Result<(), StoreError> {
    let mut highest: BTreeMap<&str, u64> = BTreeMap::new();
    for record in records {
        let mark = highest.entry(&record.origin).or_default();
        *mark = (*mark).max(record.number);
    }
    for (origin, number) in highest {
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO audit_writers (origin, last_number) VALUES ($1, $2) \
                 ON CONFLICT (origin) DO UPDATE SET last_number = CASE \
                 WHEN excluded.last_number > audit_writers.last_number THEN excluded.last_number \
                 ELSE audit_writers.last_number END",
            )
            .bind(origin)
            .bind(number as i64)
            .execute(&mut *c)
            .await
            .map(drop)
        })
        .map_err(db_error("recording the writers' marks"))?;
    }
    Ok(())
}
