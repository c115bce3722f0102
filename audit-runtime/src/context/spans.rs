//! The spans entered on each thread, innermost last: the spans `#[trace_span]` records itself
//! (with their fields, for the log layers, and their exporter record) and the `tracing` spans
//! the toolkit's layers see entered (pushed on enter, popped on exit). It alone says what the
//! parent of a new span is, which ids a log line carries, and in which order the fields of
//! enclosing spans are flattened into a line, whichever kind of span is innermost.
//!
//! Neutral: the exporter (`telemetry`), the log layers (`logging`) and `trace` write it, the
//! log layers and `trace` read it, and it imports none of them. What the exporter records of a
//! span travels here as an opaque box.

use std::any::Any;
use std::cell::RefCell;

use tracing_core::Metadata;
use tracing_core::span::Id;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::fields::FlatFields;

/// What the exporter records of a sampled span, opaque here (`telemetry::record::OpenSpan`).
pub(crate) type Record = Box<dyn Any + Send + Sync>;

/// The trace context of a span as the exporter assigned it, and (when sampled) what the
/// exporter records of it: one extension of the `tracing` span, so a span costs one insertion.
#[derive(Debug)]
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
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
    /// The exporter's span id; for a span only the log layers want (no ids), a token that
    /// tells its entry from the others (the address of its fields).
    pub(crate) span_id: u64,
    pub(crate) sampled: bool,
    /// `trace_id` and `span_id` were assigned by an exporter.
    pub(crate) ids: bool,
    /// Log lines written inside carry the ids.
    pub(crate) log_ids: bool,
    /// The `tracing` span: the exported one, or the one made beside a fast span for other layers.
    pub(crate) tracing_id: Option<Id>,
    /// True for a span `#[trace_span]` records itself.
    pub(crate) fast: bool,
    /// A `tracing` span's entry: how many of our layers pushed it (each pops it once).
    pub(crate) pushers: u8,
    /// A `tracing` span's entry: the address of its metadata, so that a subscriber reading the
    /// stack knows a span entered under another one (scoped dispatchers) for what it is.
    pub(crate) callsite: usize,
    /// What a sampled fast span has recorded so far for the exporter; boxed (from a per-thread
    /// pool) so that the entry, moved a few times per span, stays small.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) open: Option<Record>,
    /// A fast span's fields for the log layers, when one of them wants it.
    pub(crate) fields: Option<Box<FlatFields>>,
}

/// The ids of the current span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Current {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) sampled: bool,
}

/// The ids an exporter gave a `tracing` span, for its entry.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) struct Assigned {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) sampled: bool,
    pub(crate) log_ids: bool,
}

impl Entry {
    /// Whether this is the entry of the `tracing` span `id` of the callsite at `callsite` (ids
    /// are the registry's own: another subscriber's span may have the same).
    fn is_tracing(&self, id: &Id, callsite: usize) -> bool {
        !self.fast && self.callsite == callsite && self.tracing_id.as_ref() == Some(id)
    }

    fn current(&self) -> Current {
        Current { trace_id: self.trace_id, span_id: self.span_id, sampled: self.sampled }
    }

    /// A fast span's entry for the log layers alone (no exporter wants it).
    pub(crate) fn unexported(fields: Box<FlatFields>) -> Self {
        Entry {
            trace_id: 0,
            span_id: &*fields as *const FlatFields as u64,
            sampled: false,
            ids: false,
            log_ids: false,
            tracing_id: None,
            fast: true,
            pushers: 0,
            callsite: 0,
            open: None,
            fields: Some(fields),
        }
    }
}

/// Spare field buffers a thread keeps for its next spans.
const SPARE_FIELDS: usize = 16;
/// A buffer grown past this by one huge field is freed rather than kept.
const RETAINED_FIELDS: usize = 4096;

thread_local! {
    static STACK: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    /// Boxed: they go into the entries of spans as they are, without allocating.
    #[allow(clippy::vec_box)]
    static SPARE: RefCell<Vec<Box<FlatFields>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's stack; `None` when it is in use further up (a `Debug` impl that
/// logs while we record) or gone (thread exit).
#[inline]
pub(crate) fn with_stack<R>(f: impl FnOnce(&mut Vec<Entry>) -> R) -> Option<R> {
    STACK.try_with(|stack| stack.try_borrow_mut().ok().map(|mut stack| f(&mut stack))).ok().flatten()
}

/// An empty field buffer: one of the thread's spares, or a new one.
#[inline]
pub(crate) fn take_fields() -> Box<FlatFields> {
    SPARE
        .try_with(|spare| spare.try_borrow_mut().ok().and_then(|mut spare| spare.pop()))
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Gives a field buffer back to the thread's spares.
#[inline]
pub(crate) fn give_fields(mut fields: Box<FlatFields>) {
    if fields.text.capacity() > RETAINED_FIELDS || fields.keys.capacity() > RETAINED_FIELDS / 16 {
        return;
    }
    fields.clear();
    let _ = SPARE.try_with(|spare| {
        if let Ok(mut spare) = spare.try_borrow_mut() {
            if spare.len() < SPARE_FIELDS {
                spare.push(fields);
            }
        }
    });
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

/// The `tracing` span `id` (of the callsite `meta`) was entered: each of our layers that sees it
/// calls this (all of them in a row, in one `enter`), the exporter with the ids it gave the span.
pub(crate) fn push_tracing(id: &Id, meta: &'static Metadata<'static>, assigned: Option<Assigned>) {
    let callsite = meta as *const Metadata<'static> as usize;
    with_stack(|stack| {
        let entry = match stack.last_mut() {
            Some(top) if top.is_tracing(id, callsite) => {
                top.pushers = top.pushers.saturating_add(1);
                top
            }
            _ => {
                stack.push(Entry {
                    trace_id: 0,
                    span_id: 0,
                    sampled: false,
                    ids: false,
                    log_ids: false,
                    tracing_id: Some(id.clone()),
                    fast: false,
                    pushers: 1,
                    callsite,
                    open: None,
                    fields: None,
                });
                stack.last_mut().expect("just pushed")
            }
        };
        if let Some(assigned) = assigned {
            entry.trace_id = assigned.trace_id;
            entry.span_id = assigned.span_id;
            entry.sampled = assigned.sampled;
            entry.log_ids = assigned.log_ids;
            entry.ids = true;
        }
    });
}

/// The `tracing` span `id` (of the callsite `meta`) was left: each layer that pushed it calls
/// this once.
pub(crate) fn pop_tracing(id: &Id, meta: &'static Metadata<'static>) {
    let callsite = meta as *const Metadata<'static> as usize;
    with_stack(|stack| {
        if let Some(at) = stack.iter().rposition(|e| e.is_tracing(id, callsite)) {
            let entry = &mut stack[at];
            entry.pushers = entry.pushers.saturating_sub(1);
            if entry.pushers == 0 {
                if at + 1 == stack.len() {
                    stack.pop();
                } else {
                    stack.remove(at);
                }
            }
        }
    });
}

/// The innermost span entered on this thread that an exporter gave ids.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn current() -> Option<Current> {
    with_stack(|stack| stack.iter().rev().find(|e| e.ids).map(Entry::current)).flatten()
}

/// The ids log lines carry: the innermost exported span's, when its exporter writes them.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn current_log_ids() -> Option<(u128, u64)> {
    with_stack(|stack| stack.iter().rev().find(|e| e.ids).filter(|e| e.log_ids).map(|e| (e.trace_id, e.span_id)))
        .flatten()
}

/// The ids of the entered span whose `tracing` span is `id`.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn find_by_tracing_id(id: &Id) -> Option<Current> {
    with_stack(|stack| stack.iter().rev().find(|e| e.ids && e.tracing_id.as_ref() == Some(id)).map(Entry::current))
        .flatten()
}

/// An enclosing span of this thread, as the log layers flatten it.
pub(crate) enum Enclosing<'a> {
    /// A span `#[trace_span]` records itself, with its fields.
    Fields(&'a FlatFields),
    /// A `tracing` span, and the next `tracing` span entered further out on this thread: the
    /// caller walks the span's parents up to that one, which comes later.
    Tracing { id: &'a Id, callsite: usize, outer: Option<(&'a Id, usize)> },
}

/// Calls `visit` for the spans entered on this thread, innermost first, until it returns false.
/// False when the thread has none (or its stack is in use): the caller asks the registry.
pub(crate) fn enclosing(mut visit: impl FnMut(Enclosing<'_>) -> bool) -> bool {
    with_stack(|stack| {
        if stack.is_empty() {
            return false;
        }
        for (at, entry) in stack.iter().enumerate().rev() {
            let more = match (&entry.fields, &entry.tracing_id) {
                (Some(fields), _) => {
                    visit(Enclosing::Fields(fields))
                        && match &fields.detached {
                            None => true,
                            Some(None) => false,
                            Some(Some(parent)) => {
                                let _ = visit(Enclosing::Tracing { id: parent, callsite: 0, outer: None });
                                false
                            }
                        }
                }
                (None, Some(id)) if !entry.fast => {
                    let outer = stack[..at]
                        .iter()
                        .rev()
                        .find(|e| !e.fast)
                        .and_then(|e| Some((e.tracing_id.as_ref()?, e.callsite)));
                    visit(Enclosing::Tracing { id, callsite: entry.callsite, outer })
                }
                // A span only the exporter records: no fields for the logs.
                _ => true,
            };
            if !more {
                break;
            }
        }
        true
    })
    .unwrap_or(false)
}

/// Walks the `tracing` span `start` and its parents for [`Enclosing::Tracing`]: `visit` each,
/// until `outer` (which the stack walk comes to next). True when the walk goes on down the
/// stack: `outer` was met, or there is none and the span took the current span as its parent
/// (`visit` returns true for a span given its parent, whose parents are all there is).
/// `callsite` (when not zero) is the span's metadata address: a span of that id in this
/// subscriber that is not it was entered under another subscriber, and is skipped.
pub(crate) fn walk_registered<S>(
    start: Option<SpanRef<'_, S>>,
    callsite: usize,
    outer: Option<(&Id, usize)>,
    mut visit: impl FnMut(&SpanRef<'_, S>) -> bool,
) -> bool
where
    S: for<'a> LookupSpan<'a>,
{
    let is = |span: &SpanRef<'_, S>, callsite: usize| {
        callsite == 0 || span.metadata() as *const Metadata<'_> as usize == callsite
    };
    let Some(start) = start.filter(|span| is(span, callsite)) else { return true };
    let mut detached = visit(&start);
    let mut next = start.parent();
    while let Some(span) = next {
        if outer.is_some_and(|(id, callsite)| span.id() == *id && is(&span, callsite)) {
            return !detached;
        }
        detached |= visit(&span);
        next = span.parent();
    }
    // The parents ran out before `outer`: they are not the spans entered around it.
    outer.is_none() && !detached
}
