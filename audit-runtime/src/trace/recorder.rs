//! The seam between `#[trace_span]` and the toolkit's layers. When the only layers that want a
//! function's span are ours (the log layers, the exporter), the span is recorded without a
//! `tracing` span (the registry's bookkeeping is most of what a span costs): its entry on the
//! per-thread context carries its fields for the log layers and its record for the exporter.
//! What recording means is theirs: the log layers install a [`FieldRecorder`] when their first
//! filter is built, the exporter (`telemetry::fast`) a [`Recorder`] when it starts. This module
//! owns the span handle the generated code holds and its life on the per-thread context, so
//! `trace` depends on `context` only, and `logging` and `telemetry` on `trace`, never the
//! reverse.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tracing::Dispatch;
use tracing::field::ValueSet;
#[cfg(feature = "otlp")]
use tracing::span::Id;

use super::fn_span::{FnCallsite, Parent};
use crate::context::fields::FlatFields;
use crate::context::spans::{self as context, Entry};

/// Exporters built and not yet stopped: without one, `#[trace_span]` skips the exporter with
/// one load.
#[cfg(feature = "otlp")]
pub(crate) static LIVE_EXPORTERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A log layer's filter was built: until then `#[trace_span]` asks no log layer.
static LOG_FILTERS: AtomicBool = AtomicBool::new(false);

/// What a span that may end on another thread (a future) keeps of its exporter, opaque here.
pub(crate) type Keep = Arc<dyn Any + Send + Sync>;

/// Records fast spans: implemented by the span exporter.
#[cfg(feature = "otlp")]
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

/// Records the fields of fast spans for the log layers: implemented by `logging`.
pub(crate) trait FieldRecorder: Sync {
    /// Whether a log layer of `dispatch` wants the fields of spans of `probe`'s function.
    fn wanted(&self, dispatch: &Dispatch, probe: &'static FnCallsite) -> bool;
    /// Records `values` into `fields`.
    fn record(&self, fields: &mut FlatFields, values: &ValueSet<'_>);
}

#[cfg(feature = "otlp")]
static RECORDER: OnceLock<&'static dyn Recorder> = OnceLock::new();
static FIELD_RECORDER: OnceLock<&'static dyn FieldRecorder> = OnceLock::new();

/// Installs the exporter's recorder (the first exporter to start does; there is only one kind).
#[cfg(feature = "otlp")]
pub(crate) fn install(recorder: &'static dyn Recorder) {
    let _ = RECORDER.set(recorder);
}

/// Installs the log layers' field recorder (their first filter does).
pub(crate) fn install_fields(recorder: &'static dyn FieldRecorder) {
    let _ = FIELD_RECORDER.set(recorder);
    LOG_FILTERS.store(true, Ordering::Release);
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

/// Starts the fast span of `probe`'s function into `slot` when the exporter or a log layer
/// wants it.
#[inline]
pub(crate) fn begin(probe: &'static FnCallsite, parent: &Parent, slot: &mut Option<FastSpan>) {
    #[cfg(feature = "otlp")]
    let exporters = LIVE_EXPORTERS.load(Ordering::Relaxed) != 0;
    #[cfg(not(feature = "otlp"))]
    let exporters = false;
    let logs = LOG_FILTERS.load(Ordering::Relaxed);
    // Without any of our filters the probe is never even registered.
    if !(exporters || logs) || probe.interest().is_never() {
        return;
    }
    #[cfg(feature = "otlp")]
    if exporters {
        if let Some(recorder) = RECORDER.get() {
            recorder.begin(probe, parent, slot);
        }
    }
    if !logs {
        return;
    }
    let Some(recorder) = FIELD_RECORDER.get() else { return };
    if tracing::dispatcher::get_default(|dispatch| recorder.wanted(dispatch, probe)) {
        let mut fields = context::take_fields();
        if let Parent::Explicit(parent) = parent {
            fields.detached = Some(parent.clone());
        }
        match slot {
            Some(fast) => fast.entry.fields = Some(fields),
            None => *slot = Some(FastSpan { entry: Entry::unexported(fields), keep: None }),
        }
    }
}

impl FastSpan {
    /// Records the function's fields: as typed attributes for the exporter, as JSON for the
    /// log layers.
    pub(crate) fn record(&mut self, values: &ValueSet<'_>) {
        #[cfg(feature = "otlp")]
        if self.entry.open.is_some() {
            if let Some(recorder) = RECORDER.get() {
                recorder.record(self, values);
            }
        }
        if let (Some(fields), Some(recorder)) = (self.entry.fields.as_mut(), FIELD_RECORDER.get()) {
            recorder.record(fields, values);
        }
    }

    /// `id` is the `tracing` span made beside this one for other layers: spans and links that
    /// name it as their parent or cause find this span's ids.
    #[cfg(feature = "otlp")]
    pub(crate) fn attach(&mut self, id: Id) {
        if !self.entry.ids {
            return;
        }
        if let Some(recorder) = RECORDER.get() {
            recorder.attach(self, id);
        }
    }

    /// `follows_from`: a link to the span `cause`, when its ids are known.
    #[cfg(feature = "otlp")]
    pub(crate) fn link(&mut self, cause: &Id) {
        if !self.entry.ids {
            return;
        }
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
    pub(crate) fn detach(#[cfg_attr(not(feature = "otlp"), allow(unused_mut))] mut self) -> FastSpan {
        #[cfg(feature = "otlp")]
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

fn finish(#[cfg_attr(not(feature = "otlp"), allow(unused_mut))] mut entry: Entry, keep: Option<&Keep>) {
    if let Some(fields) = entry.fields.take() {
        context::give_fields(fields);
    }
    #[cfg(feature = "otlp")]
    if entry.ids {
        if let Some(recorder) = RECORDER.get() {
            recorder.finish(entry, keep);
        }
    }
    #[cfg(not(feature = "otlp"))]
    let _ = (entry, keep);
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
