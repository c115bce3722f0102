//! Appending a batch of entries: the hash chain, then the rows, written by the backend's
//! dialect (`dialect/`) the way it writes fastest.

use super::chain::{self, EntryRow};
use super::conn::{WriteConn, on_conn};
use super::dialect::{self, RecentHeads};
use super::url::Backend;
use super::{StoreError, db_error};

/// Rows per multi-row statement, largest first: multiples of 128 up to 1 024, then powers of
/// two, so a batch of 1 000 takes 4 statements (896, 64, 32, 8) and one of 2 000 takes 4, where
/// powers of two alone took 6: each statement is a round trip, and PostgreSQL's server waits
/// for it. Each size is one statement text, prepared once per connection and cached, where a
/// batch-sized statement would be prepared every time; 15 sizes stay well inside sqlx's
/// statement cache. 1 024 rows of 16 parameters stay below SQLite's 32 766 (PostgreSQL allows
/// 65 535).
pub(crate) const CHUNKS: [usize; 15] = [1024, 896, 768, 640, 512, 384, 256, 128, 64, 32, 16, 8, 4, 2, 1];

/// Splits `items` into the chunk sizes the statements are cached for.
pub(crate) fn chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = CHUNKS.iter().copied().find(|size| *size <= items.len())?;
        let (chunk, rest) = items.split_at(size);
        items = rest;
        Some(chunk)
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_into_the_cached_sizes() {
        let items: Vec<u32> = (0..1000).collect();
        let sizes: Vec<usize> = chunks(&items).map(<[u32]>::len).collect();
        assert_eq!(sizes, [896, 64, 32, 8]);
        assert_eq!(sizes.iter().sum::<usize>(), 1000);
        let items: Vec<u32> = (0..2000).collect();
        let sizes: Vec<usize> = chunks(&items).map(<[u32]>::len).collect();
        assert_eq!(sizes, [1024, 896, 64, 16]);
        // Every size is cached, every length is covered.
        let items: Vec<u32> = (0..3000).collect();
        for len in 0..=items.len() {
            let sizes: Vec<usize> = chunks(&items[..len]).map(<[u32]>::len).collect();
            assert_eq!(sizes.iter().sum::<usize>(), len);
            assert!(sizes.iter().all(|size| CHUNKS.contains(size)));
        }
        assert_eq!(chunks(&items[..0]).count(), 0);
    }
}
