//! The seam between `#[trace_span]` and the span exporter. When an exporter is the only one that
//! wants a function's span, the span is recorded without a `tracing` span (the registry's
//! bookkeeping is most of what a span costs); what recording means is the exporter's business
//! (`telemetry::fast` installs a [`Recorder`] when the first exporter starts). This module owns
//! the span handle the generated code holds and its life on the per-thread context, so `trace`
//! depends on `context` only and `telemetry` on `trace`, never the reverse.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tracing::field::ValueSet;
use tracing::span::Id;

use super::{FnCallsite, Parent};
use crate::context::spans::{self as context, Entry};

/// Exporters built and not yet stopped: without one, `#[trace_span]` skips the fast path with
/// one load.
pub(crate) static LIVE_EXPORTERS: AtomicUsize = AtomicUsize::new(0);

/// What a span that may end on another thread (a future) keeps of its exporter, opaque here.
pub(crate) type Keep = Arc<dyn Any + Send + Sync>;

/// Records fast spans: implemented by the span exporter.
pub(crate) trait Recorder: Sync {
    /// Starts the span of `probe`'s function into `slot` when the current subscriber's exporter
    /// wants it (written in place: a span returned through the dispatcher's closure was copied
    /// several times, each copy stalling on store forwarding).
    fn begin(&self, probe: &'static FnCallsite, parent: &Parent, slot: &mut Option<FastSpan>);
    /// Records the function's fields.
    fn record(&self, span: &mut FastSpan, values: &ValueSet<'_>);
    /// `id` is the `tracing` span made beside this one for other layers.
    fn attach(&self, span: &mut FastSpan, id: Id);
    /// `follows_from`: a link to the span `cause`.
    fn link(&self, span: &mut FastSpan, cause: &Id);
    /// What a span about to leave this thread keeps of its exporter.
    fn keep(&self) -> Option<Keep>;
    /// Ends the span.
    fn finish(&self, entry: Entry, keep: Option<&Keep>);
}

static RECORDER: OnceLock<&'static dyn Recorder> = OnceLock::new();

/// Installs the recorder (the first exporter to start does; there is only one kind).
pub(crate) fn install(recorder: &'static dyn Recorder) {
    let _ = RECORDER.set(recorder);
}

/// A fast span not entered on this thread right now.
pub(crate) struct FastSpan {
    pub(crate) entry: Entry,
    /// Kept by a span that may end on another thread (a future).
    pub(crate) keep: Option<Keep>,
}

impl std::fmt::Debug for FastSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastSpan").field("entry", &self.entry).finish_non_exhaustive()
    }
}

/// Starts the fast span of `probe`'s function into `slot` when an exporter wants it.
#[inline]
pub(crate) fn begin(probe: &'static FnCallsite, parent: &Parent, slot: &mut Option<FastSpan>) {
    if LIVE_EXPORTERS.load(Ordering::Relaxed) == 0 || probe.interest().is_never() {
        return;
    }
    if let Some(recorder) = RECORDER.get() {
        recorder.begin(probe, parent, slot);
    }
}

impl FastSpan {
    /// Records the function's fields as typed attributes.
    pub(crate) fn record(&mut self, values: &ValueSet<'_>) {
        if let Some(recorder) = RECORDER.get() {
            recorder.record(self, values);
        }
    }

    /// `id` is the `tracing` span made beside this one for other layers: spans and links that
    /// name it as their parent or cause find this span's ids.
    pub(crate) fn attach(&mut self, id: Id) {
        if let Some(recorder) = RECORDER.get() {
            recorder.attach(self, id);
        }
    }

    /// `follows_from`: a link to the span `cause`, when its ids are known.
    pub(crate) fn link(&mut self, cause: &Id) {
        if let Some(recorder) = RECORDER.get() {
            recorder.link(self, cause);
        }
    }

    /// Enters it on this thread until [`end_entered`] with the returned span id.
    #[inline]
    pub(crate) fn enter(self) -> u64 {
        let span_id = self.entry.span_id;
        context::push(self.entry);
        span_id
    }

    /// Keeps the exporter with the span, which may end on another thread.
    pub(crate) fn detach(mut self) -> FastSpan {
        if self.keep.is_none() && self.entry.open.is_some() {
            self.keep = RECORDER.get().and_then(|recorder| recorder.keep());
        }
        self
    }

    /// Ends it (not entered).
    pub(crate) fn end(self) {
        finish(self.entry, self.keep.as_ref());
    }
}

fn finish(entry: Entry, keep: Option<&Keep>) {
    if let Some(recorder) = RECORDER.get() {
        recorder.finish(entry, keep);
    }
}

/// Ends the entered fast span `span_id`.
#[inline]
pub(crate) fn end_entered(span_id: u64) {
    if let Some(entry) = context::take_fast(span_id) {
        finish(entry, None);
    }
}

/// A fast span entered while it is alive (a poll, the body of a function returning a future):
/// put back in its slot when dropped, also when the code inside panics.
pub(crate) struct Pushed<'a> {
    slot: &'a mut Option<FastSpan>,
    entered: Option<(u64, Option<Keep>)>,
}

impl<'a> Pushed<'a> {
    pub(crate) fn new(slot: &'a mut Option<FastSpan>) -> Self {
        let entered = slot.take().map(|fast| {
            let span_id = fast.entry.span_id;
            context::push(fast.entry);
            (span_id, fast.keep)
        });
        Pushed { slot, entered }
    }
}

impl Drop for Pushed<'_> {
    fn drop(&mut self) {
        if let Some((span_id, keep)) = self.entered.take() {
            if let Some(entry) = context::take_fast(span_id) {
                *self.slot = Some(FastSpan { entry, keep });
            }
        }
    }
}
