//! The `tracing_subscriber::Layer`s that write one line per event: [`JsonLayer`] and
//! [`ConsoleLayer`]. Both are one core, [`LineLayer`], over a [`LineFormat`]: `json.rs` and
//! `console.rs` each lay a line out, this module gathers what goes in it.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::io::Write as _;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::console::ConsoleFormat;
use super::format;
use super::json::JsonFormat;
use super::keys;
// Where the rest of the crate has always found them.
pub(crate) use super::span_fields::{SpanFieldVisitor, SpanFields};
pub(crate) use super::values::ErrorChain;
use super::values::shrink_if_huge;
use crate::context::spans::{self, Enclosing};

/// The level names of the schema, as they appear in the `level` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LineLevel {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl LineLevel {
    fn of(level: &Level, critical: bool) -> Self {
        match *level {
            Level::TRACE | Level::DEBUG => LineLevel::Debug,
            Level::INFO => LineLevel::Info,
            Level::WARN => LineLevel::Warning,
            _ if critical => LineLevel::Critical,
            _ => LineLevel::Error,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            LineLevel::Debug => "debug",
            LineLevel::Info => "info",
            LineLevel::Warning => "warning",
            LineLevel::Error => "error",
            LineLevel::Critical => "critical",
        }
    }
}

/// What a line is made of, gathered by the layer and laid out by a [`LineFormat`].
pub(crate) struct LineParts<'a> {
    /// The event's name, escaped, without quotes.
    pub(crate) name: &'a [u8],
    /// The event's own fields, each written as the format's key and value; empty when the
    /// format has them written straight into the line (see [`LineFormat::FIELDS_LEAD`]).
    pub(crate) own_fields: &'a [u8],
    /// The context: trace ids, then the fields of enclosing spans, innermost first.
    pub(crate) context: &'a [u8],
    pub(crate) level: LineLevel,
    /// The `source` value, escaped.
    pub(crate) source: &'a [u8],
}

/// How one kind of line writes keys and values, and lays the whole line out.
pub(crate) trait LineFormat: Send + Sync + 'static {
    /// The event's own fields open the line: they are written into it as they are visited,
    /// rather than into a buffer of their own and copied.
    const FIELDS_LEAD: bool = false;
    /// Starts a field. `plain`: the key needs no escaping; `renamed`: it is a key the layer
    /// writes itself (see [`keys::EVERY_LINE`]) and is written as `field.<key>`.
    fn push_key(&self, out: &mut Vec<u8>, key: &str, plain: bool, renamed: bool);
    /// A string value.
    fn push_string(&self, out: &mut Vec<u8>, value: &str);
    /// A string value whose body is escaped already.
    fn push_escaped_string(&self, out: &mut Vec<u8>, escaped: &[u8]);
    /// The text of a name or message, escaped, without quotes.
    fn push_text(&self, out: &mut Vec<u8>, text: &str);
    /// A `Debug` value's text, escaped, without quotes.
    fn push_debug_text(&self, out: &mut Vec<u8>, value: &dyn fmt::Debug);
    /// A `Debug` value (nested JSON for a `JsonValue`).
    fn push_debug_value(&self, out: &mut Vec<u8>, value: &dyn fmt::Debug);
    /// An error and its source chain.
    fn push_error(&self, out: &mut Vec<u8>, error: &(dyn Error + 'static));
    /// A span field's value, encoded as JSON when it was recorded.
    fn push_span_value(&self, out: &mut Vec<u8>, json: &[u8]);
    /// A trace or span id as `width` lower-case hex digits (feature `otlp`).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    fn push_hex_id(&self, out: &mut Vec<u8>, id: u128, width: usize);
    /// Lays out the whole line, ending with a newline.
    fn write_line(&self, line: &mut Vec<u8>, parts: &LineParts<'_>, meta: &Metadata<'_>);
}

/// The per-thread buffers of a line, reused so a line costs no allocation once they have grown
/// (and given back when one huge line made them grow past `RETAINED_CAPACITY`).
struct LineBuffers {
    /// The line being built.
    line: Vec<u8>,
    /// The event's own fields.
    own: Vec<u8>,
    /// Trace ids and span fields.
    context: Vec<u8>,
    /// The event's name while the other fields are written.
    name: Vec<u8>,
    /// The keys written so far, so that span fields never repeat one.
    keys: Vec<&'static str>,
    /// Field names known to be written as they are (see [`KeySet::is_plain`]).
    plain_keys: PlainKeys,
}

const LINE_CAPACITY: usize = 512;
const FIELDS_CAPACITY: usize = 256;
const NAME_CAPACITY: usize = 128;

impl Default for LineBuffers {
    fn default() -> Self {
        LineBuffers {
            line: Vec::with_capacity(LINE_CAPACITY),
            own: Vec::with_capacity(FIELDS_CAPACITY),
            context: Vec::with_capacity(FIELDS_CAPACITY),
            name: Vec::with_capacity(NAME_CAPACITY),
            keys: Vec::with_capacity(32),
            plain_keys: PlainKeys::default(),
        }
    }
}

impl LineBuffers {
    /// Gives back what one huge line made the buffers grow to.
    fn shrink_if_huge(&mut self) {
        shrink_if_huge(&mut self.line, LINE_CAPACITY);
        shrink_if_huge(&mut self.own, FIELDS_CAPACITY);
        shrink_if_huge(&mut self.context, FIELDS_CAPACITY);
        shrink_if_huge(&mut self.name, NAME_CAPACITY);
    }
}

/// A direct-mapped cache of field names (by address and length) that need no escaping and are
/// not reserved: names are `&'static str` from callsite metadata, so the same few recur.
struct PlainKeys([(usize, usize); 64]);

impl Default for PlainKeys {
    fn default() -> Self {
        PlainKeys([(0, 0); 64])
    }
}

thread_local! {
    static BUFFERS: RefCell<LineBuffers> = RefCell::new(LineBuffers::default());
}

/// Where the event's name came from, which decides what a later `message` or `event` field does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameSource {
    None,
    Message,
    EventField,
}

/// The keys a line holds so far, in a buffer the thread reuses (a line has a dozen keys or so:
/// a linear scan beats hashing, and the scan is skipped for a key whose bit is clear).
struct KeySet<'a> {
    keys: &'a mut Vec<&'static str>,
    plain: &'a mut PlainKeys,
    /// One bit per key written (by its length and last byte).
    seen: u64,
}

impl KeySet<'_> {
    /// Adds `key`; false when it was there already.
    #[inline]
    fn insert(&mut self, key: &'static str) -> bool {
        let last = key.as_bytes().last().copied().unwrap_or(0);
        let bit = 1u64 << ((key.len() * 5 + usize::from(last)) & 63);
        if self.seen & bit != 0 && self.keys.contains(&key) {
            return false;
        }
        self.seen |= bit;
        self.keys.push(key);
        true
    }

    /// Whether `key` is written as it is: no character to escape, not a reserved name.
    #[inline]
    fn is_plain(&mut self, key: &'static str) -> bool {
        let id = (key.as_ptr() as usize, key.len());
        let slot = &mut self.plain.0[(id.0 >> 3) & 63];
        if *slot == id {
            return true;
        }
        let plain = !keys::EVERY_LINE.contains(&key) && !format::needs_escaping(key.as_bytes());
        if plain {
            *slot = id;
        }
        plain
    }

    /// Writes `key` into `out` unless the line has it already; false when it had.
    #[inline]
    fn push_key<F: LineFormat>(&mut self, format: &F, out: &mut Vec<u8>, key: &'static str) -> bool {
        if !self.insert(key) {
            return false;
        }
        let plain = self.is_plain(key);
        format.push_key(out, key, plain, !plain && keys::EVERY_LINE.contains(&key));
        true
    }
}

/// Writes an event's own fields and collects its name.
struct EventVisitor<'a, 'o, F> {
    format: &'a F,
    /// Where the fields go (the line itself, or a buffer of their own).
    out: &'o mut Vec<u8>,
    /// The event's name, escaped, without quotes.
    name: &'a mut Vec<u8>,
    name_source: NameSource,
    keys: KeySet<'a>,
    critical: bool,
}

impl<F: LineFormat> EventVisitor<'_, '_, F> {
    /// Writes `key` and its value unless the key was written already.
    #[inline]
    fn field(&mut self, key: &'static str, write: impl FnOnce(&F, &mut Vec<u8>)) {
        if self.keys.push_key(self.format, self.out, key) {
            write(self.format, self.out);
        }
    }

    /// `message` and `event` name the line. When both are present the `event` field is the
    /// name and the message is kept under `message`. Returns false for any other field.
    fn name_field(&mut self, field: &Field, write_text: impl FnOnce(&F, &mut Vec<u8>)) -> bool {
        let is_event = field.name() == keys::EVENT;
        if !is_event && field.name() != keys::MESSAGE {
            return false;
        }
        match (self.name_source, is_event) {
            (NameSource::None, _) => {
                write_text(self.format, self.name);
                self.name_source = if is_event { NameSource::EventField } else { NameSource::Message };
            }
            (NameSource::Message, true) => {
                let message = std::mem::take(self.name);
                self.field(keys::MESSAGE, |format, out| format.push_escaped_string(out, &message));
                *self.name = message;
                self.name.clear();
                write_text(self.format, self.name);
                self.name_source = NameSource::EventField;
            }
            (NameSource::EventField, false) => {
                let mut message = Vec::new();
                write_text(self.format, &mut message);
                self.field(keys::MESSAGE, |format, out| format.push_escaped_string(out, &message));
            }
            // A second `event` or `message` field: keep the first.
            _ => {}
        }
        true
    }
}

impl<F: LineFormat> Visit for EventVisitor<'_, '_, F> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.field(field.name(), |_, out| format::push_f64(out, value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field.name(), |_, out| format::push_i64(out, value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field.name(), |_, out| format::push_u64(out, value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.field(field.name(), |_, out| format::push_i128(out, value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.field(field.name(), |_, out| format::push_u128(out, value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field.name(), |_, out| format::push_bool(out, value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.name_field(field, |format, out| format.push_text(out, value)) {
            return;
        }
        if field.name() == keys::LEVEL && value == keys::CRITICAL {
            self.critical = true;
            self.keys.insert(keys::LEVEL);
            return;
        }
        self.field(field.name(), |format, out| format.push_string(out, value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        let key = if keys::ERROR_FIELDS.contains(&field.name()) { keys::EXCEPTION } else { field.name() };
        self.field(key, |format, out| format.push_error(out, value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.name_field(field, |format, out| format.push_debug_text(out, value)) {
            return;
        }
        self.field(field.name(), |format, out| format.push_debug_value(out, value));
    }
}

/// The shared core of [`JsonLayer`] and [`ConsoleLayer`].
pub(crate) struct LineLayer<W, F> {
    make_writer: W,
    format: F,
    /// The `source` value, escaped once.
    source: Box<[u8]>,
    /// Write only `critical` lines (a sink whose level is `critical`).
    critical_only: bool,
}

impl<W, F: LineFormat> LineLayer<W, F> {
    fn new(make_writer: W, format: F) -> Self {
        // Lines read the time from the CPU's counter once it is calibrated.
        crate::clock::keep_calibrated();
        let mut layer = LineLayer { make_writer, format, source: Box::default(), critical_only: false };
        layer.set_source(super::DEFAULT_SOURCE);
        layer
    }

    fn set_source(&mut self, source: &str) {
        let mut escaped = Vec::new();
        format::escape_into(&mut escaped, source);
        self.source = escaped.into();
    }

    /// Builds the line of `event` into `buffers.line`; false when this layer does not write it.
    fn format_event<S>(&self, buffers: &mut LineBuffers, event: &Event<'_>, ctx: &Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let LineBuffers { line, own, context, name, keys, plain_keys } = buffers;
        for buffer in [&mut *line, &mut *own, &mut *context, &mut *name] {
            buffer.clear();
        }
        keys.clear();
        let own_out = if F::FIELDS_LEAD { &mut *line } else { &mut *own };
        let mut visitor = EventVisitor {
            format: &self.format,
            out: own_out,
            name,
            name_source: NameSource::None,
            keys: KeySet { keys, plain: plain_keys, seen: 0 },
            critical: false,
        };
        event.record(&mut visitor);
        let EventVisitor { name, critical, mut keys, .. } = visitor;
        let own: &[u8] = own;
        let level = LineLevel::of(event.metadata().level(), critical);
        if self.critical_only && level != LineLevel::Critical {
            return false;
        }
        // The ids of the innermost exported span entered on this thread (a span `#[trace_span]`
        // records for the exporter alone has no `tracing` span to carry them).
        #[cfg(feature = "otlp")]
        if event.is_contextual() {
            if let Some((trace_id, span_id)) = spans::current_log_ids() {
                for (key, id, width) in [(keys::TRACE_ID, trace_id, 32), (keys::SPAN_ID, u128::from(span_id), 16)] {
                    if keys.push_key(&self.format, context, key) {
                        self.format.push_hex_id(context, id, width);
                    }
                }
            }
        }
        // Fields of enclosing spans, innermost first; a key already written wins. The spans
        // entered on this thread, in the order they were entered (some have no `tracing`
        // span); or, for an event given its parent, that span and its parents.
        let format = &self.format;
        let walked = event.is_contextual()
            && spans::enclosing(|enclosing| {
                match enclosing {
                    Enclosing::Fields(fields) => push_fields(format, &mut keys, context, fields.iter()),
                    Enclosing::Tracing { id, callsite, outer } => {
                        return spans::walk_registered(ctx.span(id), callsite, outer, |span| {
                            push_registered(format, &mut keys, context, span)
                        });
                    }
                }
                true
            });
        if !walked {
            for span in ctx.event_scope(event).into_iter().flatten() {
                let _ = push_registered(format, &mut keys, context, &span);
            }
        }
        let parts = LineParts { name, own_fields: own, context, level, source: &self.source };
        self.format.write_line(line, &parts, event.metadata());
        true
    }
}

/// Writes a span's fields unless the line has their keys already.
#[inline]
fn push_fields<'f, F: LineFormat>(
    format: &F,
    keys: &mut KeySet<'_>,
    out: &mut Vec<u8>,
    fields: impl Iterator<Item = (&'static str, &'f [u8])>,
) {
    for (key, value) in fields {
        if keys.push_key(format, out, key) {
            format.push_span_value(out, value);
        }
    }
}

/// Writes the fields the log layers recorded on the `tracing` span `span`; true when it was
/// given its parent (see [`SpanFields::detached`]).
fn push_registered<F: LineFormat, S>(
    format: &F,
    keys: &mut KeySet<'_>,
    out: &mut Vec<u8>,
    span: &SpanRef<'_, S>,
) -> bool
where
    S: for<'a> LookupSpan<'a>,
{
    let extensions = span.extensions();
    let Some(span_fields) = extensions.get::<SpanFields>() else { return false };
    push_fields(format, keys, out, span_fields.entries.iter().map(|(key, value)| (*key, value.as_bytes())));
    span_fields.detached
}

impl<S, W, F> Layer<S> for LineLayer<W, F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
    F: LineFormat,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if extensions.get_mut::<SpanFields>().is_some() {
            // Another of our layers recorded it already.
            return;
        }
        let mut fields = SpanFields { detached: !attrs.is_contextual(), ..SpanFields::default() };
        attrs.record(&mut SpanFieldVisitor { fields: &mut fields });
        extensions.insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanFields>() {
            Some(fields) => values.record(&mut SpanFieldVisitor { fields }),
            None => {
                let mut fields = SpanFields::default();
                values.record(&mut SpanFieldVisitor { fields: &mut fields });
                extensions.insert(fields);
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            spans::push_tracing(id, span.metadata(), None);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            spans::pop_tracing(id, span.metadata());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let write = |buffers: &mut LineBuffers| {
            if self.format_event(buffers, event, &ctx) {
                // One write per line, so concurrent lines never interleave.
                let _ = self.make_writer.make_writer_for(event.metadata()).write_all(&buffers.line);
            }
            buffers.shrink_if_huge();
        };
        BUFFERS.with(|buffers| match buffers.try_borrow_mut() {
            Ok(mut buffers) => write(&mut buffers),
            // Re-entered (a writer or a `Debug` impl that logs): use fresh buffers.
            Err(_) => write(&mut LineBuffers::default()),
        });
    }
}

/// A `tracing_subscriber::Layer` that writes every event as one JSON line of the log schema.
/// Give it its level with [`LogFilter`](super::LogFilter), so that `#[trace_span]` spans stay
/// out of the registry.
///
/// ```
/// use audit_runtime::logging::{JsonLayer, LogFilter};
/// use tracing_subscriber::filter::LevelFilter;
/// use tracing_subscriber::prelude::*;
/// let json = JsonLayer::new(std::io::stdout).with_source("worker");
/// let subscriber = tracing_subscriber::registry().with(json.with_filter(LogFilter::level(LevelFilter::INFO)));
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(object_id = 17, "object_created");
/// });
/// ```
pub struct JsonLayer<W> {
    inner: LineLayer<W, JsonFormat>,
}

impl<W> JsonLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    /// A layer that writes to `make_writer` (any `MakeWriter`: `std::io::stdout`, a
    /// `tracing_appender` writer, a `Mutex<Vec<u8>>` in tests), with `source` `app`.
    pub fn new(make_writer: W) -> Self {
        JsonLayer { inner: LineLayer::new(make_writer, JsonFormat) }
    }

    /// Sets the `source` value of every line (the `LOG_SOURCE` variable does this from the
    /// environment).
    pub fn with_source(mut self, source: &str) -> Self {
        self.inner.set_source(source);
        self
    }

    /// Writes only lines of level `critical` (used for a sink configured at `critical`).
    pub(crate) fn critical_only(mut self, yes: bool) -> Self {
        self.inner.critical_only = yes;
        self
    }
}

/// A `tracing_subscriber::Layer` that writes one readable line per event:
/// time, level, event, fields, then the logger; coloured when asked to.
pub struct ConsoleLayer<W> {
    inner: LineLayer<W, ConsoleFormat>,
}

impl<W> ConsoleLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    /// A console layer writing to `make_writer`; `ansi` turns colours on.
    pub fn new(make_writer: W, ansi: bool) -> Self {
        ConsoleLayer { inner: LineLayer::new(make_writer, ConsoleFormat { ansi }) }
    }

    /// Writes only lines of level `critical`.
    pub(crate) fn critical_only(mut self, yes: bool) -> Self {
        self.inner.critical_only = yes;
        self
    }
}

/// Both public layers are the shared core behind a name; forward the hooks we use.
macro_rules! forward_layer {
    ($ty:ident) => {
        impl<S, W> Layer<S> for $ty<W>
        where
            S: Subscriber + for<'a> LookupSpan<'a>,
            W: for<'w> MakeWriter<'w> + 'static,
        {
            fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
                self.inner.on_new_span(attrs, id, ctx)
            }
            fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
                self.inner.on_record(id, values, ctx)
            }
            fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
                self.inner.on_enter(id, ctx)
            }
            fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
                self.inner.on_exit(id, ctx)
            }
            fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
                self.inner.on_event(event, ctx)
            }
        }
    };
}
forward_layer!(JsonLayer);
forward_layer!(ConsoleLayer);

#[cfg(test)]
mod tests {
    use tracing_subscriber::prelude::*;

    use super::*;
    use crate::logging::values::{RETAINED_CAPACITY, scratch_capacity};

    fn retained() -> usize {
        BUFFERS.with(|buffers| {
            let buffers = buffers.borrow();
            buffers.line.capacity() + buffers.own.capacity() + buffers.context.capacity() + buffers.name.capacity()
        }) + scratch_capacity()
    }

    #[test]
    fn a_huge_field_does_not_stay_allocated_on_the_thread() {
        let huge = "x".repeat(50 * 1024 * 1024);
        let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = written.clone();
        let make_writer = move || CountingWriter(counter.clone());
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new(make_writer));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(text = huge.as_str(), "huge_text");
            tracing::info!(debug = ?huge, "huge_debug");
            let _span = tracing::info_span!("huge_span", context = huge.as_str()).entered();
            tracing::info!("inside_a_huge_span");
        });
        assert!(written.load(std::sync::atomic::Ordering::Relaxed) > 150 * 1024 * 1024, "the lines were written");
        assert!(retained() <= 5 * RETAINED_CAPACITY, "{} bytes retained", retained());
    }

    struct CountingWriter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl std::io::Write for CountingWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.fetch_add(buf.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
