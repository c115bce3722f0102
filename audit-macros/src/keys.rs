//! The log schema's standard keys, as the macros check them: a field of an event or a span
//! named like one would clash with the key every line (or its context) carries. The runtime
//! keeps its own list in `audit_runtime::logging::keys`; this crate cannot depend on it.

/// Keys every log line has, or that an enclosing request, task or trace binds.
pub(crate) const STANDARD_KEYS: [&str; 10] =
    ["event", "level", "timestamp", "logger", "source", "request_id", "user_id", "exception", "trace_id", "span_id"];
