//! The audit entry model: who ([`Actor`]) did what ([`Action`]) to which object, when, with
//! which field changes, in which request ([`AuditEntry`]).
//!
//! Entries are built here, without a store, by three operations: [`log_action`],
//! [`log_bulk_action`] and [`track_change`]. Each also writes the entry as one JSON log line
//! (`event`: [`ACTION_EVENT`] or [`CHANGE_EVENT`]), so a service without a database still has
//! an audit trace in its logs; the audit store persists the same values.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::change::{Audited, FieldChange};
use super::events::{AuditAction, AuditChange};

/// The `event` of the log line of an entry without field changes (an action).
pub const ACTION_EVENT: &str = "audit.action";
/// The `event` of the log line of an entry with field changes (a tracked change).
pub const CHANGE_EVENT: &str = "audit.change";

/// What was done to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The object was created.
    Create,
    /// The object was changed.
    Change,
    /// The object was deleted.
    Delete,
    /// The object was viewed.
    View,
}

impl Action {
    /// The action's name as written in entries and log lines: `create`, `change`, `delete`,
    /// `view`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Change => "change",
            Action::Delete => "delete",
            Action::View => "view",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who did it: a user, or the system itself (a scheduled job, an import, a migration).
///
/// Serialized as `{"kind": "user", "id": "42"}` or `{"kind": "system", "name": "nightly-import"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A user, by id.
    User {
        /// The user's id, as text.
        id: String,
    },
    /// The system, by the name of the part that acted.
    System {
        /// What acted (`nightly-import`).
        name: String,
    },
}

impl Actor {
    /// A user, by id (a number, a UUID or a string).
    pub fn user(id: impl fmt::Display) -> Self {
        Actor::User { id: id.to_string() }
    }

    /// The system, by the name of the part that acted.
    pub fn system(name: impl Into<String>) -> Self {
        Actor::System { name: name.into() }
    }

    /// The user's id, when the actor is a user.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Actor::User { id } => Some(id),
            Actor::System { .. } => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User { id } => write!(f, "user {id}"),
            Actor::System { name } => write!(f, "system {name}"),
        }
    }
}

/// One audit record, as the store persists it and the log line shows it.
///
/// ```
/// use audit_runtime::{Action, Actor, AuditEntry, Audited};
///
/// #[derive(Audited, serde::Serialize)]
/// struct Ward {
///     id: u32,
///     name: String,
/// }
///
/// let ward = Ward { id: 3, name: "Cardiology".into() };
/// let entry = AuditEntry::action(&Actor::user(42), Action::View, &ward, "opened the ward page");
/// assert_eq!(entry.object_type, "ward");
/// assert_eq!(entry.object_id, "3");
/// let json = serde_json::to_value(&entry).unwrap();
/// assert_eq!(json["action"], "view");
/// assert_eq!(json["actor"], serde_json::json!({"kind": "user", "id": "42"}));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the entry was made, UTC (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Who acted.
    pub actor: Actor,
    /// What was done.
    pub action: Action,
    /// The object's type ([`Audited::object_type`]).
    pub object_type: String,
    /// The object's id ([`Audited::object_id`]).
    pub object_id: String,
    /// The object's description when the entry was made ([`Audited::object_repr`]).
    pub object_repr: String,
    /// What happened, in words.
    pub message: String,
    /// The changed fields (empty for an action), redacted fields without their values.
    #[serde(default)]
    pub changes: Vec<FieldChange>,
    /// The request the entry was made in, when one was bound
    /// ([`current_request_id`](crate::context::current_request_id)).
    #[serde(default)]
    pub request_id: Option<String>,
}

impl AuditEntry {
    /// An entry for `action` on `object`, at the current time, in the current request.
    /// Nothing is logged; [`log_action`] builds and logs.
    pub fn action<T: Audited>(actor: &Actor, action: Action, object: &T, message: impl Into<String>) -> Self {
        AuditEntry {
            time: OffsetDateTime::now_utc(),
            actor: actor.clone(),
            action,
            object_type: T::object_type().to_owned(),
            object_id: object.object_id(),
            object_repr: object.object_repr(),
            message: message.into(),
            changes: Vec::new(),
            request_id: crate::context::current_request_id(),
        }
    }

    /// One entry per object, all with one time and request id, built in one pass.
    /// Nothing is logged; [`log_bulk_action`] builds and logs.
    pub fn bulk_action<'a, T: Audited + 'a>(
        actor: &Actor,
        action: Action,
        objects: impl IntoIterator<Item = &'a T>,
        message: impl Into<String>,
    ) -> Vec<Self> {
        let mut entries = Vec::new();
        bulk_action_each(actor, action, objects, message.into(), |entry| entries.push(entry));
        entries
    }

    /// A [`Action::Change`] entry with the fields that differ between `old` and `new`, or `None`
    /// when nothing tracked changed. The message lists the changed fields. Nothing is logged;
    /// [`track_change`] builds and logs.
    pub fn change<T: Audited>(actor: &Actor, old: &T, new: &T) -> Option<Self> {
        let changes = old.changes_to(new);
        if changes.is_empty() {
            return None;
        }
        let mut message = String::from("changed ");
        for (i, change) in changes.iter().enumerate() {
            if i > 0 {
                message.push_str(", ");
            }
            message.push_str(&change.field);
        }
        Some(AuditEntry {
            time: OffsetDateTime::now_utc(),
            actor: actor.clone(),
            action: Action::Change,
            object_type: T::object_type().to_owned(),
            object_id: new.object_id(),
            object_repr: new.object_repr(),
            message,
            changes,
            request_id: crate::context::current_request_id(),
        })
    }

    /// The `event` of this entry's log line: [`CHANGE_EVENT`] when it has field changes,
    /// [`ACTION_EVENT`] otherwise.
    pub fn event_name(&self) -> &'static str {
        if self.changes.is_empty() { ACTION_EVENT } else { CHANGE_EVENT }
    }

    /// Writes the entry as one `info` log line through `tracing`:
    ///
    /// ```json
    /// {"event":"audit.change","action":"change","actor":{"kind":"user","id":"42"},
    ///  "object_type":"observation","object_id":"17","object_repr":"observation 17",
    ///  "changes":[{"field":"value","old":1.5,"new":2.5}],"request_id":"2f9e9a5b",
    ///  "message":"changed value", "timestamp":"…","logger":"…","level":"info","source":"app"}
    /// ```
    ///
    /// `changes` is left out of action lines; `request_id` comes from the enclosing request or
    /// task, as on every line.
    pub fn emit(&self) {
        let (action, actor, message) = (self.action.as_str(), &self.actor, self.message.as_str());
        let (object_type, object_id, object_repr) = (&*self.object_type, &*self.object_id, &*self.object_repr);
        if self.changes.is_empty() {
            AuditAction { action, actor, object_type, object_id, object_repr, message }.emit();
        } else {
            let changes = &self.changes[..];
            AuditChange { action, actor, object_type, object_id, object_repr, changes, message }.emit();
        }
    }
}

/// Builds the bulk entries one by one, handing each to `each` as it is made.
fn bulk_action_each<'a, T: Audited + 'a>(
    actor: &Actor,
    action: Action,
    objects: impl IntoIterator<Item = &'a T>,
    message: String,
    mut each: impl FnMut(AuditEntry),
) {
    // One clock read and one scope lookup for the whole batch: the entries describe one act.
    let time = OffsetDateTime::now_utc();
    let request_id = crate::context::current_request_id();
    let object_type = T::object_type();
    for object in objects {
        each(AuditEntry {
            time,
            actor: actor.clone(),
            action,
            object_type: object_type.to_owned(),
            object_id: object.object_id(),
            object_repr: object.object_repr(),
            message: message.clone(),
            changes: Vec::new(),
            request_id: request_id.clone(),
        });
    }
}

/// Records `action` on `object`: builds the entry, writes its `audit.action` log line, and
/// returns it (for a store to persist).
///
/// ```
/// use audit_runtime::{Action, Actor, Audited, audit::log_action};
///
/// #[derive(Audited, serde::Serialize)]
/// struct Ward {
///     id: u32,
///     name: String,
/// }
///
/// let entry = log_action(&Actor::system("nightly-import"), Action::Create, &Ward { id: 3, name: "ICU".into() }, "imported");
/// assert_eq!(entry.message, "imported");
/// ```
pub fn log_action<T: Audited>(actor: &Actor, action: Action, object: &T, message: impl Into<String>) -> AuditEntry {
    let entry = AuditEntry::action(actor, action, object, message);
    entry.emit();
    entry
}

/// Records one `action` over many objects of one type: one entry (and one `audit.action` log
/// line) per object, built in one pass, all with the same time and request id.
pub fn log_bulk_action<'a, T: Audited + 'a>(
    actor: &Actor,
    action: Action,
    objects: impl IntoIterator<Item = &'a T>,
    message: impl Into<String>,
) -> Vec<AuditEntry> {
    let mut entries = Vec::new();
    bulk_action_each(actor, action, objects, message.into(), |entry| {
        entry.emit();
        entries.push(entry);
    });
    entries
}

/// Records the change from `old` to `new`: an [`Action::Change`] entry with the old and new
/// value of each changed field, and its `audit.change` log line. Nothing changed: no entry and
/// no line.
///
/// ```
/// use audit_runtime::{Actor, Audited, audit::track_change};
///
/// #[derive(Audited, Clone, serde::Serialize)]
/// struct Ward {
///     id: u32,
///     name: String,
/// }
///
/// let old = Ward { id: 3, name: "ICU".into() };
/// let new = Ward { name: "Intensive care".into(), ..old.clone() };
/// let entry = track_change(&Actor::user(42), &old, &new).expect("the name changed");
/// assert_eq!(entry.changes[0].field, "name");
/// assert!(track_change(&Actor::user(42), &new, &new.clone()).is_none());
/// ```
pub fn track_change<T: Audited>(actor: &Actor, old: &T, new: &T) -> Option<AuditEntry> {
    let entry = AuditEntry::change(actor, old, new)?;
    entry.emit();
    Some(entry)
}
