//! Change tracking and the audit entry model.
//!
//! - The [`Audited`] trait that `#[derive(Audited)]` implements, and [`FieldChange`] (which
//!   field changed, old and new value as JSON).
//! - [`Action`], [`Actor`] and [`AuditEntry`], built by [`log_action`], [`log_bulk_action`] and
//!   [`track_change`], each of which also writes the entry as a JSON log line ([`AuditAction`],
//!   [`AuditChange`]).
//!
//! See `docs/audit.md` for the guide.

mod change;
mod entry;
mod events;

pub use change::{Audited, FieldChange};
pub use entry::{ACTION_EVENT, Action, Actor, AuditEntry, CHANGE_EVENT, log_action, log_bulk_action, track_change};
pub use events::{AuditAction, AuditChange};

/// Items the `#[derive(Audited)]` expansion uses, under one name (`audited`) so that they cannot
/// collide with other macros' helpers in the crate's `__private`.
#[doc(hidden)]
pub mod __private {
    pub use super::change::__private as audited;
}
