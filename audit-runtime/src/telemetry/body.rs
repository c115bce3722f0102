//! A span's fields, events and links in a compact byte encoding: written on the caller's
//! thread straight into the span's buffer (no allocation per field, text formatted in place),
//! read back into the SDK's `KeyValue`s, `Event`s and `Link`s on the exporter thread.
//!
//! Items, one after the other (integers little-endian, texts as a `u32` length and UTF-8):
//! - an attribute: a type tag (`STR`, `BOOL`, `I64`, `F64`, plus `OF_EVENT` when it belongs to
//!   the last event), its key (the address and length of the `'static` field name), its value;
//! - an event: `EVENT`, time (`u64` ns since the epoch), level (`u8`), its callsite name;
//!   its `message` and `event` fields follow as `MESSAGE` and `EVENT_NAME` items;
//! - a link: `LINK`, trace id (`u128`), span id (`u64`).

use std::borrow::Cow;
use std::error::Error;
use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{Event, Link, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use opentelemetry::{Key, KeyValue, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::{Event as TracingEvent, Level};

use super::record::{Kind, OpenSpan, Rare};
use crate::logging::layer::ErrorChain;
use crate::trace::{OTEL_KIND, OTEL_NAME, OTEL_STATUS_CODE, OTEL_STATUS_MESSAGE, OTEL_TRACEPARENT, OTEL_TRACESTATE};

const STR: u8 = 1;
const BOOL: u8 = 2;
const I64: u8 = 3;
const F64: u8 = 4;
const EVENT: u8 = 5;
const MESSAGE: u8 = 6;
const EVENT_NAME: u8 = 7;
const LINK: u8 = 8;
const OF_EVENT: u8 = 0x80;

/// Formats text straight into the buffer.
struct TextWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for TextWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Writes a `u32` length, then what `write` formats, then patches the length.
#[inline]
fn text(out: &mut Vec<u8>, write: impl FnOnce(&mut TextWriter<'_>) -> fmt::Result) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let _ = write(&mut TextWriter(out));
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

#[inline]
fn put_str(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// A field name is `'static` (it lives in the callsite's metadata): its address and length are
/// written rather than its bytes, so neither thread copies it and the exporter thread makes a
/// `Key` of it without allocating.
#[inline]
fn put_static_key(out: &mut Vec<u8>, key: &'static str) {
    out.extend_from_slice(&(key.as_ptr() as usize).to_le_bytes());
    out.extend_from_slice(&key.len().to_le_bytes());
}

/// The one field visitor of the exporter: records a span's fields (and the fields of the events
/// logged inside it) into its body, and the `otel.*` instructions into its [`Rare`] part.
pub(crate) struct BodyEncoder<'a> {
    out: &'a mut Vec<u8>,
    rare: &'a mut Option<Box<Rare>>,
    /// `OF_EVENT` for an event's fields, else 0.
    scope: u8,
    /// For an error event: the status description found so far, and whether it came from an
    /// `error`/`exception` field (which wins over the message).
    status: Option<(Option<String>, bool)>,
}

impl<'a> BodyEncoder<'a> {
    /// For a span's own fields.
    pub(crate) fn span(open: &'a mut OpenSpan) -> Self {
        BodyEncoder { out: &mut open.body, rare: &mut open.rare, scope: 0, status: None }
    }

    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    #[inline]
    fn key(&mut self, tag: u8, field: &Field) {
        self.out.push(tag | self.scope);
        put_static_key(self.out, field.name());
    }

    /// A text value: an `otel.*` instruction, an event's name or message, or an attribute.
    fn text(&mut self, field: &Field, write: impl Fn(&mut TextWriter<'_>) -> fmt::Result) {
        let name = field.name();
        if let Some((description, from_error)) = &mut self.status {
            let is_error = matches!(name, "error" | "exception");
            if is_error || (name == "message" && !*from_error) {
                *description = Some(owned_text(&write));
                *from_error |= is_error;
            }
        }
        if self.scope == OF_EVENT {
            match name {
                "message" => {
                    self.out.push(MESSAGE);
                    return text(self.out, write);
                }
                "event" => {
                    self.out.push(EVENT_NAME);
                    return text(self.out, write);
                }
                _ => {}
            }
        } else if name.starts_with("otel.") {
            let owned = || owned_text(&write);
            match name {
                OTEL_NAME => self.rare().name_override = Some(owned()),
                OTEL_KIND => {
                    if let Some(kind) = Kind::parse(&owned()) {
                        self.rare().kind = kind;
                    }
                }
                OTEL_STATUS_CODE => match owned().to_ascii_lowercase().as_str() {
                    "error" => {
                        let rare = self.rare();
                        rare.status.get_or_insert_with(String::new);
                    }
                    "ok" => self.rare().status_ok = true,
                    _ => {}
                },
                OTEL_STATUS_MESSAGE => {
                    let message = owned();
                    let rare = self.rare();
                    if rare.status.as_ref().is_none_or(String::is_empty) {
                        rare.status = Some(message);
                    }
                }
                OTEL_TRACEPARENT => self.rare().traceparent = Some(owned()),
                OTEL_TRACESTATE => self.rare().tracestate = Some(owned()),
                // Other `otel.*` fields are data like any other.
                _ => {
                    self.key(STR, field);
                    text(self.out, write);
                }
            }
            return;
        }
        self.key(STR, field);
        text(self.out, write);
    }
}

/// What `write` formats, as a `String` (for the rare values kept apart from the body).
fn owned_text(write: &impl Fn(&mut TextWriter<'_>) -> fmt::Result) -> String {
    let mut bytes = Vec::new();
    let _ = write(&mut TextWriter(&mut bytes));
    String::from_utf8(bytes).unwrap_or_default()
}

impl Visit for BodyEncoder<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(F64, field);
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(I64, field);
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        // OTLP integers are signed 64-bit; larger values keep their digits as text.
        match i64::try_from(value) {
            Ok(value) => self.record_i64(field, value),
            Err(_) => self.text(field, |w| write!(w, "{value}")),
        }
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(value) => self.record_i64(field, value),
            Err(_) => self.text(field, |w| write!(w, "{value}")),
        }
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        match i64::try_from(value) {
            Ok(value) => self.record_i64(field, value),
            Err(_) => self.text(field, |w| write!(w, "{value}")),
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(BOOL, field);
        self.out.push(u8::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, |w| w.write_str(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        // The status says what failed (the error's own message); the attribute has the chain.
        let mut status = self.status.take();
        if let Some((description, from_error)) = &mut status {
            if matches!(field.name(), "error" | "exception") {
                *description = Some(value.to_string());
                *from_error = true;
            }
        }
        self.text(field, |w| write!(w, "{}", ErrorChain(value)));
        self.status = status;
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, |w| write!(w, "{value:?}"));
    }
}

pub(crate) fn now_unix_nano() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Records `event` as an event of the span; an `ERROR` event fails the span, its `error` (or
/// `exception`) field, else its message, becoming the status description.
pub(crate) fn encode_event(open: &mut OpenSpan, event: &TracingEvent<'_>) {
    let meta = event.metadata();
    let out = &mut open.body;
    out.push(EVENT);
    out.extend_from_slice(&now_unix_nano().to_le_bytes());
    out.push(level_byte(meta.level()));
    put_str(out, meta.name());
    let error = *meta.level() == Level::ERROR;
    let mut encoder = BodyEncoder {
        out: &mut open.body,
        rare: &mut open.rare,
        scope: OF_EVENT,
        status: error.then_some((None, false)),
    };
    event.record(&mut encoder);
    if let Some((description, _)) = encoder.status.take() {
        encoder.rare().status = Some(description.unwrap_or_default());
    }
}

/// Records a link to another span (`follows_from`).
pub(crate) fn encode_link(out: &mut Vec<u8>, trace_id: u128, span_id: u64) {
    out.push(LINK);
    out.extend_from_slice(&trace_id.to_le_bytes());
    out.extend_from_slice(&span_id.to_le_bytes());
}

fn level_byte(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        _ => 5,
    }
}

fn level_name(byte: u8) -> &'static str {
    ["error", "warn", "info", "debug", "trace"][usize::from(byte.clamp(1, 5) - 1)]
}

/// What a body holds, as the SDK's types.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) events: Vec<Event>,
    pub(crate) links: Vec<Link>,
}

/// An event being read: its name is known only once its fields are.
struct PendingEvent {
    time: u64,
    fallback_name: String,
    message: Option<String>,
    event_name: Option<String>,
    attributes: Vec<KeyValue>,
}

impl PendingEvent {
    fn finish(mut self) -> Event {
        let name = match (self.event_name, self.message) {
            (Some(name), Some(message)) => {
                self.attributes.push(KeyValue::new("message", message));
                name
            }
            (Some(name), None) | (None, Some(name)) => name,
            (None, None) => self.fallback_name,
        };
        let time = UNIX_EPOCH + Duration::from_nanos(self.time);
        Event::new(name, time, self.attributes, 0)
    }
}

/// A reader over a body; a truncated body (never written so) ends the reading.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    }
    fn u128(&mut self) -> Option<u128> {
        self.take(16).map(|b| u128::from_le_bytes(b.try_into().unwrap_or_default()))
    }
    /// A key written by [`put_static_key`].
    fn static_key(&mut self) -> Option<&'static str> {
        const WORD: usize = std::mem::size_of::<usize>();
        let address = usize::from_le_bytes(self.take(WORD)?.try_into().ok()?);
        let len = usize::from_le_bytes(self.take(WORD)?.try_into().ok()?);
        // SAFETY: only `put_static_key` writes keys, from a `&'static str` (a field name of a
        // callsite's metadata): the address and length name that string, alive and unchanged
        // for the rest of the program.
        Some(unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(address as *const u8, len)) })
    }

    fn text(&mut self) -> Option<String> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize;
        Some(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
}

/// Reads a body back; a span attribute recorded twice keeps its last value.
pub(crate) fn decode(body: &[u8]) -> Decoded {
    let mut decoded = Decoded::default();
    let mut event: Option<PendingEvent> = None;
    let mut reader = Reader(body);
    while let Some(tag) = reader.u8() {
        let Some(()) = decode_item(tag, &mut reader, &mut decoded, &mut event) else { break };
    }
    if let Some(event) = event {
        decoded.events.push(event.finish());
    }
    decoded
}

fn decode_item(
    tag: u8,
    reader: &mut Reader<'_>,
    decoded: &mut Decoded,
    event: &mut Option<PendingEvent>,
) -> Option<()> {
    match tag {
        EVENT => {
            if let Some(done) = event.take() {
                decoded.events.push(done.finish());
            }
            let time = reader.u64()?;
            let level = reader.u8()?;
            let fallback_name = reader.text()?;
            let attributes = vec![KeyValue::new("level", level_name(level))];
            *event = Some(PendingEvent { time, fallback_name, message: None, event_name: None, attributes });
        }
        MESSAGE | EVENT_NAME => {
            let value = reader.text()?;
            if let Some(event) = event.as_mut() {
                match tag {
                    MESSAGE if event.message.is_none() => event.message = Some(value),
                    MESSAGE => event.attributes.push(KeyValue::new("message", value)),
                    _ => event.event_name = Some(value),
                }
            }
        }
        LINK => {
            let trace_id = reader.u128()?;
            let span_id = reader.u64()?;
            let context = SpanContext::new(
                TraceId::from(trace_id),
                SpanId::from(span_id),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            );
            decoded.links.push(Link::with_context(context));
        }
        _ => {
            let key = Key::from_static_str(reader.static_key()?);
            let value = match tag & !OF_EVENT {
                STR => Value::from(reader.text()?),
                BOOL => Value::from(reader.u8()? != 0),
                I64 => Value::from(reader.u64()? as i64),
                F64 => Value::from(f64::from_bits(reader.u64()?)),
                _ => return None,
            };
            if tag & OF_EVENT != 0 {
                if let Some(event) = event.as_mut() {
                    event.attributes.push(KeyValue::new(key, value));
                }
            } else {
                match decoded.attributes.iter_mut().find(|kv| kv.key == key) {
                    Some(existing) => existing.value = value,
                    None => decoded.attributes.push(KeyValue::new(key, value)),
                }
            }
        }
    }
    Some(())
}

/// The name `Cow` the SDK wants, borrowed when the name is static.
pub(crate) fn span_name(static_name: &'static str, override_name: Option<&str>) -> Cow<'static, str> {
    match override_name {
        Some(name) => Cow::Owned(name.to_owned()),
        None => Cow::Borrowed(static_name),
    }
}
