#![doc = include_str!("../../README.md")]
#![warn(missing_docs)]

// Lets the runtime declare its own events with `#[log_event]`, whose expansion names
// `::audit_runtime`.
extern crate self as audit_runtime;

/// `Debug` that writes the `Display` message: `main() -> Result<(), Box<dyn Error>>` prints an
/// error it returns with `Debug`, and users should see the documented message there, not the
/// struct.
macro_rules! debug_is_display {
    ($($ty:ty),+ $(,)?) => {$(
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(self, f)
            }
        }
    )+};
}

pub mod audit;
pub mod catalog;
mod clock;
pub mod context;
pub mod event;
#[cfg(feature = "explorer")]
pub mod explorer;
#[cfg(feature = "http")]
pub mod http;
pub mod logging;
pub mod report;
mod setup;
#[cfg(feature = "store")]
pub mod store;
#[cfg(feature = "otlp")]
pub mod telemetry;
pub mod trace;
pub mod vars;

pub use audit::{Action, Actor, AuditEntry, Audited, FieldChange};
pub use audit_macros::{Audited, log_event, trace_span};
/// *Available with the crate feature `sqlite` or `postgres`.*
#[cfg(feature = "store")]
pub use store::{AuditStore, Auditor};

/// Items used by the code that the macros generate. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::audit::__private::*;
    pub use crate::event::__private::*;
    pub use crate::logging::json_value::{JsonValue, REDACTED};
    pub use crate::trace::__private::*;
    pub use ::inventory;
    pub use ::serde;
    pub use ::serde_json;
    pub use ::tracing;
}
