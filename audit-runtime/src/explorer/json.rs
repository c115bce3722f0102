//! What each page shows, as data: serialised for `Accept: application/json`, rendered by
//! `pages.rs` otherwise. Times are RFC 3339; a redacted change has `"redacted": true` and no
//! values.

use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

use super::chart::DayViews;
use super::diff::FieldDiff;
use crate::store::{StoredEntry, VerifyReport, Version};

pub(super) fn rfc3339(time: time::OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// A page of entries, newest first; `next` links to the older ones.
#[derive(Serialize)]
pub(super) struct EntriesPage {
    pub(super) entries: Vec<EntryView>,
    /// The next page's URL (under the nest path), when there are more entries.
    pub(super) next: Option<String>,
    /// The keyset cursor of the next page (`before=`).
    pub(super) next_before: Option<i64>,
}

/// One entry as the explorer shows it.
#[derive(Serialize)]
pub(super) struct EntryView {
    pub(super) seq: i64,
    pub(super) time: String,
    pub(super) actor: String,
    pub(super) action: &'static str,
    pub(super) object_type: String,
    pub(super) object_id: String,
    pub(super) object_repr: String,
    pub(super) message: String,
    pub(super) request_id: Option<String>,
    pub(super) changes: Vec<ChangeView>,
}

/// A field change: old → new, or only that a redacted field changed.
#[derive(Serialize)]
pub(super) struct ChangeView {
    pub(super) field: String,
    pub(super) redacted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) new: Option<Value>,
}

impl From<StoredEntry> for EntryView {
    fn from(stored: StoredEntry) -> Self {
        let entry = stored.entry;
        let changes = entry
            .changes
            .into_iter()
            .map(|change| {
                // The store never held a redacted value; the marker is not shown as one either.
                let redacted = change.is_redacted();
                let (old, new) = if redacted { (None, None) } else { (Some(change.old), Some(change.new)) };
                ChangeView { field: change.field.into_owned(), redacted, old, new }
            })
            .collect();
        EntryView {
            seq: stored.seq,
            time: rfc3339(entry.time),
            actor: entry.actor.to_string(),
            action: entry.action.as_str(),
            object_type: entry.object_type,
            object_id: entry.object_id,
            object_repr: entry.object_repr,
            message: entry.message,
            request_id: entry.request_id,
            changes,
        }
    }
}

/// An object's versions, newest first.
#[derive(Serialize)]
pub(super) struct VersionsPage {
    pub(super) object_type: String,
    pub(super) object_id: String,
    pub(super) versions: Vec<VersionView>,
    /// Whether this request may revert the object to one of them.
    pub(super) revertible: bool,
}

/// One version: who made it, why, when, and its snapshot.
#[derive(Serialize)]
pub(super) struct VersionView {
    pub(super) id: i64,
    pub(super) revision_id: i64,
    pub(super) created_at: String,
    pub(super) user: Option<String>,
    pub(super) comment: Option<String>,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub(super) snapshot: Value,
}

impl VersionView {
    /// Who, why and when, without the snapshot.
    pub(super) fn meta(version: &Version<Value>) -> Self {
        VersionView {
            id: version.id,
            revision_id: version.revision_id,
            created_at: rfc3339(version.created_at),
            user: version.user.as_ref().map(ToString::to_string),
            comment: version.comment.clone(),
            snapshot: Value::Null,
        }
    }
}

impl From<Version<Value>> for VersionView {
    fn from(version: Version<Value>) -> Self {
        let meta = VersionView::meta(&version);
        VersionView { snapshot: version.object, ..meta }
    }
}

/// Two versions, field by field.
#[derive(Serialize)]
pub(super) struct DiffPage {
    pub(super) object_type: String,
    pub(super) object_id: String,
    pub(super) from: VersionView,
    pub(super) to: VersionView,
    pub(super) fields: Vec<FieldDiff>,
}

/// The confirmation of a revert: what would change, and the form's token.
#[derive(Serialize)]
pub(super) struct RevertPage {
    pub(super) object_type: String,
    pub(super) object_id: String,
    pub(super) version: VersionView,
    /// The current object (old) against the version (new).
    pub(super) fields: Vec<FieldDiff>,
    /// What the `POST` must carry as `token`.
    pub(super) token: String,
}

/// Views per day.
#[derive(Serialize)]
pub(super) struct ViewsPage {
    pub(super) object_type: String,
    pub(super) object_id: Option<String>,
    pub(super) days: Vec<DayViews>,
    pub(super) total: u64,
}

/// The chain's verification.
#[derive(Serialize)]
pub(super) struct VerifyPage {
    pub(super) intact: bool,
    pub(super) checked: u64,
    /// Where the chain breaks first: `seq` and what is wrong there.
    pub(super) first_broken: Option<Value>,
    pub(super) checkpoint: Option<i64>,
    /// The head anchor, `SEQ:HEX`, to keep elsewhere and check against later.
    pub(super) head: Option<String>,
}

impl From<VerifyReport> for VerifyPage {
    fn from(report: VerifyReport) -> Self {
        VerifyPage {
            intact: report.is_intact(),
            checked: report.checked,
            first_broken: report
                .first_broken
                .as_ref()
                .map(|broken| serde_json::json!({ "seq": broken.seq, "tampering": broken.tampering.to_string() })),
            checkpoint: report.checkpoint,
            head: report.head().map(|anchor| anchor.to_string()),
        }
    }
}
