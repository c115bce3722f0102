//! The current exported span of each thread: a stack of the spans entered on it, both the
//! `tracing` spans the exporter layer sees (pushed on enter, popped on exit) and the spans
//! `#[trace_span]` records itself. It alone says what the parent of a new span is and which ids
//! a log line carries, whichever kind of span is innermost.
//!
//! Neutral: the exporter (`telemetry`) writes it, the log layers and `trace` read it, and it
//! imports none of them. What the exporter records of a span travels here as an opaque box.

use std::any::Any;
use std::cell::RefCell;

use tracing_core::span::Id;

/// What the exporter records of a sampled span, opaque here (`telemetry::record::OpenSpan`).
pub(crate) type Record = Box<dyn Any + Send + Sync>;

/// The trace context of a span as the exporter assigned it, and (when sampled) what the
/// exporter records of it: one extension of the `tracing` span, so a span costs one insertion.
#[derive(Debug)]
pub(crate) struct SpanIds {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) sampled: bool,
    pub(crate) record: Option<Record>,
}

/// One entered span.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) sampled: bool,
    /// Log lines written inside carry the ids.
    pub(crate) log_ids: bool,
    /// The `tracing` span: the exported one, or the one made beside a fast span for other layers.
    pub(crate) tracing_id: Option<Id>,
    /// True for a span `#[trace_span]` records itself.
    pub(crate) fast: bool,
    /// What a sampled fast span has recorded so far; boxed (from a per-thread pool) so that
    /// the entry, moved a few times per span, stays small.
    pub(crate) open: Option<Record>,
}

/// The ids of the current span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Current {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) sampled: bool,
}

impl Entry {
    fn current(&self) -> Current {
        Current { trace_id: self.trace_id, span_id: self.span_id, sampled: self.sampled }
    }
}

thread_local! {
    static STACK: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's stack; `None` when it is in use further up (a `Debug` impl that
/// logs while we record) or gone (thread exit).
#[inline]
pub(crate) fn with_stack<R>(f: impl FnOnce(&mut Vec<Entry>) -> R) -> Option<R> {
    STACK.try_with(|stack| stack.try_borrow_mut().ok().map(|mut stack| f(&mut stack))).ok().flatten()
}

#[inline]
pub(crate) fn push(entry: Entry) {
    with_stack(|stack| stack.push(entry));
}

/// Takes the innermost entry of the fast span `span_id` off the stack.
#[inline]
pub(crate) fn take_fast(span_id: u64) -> Option<Entry> {
    with_stack(|stack| {
        // Almost always the top; a `tracing` span entered inside and not left yet is skipped.
        let at = stack.iter().rposition(|e| e.fast && e.span_id == span_id)?;
        Some(if at + 1 == stack.len() { stack.pop()? } else { stack.remove(at) })
    })
    .flatten()
}

/// Removes the innermost entry of the exported `tracing` span `id`.
pub(crate) fn pop_tracing(id: &Id) {
    with_stack(|stack| {
        if let Some(at) = stack.iter().rposition(|e| !e.fast && e.tracing_id.as_ref() == Some(id)) {
            stack.remove(at);
        }
    });
}

/// The innermost span entered on this thread.
pub(crate) fn current() -> Option<Current> {
    with_stack(|stack| stack.last().map(Entry::current)).flatten()
}

/// The ids log lines carry: the innermost span's, when its exporter writes them.
pub(crate) fn current_log_ids() -> Option<(u128, u64)> {
    with_stack(|stack| stack.last().filter(|e| e.log_ids).map(|e| (e.trace_id, e.span_id))).flatten()
}

/// The ids of the entered span whose `tracing` span is `id`.
pub(crate) fn find_by_tracing_id(id: &Id) -> Option<Current> {
    with_stack(|stack| stack.iter().rev().find(|e| e.tracing_id.as_ref() == Some(id)).map(Entry::current)).flatten()
}
