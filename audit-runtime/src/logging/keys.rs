//! The schema's standard keys, listed once: the layer writes them, the catalog's JSON Schema
//! requires them, and the compatibility check leaves them out of an event's fields.

/// The event's catalog name (or the message of `info!("text")`).
pub(crate) const EVENT: &str = "event";
/// `debug`, `info`, `warning`, `error` or `critical`.
pub(crate) const LEVEL: &str = "level";
/// UTC, RFC 3339, six fractional digits, `Z`.
pub(crate) const TIMESTAMP: &str = "timestamp";
/// The module path of the call site.
pub(crate) const LOGGER: &str = "logger";
/// `app` unless `LOG_SOURCE` says otherwise.
pub(crate) const SOURCE: &str = "source";
/// `tracing`'s field for the format string of `info!("text")`.
pub(crate) const MESSAGE: &str = "message";
/// A line's error: its message and `source()` chain.
pub(crate) const EXCEPTION: &str = "exception";
/// The trace and span of the innermost exported span, as lower-case hex (feature `otlp`).
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) const TRACE_ID: &str = "trace_id";
/// See [`TRACE_ID`].
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) const SPAN_ID: &str = "span_id";

/// The keys every line has, in the order the JSON line ends with them (`event` comes after the
/// event's own fields, the others close the line).
pub(crate) const EVERY_LINE: [&str; 5] = [EVENT, TIMESTAMP, LOGGER, LEVEL, SOURCE];

/// Field names that hold the error of a line; an error recorded under either is written as
/// [`EXCEPTION`].
pub(crate) const ERROR_FIELDS: [&str; 2] = ["error", EXCEPTION];

/// The value of a `level` field that promotes an `ERROR` event to `critical`.
pub(crate) const CRITICAL: &str = "critical";
