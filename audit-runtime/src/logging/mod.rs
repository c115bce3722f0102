//! Structured JSON logs with one fixed schema.
//!
//! Every line is one JSON object:
//!
//! ```json
//! {"object_uuid":"1734afac-…","objecttype_version":1,"event":"object_created","request_id":"2f9e9a5b-…",
//!  "timestamp":"2025-05-19T14:09:20.339166Z","logger":"objects::api","level":"info","source":"app"}
//! ```
//!
//! - Always present: `event`, `timestamp`, `logger`, `level`, `source`.
//! - `event` is the `event` field of the event when it has one (typed events from
//!   `#[log_event]` do), otherwise the message of `info!("text")`. When both are present the
//!   message is kept under `message`.
//! - `level` is `debug` (also for `TRACE`), `info`, `warning`, `error`, or `critical` for an
//!   `ERROR` event carrying `level = "critical"`.
//! - `timestamp` is UTC, RFC 3339, six fractional digits and `Z`: always 27 characters.
//! - `logger` is the module path of the call site; `source` is `app` unless `LOG_SOURCE` says
//!   otherwise.
//! - The fields of enclosing spans are flattened into the line, innermost first; a key that is
//!   already written (by the event or an inner span) wins, so no key is ever written twice. A
//!   field named like a key the layer writes (`timestamp`, `logger`, `level`, `source`, or a
//!   non-string `event`) is kept as `field.<name>`.
//! - An error recorded as `error = &err as &dyn std::error::Error` is written as `exception`:
//!   its message, then `Caused by:` and its `source()` chain.
//! - Integers and floats stay JSON numbers, booleans stay booleans, and a
//!   [`JsonValue`] is written as nested JSON. NaN and infinities are written as strings.
//! - Every string is escaped: a line always parses as JSON, whatever the bytes.
//!
//! Set-up from the environment ([`init_from_env`]) reads the variables in [`vars`]; [`LogConfig`]
//! does the same in code, and [`JsonLayer`] is the bare layer for a stack of your own.

mod config;
mod console;
mod filter;
mod format;
mod init;
mod json;
pub(crate) mod json_value;
pub(crate) mod keys;
pub(crate) mod layer;
pub(crate) mod log_bridge;
pub(crate) mod span_fields;
pub(crate) mod values;

pub use config::{ConfigError, Level, LevelSpec, LogConfig, LogFormat, vars};
pub use filter::LogFilter;
pub use init::{LogGuard, init_from_env};
pub use json_value::{JsonValue, REDACTED};
pub use layer::{ConsoleLayer, JsonLayer};

/// The `source` of every line unless configured otherwise.
pub const DEFAULT_SOURCE: &str = "app";
