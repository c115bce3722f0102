//! Change tracking and the audit entry model. (Being written: issue #4.)

/// Items the `#[derive(Audited)]` expansion uses.
#[doc(hidden)]
pub mod __private {}
