//! W3C trace context over HTTP headers: the request span continues the caller's trace, and
//! outgoing requests carry the current span's `traceparent`. Through the `opentelemetry`
//! propagator API (see [`telemetry`](crate::telemetry)); without the `otlp` feature no ids are
//! assigned, so nothing is read or written.

use http::HeaderMap;

/// Reads trace context from request headers (the propagator's carrier).
#[cfg(feature = "otlp")]
struct HeaderExtractor<'a>(&'a HeaderMap);

#[cfg(feature = "otlp")]
impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// Writes trace context into request headers; a value that is not a valid header is skipped.
#[cfg(feature = "otlp")]
struct HeaderInjector<'a>(&'a mut HeaderMap);

#[cfg(feature = "otlp")]
impl opentelemetry::propagation::Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(key.as_bytes()), http::HeaderValue::from_str(&value))
        {
            self.0.insert(name, value);
        }
    }
}

/// The caller's span named by `traceparent` (and `tracestate`) in `headers`, as the values of
/// the request span's `otel.traceparent` and `otel.tracestate` fields.
#[cfg(feature = "otlp")]
pub(crate) fn remote_parent(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let Some(parent) = crate::telemetry::extract_remote_parent(&HeaderExtractor(headers)) else {
        return (None, None);
    };
    let traceparent = format!("00-{}-{}-{:02x}", parent.trace_id(), parent.span_id(), parent.trace_flags().to_u8());
    let tracestate = parent.trace_state().header();
    (Some(traceparent), (!tracestate.is_empty()).then_some(tracestate))
}

#[cfg(not(feature = "otlp"))]
pub(crate) fn remote_parent(_headers: &HeaderMap) -> (Option<String>, Option<String>) {
    (None, None)
}

/// Adds the current span's `traceparent` (and `tracestate`) to the headers of an outgoing
/// request, so that the service called continues this trace. Nothing is added outside a span
/// or without the `otlp` feature. True when added.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// let _span = audit_runtime::trace::span("call_billing");
/// audit_runtime::http::inject_trace_context(&mut headers);
/// ```
pub fn inject_trace_context(headers: &mut HeaderMap) -> bool {
    #[cfg(feature = "otlp")]
    {
        crate::telemetry::inject_context(&mut HeaderInjector(headers))
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = headers;
        false
    }
}
