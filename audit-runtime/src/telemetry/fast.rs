//! The fast path of `#[trace_span]` (the [`Recorder`] behind `trace::recorder`): when the
//! exporter is the only one that wants a function's span, the span is recorded here, without a
//! `tracing` span (the registry's bookkeeping is most of what a span costs). It takes its ids
//! from the per-thread rng and its parent from the per-thread context (`context`), records its
//! fields and the events logged inside it, and at its end goes into a per-thread buffer that the
//! exporter thread collects in chunks and converts into the SDK's `SpanData`.
//!
//! Whether the exporter wants the span is asked through a probe callsite beside the function's
//! own (see `trace::fn_span`): [`ExportFilter`], the exporter layer's per-layer filter, refuses
//! the function's `tracing` span (so the registry makes it only for the other layers) and
//! answers for the probe, once per callsite and exporter, after the filters around the exporter
//! layer have had their say.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use tracing_core::field::ValueSet;
use tracing_core::span::Id;
use tracing_core::subscriber::Interest;
use tracing_core::{Dispatch, Event, Metadata, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::{LookupSpan, Registry};

use super::body::{self, BodyEncoder};
use super::export::{LocalSpans, ON_EXPORTER_THREAD, Shared};
use super::ids;
use super::record::OpenSpan;
use crate::clock;
use crate::context::spans::{self as context, Current, Entry, SpanIds};
use crate::trace::recorder::{FastSpan, Keep, Recorder};
use crate::trace::{FnCallsite, Parent, Role, role_of};

/// Spans a thread records before handing them to the exporter thread at once.
pub(crate) const CHUNK_SPANS: usize = 64;
/// Span records (with their field buffers) a thread keeps for its next spans.
const SPARE_OPEN: usize = 16;

thread_local! {
    /// The exporter that answered while a probe callsite was registered on this thread.
    static PROBE_ANSWER: Cell<u64> = const { Cell::new(0) };
    static SINK: RefCell<Option<ThreadSink>> = const { RefCell::new(None) };
}

/// The per-layer filter of the exporter layer ([`OtlpConfig::build`](super::OtlpConfig::build)
/// puts it there): the exporter does not want the `tracing` spans of `#[trace_span]`, which it
/// records itself, and answers the probes of their callsites. With `telemetry::init`, the log
/// level filter is inside it too (a filter wrapped around another makes every callsite
/// "sometimes" interesting, and the registry would then make spans nobody wants).
pub struct ExportFilter {
    pub(crate) shared: Arc<Shared>,
    pub(crate) level: Option<EnvFilter>,
    /// `OTEL_SDK_DISABLED`: nothing is exported.
    pub(crate) disabled: bool,
}

impl std::fmt::Debug for ExportFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportFilter").field("level", &self.level).field("disabled", &self.disabled).finish()
    }
}

impl<S> Filter<S> for ExportFilter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        if self.disabled || role_of(meta).is_some() {
            return false;
        }
        self.level.as_ref().is_none_or(|level| Filter::<S>::enabled(level, meta, cx))
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.disabled {
            return Interest::never();
        }
        let interest =
            self.level.as_ref().map_or(Interest::always(), |level| Filter::<S>::callsite_enabled(level, meta));
        if interest.is_never() {
            return interest;
        }
        match role_of(meta) {
            Some(Role::Span) => Interest::never(),
            Some(Role::Probe) => {
                PROBE_ANSWER.with(|answer| answer.set(self.shared.hot.id));
                Interest::always()
            }
            None => interest,
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        if self.disabled {
            return Some(LevelFilter::OFF);
        }
        self.level.as_ref().and_then(|level| Filter::<S>::max_level_hint(level))
    }

    fn on_new_span(&self, attrs: &tracing_core::span::Attributes<'_>, id: &Id, cx: Context<'_, S>) {
        if let Some(level) = &self.level {
            Filter::<S>::on_new_span(level, attrs, id, cx);
        }
    }

    fn on_record(&self, id: &Id, values: &tracing_core::span::Record<'_>, cx: Context<'_, S>) {
        if let Some(level) = &self.level {
            Filter::<S>::on_record(level, id, values, cx);
        }
    }

    fn on_enter(&self, id: &Id, cx: Context<'_, S>) {
        if let Some(level) = &self.level {
            Filter::<S>::on_enter(level, id, cx);
        }
    }

    fn on_exit(&self, id: &Id, cx: Context<'_, S>) {
        if let Some(level) = &self.level {
            Filter::<S>::on_exit(level, id, cx);
        }
    }

    fn on_close(&self, id: Id, cx: Context<'_, S>) {
        if let Some(level) = &self.level {
            Filter::<S>::on_close(level, id, cx);
        }
    }
}

/// Whether the exporter of `dispatch` wants spans of `probe`'s function: its filter answers
/// while the probe is registered with this subscriber alone, and no other layer vetoed it.
fn ask(dispatch: &Dispatch, probe: &'static FnCallsite, exporter_id: u64) -> bool {
    PROBE_ANSWER.with(|answer| answer.set(0));
    let interest = dispatch.register_callsite(probe.meta());
    let answered = PROBE_ANSWER.with(|answer| answer.replace(0));
    !interest.is_never() && answered == exporter_id
}

/// The recorder `trace` calls through for fast spans (installed when an exporter starts).
pub(crate) struct FastRecorder;

/// The one recorder.
pub(crate) static RECORDER: FastRecorder = FastRecorder;

impl Recorder for FastRecorder {
    #[inline]
    fn begin(&self, probe: &'static FnCallsite, parent: &Parent, slot: &mut Option<FastSpan>) {
        if ON_EXPORTER_THREAD.with(Cell::get) {
            return;
        }
        tracing::dispatcher::get_default(|dispatch| begin_with(dispatch, probe, parent, slot));
    }

    fn record(&self, span: &mut FastSpan, values: &ValueSet<'_>) {
        if let Some(open) = span.entry.open.as_mut().and_then(OpenSpan::of) {
            values.record(&mut BodyEncoder::span(open));
        }
    }

    fn attach(&self, span: &mut FastSpan, id: Id) {
        let entry = &mut span.entry;
        let (trace_id, span_id, sampled) = (entry.trace_id, entry.span_id, entry.sampled);
        tracing::dispatcher::get_default(|dispatch| {
            if let Some(span) = dispatch.downcast_ref::<Registry>().and_then(|registry| registry.span(&id)) {
                span.extensions_mut().replace(SpanIds { trace_id, span_id, sampled, record: None });
            }
        });
        entry.tracing_id = Some(id);
    }

    fn link(&self, span: &mut FastSpan, cause: &Id) {
        let Some(open) = span.entry.open.as_mut().and_then(OpenSpan::of) else { return };
        let cause = context::find_by_tracing_id(cause)
            .or_else(|| tracing::dispatcher::get_default(|dispatch| registry_ids(dispatch, cause)));
        if let Some(cause) = cause {
            body::encode_link(&mut open.body, cause.trace_id, cause.span_id);
        }
    }

    fn keep(&self) -> Option<Keep> {
        SINK.with(|sink| sink.borrow().as_ref().map(|sink| sink.shared.clone() as Keep))
    }

    fn finish(&self, entry: Entry, keep: Option<&Keep>) {
        // Only a span ending on another thread than it started carries what it kept.
        let shared = keep.and_then(|keep| keep.clone().downcast::<Shared>().ok());
        finish(entry, shared.as_ref());
    }
}

#[inline]
fn begin_with(dispatch: &Dispatch, probe: &'static FnCallsite, parent: &Parent, slot: &mut Option<FastSpan>) {
    let Some(filter) = dispatch.downcast_ref::<ExportFilter>() else { return };
    let shared = &filter.shared;
    let wanted = match probe.cached_export(shared.hot.id) {
        Some(wanted) => wanted,
        None => {
            let wanted = ask(dispatch, probe, shared.hot.id);
            probe.cache_export(shared.hot.id, wanted);
            wanted
        }
    };
    if !wanted {
        return;
    }
    let parent = match parent {
        Parent::Contextual => context::current(),
        Parent::Explicit(None) => None,
        Parent::Explicit(Some(id)) => context::find_by_tracing_id(id).or_else(|| registry_ids(dispatch, id)),
    };
    let (span_id, fresh_trace) = ids::with_rng(|rng| (rng.span_id(), rng.trace_id()));
    let (trace_id, parent_span_id, parent_sampled) = match parent {
        Some(parent) => (parent.trace_id, parent.span_id, Some(parent.sampled)),
        None => (fresh_trace, 0, None),
    };
    let sampled = shared.hot.sampler.sample(parent_sampled, trace_id);
    let open = sampled.then(|| {
        let mut open = bind_and_take_open(shared);
        open.body.clear();
        open.rare = None;
        open.exporter_id = shared.hot.id;
        open.parent_span_id = parent_span_id;
        open.meta = probe.meta();
        open.start = clock::start();
        open.into_record()
    });
    let entry = Entry {
        trace_id,
        span_id,
        sampled,
        ids: true,
        log_ids: shared.hot.log_ids,
        tracing_id: None,
        fast: true,
        pushers: 0,
        callsite: 0,
        open,
        fields: None,
    };
    *slot = Some(FastSpan { entry, keep: None });
}

/// The ids the exporter gave the `tracing` span `id` (an exported span, or one made beside a
/// fast span).
fn registry_ids(dispatch: &Dispatch, id: &Id) -> Option<Current> {
    let registry = dispatch.downcast_ref::<Registry>()?;
    let span = registry.span(id)?;
    let extensions = span.extensions();
    let ids = extensions.get::<SpanIds>()?;
    Some(Current { trace_id: ids.trace_id, span_id: ids.span_id, sampled: ids.sampled })
}

/// An event logged while a fast span is the innermost on this thread becomes one of its span
/// events (and an error fails it). False when the innermost span is not a fast one.
pub(crate) fn on_event(event: &Event<'_>) -> bool {
    // The innermost span the exporter knows (spans only the log layers want are not its).
    let innermost = |stack: &mut Vec<Entry>| stack.iter().rposition(|e| e.ids);
    let at =
        match context::with_stack(|stack| innermost(stack).map(|at| (at, stack[at].fast, stack[at].open.is_some())))
            .flatten()
        {
            Some((at, true, true)) => at,
            Some((_, true, false)) => return true,
            _ => return false,
        };
    // The record is taken off the stack while the event's fields are read: user code (`Debug`
    // impls) runs then, and may log.
    let taken = context::with_stack(|stack| stack.get_mut(at).and_then(|e| e.open.take())).flatten();
    let Some(mut open) = taken.and_then(OpenSpan::from_record) else {
        return true;
    };
    body::encode_event(&mut open, event);
    context::with_stack(|stack| {
        if let Some(entry) = stack.get_mut(at).filter(|e| e.fast && e.open.is_none()) {
            entry.open = Some(open.into_record());
        }
    });
    true
}

/// A thread's buffer of finished spans, for one exporter.
struct ThreadSink {
    shared: Arc<Shared>,
    local: Arc<LocalSpans>,
    /// Boxed: they go into the entries of spans as they are, without allocating.
    #[allow(clippy::vec_box)]
    spare_open: Vec<Box<OpenSpan>>,
}

/// Binds this thread's buffer to `shared` (handing what it holds to the exporter it was bound
/// to before) and gives a span record for a new span (its fields still to be set).
#[inline]
fn bind_and_take_open(shared: &Arc<Shared>) -> Box<OpenSpan> {
    SINK.try_with(|sink| {
        let Ok(mut sink) = sink.try_borrow_mut() else { return None };
        if sink.as_ref().is_none_or(|s| s.shared.hot.id != shared.hot.id) {
            rebind(&mut sink, shared);
        }
        sink.as_mut()?.spare_open.pop()
    })
    .ok()
    .flatten()
    .unwrap_or_else(|| new_open(shared))
}

#[cold]
fn new_open(shared: &Arc<Shared>) -> Box<OpenSpan> {
    Box::new(OpenSpan {
        exporter_id: shared.hot.id,
        parent_span_id: 0,
        meta: &EMPTY_META,
        start: clock::start(),
        // Room for a few fields before it grows.
        body: Vec::with_capacity(112),
        rare: None,
    })
}

/// A placeholder for a record not in use.
static EMPTY_META: Metadata<'static> = tracing_core::metadata! {
    name: "",
    target: "",
    level: tracing_core::Level::TRACE,
    fields: &[],
    callsite: &EMPTY_CALLSITE,
    kind: tracing_core::metadata::Kind::SPAN,
};

struct EmptyCallsite;
static EMPTY_CALLSITE: EmptyCallsite = EmptyCallsite;

impl tracing_core::Callsite for EmptyCallsite {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        &EMPTY_META
    }
}

#[cold]
fn rebind(sink: &mut Option<ThreadSink>, shared: &Arc<Shared>) {
    if let Some(old) = sink.take() {
        hand_over(&old);
    }
    let local = Arc::new(LocalSpans::default());
    shared.register_local(local.clone());
    *sink = Some(ThreadSink { shared: shared.clone(), local, spare_open: Vec::new() });
}

/// Gives the exporter everything this thread's buffer holds.
fn hand_over(sink: &ThreadSink) {
    sink.shared.hand_over(&sink.local);
}

/// Ends a fast span: puts its record into this thread's buffer (the exporter thread converts it).
fn finish(entry: Entry, shared: Option<&Arc<Shared>>) {
    let Some(mut open) = entry.open.and_then(OpenSpan::from_record) else { return };
    let end_unix_nano = clock::end(&open.start);
    let _ = SINK.try_with(|sink| {
        let Ok(mut sink) = sink.try_borrow_mut() else { return };
        if sink.as_ref().is_none_or(|s| s.shared.hot.id != open.exporter_id) {
            // Ending on another thread than it started (a future), or after the thread's buffer
            // went to another exporter: only a span that kept its exporter can be sent.
            match shared {
                Some(shared) if shared.hot.id == open.exporter_id => rebind(&mut sink, shared),
                _ => return,
            }
        }
        let Some(sink) = sink.as_mut() else { return };
        if sink.shared.is_closed() {
            sink.shared.count_dropped(1);
            return;
        }
        let mut held = sink.local.lock();
        held.push(entry.trace_id, entry.span_id, &mut open, end_unix_nano);
        let full = held.spans.len() >= CHUNK_SPANS.min(sink.shared.batch_size());
        drop(held);
        if full {
            hand_over(sink);
        }
        // The record stays with the thread, warm in its cache, for its next span.
        if sink.spare_open.len() < SPARE_OPEN {
            sink.spare_open.push(open);
        }
    });
}
