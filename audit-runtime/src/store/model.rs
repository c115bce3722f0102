//! The values the store's reads return, and the query they take.

use time::{Date, OffsetDateTime};

use super::{Anchor, BrokenEntry};
use crate::audit::{Action, Actor, AuditEntry};

/// One stored entry: its place in the chain, the entry, and its hash.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StoredEntry {
    /// Position in the hash chain (1 for the first entry ever written).
    pub seq: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// SHA-256 (hex) over the entry and the previous entry's hash.
    pub hash: String,
}

/// A filter over entries, newest first; page with [`before`](Self::before).
///
/// ```
/// use audit_runtime::store::EntryQuery;
/// let page = EntryQuery::new().object("observation", "17").limit(50);
/// ```
#[derive(Clone, Debug, Default)]
pub struct EntryQuery {
    pub(super) object_type: Option<String>,
    pub(super) object_id: Option<String>,
    pub(super) actor: Option<Actor>,
    pub(super) action: Option<Action>,
    pub(super) request_id: Option<String>,
    pub(super) since: Option<OffsetDateTime>,
    pub(super) until: Option<OffsetDateTime>,
    pub(super) before_seq: Option<i64>,
    pub(super) limit: Option<u32>,
}

impl EntryQuery {
    /// Every entry.
    pub fn new() -> Self {
        Self::default()
    }
    /// Entries of one object.
    pub fn object(mut self, object_type: &str, object_id: &str) -> Self {
        self.object_type = Some(object_type.to_owned());
        self.object_id = Some(object_id.to_owned());
        self
    }
    /// Entries of one object type.
    pub fn object_type(mut self, object_type: &str) -> Self {
        self.object_type = Some(object_type.to_owned());
        self
    }
    /// Entries made by one actor.
    pub fn actor(mut self, actor: &Actor) -> Self {
        self.actor = Some(actor.clone());
        self
    }
    /// Entries of one action.
    pub fn action(mut self, action: Action) -> Self {
        self.action = Some(action);
        self
    }
    /// Entries recorded in one request (its request id).
    pub fn request_id(mut self, request_id: &str) -> Self {
        self.request_id = Some(request_id.to_owned());
        self
    }
    /// Entries at or after `time`.
    pub fn since(mut self, time: OffsetDateTime) -> Self {
        self.since = Some(time);
        self
    }
    /// Entries before `time`.
    pub fn until(mut self, time: OffsetDateTime) -> Self {
        self.until = Some(time);
        self
    }
    /// Entries older than the entry `seq` (the `seq` of the last entry of the previous page).
    pub fn before(mut self, seq: i64) -> Self {
        self.before_seq = Some(seq);
        self
    }
    /// At most `limit` entries.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// The result of [`AuditStore::verify`](super::AuditStore::verify).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub checked: u64,
    /// The first entry that does not verify, if any.
    pub first_broken: Option<BrokenEntry>,
    /// The purge checkpoint the check started from (`seq`), if entries were purged.
    pub checkpoint: Option<i64>,
    /// The newest position checked, when intact (see [`VerifyReport::head`]).
    pub(super) head: Option<Anchor>,
}

impl VerifyReport {
    /// Whether every entry verified.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// The result of [`AuditStore::purge_before`](super::AuditStore::purge_before).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// Entries removed.
    pub removed: u64,
    /// The `seq` of the checkpoint left in their place (the last removed entry).
    pub checkpoint: Option<i64>,
}

/// A snapshot of an object, as a revision recorded it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Version<T> {
    /// What [`AuditStore::revert`](super::AuditStore::revert) takes.
    pub id: i64,
    /// The revision it belongs to.
    pub revision_id: i64,
    /// The id of the object it is a version of.
    pub object_id: String,
    /// The object as it was.
    pub object: T,
    /// Who made the revision.
    pub user: Option<Actor>,
    /// The revision's comment.
    pub comment: Option<String>,
    /// When the revision was committed (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Views of one object, from the anonymous analytics entries.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ViewCount {
    /// The object's id.
    pub object_id: String,
    /// Views counted.
    pub views: u64,
}

/// A day from a date or a time, for [`AuditStore::view_counts`](super::AuditStore::view_counts).
pub trait IntoDay {
    /// The UTC day.
    fn into_day(self) -> Date;
}
impl IntoDay for Date {
    fn into_day(self) -> Date {
        self
    }
}
impl IntoDay for OffsetDateTime {
    fn into_day(self) -> Date {
        self.to_offset(time::UtcOffset::UTC).date()
    }
}
