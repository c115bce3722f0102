//! Spans: [`#[trace_span]`](crate::trace_span) on functions, and the scope form here.
//!
//! ```
//! use audit_runtime::trace;
//!
//! fn import(rows: &[u32]) {
//!     let _span = trace::span("import_batch"); // ends when `_span` is dropped
//!     let _inner = trace::span!("import_rows", rows = rows.len());
//!     tracing::info!("rows_imported");
//! }
//! # import(&[1, 2, 3]);
//! ```
//!
//! A span is a `tracing` span: every log line written inside it carries its fields (through
//! the JSON layer), and with the `otlp` feature and `telemetry::init_from_env` it is exported
//! over OTLP, with `trace_id` and `span_id` in each log line inside it. (A `#[trace_span]`
//! function makes its `tracing` span only when a layer other than the toolkit's wants it: the
//! exporter and the log layers behind their [`LogFilter`](crate::logging::LogFilter) record it
//! in the toolkit's per-thread context; see `docs/tracing.md`.)
//!
//! Fields named `otel.*` are instructions for the exporter, not data: `otel.name` renames the
//! exported span, `otel.kind` sets its kind (`server`, `client`, ...), `otel.status_code` and
//! `otel.status_message` its status, and `otel.traceparent` (with `otel.tracestate`) continues
//! a remote trace. The JSON layer leaves them out of log lines.
//!
//! W3C trace context: [`current_traceparent`] is the value of the `traceparent` header to send
//! with an outgoing request, and [`continue_trace`] starts a span that continues the trace of
//! an incoming request's `traceparent` header.

use std::error::Error;
use std::fmt;
use std::future::Future;

use tracing::Instrument as _;
use tracing::instrument::Instrumented;

mod fn_span;
pub(crate) mod recorder;
#[cfg(feature = "otlp")]
pub(crate) use fn_span::Parent;
pub(crate) use fn_span::{FnCallsite, Role, role_of};

/// The name of the W3C trace-context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// The field that renames a span for the exporter (a span's `tracing` name is fixed at its
/// call site).
pub const OTEL_NAME: &str = "otel.name";
/// The field that carries a remote parent as a `traceparent` header value.
pub const OTEL_TRACEPARENT: &str = "otel.traceparent";
/// The field that carries the remote parent's `tracestate` header value, kept with the span.
pub const OTEL_TRACESTATE: &str = "otel.tracestate";
/// The field that sets the span's kind: `server`, `client`, `producer`, `consumer` or
/// `internal` (the default).
pub const OTEL_KIND: &str = "otel.kind";
/// The field that sets the span's status: `error` or `ok` (an error event inside the span
/// sets `error` too).
pub const OTEL_STATUS_CODE: &str = "otel.status_code";
/// The field that describes an `error` status.
pub const OTEL_STATUS_MESSAGE: &str = "otel.status_message";

/// An entered span; the span ends (and is exported) when the guard is dropped. The Rust shape
/// of a `with trace_span("name"):` block.
#[must_use = "the span ends when the guard is dropped: bind it with `let _span = ...`"]
#[derive(Debug)]
pub struct SpanGuard {
    entered: tracing::span::EnteredSpan,
}

impl SpanGuard {
    /// Enters `span` until the guard is dropped.
    pub fn new(span: tracing::Span) -> Self {
        SpanGuard { entered: span.entered() }
    }

    /// The span itself (to record a field declared empty, or to instrument a future with a
    /// child of it).
    pub fn span(&self) -> &tracing::Span {
        &self.entered
    }

    /// Records `error` (with its `source()` chain) at level error inside the span, which marks
    /// the span failed in the exporter.
    pub fn record_error(&self, error: &(dyn Error + 'static)) {
        crate::event::spans::SpanFailed::Failed { error, exception_id: None }.emit();
    }

    /// Leaves the span and gives it back, to be entered again or to instrument a future.
    pub fn exit(self) -> tracing::Span {
        self.entered.exit()
    }
}

/// A span named `name` at level info, entered until the guard is dropped.
///
/// `name` may be any text (it is exported as the span's name); for fields use
/// [`span!`](crate::trace::span!).
pub fn span(name: &str) -> SpanGuard {
    SpanGuard::new(new_span(name))
}

/// The span of [`span`], not entered: to hand to [`in_span_with`] or to keep.
pub fn new_span(name: &str) -> tracing::Span {
    tracing::info_span!("audit_runtime::trace::span", otel.name = name)
}

/// Runs `future` inside a span named `name`: the span is entered at every poll and ends when
/// the future is dropped.
///
/// ```
/// # async fn load() {}
/// # async fn example() {
/// audit_runtime::trace::in_span("load_all", load()).await;
/// # }
/// ```
pub fn in_span<F: Future>(name: &str, future: F) -> Instrumented<F> {
    future.instrument(new_span(name))
}

/// Runs `future` inside `span` (for example one made with `tracing::info_span!` with fields).
pub fn in_span_with<F: Future>(span: tracing::Span, future: F) -> Instrumented<F> {
    future.instrument(span)
}

/// `trace::span!("name", key = value, key = %display, key = ?debug)`: the fields form of
/// [`span()`], a [`SpanGuard`] at level info. The name must be a literal.
///
/// ```
/// let batch = 7;
/// let _span = audit_runtime::trace::span!("import_batch", batch, source = "csv");
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __trace_span_scope {
    ($name:literal $(, $($fields:tt)*)?) => {
        $crate::trace::SpanGuard::new($crate::__private::tracing::info_span!($name $(, $($fields)*)?))
    };
}
pub use crate::__trace_span_scope as span;

/// Starts a span named `name` that continues the trace of `traceparent` (the value of an
/// incoming request's `traceparent` header). A missing or malformed header starts a new trace.
///
/// ```
/// let header = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// let _span = audit_runtime::trace::continue_trace("handle_request", header);
/// ```
pub fn continue_trace(name: &str, traceparent: Option<&str>) -> SpanGuard {
    let parent = traceparent.and_then(|value| TraceParent::parse(value).ok()).map(|tp| tp.to_string());
    SpanGuard::new(tracing::info_span!(
        "audit_runtime::trace::span",
        otel.name = name,
        otel.traceparent = parent.as_deref()
    ))
}

/// The `traceparent` header value for the current span, to send with an outgoing request.
/// `None` outside a span, or when no exporter assigns trace ids.
pub fn current_traceparent() -> Option<TraceParent> {
    #[cfg(feature = "otlp")]
    {
        use crate::context::spans::{self, SpanIds};
        use tracing_subscriber::Registry;
        use tracing_subscriber::registry::LookupSpan;
        // The per-thread span context knows both kinds of span: the `tracing` spans the
        // exporter sees and the spans `#[trace_span]` records itself.
        if let Some(current) = spans::current() {
            return Some(TraceParent {
                trace_id: current.trace_id,
                span_id: current.span_id,
                sampled: current.sampled,
            });
        }
        let id = tracing::Span::current().id()?;
        tracing::dispatcher::get_default(|dispatch| {
            let registry = dispatch.downcast_ref::<Registry>()?;
            let span = registry.span(&id)?;
            let extensions = span.extensions();
            let ids = extensions.get::<SpanIds>()?;
            Some(TraceParent { trace_id: ids.trace_id, span_id: ids.span_id, sampled: ids.sampled })
        })
    }
    // Without the exporter no ids are assigned.
    #[cfg(not(feature = "otlp"))]
    None
}

/// A W3C `traceparent` value: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
///
/// ```
/// use audit_runtime::trace::TraceParent;
/// let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert!(tp.sampled);
/// assert_eq!(tp.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace id (never zero).
    pub trace_id: u128,
    /// The id of the parent span (never zero).
    pub span_id: u64,
    /// The `sampled` flag.
    pub sampled: bool,
}

impl TraceParent {
    /// Parses a header value; the error says what is wrong and what is expected.
    pub fn parse(value: &str) -> Result<Self, TraceParentError> {
        let error = |reason: &'static str| TraceParentError { value: value.to_owned(), reason };
        let value_trimmed = value.trim();
        let parts: Vec<&str> = value_trimmed.split('-').collect();
        if parts.len() < 4 {
            return Err(error("expected four parts separated by `-`"));
        }
        let (version, trace, span, flags) = (parts[0], parts[1], parts[2], parts[3]);
        if version.len() != 2 || !is_lower_hex(version) || version == "ff" {
            return Err(error("the version must be two lower-case hex digits other than `ff`"));
        }
        if version == "00" && parts.len() != 4 {
            return Err(error("version 00 has exactly four parts"));
        }
        if trace.len() != 32 || !is_lower_hex(trace) {
            return Err(error("the trace id must be 32 lower-case hex digits"));
        }
        if span.len() != 16 || !is_lower_hex(span) {
            return Err(error("the parent id must be 16 lower-case hex digits"));
        }
        if flags.len() != 2 || !is_lower_hex(flags) {
            return Err(error("the flags must be two lower-case hex digits"));
        }
        let trace_id = u128::from_str_radix(trace, 16).map_err(|_| error("the trace id is not hex"))?;
        let span_id = u64::from_str_radix(span, 16).map_err(|_| error("the parent id is not hex"))?;
        let flags = u8::from_str_radix(flags, 16).map_err(|_| error("the flags are not hex"))?;
        if trace_id == 0 {
            return Err(error("the trace id is all zeros"));
        }
        if span_id == 0 {
            return Err(error("the parent id is all zeros"));
        }
        Ok(TraceParent { trace_id, span_id, sampled: flags & 1 == 1 })
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl fmt::Display for TraceParent {
    /// The header value, version `00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{:032x}-{:016x}-{:02x}", self.trace_id, self.span_id, u8::from(self.sampled))
    }
}

/// A `traceparent` value that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid traceparent {value:?}: {reason} (expected `00-<32 hex>-<16 hex>-<2 hex>`)")]
pub struct TraceParentError {
    value: String,
    reason: &'static str,
}

/// Items used by the code `#[trace_span]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    use std::error::Error;
    use std::fmt::Display;

    use tracing::field::DisplayValue;

    pub use super::fn_span::{EnteredFnSpan, FnCallsite, FnFuture, FnSpan, Parent, field_at};

    /// An `Err` value to record: as an error with its source chain when it is a
    /// `std::error::Error`, else with `Display` (autoref specialisation picks the first).
    pub struct TraceError<'a, E>(pub &'a E);

    /// Chosen when the error type implements `std::error::Error`.
    pub trait TraceErrorViaError {
        /// The value the `error` field records.
        fn __audit_error_value(&self) -> &(dyn Error + 'static);
    }

    impl<E: Error + 'static> TraceErrorViaError for &TraceError<'_, E> {
        fn __audit_error_value(&self) -> &(dyn Error + 'static) {
            self.0
        }
    }

    /// Chosen otherwise: any `Display` error (a `String`, `anyhow::Error`).
    pub trait TraceErrorViaDisplay {
        /// The value the `error` field records.
        fn __audit_error_value(&self) -> DisplayValue<&dyn Display>;
    }

    impl<E: Display> TraceErrorViaDisplay for TraceError<'_, E> {
        fn __audit_error_value(&self) -> DisplayValue<&dyn Display> {
            tracing::field::display(self.0 as &dyn Display)
        }
    }
}
