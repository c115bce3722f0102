//! [`OtlpLayer`]: assigns trace and span ids, records each span into its extensions, and on
//! close hands a compact record to the exporter thread.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::body::{self, BodyEncoder};
use super::export::{ON_EXPORTER_THREAD, Shared};
use super::fast;
use super::ids;
use super::record::OpenSpan;
use super::sampler::Sampler;
use crate::clock;
use crate::context::spans::{self as context, Assigned, SpanIds};
use crate::logging::layer::{SpanFieldVisitor, SpanFields};
use crate::trace::TraceParent;

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

        // The fields are recorded before the ids are known: an `otel.traceparent` among them
        // names a remote parent.
        let mut open = Box::new(OpenSpan {
            exporter_id: self.shared.hot.id,
            parent_span_id: 0,
            meta: attrs.metadata(),
            start: clock::start(),
            body: Vec::new(),
            rare: None,
        });
        if !attrs.fields().is_empty() {
            attrs.record(&mut BodyEncoder::span(&mut open));
        }
        let remote = open
            .rare
            .as_ref()
            .and_then(|rare| rare.traceparent.as_deref())
            .and_then(|value| TraceParent::parse(value).ok());

        let (span_id, fresh_trace) = ids::with_rng(|rng| (rng.span_id(), rng.trace_id()));
        let (trace_id, parent_span_id, parent_sampled) = match (parent, remote) {
            // A remote parent given explicitly wins over the local one.
            (_, Some(remote)) => {
                open.rare().parent_remote = true;
                (remote.trace_id, remote.span_id, Some(remote.sampled))
            }
            (Some((trace_id, span_id, sampled)), None) => (trace_id, span_id, Some(sampled)),
            (None, None) => (fresh_trace, 0, None),
        };
        let sampled = self.sampler.sample(parent_sampled, trace_id);
        let record = sampled.then(|| {
            open.parent_span_id = parent_span_id;
            open.into_record()
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
                    let mut fields = SpanFields { detached: !attrs.is_contextual(), ..SpanFields::default() };
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
        if let Some(record) = extensions.get_mut::<SpanIds>().and_then(|ids| ids.record.as_mut()).and_then(OpenSpan::of)
        {
            values.record(&mut BodyEncoder::span(record));
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let (Some(span), Some(cause)) = (ctx.span(id), ctx.span(follows)) else { return };
        let Some(link) = cause.extensions().get::<SpanIds>().map(|ids| (ids.trace_id, ids.span_id)) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(record) = extensions.get_mut::<SpanIds>().and_then(|ids| ids.record.as_mut()).and_then(OpenSpan::of)
        {
            body::encode_link(&mut record.body, link.0, link.1);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let extensions = span.extensions();
        let Some(ids) = extensions.get::<SpanIds>() else { return };
        let assigned =
            Assigned { trace_id: ids.trace_id, span_id: ids.span_id, sampled: ids.sampled, log_ids: self.log_ids };
        context::push_tracing(id, span.metadata(), Some(assigned));
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        // Only what `on_enter` pushed.
        let Some(span) = ctx.span(id) else { return };
        if span.extensions().get::<SpanIds>().is_some() {
            context::pop_tracing(id, span.metadata());
        }
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
        // The record is taken out while the event's fields are read: user code (`Debug` impls)
        // runs then, and must not find the span's extensions locked.
        let taken = span.extensions_mut().get_mut::<SpanIds>().and_then(|ids| ids.record.take());
        let Some(mut record) = taken.and_then(OpenSpan::from_record) else { return };
        body::encode_event(&mut record, event);
        if let Some(ids) = span.extensions_mut().get_mut::<SpanIds>() {
            ids.record = Some(record.into_record());
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(ids) = extensions.get_mut::<SpanIds>() else { return };
        let (trace_id, span_id) = (ids.trace_id, ids.span_id);
        let Some(mut record) = ids.record.take().and_then(OpenSpan::from_record) else { return };
        drop(extensions);
        let end = clock::end(&record.start);
        self.shared.push(trace_id, span_id, &mut record, end);
    }
}
