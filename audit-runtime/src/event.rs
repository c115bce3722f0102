//! Typed events declared with `#[log_event]`. (Being written: issue #3.)

/// Items the `#[log_event]` expansion uses.
#[doc(hidden)]
pub mod __private {}
