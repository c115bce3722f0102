//! One chain over everything the store keeps: revisions (with their versions), view counts and
//! purge checkpoints are attested by entries in the hash chain, so a forged or edited row of
//! any kind breaks something `verify()` checks.
//!
//! - Each revision gets an entry of object type `audit.revision` (id: the revision's id) whose
//!   one change, `sha256`, is a digest of the revision row and its version rows as stored.
//! - Each batch that counts views gets an entry of object type `audit.views` listing the counts
//!   it added; the `audit_views` table must equal their sums.
//! - `purge_before` appends an entry of object type `audit.purge` naming the checkpoint it left
//!   (seq, hash, entries removed) and the view counts of the removed entries; the newest
//!   checkpoint row must be named so by an entry of the chain.
//!
//! Their actor is the revision's user (else the system actor `audit`); they show in
//! `entries()` like any entry, and never in an object's history.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use time::OffsetDateTime;

use super::chain::{BrokenEntry, EntryRow, Tampering};
use super::conn::{WriteConn, on_conn};
use super::{StoreError, db_error};
use crate::audit::{Action, Actor, AuditEntry, FieldChange};

pub(crate) const REVISION: &str = "audit.revision";
pub(crate) const VIEWS: &str = "audit.views";
pub(crate) const PURGE: &str = "audit.purge";

/// A revision row: id, created_us, actor kind and id, comment, request id.
type RevisionRow = (i64, i64, Option<String>, Option<String>, Option<String>, Option<String>);
/// A version row: id, revision id, object type, id and repr, fields, snapshot.
type VersionRow = (i64, i64, String, String, String, String, String);

/// View counts by (object type, object id, day).
pub(crate) type ViewCounts = BTreeMap<(String, String, String), i64>;

fn system() -> Actor {
    Actor::system("audit")
}

fn attestation(
    actor: Actor,
    action: Action,
    object_type: &str,
    object_id: String,
    message: String,
    field: &'static str,
    value: Value,
) -> AuditEntry {
    AuditEntry {
        time: OffsetDateTime::now_utc(),
        actor,
        action,
        object_type: object_type.to_owned(),
        object_repr: format!("{object_type} {object_id}"),
        object_id,
        message,
        changes: vec![FieldChange::new(field, Value::Null, value)],
        request_id: None,
    }
}

/// The stored columns of a revision and its versions, hashed as stored.
#[derive(Default)]
pub(crate) struct RevisionDigest(Sha256);

impl RevisionDigest {
    pub(crate) fn field(&mut self, text: Option<&str>) {
        match text {
            Some(text) => {
                self.0.update((text.len() as u64).to_be_bytes());
                self.0.update(text.as_bytes());
            }
            None => self.0.update(u64::MAX.to_be_bytes()),
        }
    }

    pub(crate) fn finish(self) -> String {
        self.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The entry attesting revision `id`.
pub(crate) fn revision_entry(
    id: i64,
    user: Option<&Actor>,
    comment: Option<&str>,
    request_id: Option<&str>,
    digest: String,
) -> AuditEntry {
    let mut entry = attestation(
        user.cloned().unwrap_or_else(system),
        Action::Create,
        REVISION,
        id.to_string(),
        comment.unwrap_or_default().to_owned(),
        "sha256",
        Value::String(digest),
    );
    entry.request_id = request_id.map(str::to_owned);
    entry
}

fn counts_json(counts: &ViewCounts) -> Value {
    Value::Array(counts.iter().map(|((t, i, d), c)| json!([t, i, d, c])).collect())
}

/// The entry attesting the view counts a batch added.
pub(crate) fn views_entry(counts: &ViewCounts) -> AuditEntry {
    let total: i64 = counts.values().sum();
    attestation(
        system(),
        Action::View,
        VIEWS,
        "counts".to_owned(),
        format!("{total} views counted"),
        "added",
        counts_json(counts),
    )
}

/// The entry attesting a purge checkpoint.
pub(crate) fn purge_entry(seq: i64, hash: &str, removed: u64, views: &ViewCounts) -> AuditEntry {
    attestation(
        system(),
        Action::Delete,
        PURGE,
        seq.to_string(),
        format!("{removed} entries purged up to {seq}"),
        "checkpoint",
        json!({ "seq": seq, "hash": hash, "removed": removed, "views": counts_json(views) }),
    )
}

fn add_counts(into: &mut ViewCounts, value: &Value) -> Option<()> {
    for item in value.as_array()? {
        let item = item.as_array()?;
        let key =
            (item.first()?.as_str()?.to_owned(), item.get(1)?.as_str()?.to_owned(), item.get(2)?.as_str()?.to_owned());
        *into.entry(key).or_default() += item.get(3)?.as_i64()?;
    }
    Some(())
}

/// The first change's new value of an attestation row, as stored.
fn payload(row: &EntryRow) -> Option<Value> {
    let changes: Vec<FieldChange> = serde_json::from_str(&row.changes).ok()?;
    changes.into_iter().next().map(|c| c.new)
}

/// What the chain attests, gathered while it is walked.
#[derive(Default)]
pub(crate) struct Attested {
    revisions: BTreeMap<i64, (String, i64)>,
    views: ViewCounts,
    /// Checkpoints named by `audit.purge` entries: seq -> (hash, removed).
    checkpoints: HashMap<i64, (String, i64)>,
    /// SQLite: the newest entry of each object, to check the heads table against.
    heads: HashMap<(String, String), i64>,
    /// Where an attestation itself could not be read.
    malformed: Option<i64>,
    /// The first object whose list link does not follow the chain.
    bad_link: Option<(String, String)>,
}

/// What `verify()` found wrong outside the entries' own hashes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unattested {
    /// A revision or one of its versions differs from what the chain attests (or is not attested).
    Revision { id: i64, attested_by: Option<i64> },
    /// The view counts differ from the sums the chain attests.
    Views { object_type: String, object_id: String, day: String },
    /// The newest purge checkpoint is not the one the chain names.
    Checkpoint { seq: i64 },
    /// The object index does not match the chain.
    ObjectIndex { object_type: String, object_id: String },
    /// An attestation entry cannot be read.
    Malformed { seq: i64 },
}

impl Unattested {
    pub(crate) fn into_broken(self) -> BrokenEntry {
        let (seq, tampering) = match self {
            Unattested::Revision { attested_by, .. } => (attested_by.unwrap_or(0), Tampering::RevisionAltered),
            Unattested::Views { .. } => (0, Tampering::ViewCountsAltered),
            Unattested::Checkpoint { seq } => (seq, Tampering::CheckpointForged),
            Unattested::ObjectIndex { .. } => (0, Tampering::ObjectIndexAltered),
            Unattested::Malformed { seq } => (seq, Tampering::Edited),
        };
        BrokenEntry { seq, tampering }
    }
}

impl Attested {
    /// Starts after a checkpoint: its attested view counts are the starting sums.
    /// Notes a row of the walk; `object_prev` is its link to the object's previous entry
    /// (SQLite's object lists; `None` elsewhere).
    pub(crate) fn note(&mut self, row: &EntryRow, track_heads: bool, object_prev: Option<i64>) {
        if track_heads {
            let before = self.heads.insert((row.object_type.clone(), row.object_id.clone()), row.seq);
            // After a purge an object's first remaining entry may link to a purged one.
            let linked = object_prev == before || (before.is_none() && object_prev.is_some_and(|p| p < row.seq));
            if !linked && self.bad_link.is_none() {
                self.bad_link = Some((row.object_type.clone(), row.object_id.clone()));
            }
        }
        if !row.object_type.starts_with("audit.") {
            return;
        }
        let ok = match row.object_type.as_str() {
            REVISION => (|| {
                let id: i64 = row.object_id.parse().ok()?;
                let digest = payload(row)?.as_str()?.to_owned();
                self.revisions.insert(id, (digest, row.seq));
                Some(())
            })(),
            VIEWS => payload(row).and_then(|v| add_counts(&mut self.views, &v)),
            PURGE => (|| {
                let value = payload(row)?;
                let seq = value.get("seq")?.as_i64()?;
                let hash = value.get("hash")?.as_str()?.to_owned();
                let removed = value.get("removed")?.as_i64()?;
                self.checkpoints.insert(seq, (hash, removed));
                Some(())
            })(),
            _ => Some(()),
        };
        if ok.is_none() && self.malformed.is_none() {
            self.malformed = Some(row.seq);
        }
    }

    /// Compares the tables with what the chain attests. `checkpoint` is the newest checkpoint
    /// row (seq, hash, removed, the view counts its purge entry carried are added here).
    pub(crate) async fn check(
        mut self,
        conn: &mut AnyConnection,
        checkpoint: Option<(i64, String, i64)>,
        track_heads: bool,
    ) -> Result<Option<Unattested>, StoreError> {
        if let Some(seq) = self.malformed {
            return Ok(Some(Unattested::Malformed { seq }));
        }
        if let Some((object_type, object_id)) = self.bad_link.take() {
            return Ok(Some(Unattested::ObjectIndex { object_type, object_id }));
        }
        if let Some((seq, hash, removed)) = &checkpoint {
            match self.checkpoints.get(seq) {
                Some((h, r)) if h == hash && r == removed => {}
                _ => return Ok(Some(Unattested::Checkpoint { seq: *seq })),
            }
            // The counts of the purged entries, carried by the purge entry.
            let carried: Option<String> = sqlx::query_scalar(
                "SELECT changes FROM audit_entries WHERE object_type = $1 AND object_id = $2 ORDER BY seq DESC LIMIT 1",
            )
            .bind(PURGE)
            .bind(seq.to_string())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error("reading the purge attestation"))?;
            let carried = carried
                .and_then(|text| serde_json::from_str::<Vec<FieldChange>>(&text).ok())
                .and_then(|c| c.into_iter().next())
                .and_then(|c| c.new.get("views").cloned());
            if let Some(views) = carried {
                add_counts(&mut self.views, &views);
            }
        }
        if let Some(found) = self.check_revisions(conn, checkpoint.is_some()).await? {
            return Ok(Some(found));
        }
        if let Some(found) = self.check_views(conn).await? {
            return Ok(Some(found));
        }
        if track_heads {
            return self.check_heads(conn).await;
        }
        Ok(None)
    }

    async fn check_revisions(&self, conn: &mut AnyConnection, purged: bool) -> Result<Option<Unattested>, StoreError> {
        let revisions: Vec<RevisionRow> = sqlx::query_as(
            "SELECT id, created_us, actor_kind, actor_id, comment, request_id FROM audit_revisions ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error("reading revisions to verify"))?;
        let versions: Vec<VersionRow> = sqlx::query_as(
            "SELECT id, revision_id, object_type, object_id, object_repr, fields, snapshot FROM audit_versions ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error("reading versions to verify"))?;
        let mut by_revision: BTreeMap<i64, Vec<&VersionRow>> = BTreeMap::new();
        for version in &versions {
            by_revision.entry(version.1).or_default().push(version);
        }
        // Revisions older than a purge lost their attestations with the purged entries; the
        // purge removed them too, so none should be left below the oldest attested one.
        let oldest_attested = self.revisions.keys().next().copied();
        for (id, created_us, kind, actor, comment, request_id) in &revisions {
            let attested = self.revisions.get(id);
            if attested.is_none() && purged && oldest_attested.is_none_or(|oldest| *id < oldest) {
                continue;
            }
            let mut digest = RevisionDigest::default();
            revision_fields(
                &mut digest,
                *created_us,
                kind.as_deref(),
                actor.as_deref(),
                comment.as_deref(),
                request_id.as_deref(),
            );
            for v in by_revision.get(id).into_iter().flatten() {
                version_fields(&mut digest, v.0, &v.2, &v.3, &v.4, &v.5, &v.6);
            }
            let digest = digest.finish();
            match attested {
                Some((expected, _)) if *expected == digest => {}
                other => return Ok(Some(Unattested::Revision { id: *id, attested_by: other.map(|(_, seq)| *seq) })),
            }
        }
        let stored: std::collections::BTreeSet<i64> = revisions.iter().map(|r| r.0).collect();
        if let Some((id, (_, seq))) = self.revisions.iter().find(|(id, _)| !stored.contains(id)) {
            return Ok(Some(Unattested::Revision { id: *id, attested_by: Some(*seq) }));
        }
        if let Some(orphan) = versions.iter().find(|v| !stored.contains(&v.1)) {
            return Ok(Some(Unattested::Revision { id: orphan.1, attested_by: None }));
        }
        Ok(None)
    }

    async fn check_views(&self, conn: &mut AnyConnection) -> Result<Option<Unattested>, StoreError> {
        let rows: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT object_type, object_id, day, count FROM audit_views")
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error("reading view counts to verify"))?;
        let mut stored: ViewCounts = BTreeMap::new();
        for (t, i, d, c) in rows {
            stored.insert((t, i, d), c);
        }
        let differs = stored
            .iter()
            .find(|(key, count)| self.views.get(*key) != Some(count))
            .or_else(|| self.views.iter().find(|(key, count)| **count != 0 && !stored.contains_key(*key)));
        Ok(differs.map(|((t, i, d), _)| Unattested::Views {
            object_type: t.clone(),
            object_id: i.clone(),
            day: d.clone(),
        }))
    }

    async fn check_heads(&self, conn: &mut AnyConnection) -> Result<Option<Unattested>, StoreError> {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT object_type, object_id, last_seq FROM audit_object_heads")
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error("reading the object index to verify"))?;
        let mut seen = 0;
        for (t, i, last) in rows {
            match self.heads.get(&(t.clone(), i.clone())) {
                Some(newest) if *newest == last => seen += 1,
                _ => return Ok(Some(Unattested::ObjectIndex { object_type: t, object_id: i })),
            }
        }
        if seen != self.heads.len() {
            let missing = self.heads.keys().next().cloned().unwrap_or_default();
            return Ok(Some(Unattested::ObjectIndex { object_type: missing.0, object_id: missing.1 }));
        }
        Ok(None)
    }
}

/// Hashes a revision row's columns, as stored.
pub(crate) fn revision_fields(
    digest: &mut RevisionDigest,
    created_us: i64,
    actor_kind: Option<&str>,
    actor_id: Option<&str>,
    comment: Option<&str>,
    request_id: Option<&str>,
) {
    digest.field(Some(&created_us.to_string()));
    for text in [actor_kind, actor_id, comment, request_id] {
        digest.field(text);
    }
}

/// Hashes a version row's columns, as stored.
pub(crate) fn version_fields(
    digest: &mut RevisionDigest,
    id: i64,
    object_type: &str,
    object_id: &str,
    object_repr: &str,
    fields: &str,
    snapshot: &str,
) {
    digest.field(Some(&id.to_string()));
    for text in [object_type, object_id, object_repr, fields, snapshot] {
        digest.field(Some(text));
    }
}

/// The view counts attested by entries up to `cut`: the newest purge entry among them carries
/// the totals before it, and the view entries after it add theirs.
pub(crate) async fn carried_views(conn: &mut WriteConn, cut: i64) -> Result<ViewCounts, StoreError> {
    let rows: Vec<(i64, String, String)> = on_conn!(conn, c => {
        sqlx::query_as(
            "SELECT seq, object_type, changes FROM audit_entries WHERE seq <= $1 AND object_type IN ($2, $3) \
             ORDER BY seq",
        )
        .bind(cut)
        .bind(VIEWS)
        .bind(PURGE)
        .fetch_all(&mut *c)
        .await
    })
    .map_err(db_error("reading the view counts to carry"))?;
    let mut totals = ViewCounts::new();
    for (_, object_type, changes) in rows {
        let Some(value) =
            serde_json::from_str::<Vec<FieldChange>>(&changes).ok().and_then(|c| c.into_iter().next()).map(|c| c.new)
        else {
            continue;
        };
        if object_type == PURGE {
            totals.clear();
            if let Some(views) = value.get("views") {
                add_counts(&mut totals, views);
            }
        } else {
            add_counts(&mut totals, &value);
        }
    }
    Ok(totals)
}
