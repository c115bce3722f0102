//! The `tracing_subscriber::Layer`s that write one line per event: [`JsonLayer`] (the seeds'
//! schema) and [`ConsoleLayer`] (for people). Both share one core, [`LineLayer`].

use std::cell::RefCell;
use std::error::Error;
use std::fmt::{self, Write as _};
use std::io::Write as _;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::format::{self, ControlEscapingWriter, EscapingWriter, RawWriter};
use super::json_value;

/// Keys the layer writes itself. A user field of the same name is written as `field.<name>`
/// so that no key appears twice and nothing is lost. (`event` is taken from a string `event`
/// field; only a non-string one is renamed.)
const RESERVED_KEYS: [&str; 5] = ["event", "timestamp", "logger", "level", "source"];
/// The field that carries a typed event's catalog name.
const EVENT_KEY: &str = "event";
/// `tracing`'s field for the format string of `info!("text")`.
const MESSAGE_KEY: &str = "message";
/// Where an error recorded as `error = &err as &dyn Error` is written.
const EXCEPTION_KEY: &str = "exception";
/// Field names that hold the error of a line, written as `exception`.
const ERROR_FIELDS: [&str; 2] = ["error", "exception"];
/// The value of a `level` field that promotes an `ERROR` event to `critical`.
pub(crate) const CRITICAL: &str = "critical";
/// The field that can carry [`CRITICAL`].
const LEVEL_KEY: &str = "level";

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

/// The fields recorded on a span, each value already encoded as JSON; kept in the span's
/// extensions (by whichever of our layers sees the span first) and flattened into every line
/// written inside the span.
#[derive(Debug, Default)]
pub(crate) struct SpanFields {
    pub(crate) entries: Vec<(&'static str, String)>,
}

impl SpanFields {
    /// The JSON text of `key`'s value, if this span recorded it.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    pub(crate) fn set(&mut self, key: &'static str, value: String) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }
}

/// Records span fields as JSON values.
pub(crate) struct SpanFieldVisitor<'a> {
    pub(crate) fields: &'a mut SpanFields,
}

impl SpanFieldVisitor<'_> {
    fn encode(&mut self, field: &Field, write: impl FnOnce(&mut Vec<u8>)) {
        // `otel.*` fields steer the span exporter (its name, a remote parent): not log data.
        if field.name().starts_with("otel.") {
            return;
        }
        let mut out = Vec::new();
        write(&mut out);
        // Everything the encoders write is valid UTF-8 (escaped JSON text).
        let text = String::from_utf8(out).unwrap_or_default();
        self.fields.set(field.name(), text);
    }
}

impl Visit for SpanFieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.encode(field, |out| format::push_f64(out, value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.encode(field, |out| format::push_i64(out, value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.encode(field, |out| format::push_u64(out, value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.encode(field, |out| format::push_i128(out, value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.encode(field, |out| format::push_u128(out, value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.encode(field, |out| format::push_bool(out, value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.encode(field, |out| format::push_str(out, value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.encode(field, |out| push_error_chain(out, value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.encode(field, |out| push_debug_value(out, value));
    }
}

/// Writes a `Debug` value: nested JSON when it is a [`json_value::JsonValue`], else a string.
fn push_debug_value(out: &mut Vec<u8>, value: &dyn fmt::Debug) {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => {
            scratch.clear();
            json_value::reset_json_len();
            let _ = write!(RawWriter(&mut scratch), "{value:?}");
            if json_value::output_is_json(scratch.len()) {
                out.extend_from_slice(&scratch);
            } else {
                out.push(b'"');
                // The scratch holds what `Debug` wrote: valid UTF-8.
                format::escape_into(out, std::str::from_utf8(&scratch).unwrap_or_default());
                out.push(b'"');
            }
        }
        // A `Debug` impl that itself logs: format it as a plain string.
        Err(_) => {
            out.push(b'"');
            let _ = write!(EscapingWriter(out), "{value:?}");
            out.push(b'"');
        }
    });
}

/// An error and its `source()` chain, in the layout Rust users know from `anyhow`: the message,
/// then `Caused by:` and one numbered line per source.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        if source.is_some() {
            f.write_str("\n\nCaused by:")?;
        }
        let mut index = 0;
        while let Some(cause) = source {
            write!(f, "\n    {index}: {cause}")?;
            index += 1;
            source = cause.source();
        }
        Ok(())
    }
}

/// Writes an error and its chain as one JSON string.
fn push_error_chain(out: &mut Vec<u8>, error: &(dyn Error + 'static)) {
    out.push(b'"');
    let _ = write!(EscapingWriter(out), "{}", ErrorChain(error));
    out.push(b'"');
}

/// The per-thread buffers of a line, reused so a line costs no allocation once they have grown.
#[derive(Default)]
struct LineBuffers {
    /// The line being built.
    line: Vec<u8>,
    /// The event's name while the other fields are written.
    name: Vec<u8>,
    /// The keys written so far, so that span fields never repeat one.
    keys: Vec<&'static str>,
    /// Field names known to be written as they are (see [`KeySet::is_plain`]).
    plain_keys: PlainKeys,
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
    static BUFFERS: RefCell<LineBuffers> = RefCell::new(LineBuffers {
        line: Vec::with_capacity(512),
        name: Vec::with_capacity(128),
        keys: Vec::with_capacity(32),
        plain_keys: PlainKeys::default(),
    });
    /// `Debug` output, before we know whether it is JSON or text.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(128));
}

/// How a line is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineFormat {
    Json,
    Console { ansi: bool },
}

/// Where the event's name came from, which decides what a later `message` or `event` field does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameSource {
    None,
    Message,
    EventField,
}

/// The keys a line holds so far, in a buffer the thread reuses (a line has a dozen keys or so:
/// a linear scan beats hashing).
struct KeySet<'a> {
    keys: &'a mut Vec<&'static str>,
    plain: &'a mut PlainKeys,
}

impl KeySet<'_> {
    /// Adds `key`; false when it was there already.
    #[inline]
    fn insert(&mut self, key: &'static str) -> bool {
        if self.keys.contains(&key) {
            return false;
        }
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
        let plain = !RESERVED_KEYS.contains(&key) && !format::needs_escaping(key.as_bytes());
        if plain {
            *slot = id;
        }
        plain
    }
}

/// Starts a key: `"key":` in JSON (with the comma), ` key=` in the console. A reserved name is
/// written as `field.<name>`.
#[inline]
fn push_key(line: &mut Vec<u8>, format: LineFormat, key: &str, plain: bool) {
    let renamed = !plain && RESERVED_KEYS.contains(&key);
    match format {
        LineFormat::Json => {
            if line.len() > 1 {
                line.push(b',');
            }
            line.push(b'"');
            if plain {
                line.extend_from_slice(key.as_bytes());
            } else {
                if renamed {
                    line.extend_from_slice(b"field.");
                }
                format::escape_into(line, key);
            }
            line.extend_from_slice(b"\":");
        }
        LineFormat::Console { ansi } => {
            line.push(b' ');
            if ansi {
                line.extend_from_slice(b"\x1b[2m");
            }
            if renamed {
                line.extend_from_slice(b"field.");
            }
            format::escape_into(line, key);
            line.push(b'=');
            if ansi {
                line.extend_from_slice(b"\x1b[0m");
            }
        }
    }
}

/// Writes an event's own fields into the line and collects its name.
struct EventVisitor<'a> {
    line: &'a mut Vec<u8>,
    /// The event's name, escaped, without quotes.
    name: &'a mut Vec<u8>,
    name_source: NameSource,
    format: LineFormat,
    keys: KeySet<'a>,
    critical: bool,
}

impl EventVisitor<'_> {
    /// Writes `key` and its value unless the key was written already.
    #[inline]
    fn field(&mut self, key: &'static str, write: impl FnOnce(&mut Vec<u8>, LineFormat)) {
        if self.keys.insert(key) {
            let plain = self.keys.is_plain(key);
            push_key(self.line, self.format, key, plain);
            write(self.line, self.format);
        }
    }

    /// `message` and `event` name the line. When both are present the `event` field is the
    /// name and the message is kept under `message`. Returns false for any other field.
    fn name_field(&mut self, field: &Field, write_text: impl FnOnce(&mut Vec<u8>)) -> bool {
        let is_event = field.name() == EVENT_KEY;
        if !is_event && field.name() != MESSAGE_KEY {
            return false;
        }
        match (self.name_source, is_event) {
            (NameSource::None, _) => {
                write_text(self.name);
                self.name_source = if is_event { NameSource::EventField } else { NameSource::Message };
            }
            (NameSource::Message, true) => {
                let message = std::mem::take(self.name);
                self.field(MESSAGE_KEY, |line, format| push_escaped_string(line, format, &message));
                *self.name = message;
                self.name.clear();
                write_text(self.name);
                self.name_source = NameSource::EventField;
            }
            (NameSource::EventField, false) => {
                let mut message = Vec::new();
                write_text(&mut message);
                self.field(MESSAGE_KEY, |line, format| push_escaped_string(line, format, &message));
            }
            // A second `event` or `message` field: keep the first.
            _ => {}
        }
        true
    }
}

/// Appends an already escaped string body as a string value.
fn push_escaped_string(line: &mut Vec<u8>, format: LineFormat, escaped: &[u8]) {
    match format {
        LineFormat::Json => {
            line.push(b'"');
            line.extend_from_slice(escaped);
            line.push(b'"');
        }
        LineFormat::Console { .. } => line.extend_from_slice(escaped),
    }
}

impl Visit for EventVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.field(field.name(), |out, _| format::push_f64(out, value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field.name(), |out, _| format::push_i64(out, value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field.name(), |out, _| format::push_u64(out, value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.field(field.name(), |out, _| format::push_i128(out, value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.field(field.name(), |out, _| format::push_u128(out, value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field.name(), |out, _| format::push_bool(out, value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let format = self.format;
        if self.name_field(field, |out| push_text(out, format, value)) {
            return;
        }
        if field.name() == LEVEL_KEY && value == CRITICAL {
            self.critical = true;
            self.keys.insert(LEVEL_KEY);
            return;
        }
        self.field(field.name(), |out, format| push_string_value(out, format, value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        let key = if ERROR_FIELDS.contains(&field.name()) { EXCEPTION_KEY } else { field.name() };
        self.field(key, |out, format| match format {
            LineFormat::Json => push_error_chain(out, value),
            LineFormat::Console { .. } => push_string_value(out, format, &ErrorChain(value).to_string()),
        });
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let format = self.format;
        if self.name_field(field, |out| write_debug_text(out, format, value)) {
            return;
        }
        self.field(field.name(), |out, format| match format {
            LineFormat::Json => push_debug_value(out, value),
            LineFormat::Console { .. } => write_debug_text(out, format, value),
        });
    }
}

/// Text of a name or message, escaped for the line's format.
#[inline]
fn push_text(out: &mut Vec<u8>, format: LineFormat, text: &str) {
    match format {
        LineFormat::Json => format::escape_into(out, text),
        LineFormat::Console { .. } => format::escape_controls_into(out, text),
    }
}

/// A `Debug` value's text, escaped for the line's format.
fn write_debug_text(out: &mut Vec<u8>, format: LineFormat, value: &dyn fmt::Debug) {
    let _ = match format {
        LineFormat::Json => write!(EscapingWriter(out), "{value:?}"),
        LineFormat::Console { .. } => write!(ControlEscapingWriter(out), "{value:?}"),
    };
}

/// A string value: quoted in JSON; in the console, shown bare unless it would be ambiguous.
#[inline]
fn push_string_value(out: &mut Vec<u8>, format: LineFormat, value: &str) {
    match format {
        LineFormat::Json => format::push_str(out, value),
        LineFormat::Console { .. } => {
            if value.is_empty() || value.contains([' ', '=', '"']) {
                format::push_str(out, value);
            } else {
                format::escape_controls_into(out, value);
            }
        }
    }
}

/// The shared core of [`JsonLayer`] and [`ConsoleLayer`].
pub(crate) struct LineLayer<W> {
    make_writer: W,
    /// The `source` value, escaped once.
    source: Box<[u8]>,
    format: LineFormat,
    /// Write only `critical` lines (a sink whose level is `critical`).
    critical_only: bool,
}

impl<W> LineLayer<W> {
    fn new(make_writer: W, format: LineFormat) -> Self {
        let mut layer = LineLayer { make_writer, source: Box::default(), format, critical_only: false };
        layer.set_source(super::DEFAULT_SOURCE);
        layer
    }

    fn set_source(&mut self, source: &str) {
        let mut escaped = Vec::new();
        format::escape_into(&mut escaped, source);
        self.source = escaped.into();
    }

    /// Builds the line of `event` into `line`; false when this layer does not write it.
    fn format_event<S>(&self, buffers: &mut LineBuffers, event: &Event<'_>, ctx: &Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let meta = event.metadata();
        let LineBuffers { line, name, keys, plain_keys } = buffers;
        line.clear();
        name.clear();
        keys.clear();
        // In the console the fields follow the time, level and name: collect them apart.
        let mut console_fields = Vec::new();
        let fields: &mut Vec<u8> = match self.format {
            LineFormat::Json => {
                line.push(b'{');
                line
            }
            LineFormat::Console { .. } => &mut console_fields,
        };
        let mut visitor = EventVisitor {
            line: fields,
            name,
            name_source: NameSource::None,
            format: self.format,
            keys: KeySet { keys, plain: plain_keys },
            critical: false,
        };
        event.record(&mut visitor);
        let EventVisitor { line: fields, name, critical, mut keys, .. } = visitor;
        let level = LineLevel::of(meta.level(), critical);
        if self.critical_only && level != LineLevel::Critical {
            return false;
        }

        if self.format == LineFormat::Json {
            // `event` after the event's own fields and before the bound context, as in the seeds.
            if fields.len() > 1 {
                fields.push(b',');
            }
            fields.extend_from_slice(b"\"event\":\"");
            fields.extend_from_slice(name);
            fields.push(b'"');
        }
        // The ids of the innermost exported span entered on this thread (a span `#[trace_span]`
        // records for the exporter alone has no `tracing` span to carry them).
        #[cfg(feature = "otlp")]
        if event.is_contextual() {
            if let Some((trace_id, span_id)) = crate::context::spans::current_log_ids() {
                push_trace_ids(fields, self.format, &mut keys, trace_id, span_id);
            }
        }
        // Fields of enclosing spans, innermost first; a key already written wins.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let extensions = span.extensions();
                let Some(span_fields) = extensions.get::<SpanFields>() else { continue };
                for (key, value) in &span_fields.entries {
                    if keys.insert(key) {
                        let plain = keys.is_plain(key);
                        push_key(fields, self.format, key, plain);
                        match self.format {
                            LineFormat::Json => fields.extend_from_slice(value.as_bytes()),
                            LineFormat::Console { .. } => push_console_json(fields, value),
                        }
                    }
                }
            }
        }

        match self.format {
            LineFormat::Json => self.finish_json(line, level, meta),
            LineFormat::Console { ansi } => {
                let fields = std::mem::take(fields);
                let name = std::mem::take(name);
                finish_console(line, &name, level, meta, &fields, ansi);
            }
        }
        true
    }

    fn finish_json(&self, line: &mut Vec<u8>, level: LineLevel, meta: &tracing_core::Metadata<'_>) {
        line.extend_from_slice(b",\"timestamp\":\"");
        format::push_timestamp_now(line);
        line.extend_from_slice(b"\",\"logger\":\"");
        format::escape_into(line, meta.module_path().unwrap_or_else(|| meta.target()));
        line.extend_from_slice(b"\",\"level\":\"");
        line.extend_from_slice(level.name().as_bytes());
        line.extend_from_slice(b"\",\"source\":\"");
        line.extend_from_slice(&self.source);
        line.extend_from_slice(b"\"}\n");
    }
}

/// `trace_id` and `span_id`, as lower-case hex (32 and 16 digits).
#[cfg(feature = "otlp")]
fn push_trace_ids(line: &mut Vec<u8>, format: LineFormat, keys: &mut KeySet<'_>, trace_id: u128, span_id: u64) {
    let quote: &[u8] = if format == LineFormat::Json { b"\"" } else { b"" };
    for (key, value, width) in [("trace_id", trace_id, 32), ("span_id", u128::from(span_id), 16)] {
        if keys.insert(key) {
            let plain = keys.is_plain(key);
            push_key(line, format, key, plain);
            line.extend_from_slice(quote);
            let _ = write!(line, "{value:0width$x}");
            line.extend_from_slice(quote);
        }
    }
}

/// `TIME LEVEL event key=value ... [logger]`, coloured when `ansi`.
fn finish_console(
    line: &mut Vec<u8>,
    name: &[u8],
    level: LineLevel,
    meta: &tracing_core::Metadata<'_>,
    fields: &[u8],
    ansi: bool,
) {
    let (dim, bold, reset) = if ansi { ("\x1b[2m", "\x1b[1m", "\x1b[0m") } else { ("", "", "") };
    let colour = match level {
        _ if !ansi => "",
        LineLevel::Debug => "\x1b[34m",
        LineLevel::Info => "\x1b[32m",
        LineLevel::Warning => "\x1b[33m",
        LineLevel::Error => "\x1b[31m",
        LineLevel::Critical => "\x1b[1;41;97m",
    };
    line.extend_from_slice(dim.as_bytes());
    format::push_timestamp_now(line);
    line.extend_from_slice(reset.as_bytes());
    let _ = write!(line, " {colour}{:<8}{reset} {bold}", level.name());
    line.extend_from_slice(name);
    line.extend_from_slice(reset.as_bytes());
    line.extend_from_slice(fields);
    let _ = write!(line, " {dim}[");
    format::escape_into(line, meta.module_path().unwrap_or_else(|| meta.target()));
    let _ = writeln!(line, "]{reset}");
}

/// A span value (JSON text) for the console: strings without their quotes when unambiguous.
fn push_console_json(out: &mut Vec<u8>, json: &str) {
    let bytes = json.as_bytes();
    let plain_string = bytes.len() >= 2
        && bytes[0] == b'"'
        && bytes[bytes.len() - 1] == b'"'
        && !json[1..json.len() - 1].contains([' ', '=', '\\']);
    if plain_string {
        out.extend_from_slice(&bytes[1..bytes.len() - 1]);
    } else {
        out.extend_from_slice(bytes);
    }
}

impl<S, W> Layer<S> for LineLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if extensions.get_mut::<SpanFields>().is_some() {
            // Another of our layers recorded it already.
            return;
        }
        let mut fields = SpanFields::default();
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

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let write = |buffers: &mut LineBuffers| {
            if self.format_event(buffers, event, &ctx) {
                // One write per line, so concurrent lines never interleave.
                let _ = self.make_writer.make_writer_for(event.metadata()).write_all(&buffers.line);
            }
        };
        BUFFERS.with(|buffers| match buffers.try_borrow_mut() {
            Ok(mut buffers) => write(&mut buffers),
            // Re-entered (a writer or a `Debug` impl that logs): use fresh buffers.
            Err(_) => write(&mut LineBuffers::default()),
        });
    }
}

/// A `tracing_subscriber::Layer` that writes every event as one JSON line in the seeds' schema.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// let subscriber = tracing_subscriber::registry()
///     .with(audit_runtime::logging::JsonLayer::new(std::io::stdout).with_source("worker"));
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(object_id = 17, "object_created");
/// });
/// ```
pub struct JsonLayer<W> {
    inner: LineLayer<W>,
}

impl<W> JsonLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    /// A layer that writes to `make_writer` (any `MakeWriter`: `std::io::stdout`, a
    /// `tracing_appender` writer, a `Mutex<Vec<u8>>` in tests), with `source` `app`.
    pub fn new(make_writer: W) -> Self {
        JsonLayer { inner: LineLayer::new(make_writer, LineFormat::Json) }
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
    inner: LineLayer<W>,
}

impl<W> ConsoleLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    /// A console layer writing to `make_writer`; `ansi` turns colours on.
    pub fn new(make_writer: W, ansi: bool) -> Self {
        ConsoleLayer { inner: LineLayer::new(make_writer, LineFormat::Console { ansi }) }
    }

    /// Writes only lines of level `critical`.
    pub(crate) fn critical_only(mut self, yes: bool) -> Self {
        self.inner.critical_only = yes;
        self
    }
}

/// Both public layers are the shared core behind a name; forward the three hooks we use.
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
            fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
                self.inner.on_event(event, ctx)
            }
        }
    };
}
forward_layer!(JsonLayer);
forward_layer!(ConsoleLayer);
