//! The lines `#[trace_span(err, ret)]` writes, declared once so that the catalog lists them.
//!
//! The macro writes them at the traced function's own call site (so `logger` is its module);
//! these declarations are their catalog entries and schema. A span's fields, flattened into
//! the line, come on top of the fields listed here.

use std::error::Error;

use crate::log_event;

/// A function traced with `#[trace_span(err)]` (or a scope's `record_error`) returned an error.
/// An error that answers a request as a client error (an `ApiError` with a 4xx status) is
/// written at `warning`, any other at `error`.
#[log_event(group = "Spans")]
pub enum SpanFailed<'a> {
    /// A traced function returned a client error (4xx `ApiError`): the request was at fault.
    #[event(name = "span_failed", level = "warning")]
    ClientError {
        /// The error, with its source chain.
        #[event(exception)]
        error: &'a (dyn Error + 'static),
        /// The `exception_id` of the `ApiError`, as in its `api.handled_exception` line and its
        /// body; `null` for other errors.
        exception_id: Option<&'a str>,
    },
    /// A traced function returned an error.
    #[event(name = "span_failed", level = "error")]
    Failed {
        /// The error, with its source chain.
        #[event(exception)]
        error: &'a (dyn Error + 'static),
        /// The `exception_id` of the `ApiError`, as in its `api.handled_exception` line and its
        /// body; `null` for other errors.
        exception_id: Option<&'a str>,
    },
}

/// A function traced with `#[trace_span(ret)]` returned; written at the span's level.
#[log_event(group = "Spans")]
pub enum SpanReturned<'a> {
    /// A traced function at level `debug` (or `trace`) returned.
    #[event(name = "span_returned", level = "debug")]
    Debug {
        /// The value: its `Debug` text, or for an `Audited` value its snapshot (redacted and
        /// skipped fields left out) as JSON.
        return_value: &'a serde_json::Value,
    },
    /// A traced function at level `info` returned.
    #[event(name = "span_returned", level = "info")]
    Info {
        /// The value: its `Debug` text, or for an `Audited` value its snapshot (redacted and
        /// skipped fields left out) as JSON.
        return_value: &'a serde_json::Value,
    },
    /// A traced function at level `warning` returned.
    #[event(name = "span_returned", level = "warning")]
    Warning {
        /// The value: its `Debug` text, or for an `Audited` value its snapshot (redacted and
        /// skipped fields left out) as JSON.
        return_value: &'a serde_json::Value,
    },
    /// A traced function at level `error` returned.
    #[event(name = "span_returned", level = "error")]
    Error {
        /// The value: its `Debug` text, or for an `Audited` value its snapshot (redacted and
        /// skipped fields left out) as JSON.
        return_value: &'a serde_json::Value,
    },
}

/// Items the `#[trace_span]` expansion uses for `err` and `ret`.
#[doc(hidden)]
pub mod __private {
    use std::fmt;

    use crate::audit::Audited;
    use crate::logging::JsonValue;

    /// What `err` records beyond the error's text.
    pub struct SpanErrorInfo {
        /// The error answers a request with a 4xx status: written at `warning`.
        pub client_error: bool,
        /// The id shared with the error's `api.handled_exception` line.
        pub exception_id: Option<String>,
    }

    impl SpanErrorInfo {
        /// The id as the line's `exception_id` (`null` when there is none).
        pub fn exception_id_value(&self) -> tracing::field::DebugValue<JsonValue<'_, Option<String>>> {
            tracing::field::debug(JsonValue(&self.exception_id))
        }
    }

    /// An error that answers a request and has an id in its body (`ApiError`).
    pub trait AnsweredError {
        /// The HTTP status it answers with.
        fn answered_status(&self) -> u16;
        /// The id in its body and its line.
        fn answered_exception_id(&self) -> String;
    }

    /// The `Err` value of a traced call, probed by autoref specialisation.
    pub struct SpanErrorProbe<'a, E>(pub &'a E);

    /// Chosen for an [`AnsweredError`].
    pub trait SpanErrorViaAnswered {
        /// What the error tells.
        fn __audit_span_error(&self) -> SpanErrorInfo;
    }

    impl<E: AnsweredError> SpanErrorViaAnswered for &SpanErrorProbe<'_, E> {
        fn __audit_span_error(&self) -> SpanErrorInfo {
            SpanErrorInfo {
                client_error: (400..500).contains(&self.0.answered_status()),
                exception_id: Some(self.0.answered_exception_id()),
            }
        }
    }

    /// Chosen for any other error.
    pub trait SpanErrorViaPlain {
        /// What the error tells: nothing beyond its text.
        fn __audit_span_error(&self) -> SpanErrorInfo;
    }

    impl<E> SpanErrorViaPlain for SpanErrorProbe<'_, E> {
        fn __audit_span_error(&self) -> SpanErrorInfo {
            SpanErrorInfo { client_error: false, exception_id: None }
        }
    }

    /// A returned value, probed by autoref specialisation: an `Audited` value (or an `Option`,
    /// `Vec` or `Ok` of one) is recorded as its snapshot, which leaves redacted fields out;
    /// anything else with `Debug`.
    pub struct ReturnProbe<'a, T>(pub &'a T);

    /// A value recorded as JSON.
    pub struct Snapshot(serde_json::Value);

    impl fmt::Debug for Snapshot {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(&JsonValue(&self.0), f)
        }
    }

    /// Chosen for an `Audited` value (or an `Option`, a `Vec`, a slice, or an `Ok` of one).
    pub trait ReturnViaSnapshot {
        /// The value to record.
        fn __audit_return_value(&self) -> tracing::field::DebugValue<Snapshot>;
    }

    impl<T: Audited> ReturnViaSnapshot for &ReturnProbe<'_, T> {
        fn __audit_return_value(&self) -> tracing::field::DebugValue<Snapshot> {
            tracing::field::debug(Snapshot(self.0.snapshot()))
        }
    }

    /// Chosen for an `Option`, `Vec` or `Result` whose values are `Audited`.
    pub trait ReturnViaSnapshots {
        /// The value to record.
        fn __audit_return_value(&self) -> tracing::field::DebugValue<Snapshot>;
    }

    impl<T: Audited> ReturnViaSnapshots for &&ReturnProbe<'_, Option<T>> {
        fn __audit_return_value(&self) -> tracing::field::DebugValue<Snapshot> {
            tracing::field::debug(Snapshot(self.0.as_ref().map_or(serde_json::Value::Null, Audited::snapshot)))
        }
    }

    impl<T: Audited> ReturnViaSnapshots for &&&ReturnProbe<'_, Vec<T>> {
        fn __audit_return_value(&self) -> tracing::field::DebugValue<Snapshot> {
            tracing::field::debug(Snapshot(self.0.iter().map(Audited::snapshot).collect()))
        }
    }

    impl<T: Audited, E: fmt::Debug> ReturnViaSnapshots for &&&&ReturnProbe<'_, Result<T, E>> {
        fn __audit_return_value(&self) -> tracing::field::DebugValue<Snapshot> {
            let value = match self.0 {
                Ok(value) => serde_json::json!({ "Ok": value.snapshot() }),
                Err(error) => serde_json::json!({ "Err": format!("{error:?}") }),
            };
            tracing::field::debug(Snapshot(value))
        }
    }

    /// Chosen for anything else: its `Debug`.
    pub trait ReturnViaDebug {
        /// The value to record.
        fn __audit_return_value(&self) -> tracing::field::DebugValue<&dyn fmt::Debug>;
    }

    impl<T: fmt::Debug> ReturnViaDebug for ReturnProbe<'_, T> {
        fn __audit_return_value(&self) -> tracing::field::DebugValue<&dyn fmt::Debug> {
            tracing::field::debug(self.0 as &dyn fmt::Debug)
        }
    }
}
