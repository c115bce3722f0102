//! Change tracking and the audit entry model.
//!
//! - [`change`]: the [`Audited`] trait that `#[derive(Audited)]` implements, and
//!   [`FieldChange`] (which field changed, old and new value as JSON).
//! - [`entry`]: [`Action`], [`Actor`] and [`AuditEntry`], built by [`log_action`],
//!   [`log_bulk_action`] and [`track_change`], each of which also writes the entry as a JSON log
//!   line (`audit.action`, `audit.change`).
//!
//! See `docs/audit.md` for the guide.

pub mod change;
pub mod entry;

pub use change::{Audited, FieldChange};
pub use entry::{ACTION_EVENT, Action, Actor, AuditEntry, CHANGE_EVENT, log_action, log_bulk_action, track_change};

/// Items the `#[derive(Audited)]` expansion uses, under one name (`audited`) so that they cannot
/// collide with other macros' helpers in the crate's `__private`.
#[doc(hidden)]
pub mod __private {
    pub use super::change::__private as audited;
}
