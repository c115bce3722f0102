//! The one record of a span, from its start on the caller's thread to its conversion into the
//! SDK's `SpanData` on the exporter thread. Both kinds of span use it: the `tracing` spans the
//! exporter layer sees (kept in the span's extensions) and the spans `#[trace_span]` records
//! itself (kept on the per-thread span stack).
//!
//! Fields, events and links go into `body`, a compact byte encoding written on the caller's
//! thread without an allocation per field (see `body`), and decoded only on the exporter thread.

use std::ops::Range;

use tracing_core::Metadata;

use crate::clock;
use crate::context::spans::Record;

/// What a span is to its trace, as OpenTelemetry's `SpanKind` (set with the `otel.kind` field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Kind {
    #[default]
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Kind {
    /// `otel.kind` values, case-insensitive, as tracing-opentelemetry reads them.
    pub(crate) fn parse(text: &str) -> Option<Kind> {
        Some(match text.to_ascii_lowercase().as_str() {
            "internal" => Kind::Internal,
            "server" => Kind::Server,
            "client" => Kind::Client,
            "producer" => Kind::Producer,
            "consumer" => Kind::Consumer,
            _ => return None,
        })
    }
}

/// What a sampled span records until it ends. Boxed, reused by its thread, and aligned to cache
/// lines of its own: a neighbour on the heap written by another thread (the exporter's buffers)
/// would otherwise cost a cache miss per span.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct OpenSpan {
    pub(crate) exporter_id: u64,
    pub(crate) parent_span_id: u64,
    pub(crate) meta: &'static Metadata<'static>,
    pub(crate) start: clock::Start,
    /// The attributes, events and links, encoded (see `body`).
    pub(crate) body: Vec<u8>,
    /// What few spans have, behind one pointer: the record is moved a few times per span.
    pub(crate) rare: Option<Box<Rare>>,
}

/// The rarer parts of a span, set by `otel.*` fields, error events and remote parents.
#[derive(Debug, Default)]
pub(crate) struct Rare {
    /// Set by an `otel.name` field.
    pub(crate) name_override: Option<String>,
    /// Set by an `otel.kind` field.
    pub(crate) kind: Kind,
    /// `Some` when the span failed: the status description (an error event, or
    /// `otel.status_message`).
    pub(crate) status: Option<String>,
    /// `otel.status_code = "ok"`.
    pub(crate) status_ok: bool,
    /// The remote parent's `traceparent` value (`otel.traceparent`), read when the span starts.
    pub(crate) traceparent: Option<String>,
    /// The remote parent's `tracestate` value (`otel.tracestate`), kept with the span.
    pub(crate) tracestate: Option<String>,
    /// The parent came from another process.
    pub(crate) parent_remote: bool,
}

impl OpenSpan {
    pub(crate) fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Into the opaque box the span context carries.
    pub(crate) fn into_record(self: Box<Self>) -> Record {
        self
    }

    /// The record in the span context's opaque box (only ever one of these).
    pub(crate) fn of(record: &mut Record) -> Option<&mut OpenSpan> {
        record.downcast_mut()
    }

    /// Takes the record out of the span context's opaque box.
    pub(crate) fn from_record(record: Record) -> Option<Box<OpenSpan>> {
        record.downcast().ok()
    }
}

/// A finished span, as it waits for export: a fixed-size record; its encoded body is in the
/// `bodies` of its [`Chunk`].
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) parent_span_id: u64,
    pub(crate) start_unix_nano: u64,
    pub(crate) end_unix_nano: u64,
    pub(crate) meta: &'static Metadata<'static>,
    /// Where its encoded fields, events and links are in the chunk's `bodies`.
    pub(crate) body: Range<usize>,
    pub(crate) rare: Option<Box<Rare>>,
}

/// Finished spans handed over together: those of one thread, or those the exporter layer
/// closed.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub(crate) spans: Vec<Finished>,
    /// The spans' encoded bodies, one after the other.
    pub(crate) bodies: Vec<u8>,
}

impl Chunk {
    pub(crate) fn with_capacity(spans: usize) -> Self {
        Chunk { spans: Vec::with_capacity(spans), bodies: Vec::with_capacity(spans * 32) }
    }

    pub(crate) fn clear(&mut self) {
        self.spans.clear();
        self.bodies.clear();
    }

    /// Moves the spans into `to`, leaving this one empty with its capacity.
    pub(crate) fn move_into(&mut self, to: &mut Chunk) {
        let offset = to.bodies.len();
        to.spans.extend(self.spans.drain(..).map(|mut span| {
            span.body = span.body.start + offset..span.body.end + offset;
            span
        }));
        to.bodies.extend_from_slice(&self.bodies);
        self.bodies.clear();
    }

    /// Appends a finished span whose body is `open`'s.
    pub(crate) fn push(&mut self, trace_id: u128, span_id: u64, open: &mut OpenSpan, end_unix_nano: u64) {
        let at = self.bodies.len();
        self.bodies.extend_from_slice(&open.body);
        self.spans.push(Finished {
            trace_id,
            span_id,
            parent_span_id: open.parent_span_id,
            start_unix_nano: open.start.unix_nano,
            end_unix_nano,
            meta: open.meta,
            body: at..self.bodies.len(),
            rare: open.rare.take(),
        });
    }
}
