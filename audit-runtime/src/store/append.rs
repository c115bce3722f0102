//! Appending a batch of entries: the hash chain, then the rows, written by the backend's
//! dialect (`dialect/`) the way it writes fastest.

use super::chain::{self, EntryRow};
use super::conn::{WriteConn, on_conn};
use super::dialect::{self, RecentHeads};
use super::url::Backend;
use super::{StoreError, db_error};

/// Appends entries at the end of the chain, inside the caller's exclusive transaction.
pub(crate) async fn append_entries(
    conn: &mut WriteConn,
    backend: Backend,
    rows: &mut [EntryRow],
    recent: &mut RecentHeads,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let (mut seq, mut prev) = chain_end(conn).await?;
    let end_before = (seq, prev.clone());
    for row in rows.iter_mut() {
        seq += 1;
        row.chain_after(seq, &prev);
        prev.clone_from(&row.hash);
    }
    (dialect::of(backend).append)(conn, rows, recent, end_before).await
}

/// The `seq` and hash the next entry follows: the last entry, else the purge checkpoint, else
/// the genesis.
async fn chain_end(conn: &mut WriteConn) -> Result<(i64, String), StoreError> {
    let last: Option<(i64, String)> = on_conn!(conn, c => {
        sqlx::query_as("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *c).await
    })
    .map_err(db_error("reading the end of the chain"))?;
    if let Some(end) = last {
        return Ok(end);
    }
    let checkpoint: Option<(i64, String)> = on_conn!(conn, c => {
        sqlx::query_as("SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *c)
            .await
    })
    .map_err(db_error("reading the purge checkpoint"))?;
    Ok(checkpoint.unwrap_or_else(|| (0, chain::GENESIS.to_owned())))
}
