//! [`OtlpLayer`]: assigns trace and span ids, records each span into its extensions, and on
//! close hands a compact record to the exporter thread.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::context::{self, Entry};
use super::export::{ON_EXPORTER_THREAD, Shared};
use super::fast::{self, now_unix_nano};
use super::ids;
use super::record::{AttrVisitor, ErrorDescription, EventRecord, SpanRecord, Status};
use super::sampler::Sampler;
use crate::logging::layer::{SpanFieldVisitor, SpanFields};
use crate::trace::{SpanIds, TraceParent};

/// Key of the trace id in log lines.
const TRACE_ID_KEY: &str = "trace_id";
/// Key of the span id in log lines.
const SPAN_ID_KEY: &str = "span_id";

/// The `tracing_subscriber::Layer` that exports spans over OTLP. Made by
/// [`OtlpConfig::build`](super::OtlpConfig::build) together with its [`TelemetryGuard`](super::TelemetryGuard).
pub struct OtlpLayer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) sampler: Sampler,
    pub(crate) log_ids: bool,
}

impl std::fmt::Debug for OtlpLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpLayer").field("sampler", &self.sampler).field("log_ids", &self.log_ids).finish()
    }
}

impl OtlpLayer {
    /// Spans dropped so far: the queue was full, or the collector could not be reached.
    pub fn dropped_spans(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// An event as a span event, and the status description it sets when it is an error.
pub(crate) fn event_record(event: &Event<'_>) -> (EventRecord, Option<String>) {
    // An error logged inside a span fails it, with the error as the status message.
    let status = (*event.metadata().level() == Level::ERROR).then(|| {
        let mut description = ErrorDescription(None);
        event.record(&mut description);
        description.0.unwrap_or_default()
    });
    let mut name = None;
    let mut attributes = Vec::new();
    event.record(&mut AttrVisitor {
        attributes: &mut attributes,
        name_override: None,
        traceparent: None,
        message: Some(&mut name),
    });
    attributes.push(("level", super::record::AttrValue::Str(event.metadata().level().as_str().to_ascii_lowercase())));
    let record = EventRecord {
        time_unix_nano: now_unix_nano(),
        name: name.unwrap_or_else(|| event.metadata().name().to_owned()),
        attributes,
    };
    (record, status)
}

/// `"<hex>"`: a JSON string of lower-case hex digits, `width` wide.
fn json_hex(value: u128, width: usize) -> String {
    format!("\"{value:0width$x}\"")
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if ON_EXPORTER_THREAD.with(|flag| flag.get()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // The per-thread context knows the spans `#[trace_span]` records itself, which the
        // registry does not; an explicit parent may be one of them too.
        let from_context = if attrs.is_root() {
            None
        } else if attrs.is_contextual() {
            context::current()
        } else {
            attrs.parent().and_then(context::find_by_tracing_id)
        };
        let parent = from_context.map(|c| (c.trace_id, c.span_id, c.sampled)).or_else(|| {
            let parent = span.parent()?;
            let extensions = parent.extensions();
            extensions.get::<SpanIds>().map(|ids| (ids.trace_id, ids.span_id, ids.sampled))
        });

        // `otel.*` fields are rare: look for them only when the span declares one.
        let steered = attrs.fields().iter().any(|f| f.name().starts_with("otel."));
        let mut name_override = None;
        let mut traceparent = None;
        let mut attributes = Vec::new();
        if steered || !attrs.fields().is_empty() {
            attributes.reserve_exact(attrs.fields().len());
            attrs.record(&mut AttrVisitor {
                attributes: &mut attributes,
                name_override: Some(&mut name_override),
                traceparent: Some(&mut traceparent),
                message: None,
            });
        }
        let remote = if steered { traceparent.and_then(|value| TraceParent::parse(&value).ok()) } else { None };

        let (span_id, fresh_trace) = ids::with_rng(|rng| (rng.span_id(), rng.trace_id()));
        let (trace_id, parent_span_id, parent_sampled) = match (parent, remote) {
            // A remote parent given explicitly wins over the local one.
            (_, Some(remote)) => (remote.trace_id, remote.span_id, Some(remote.sampled)),
            (Some((trace_id, span_id, sampled)), None) => (trace_id, span_id, Some(sampled)),
            (None, None) => (fresh_trace, 0, None),
        };
        let sampled = self.sampler.sample(parent_sampled, trace_id);
        let record = sampled.then(|| {
            let mut record = SpanRecord {
                trace_id,
                span_id,
                parent_span_id,
                static_name: attrs.metadata().name(),
                start_unix_nano: now_unix_nano(),
                end_unix_nano: 0,
                attributes,
                extra: None,
            };
            record.rename(name_override);
            record
        });

        let mut extensions = span.extensions_mut();
        extensions.insert(SpanIds { trace_id, span_id, sampled, record });
        if self.log_ids {
            // Whichever of our layers sees the span first makes its `SpanFields`; when that is
            // us, record the span's fields too so that the JSON layer finds them complete.
            let trace_hex = json_hex(trace_id, 32);
            let span_hex = json_hex(u128::from(span_id), 16);
            match extensions.get_mut::<SpanFields>() {
                Some(fields) => {
                    fields.set(TRACE_ID_KEY, trace_hex);
                    fields.set(SPAN_ID_KEY, span_hex);
                }
                None => {
                    let mut fields = SpanFields::default();
                    attrs.record(&mut SpanFieldVisitor { fields: &mut fields });
                    fields.set(TRACE_ID_KEY, trace_hex);
                    fields.set(SPAN_ID_KEY, span_hex);
                    extensions.insert(fields);
                }
            }
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(record) = extensions.get_mut::<SpanIds>().and_then(|ids| ids.record.as_mut()) {
            let mut name = None;
            values.record(&mut AttrVisitor {
                attributes: &mut record.attributes,
                name_override: Some(&mut name),
                traceparent: None,
                message: None,
            });
            record.rename(name);
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let (Some(span), Some(cause)) = (ctx.span(id), ctx.span(follows)) else { return };
        let Some(link) = cause.extensions().get::<SpanIds>().map(|ids| (ids.trace_id, ids.span_id)) else { return };
        if let Some(record) = span.extensions_mut().get_mut::<SpanIds>().and_then(|ids| ids.record.as_mut()) {
            record.extra().links.push(link);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let extensions = span.extensions();
        let Some(ids) = extensions.get::<SpanIds>() else { return };
        context::push(Entry {
            trace_id: ids.trace_id,
            span_id: ids.span_id,
            sampled: ids.sampled,
            log_ids: self.log_ids,
            tracing_id: Some(id.clone()),
            fast: false,
            open: None,
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        context::pop_tracing(id);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Inside a span `#[trace_span]` records itself: the event is that span's.
        if event.is_contextual() && fast::on_event(event) {
            return;
        }
        let Some(span) = ctx.event_span(event) else { return };
        if span.extensions().get::<SpanIds>().is_none_or(|ids| ids.record.is_none()) {
            return;
        }
        // User code (`Debug` impls) runs here, outside the span's extensions lock.
        let (event_record, status) = event_record(event);
        let mut extensions = span.extensions_mut();
        let Some(record) = extensions.get_mut::<SpanIds>().and_then(|ids| ids.record.as_mut()) else { return };
        if let Some(description) = status {
            record.extra().status = Status::Error(description);
        }
        record.extra().events.push(event_record);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(mut record) = span.extensions_mut().get_mut::<SpanIds>().and_then(|ids| ids.record.take()) else {
            return;
        };
        record.end_unix_nano = now_unix_nano();
        self.shared.push(record);
    }
}
