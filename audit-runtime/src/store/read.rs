//! Reading the store: entries and histories, versions and revert, view counts, and `verify`.

use serde::de::DeserializeOwned;
use sqlx::Row;

use super::chain::{ChainWalker, EntryRow, actor_columns, actor_from_columns, from_unix_micros, unix_micros};
use super::{
    Anchor, AuditStore, ENTRY_COLUMNS, EntryQuery, IntoDay, StoreError, StoredEntry, VerifyReport, Version, ViewCount,
    attest, day_text, db_error, dialect, snapshot,
};
use crate::audit::Audited;

impl AuditStore {
    /// The actions and changes of one object, newest first.
    pub async fn history(&self, object_type: &str, object_id: &str) -> Result<Vec<StoredEntry>, StoreError> {
        self.entries(&EntryQuery::new().object(object_type, object_id)).await
    }

    /// Entries matching `query`, newest first. The entries by which the chain attests
    /// revisions, view counts and purges (object types `audit.revision`, `audit.views`,
    /// `audit.purge`: the `audit.` prefix is reserved) are listed only when the query names
    /// their object type.
    pub async fn entries(&self, query: &EntryQuery) -> Result<Vec<StoredEntry>, StoreError> {
        // One object's entries on SQLite: walk its list from the newest (see `append.rs`); $1
        // and $2 are the object's type and id, bound first below. PostgreSQL has an index.
        let walk = dialect::of(self.backend()).object_lists && query.object_type.is_some() && query.object_id.is_some();
        let mut sql = if walk {
            let Some((start, walk_limit)) = self.object_walk(query).await? else { return Ok(Vec::new()) };
            format!(
                "WITH RECURSIVE object_chain (seq) AS (\
                 {start} \
                 UNION ALL SELECT entry.object_prev FROM audit_entries AS entry \
                 JOIN object_chain ON entry.seq = object_chain.seq WHERE entry.object_prev IS NOT NULL{walk_limit}) \
                 SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE seq IN (SELECT seq FROM object_chain)"
            )
        } else {
            format!("SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE 1 = 1")
        };
        let mut texts: Vec<String> = Vec::new();
        let mut numbers: Vec<i64> = Vec::new();
        // Texts bind first ($1..), numbers after them; placeholders are numbered accordingly.
        let mut text_clauses = Vec::new();
        if let Some(t) = &query.object_type {
            texts.push(t.clone());
            text_clauses.push("object_type");
        }
        if let Some(id) = &query.object_id {
            texts.push(id.clone());
            text_clauses.push("object_id");
        }
        if let Some(actor) = &query.actor {
            let (kind, id) = actor_columns(actor);
            texts.push(kind.to_owned());
            text_clauses.push("actor_kind");
            texts.push(id.to_owned());
            text_clauses.push("actor_id");
        }
        if let Some(action) = query.action {
            texts.push(action.as_str().to_owned());
            text_clauses.push("action");
        }
        if let Some(request_id) = &query.request_id {
            texts.push(request_id.clone());
            text_clauses.push("request_id");
        }
        for (i, column) in text_clauses.iter().enumerate() {
            sql.push_str(&format!(" AND {column} = ${}", i + 1));
        }
        let mut number_clauses = Vec::new();
        if let Some(since) = query.since {
            numbers.push(unix_micros(since));
            number_clauses.push("time_us >=");
        }
        if let Some(until) = query.until {
            numbers.push(unix_micros(until));
            number_clauses.push("time_us <");
        }
        if let Some(seq) = query.before_seq {
            numbers.push(seq);
            number_clauses.push("seq <");
        }
        for (i, clause) in number_clauses.iter().enumerate() {
            sql.push_str(&format!(" AND {clause} ${}", texts.len() + i + 1));
        }
        if query.object_type.is_none() {
            // The chain's own attestations (revisions, view counts, purges) are listed only
            // when asked for by their object type.
            sql.push_str(" AND object_type NOT LIKE 'audit.%'");
        }
        sql.push_str(" ORDER BY seq DESC");
        if let Some(limit) = query.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut statement = sqlx::query(&sql);
        for text in texts {
            statement = statement.bind(text);
        }
        for number in numbers {
            statement = statement.bind(number);
        }
        let rows = statement.fetch_all(&self.inner.pool).await.map_err(db_error("reading audit entries"))?;
        rows.iter()
            .map(|row| {
                let row = entry_row(row)?;
                Ok(StoredEntry { seq: row.seq, entry: row.to_entry()?, hash: row.hash })
            })
            .collect()
    }

    /// Where the walk of one object's list starts, and how far it goes (SQLite, see
    /// `entries`): a page of plain history (no filter but the object, `before` and `limit`)
    /// walks only its own entries, from the entry before `before`; any other query walks the
    /// whole list and filters. `None`: the page is empty (`before` is the object's first entry).
    async fn object_walk(&self, query: &EntryQuery) -> Result<Option<(String, String)>, StoreError> {
        const FROM_HEAD: &str = "SELECT last_seq FROM audit_object_heads WHERE object_type = $1 AND object_id = $2";
        let plain = query.actor.is_none()
            && query.action.is_none()
            && query.request_id.is_none()
            && query.since.is_none()
            && query.until.is_none();
        let Some(limit) = query.limit.filter(|_| plain) else { return Ok(Some((FROM_HEAD.to_owned(), String::new()))) };
        let walk_limit = format!(" LIMIT {limit}");
        let Some(before) = query.before_seq else { return Ok(Some((FROM_HEAD.to_owned(), walk_limit))) };
        let row = sqlx::query("SELECT object_type, object_id, object_prev FROM audit_entries WHERE seq = $1")
            .bind(before)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(db_error("reading where a page starts"))?;
        let Some(row) = row else { return Ok(Some((FROM_HEAD.to_owned(), String::new()))) };
        let (object_type, object_id): (String, String) = (get(&row, "object_type")?, get(&row, "object_id")?);
        if query.object_type.as_deref() != Some(object_type.as_str())
            || query.object_id.as_deref() != Some(object_id.as_str())
        {
            // A cursor that is not one of this object's entries: walk it all.
            return Ok(Some((FROM_HEAD.to_owned(), String::new())));
        }
        // The entry before the cursor in the object's list (a number from the database, not input).
        Ok(get::<Option<i64>>(&row, "object_prev")?.map(|prev| (format!("SELECT CAST({prev} AS BIGINT)"), walk_limit)))
    }

    /// Number of entries stored (after any purge), not counting the chain's own attestations
    /// (see [`entries`](Self::entries)).
    pub async fn entry_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_entries WHERE object_type NOT LIKE 'audit.%'")
            .fetch_one(&self.inner.pool)
            .await
            .map_err(db_error("counting audit entries"))?;
        Ok(count as u64)
    }

    /// Checks the hash chain from the oldest entry (or the last purge checkpoint) to the newest.
    pub async fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.verify_with_progress(|_| {}).await
    }

    /// [`verify`](Self::verify), calling `progress` with the number of entries checked so far
    /// after each page (for a progress bar).
    ///
    /// Besides each entry's hash and link, it checks what the chain attests about the other
    /// tables: every revision and version as stored, the view counts, the newest purge
    /// checkpoint, and (SQLite) the object lists and their heads. A problem there is reported
    /// with the `seq` of the entry that attests the row (0 when none does).
    pub async fn verify_with_progress(&self, mut progress: impl FnMut(u64)) -> Result<VerifyReport, StoreError> {
        let checkpoint = self.last_checkpoint().await?;
        let start = checkpoint.as_ref().map(|(seq, hash, _)| (*seq, hash.clone()));
        let mut walker = ChainWalker::new(start.clone());
        let mut after = start.as_ref().map_or(0, |(seq, _)| *seq);
        let mut head: Option<(i64, String)> = None;
        let lists = dialect::of(self.backend()).object_lists;
        let prev = if lists { "object_prev" } else { "NULL AS object_prev" };
        let sql = format!("SELECT {ENTRY_COLUMNS}, {prev} FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT 5000");
        let mut attested = attest::Attested::default();
        let report = |walker: &ChainWalker, first_broken, head| VerifyReport {
            checked: walker.checked,
            first_broken,
            checkpoint: start.as_ref().map(|c| c.0),
            head,
        };
        loop {
            let rows = sqlx::query(&sql)
                .bind(after)
                .fetch_all(&self.inner.pool)
                .await
                .map_err(db_error("reading audit entries to verify"))?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let object_prev: Option<i64> = get(row, "object_prev")?;
                let row = entry_row(row)?;
                after = row.seq;
                if let Some(broken) = walker.check(&row, start.is_some()) {
                    return Ok(report(&walker, Some(broken), None));
                }
                attested.note(&row, lists, object_prev);
                head = Some((row.seq, row.hash));
            }
            progress(walker.checked);
        }
        let mut conn = self.inner.pool.acquire().await.map_err(|source| self.inner.url.connect_error(source))?;
        let found = attested.check(&mut conn, checkpoint, lists).await?;
        if let Some(found) = found {
            return Ok(report(&walker, Some(found.into_broken()), None));
        }
        let head = head.or(start.clone()).map(|(seq, hash)| Anchor { seq, hash });
        Ok(report(&walker, None, head))
    }

    async fn last_checkpoint(&self) -> Result<Option<(i64, String, i64)>, StoreError> {
        let row = sqlx::query("SELECT seq, hash, removed FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(db_error("reading the purge checkpoint"))?;
        row.map(|row| Ok((get(&row, "seq")?, get(&row, "hash")?, get(&row, "removed")?))).transpose()
    }

    /// The snapshots of one object, newest first. A snapshot never holds redacted and skipped
    /// fields: here they read as empty values (`""`, `0`, `[]`, `None`), and
    /// [`revert`](Self::revert) gives them the current object's values.
    pub async fn versions<T: Audited + DeserializeOwned>(
        &self,
        object_id: &str,
    ) -> Result<Vec<Version<T>>, StoreError> {
        self.version_rows(T::object_type(), object_id).await?.iter().map(version_from_row).collect()
    }

    /// The snapshots of one object as stored (JSON), newest first: for tools that do not know
    /// the object's type, such as `audit versions`.
    pub async fn version_snapshots(
        &self,
        object_type: &str,
        object_id: &str,
    ) -> Result<Vec<Version<serde_json::Value>>, StoreError> {
        self.version_rows(object_type, object_id).await?.iter().map(version_from_row).collect()
    }

    async fn version_rows(&self, object_type: &str, object_id: &str) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        sqlx::query(
            "SELECT v.id, v.revision_id, v.object_type, v.object_id, v.fields, v.snapshot, r.created_us, \
             r.actor_kind, r.actor_id, r.comment \
             FROM audit_versions v JOIN audit_revisions r ON r.id = v.revision_id \
             WHERE v.object_type = $1 AND v.object_id = $2 ORDER BY v.id DESC",
        )
        .bind(object_type)
        .bind(object_id)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db_error("reading versions"))
    }

    /// `current` as the version `version_id` recorded it: the stored fields come from the
    /// version, and the fields a version never stores (redacted and skipped ones) keep
    /// `current`'s values. Fields added to the type since the version was taken take their serde
    /// default (or the error names them). A version of another object (or type) is refused with
    /// [`StoreError::VersionOfAnotherObject`].
    ///
    /// Reverting changes nothing by itself: save the result, and record the change like any other.
    ///
    /// ```no_run
    /// # use audit_runtime::store::{AuditStore, Auditor, StoreError};
    /// # use audit_runtime::{Action, Actor, Audited};
    /// # #[derive(Audited, Clone, serde::Serialize, serde::Deserialize)]
    /// # struct Ward { id: i64, name: String }
    /// # async fn demo(store: AuditStore, auditor: Auditor, current: Ward, version_id: i64) -> Result<(), StoreError> {
    /// let reverted = store.revert(&current, version_id).await?;
    /// // ... save `reverted` in the application's table, then:
    /// auditor.track_change(&Actor::user(42), &current, &reverted);
    /// auditor.log_action(&Actor::user(42), Action::Change, &reverted, &format!("reverted to version {version_id}"));
    /// # Ok(()) }
    /// ```
    pub async fn revert<T>(&self, current: &T, version_id: i64) -> Result<T, StoreError>
    where
        T: Audited + serde::Serialize + DeserializeOwned,
    {
        let row = sqlx::query(
            "SELECT v.id, v.revision_id, v.object_type, v.object_id, v.fields, v.snapshot, r.created_us, \
             r.actor_kind, r.actor_id, r.comment \
             FROM audit_versions v JOIN audit_revisions r ON r.id = v.revision_id WHERE v.id = $1",
        )
        .bind(version_id)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(db_error("reading a version"))?
        .ok_or_else(|| StoreError::NotFound { what: format!("version {version_id}") })?;
        let object_type: String = get(&row, "object_type")?;
        let object_id: String = get(&row, "object_id")?;
        let current_id = current.object_id();
        if object_type != T::object_type() || object_id != current_id {
            return Err(StoreError::VersionOfAnotherObject {
                version_id,
                version_object: format!("{object_type} {object_id}"),
                current_object: format!("{} {current_id}", T::object_type()),
            });
        }
        let whole = serde_json::to_value(current).map_err(StoreError::Serialize)?;
        let snapshot = current.snapshot();
        Ok(version_restored::<T>(&row, |restored| keep_never_stored(restored, &whole, &snapshot), false)?.object)
    }

    /// Views per object of `object_type` since `since` (a `time::Date` or an `OffsetDateTime`),
    /// most viewed first.
    pub async fn view_counts(&self, object_type: &str, since: impl IntoDay) -> Result<Vec<ViewCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT object_id, CAST(SUM(count) AS BIGINT) AS views FROM audit_views \
             WHERE object_type = $1 AND day >= $2 GROUP BY object_id ORDER BY views DESC, object_id",
        )
        .bind(object_type)
        .bind(day_text(since.into_day()))
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db_error("reading view counts"))?;
        rows.iter()
            .map(|row| Ok(ViewCount { object_id: get(row, "object_id")?, views: get::<i64>(row, "views")? as u64 }))
            .collect()
    }

    /// Views per day (`YYYY-MM-DD`, oldest first) of one object, or of every object of the
    /// type when `object_id` is `None`, since `since`; days without views are left out (the
    /// explorer's chart).
    #[cfg(feature = "explorer")]
    pub(crate) async fn views_per_day(
        &self,
        object_type: &str,
        object_id: Option<&str>,
        since: time::Date,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, CAST(SUM(count) AS BIGINT) AS views FROM audit_views \
             WHERE object_type = $1 AND day >= $2 AND ($3 = '' OR object_id = $4) GROUP BY day ORDER BY day",
        )
        .bind(object_type)
        .bind(day_text(since))
        .bind(object_id.map_or("", |_| "one"))
        .bind(object_id.unwrap_or(""))
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db_error("reading view counts per day"))?;
        rows.iter().map(|row| Ok((get(row, "day")?, get::<i64>(row, "views")? as u64))).collect()
    }
}

/// Gives `restored` (a stored snapshot) the fields a snapshot never stores (redacted and
/// skipped ones), from `current` (the object serialised whole) where `current_snapshot` (its
/// own snapshot) lacks them; nested objects likewise. Fields the snapshot lacks because they
/// were added to the type since are left out, so they take their serde default.
fn keep_never_stored(
    restored: &mut serde_json::Value,
    current: &serde_json::Value,
    current_snapshot: &serde_json::Value,
) {
    use serde_json::Value;
    let (Value::Object(restored), Value::Object(current), Value::Object(stored)) =
        (restored, current, current_snapshot)
    else {
        return;
    };
    for (field, value) in current {
        match (stored.get(field), restored.get_mut(field)) {
            (None, _) => {
                restored.insert(field.clone(), value.clone());
            }
            (Some(stored), Some(restored)) => keep_never_stored(restored, value, stored),
            (Some(_), None) => {}
        }
    }
}

pub(crate) fn get<'r, T>(row: &'r sqlx::any::AnyRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(db_error("reading a column"))
}

fn entry_row(row: &sqlx::any::AnyRow) -> Result<EntryRow, StoreError> {
    Ok(EntryRow {
        seq: get(row, "seq")?,
        time_us: get(row, "time_us")?,
        actor_kind: get(row, "actor_kind")?,
        actor_id: get(row, "actor_id")?,
        action: get(row, "action")?,
        object_type: get(row, "object_type")?,
        object_id: get(row, "object_id")?,
        object_repr: get(row, "object_repr")?,
        message: get(row, "message")?,
        changes: get(row, "changes")?,
        request_id: get(row, "request_id")?,
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
    })
}

fn version_from_row<T: DeserializeOwned>(row: &sqlx::any::AnyRow) -> Result<Version<T>, StoreError> {
    version_restored(row, |_| {}, true)
}

/// A version's object from its snapshot, after `complete` has added what the snapshot lacks;
/// `lenient`: fields still missing read as empty values rather than failing.
fn version_restored<T: DeserializeOwned>(
    row: &sqlx::any::AnyRow,
    complete: impl FnOnce(&mut serde_json::Value),
    lenient: bool,
) -> Result<Version<T>, StoreError> {
    let id: i64 = get(row, "id")?;
    let snapshot: String = get(row, "snapshot")?;
    let fields: String = get(row, "fields")?;
    let object_type: String = get(row, "object_type")?;
    let object_id: String = get(row, "object_id")?;
    let mut snapshot: serde_json::Value = serde_json::from_str(&snapshot)
        .map_err(|e| StoreError::Corrupt { what: format!("version {id}: snapshot is not JSON: {e}") })?;
    complete(&mut snapshot);
    let object = if lenient {
        snapshot::with_missing_fields_empty::<T>(snapshot)
    } else {
        serde_json::from_value::<T>(snapshot)
    };
    let object = object.map_err(|e| StoreError::Revert {
        version_id: id,
        object_type,
        object_id: object_id.clone(),
        fields: serde_json::from_str(&fields).unwrap_or_default(),
        reason: e.to_string(),
    })?;
    let kind: Option<String> = get(row, "actor_kind")?;
    Ok(Version {
        id,
        revision_id: get(row, "revision_id")?,
        object_id,
        object,
        user: actor_from_columns(kind.as_deref(), get(row, "actor_id")?),
        comment: get(row, "comment")?,
        created_at: from_unix_micros(get(row, "created_us")?),
    })
}
