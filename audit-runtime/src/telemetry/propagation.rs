//! W3C trace context (`traceparent`, `tracestate`) in and out of a process, through the
//! `opentelemetry` propagator API (`TraceContextPropagator`), so that any carrier the
//! ecosystem supports (HTTP headers, message metadata) works.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// The current span's context, to send with an outgoing request or message: the innermost span
/// on this thread, whichever kind (a `#[trace_span]` function, `trace::span`, a request).
/// `None` outside a span, or when no exporter assigns ids.
pub fn current_span_context() -> Option<SpanContext> {
    let current = crate::trace::current_traceparent()?;
    let flags = if current.sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
    Some(SpanContext::new(
        TraceId::from(current.trace_id),
        SpanId::from(current.span_id),
        flags,
        false,
        TraceState::NONE,
    ))
}

/// Writes the current span's `traceparent` (and `tracestate`) into `carrier`, such as the
/// headers of an outgoing request. Nothing is written outside a span. True when written.
///
/// ```
/// use std::collections::HashMap;
/// let mut headers = HashMap::new();
/// audit_runtime::telemetry::inject_context(&mut headers);
/// // Outside a span nothing is written.
/// assert!(headers.is_empty());
/// ```
pub fn inject_context(carrier: &mut dyn Injector) -> bool {
    let Some(span_context) = current_span_context() else { return false };
    let context = opentelemetry::Context::new().with_remote_span_context(span_context);
    TraceContextPropagator::new().inject_context(&context, carrier);
    true
}

/// The remote parent that `carrier` (an incoming request's headers) names with `traceparent`
/// and `tracestate`; `None` when absent or malformed (a new trace starts then).
pub fn extract_remote_parent(carrier: &dyn Extractor) -> Option<SpanContext> {
    let context = TraceContextPropagator::new().extract(carrier);
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}
