//! A finished span into the SDK's `SpanData`, on the exporter thread.

use std::str::FromStr as _;
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::body;
use super::record::{Finished, Kind};

/// The instrumentation scope of every span this runtime records.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("audit-runtime").with_version(env!("CARGO_PKG_VERSION")).build()
}

fn kind(kind: Kind) -> SpanKind {
    match kind {
        Kind::Internal => SpanKind::Internal,
        Kind::Server => SpanKind::Server,
        Kind::Client => SpanKind::Client,
        Kind::Producer => SpanKind::Producer,
        Kind::Consumer => SpanKind::Consumer,
    }
}

fn time(unix_nano: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_nanos(unix_nano)
}

/// `span`, whose encoded body is `body`, as the SDK's exporters take it. Only sampled spans are
/// recorded, so the flags say sampled.
pub(crate) fn span_data(span: &Finished, body: &[u8], scope: &InstrumentationScope) -> SpanData {
    let decoded = body::decode(body);
    let rare = span.rare.as_deref();
    let trace_state = rare
        .and_then(|rare| rare.tracestate.as_deref())
        .and_then(|text| TraceState::from_str(text).ok())
        .unwrap_or_default();
    let status = match rare {
        Some(rare) if rare.status.is_some() => {
            Status::Error { description: rare.status.clone().unwrap_or_default().into() }
        }
        Some(rare) if rare.status_ok => Status::Ok,
        _ => Status::Unset,
    };
    let mut events = SpanEvents::default();
    events.events = decoded.events;
    let mut links = SpanLinks::default();
    links.links = decoded.links;
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(span.trace_id),
            SpanId::from(span.span_id),
            TraceFlags::SAMPLED,
            false,
            trace_state,
        ),
        parent_span_id: SpanId::from(span.parent_span_id),
        parent_span_is_remote: rare.is_some_and(|rare| rare.parent_remote),
        span_kind: kind(rare.map_or(Kind::Internal, |rare| rare.kind)),
        name: body::span_name(span.meta.name(), rare.and_then(|rare| rare.name_override.as_deref())),
        start_time: time(span.start_unix_nano),
        end_time: time(span.end_unix_nano),
        attributes: decoded.attributes,
        dropped_attributes_count: 0,
        events,
        links,
        status,
        instrumentation_scope: scope.clone(),
    }
}
