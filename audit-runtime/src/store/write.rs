//! Writing outside the batched writer: purging, revisions and view counts (used by the
//! writer), and the shared rate limits.

use std::time::Duration;

use sqlx::AnyPool;
use time::{Date, OffsetDateTime};

use super::chain::{EntryRow, actor_columns, storable, unix_micros};
use super::conn::{WriteConn, on_conn};
use super::record::RevisionRecord;
use super::url::Backend;
use super::{
    AuditStore, PurgeReport, StoreError, VerifyReport, append, attest, begin_exclusive, db_error, dialect, events,
    finish,
};
use crate::audit::AuditEntry;

impl AuditStore {
    /// Removes the entries older than `time` (the oldest ones, up to the first entry at or after
    /// `time`) and leaves a checkpoint, so [`verify`](Self::verify) still holds for the rest.
    /// Refuses when the entries to remove do not verify: purging must not hide tampering.
    pub async fn purge_before(&self, time: OffsetDateTime) -> Result<PurgeReport, StoreError> {
        let report = self.verify().await?;
        let cutoff = unix_micros(time);
        let mut conn = self.write_connection().await?;
        let backend = self.backend();
        begin_exclusive(&mut conn, backend).await?;
        let result = purge(&mut conn, backend, cutoff, &report).await;
        let result = finish(&mut conn, result, "purging old audit entries").await;
        conn.close().await;
        result
    }

    /// Claims `key` for the current window of length `window`: `true` for the first claim of the
    /// key in each window, `false` for the others. The count lives in the database, so every
    /// process sharing the store shares one limit (the configuration-error mail uses it).
    ///
    /// One atomic statement: two processes claiming at once cannot both win.
    pub async fn claim(&self, key: &str, window: Duration) -> Result<bool, StoreError> {
        claim(&self.inner.pool, key, window).await
    }
}

async fn purge(
    conn: &mut WriteConn,
    backend: Backend,
    cutoff: i64,
    report: &VerifyReport,
) -> Result<PurgeReport, StoreError> {
    // The chain is cut at a prefix: up to the entry before the first one at or after `time`.
    let first_kept: Option<i64> = on_conn!(conn, c => {
        sqlx::query_scalar("SELECT MIN(seq) FROM audit_entries WHERE time_us >= $1").bind(cutoff).fetch_one(&mut *c).await
    })
    .map_err(db_error("finding entries to purge"))?;
    let last: Option<i64> =
        on_conn!(conn, c => sqlx::query_scalar("SELECT MAX(seq) FROM audit_entries").fetch_one(&mut *c).await)
            .map_err(db_error("finding entries to purge"))?;
    let Some(cut) = first_kept.map(|seq| seq - 1).or(last) else {
        return Ok(PurgeReport { removed: 0, checkpoint: None });
    };
    if let Some(broken) = &report.first_broken {
        if broken.seq <= cut + 1 {
            return Err(StoreError::BrokenChain(broken.clone()));
        }
    }
    let hash: Option<String> = on_conn!(conn, c => {
        sqlx::query_scalar("SELECT hash FROM audit_entries WHERE seq = $1").bind(cut).fetch_optional(&mut *c).await
    })
    .map_err(db_error("reading the checkpoint entry"))?;
    let Some(hash) = hash else {
        return Ok(PurgeReport { removed: 0, checkpoint: None });
    };
    // Revisions attested by the entries that go, go with them; the view counts those entries
    // attested are carried by the purge's own entry, so the counts still verify.
    let last_revision: Option<i64> = on_conn!(conn, c => {
        sqlx::query_scalar(
            "SELECT MAX(CAST(object_id AS BIGINT)) FROM audit_entries WHERE seq <= $1 AND object_type = $2",
        )
        .bind(cut)
        .bind(attest::REVISION)
        .fetch_one(&mut *c)
        .await
    })
    .map_err(db_error("finding revisions to purge"))?;
    let carried = attest::carried_views(conn, cut).await?;
    let removed = (dialect::of(backend).purge)(conn, cut, last_revision.unwrap_or(0)).await?;
    let created_us = unix_micros(OffsetDateTime::now_utc());
    on_conn!(conn, c => {
        sqlx::query("INSERT INTO audit_checkpoints (seq, hash, removed, created_us) VALUES ($1, $2, $3, $4)")
            .bind(cut)
            .bind(hash.as_str())
            .bind(removed as i64)
            .bind(created_us)
            .execute(&mut *c)
            .await
            .map(drop)
    })
    .map_err(db_error("writing the purge checkpoint"))?;
    let mut rows = vec![EntryRow::from_entry(&attest::purge_entry(cut, &hash, removed, &carried))?];
    append::append_entries(conn, backend, &mut rows, &mut dialect::RecentHeads::default()).await?;
    events::Purged { removed, checkpoint: cut }.emit();
    Ok(PurgeReport { removed, checkpoint: Some(cut) })
}

/// Writes a revision and its versions; returns its id and the chain entry that attests them
/// (a digest of the rows as stored).
pub(crate) async fn append_revision(
    conn: &mut WriteConn,
    revision: &RevisionRecord,
) -> Result<(i64, AuditEntry), StoreError> {
    let (kind, id) = match &revision.user {
        Some(actor) => {
            let (kind, id) = actor_columns(actor);
            (Some(kind), Some(storable(id)))
        }
        None => (None, None),
    };
    let comment = revision.comment.as_deref().map(storable);
    let request_id = revision.request_id.as_deref().map(storable);
    let revision_id: i64 = on_conn!(conn, c => {
        sqlx::query_scalar(
            "INSERT INTO audit_revisions (created_us, actor_kind, actor_id, comment, request_id) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(revision.created_us)
        .bind(kind)
        .bind(id.as_deref())
        .bind(comment.as_deref())
        .bind(request_id.as_deref())
        .fetch_one(&mut *c)
        .await
    })
    .map_err(db_error("writing a revision"))?;
    let mut digest = attest::RevisionDigest::default();
    attest::revision_fields(
        &mut digest,
        revision.created_us,
        kind,
        id.as_deref(),
        comment.as_deref(),
        request_id.as_deref(),
    );
    for version in &revision.versions {
        let fields: Vec<&str> = match &version.snapshot {
            serde_json::Value::Object(map) => map.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        let (object_type, object_id, object_repr) =
            (storable(&version.object_type), storable(&version.object_id), storable(&version.object_repr));
        let fields = serde_json::to_string(&fields).map_err(StoreError::Serialize)?;
        let snapshot = serde_json::to_string(&version.snapshot).map_err(StoreError::Serialize)?;
        let version_id: i64 = on_conn!(conn, c => {
            sqlx::query_scalar(
                "INSERT INTO audit_versions (revision_id, object_type, object_id, object_repr, fields, snapshot) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(revision_id)
            .bind(object_type.as_str())
            .bind(object_id.as_str())
            .bind(object_repr.as_str())
            .bind(fields.as_str())
            .bind(snapshot.as_str())
            .fetch_one(&mut *c)
            .await
        })
        .map_err(db_error("writing a version"))?;
        attest::version_fields(&mut digest, version_id, &object_type, &object_id, &object_repr, &fields, &snapshot);
    }
    let entry = attest::revision_entry(
        revision_id,
        revision.user.as_ref(),
        revision.comment.as_deref(),
        revision.request_id.as_deref(),
        digest.finish(),
    );
    Ok((revision_id, entry))
}

/// Adds `views` (keys already as stored: see `append_bodies`) to the per-day counters.
pub(crate) async fn add_views(conn: &mut WriteConn, views: &attest::ViewCounts) -> Result<(), StoreError> {
    for ((object_type, object_id, day), count) in views {
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO audit_views (object_type, object_id, day, count) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (object_type, object_id, day) DO UPDATE SET count = audit_views.count + excluded.count",
            )
            .bind(object_type.as_str())
            .bind(object_id.as_str())
            .bind(day.as_str())
            .bind(*count)
            .execute(&mut *c)
            .await
            .map(drop)
        })
        .map_err(db_error("counting views"))?;
    }
    Ok(())
}

pub(crate) async fn claim(pool: &AnyPool, key: &str, window: Duration) -> Result<bool, StoreError> {
    let now = unix_micros(OffsetDateTime::now_utc());
    let window_start_before = now - i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
    // Every SET expression reads the row as it was, on both databases.
    let count: i64 = sqlx::query_scalar(
        "INSERT INTO audit_rate_limits (key, window_start_us, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
         count = CASE WHEN audit_rate_limits.window_start_us <= $3 THEN 1 ELSE audit_rate_limits.count + 1 END, \
         window_start_us = CASE WHEN audit_rate_limits.window_start_us <= $3 THEN $2 \
                                ELSE audit_rate_limits.window_start_us END \
         RETURNING count",
    )
    .bind(storable(key))
    .bind(now)
    .bind(window_start_before)
    .fetch_one(pool)
    .await
    .map_err(db_error("claiming a rate limit"))?;
    Ok(count == 1)
}

pub(crate) fn day_text(day: Date) -> String {
    format!("{:04}-{:02}-{:02}", day.year(), u8::from(day.month()), day.day())
}
