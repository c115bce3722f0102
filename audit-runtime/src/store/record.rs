//! What the writer persists: a record and its identity.
//!
//! Every record carries the id of the writer (or journal) that numbered it and its number there.
//! Numbers grow in the order records are written, and the database keeps, per writer, the
//! number of the last record it stored (`audit_writers`), updated in the same transaction as the
//! records. A batch replayed from the spool or the journal, or retried after a lost commit
//! acknowledgement, skips what is at or below that mark: every record is stored exactly once.

use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AuditEntry};

/// A record with its identity.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The writer (or journal) that numbered it: a random id, new for each `Auditor`.
    pub(crate) origin: String,
    /// Its number there, from 1, in write order.
    pub(crate) number: u64,
    #[serde(flatten)]
    pub(crate) body: RecordBody,
}

impl Record {
    /// `origin:number`, for messages.
    pub(crate) fn identity(&self) -> String {
        format!("{}:{}", self.origin, self.number)
    }
}

/// What is recorded.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum RecordBody {
    Entry(AuditEntry),
    View { object_type: String, object_id: String, day: String },
    Revision(RevisionRecord),
}

/// A revision to write: who, why, and the snapshots.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RevisionRecord {
    pub(crate) created_us: i64,
    pub(crate) user: Option<Actor>,
    pub(crate) comment: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) versions: Vec<VersionRecord>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct VersionRecord {
    pub(crate) object_type: String,
    pub(crate) object_id: String,
    pub(crate) object_repr: String,
    pub(crate) snapshot: serde_json::Value,
}

/// A fresh writer id: a random UUID, as 32 hex digits.
pub(crate) fn new_origin() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
