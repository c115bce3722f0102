//! The log lines of audit entries, declared once so that the catalog lists them.

use super::change::FieldChange;
use super::entry::Actor;
use crate::log_event;

/// An action on an object was recorded (created, deleted, viewed, or changed without field
/// changes to report). Inside a request or task the line also carries its `request_id`.
#[log_event(name = "audit.action", level = "info", group = "Audit trail")]
pub struct AuditAction<'a> {
    /// `create`, `change`, `delete` or `view`.
    pub action: &'a str,
    /// Who acted: `{"kind": "user", "id": ...}` or `{"kind": "system", "name": ...}`.
    pub actor: &'a Actor,
    /// The object's type, e.g. `observation`.
    pub object_type: &'a str,
    /// The object's id, as text.
    pub object_id: &'a str,
    /// How the object presents itself to people.
    pub object_repr: &'a str,
    /// What was done, in words.
    pub message: &'a str,
}

/// Changes to an object's fields were recorded. Inside a request or task the line also carries
/// its `request_id`.
#[log_event(name = "audit.change", level = "info", group = "Audit trail")]
pub struct AuditChange<'a> {
    /// `create`, `change`, `delete` or `view`.
    pub action: &'a str,
    /// Who acted: `{"kind": "user", "id": ...}` or `{"kind": "system", "name": ...}`.
    pub actor: &'a Actor,
    /// The object's type, e.g. `observation`.
    pub object_type: &'a str,
    /// The object's id, as text.
    pub object_id: &'a str,
    /// How the object presents itself to people.
    pub object_repr: &'a str,
    /// The changed fields: `field`, `old` and `new` each, values as JSON (`"[redacted]"` for
    /// a redacted field).
    pub changes: &'a [FieldChange],
    /// What was done, in words.
    pub message: &'a str,
}
