//! placeholder: crate docs are written with the README
#![warn(missing_docs)]

pub mod audit;
pub mod catalog;
pub mod context;
pub mod event;
pub mod logging;

pub use audit_macros::{Audited, log_event};

/// Items used by the code that the macros generate. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::audit::__private::*;
    pub use crate::event::__private::*;
    pub use crate::logging::json_value::{JsonValue, REDACTED};
    pub use ::inventory;
    pub use ::serde;
    pub use ::serde_json;
    pub use ::tracing;
}
