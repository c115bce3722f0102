//! The OTLP trace messages (opentelemetry/proto/trace/v1/trace.proto and friends), encoded by
//! hand: a few dozen lines instead of a protobuf code generator, with the standard field
//! numbers so that any collector reads them.

use std::error::Error;
use std::fmt::{self, Write as _};

use tracing_core::field::{Field, Visit};

use super::export::{Chunk, Finished};
use super::record::{AttrValue, EventRecord, Resource, SpanRecord, Status};
use crate::logging::layer::ErrorChain;
use crate::trace::{OTEL_NAME, OTEL_TRACEPARENT};

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    key(out, field, LEN);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn string(out: &mut Vec<u8>, field: u32, value: &str) {
    if !value.is_empty() {
        bytes(out, field, value.as_bytes());
    }
}

fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&value.to_le_bytes());
}

fn uint(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        key(out, field, VARINT);
        varint(out, value);
    }
}

/// A nested message, written in place: one byte is kept for its length (enough below 128
/// bytes, the common case of an attribute), and the body is shifted when the length needs more.
/// No buffer is allocated per message.
fn message(out: &mut Vec<u8>, field: u32, encode: impl FnOnce(&mut Vec<u8>)) {
    key(out, field, LEN);
    let at = out.len();
    out.push(0);
    encode(out);
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
    } else {
        // Shift the body to make room for the longer length (no allocation).
        let mut prefix = [0u8; 10];
        let mut n = 0;
        let mut value = len as u64;
        while value >= 0x80 {
            prefix[n] = (value as u8) | 0x80;
            value >>= 7;
            n += 1;
        }
        prefix[n] = value as u8;
        n += 1;
        let end = out.len();
        out.resize(end + n - 1, 0);
        out.copy_within(at + 1..end, at + n);
        out[at..at + n].copy_from_slice(&prefix[..n]);
    }
}

/// `KeyValue { string key = 1; AnyValue value = 2; }`
fn key_value(out: &mut Vec<u8>, field: u32, name: &str, value: &AttrValue) {
    message(out, field, |kv| {
        string(kv, 1, name);
        // AnyValue: string_value = 1, bool_value = 2, int_value = 3, double_value = 4.
        message(kv, 2, |any| match value {
            AttrValue::Str(s) => bytes(any, 1, s.as_bytes()),
            AttrValue::Bool(b) => {
                key(any, 2, VARINT);
                varint(any, u64::from(*b));
            }
            AttrValue::I64(i) => {
                key(any, 3, VARINT);
                varint(any, *i as u64);
            }
            AttrValue::F64(f) => fixed64(any, 4, f.to_bits()),
        });
    });
}

/// `ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }` for one batch.
/// `chunks` holds the finished spans of `#[trace_span]`'s fast path.
pub(crate) fn export_request(resource: &Resource, spans: &[SpanRecord], chunks: &[Chunk]) -> Vec<u8> {
    let fast_spans: usize = chunks.iter().map(|chunk| chunk.spans.len()).sum();
    let mut out = Vec::with_capacity(256 + (spans.len() + fast_spans) * 128);
    message(&mut out, 1, |rs| {
        // ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
        message(rs, 1, |res| {
            for (name, value) in &resource.attributes {
                key_value(res, 1, name, &AttrValue::Str(value.clone()));
            }
        });
        message(rs, 2, |ss| {
            // ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
            message(ss, 1, |scope| {
                string(scope, 1, "audit-runtime");
                string(scope, 2, env!("CARGO_PKG_VERSION"));
            });
            for span in spans {
                message(ss, 2, |out| encode_span(out, span));
            }
            for chunk in chunks {
                for span in &chunk.spans {
                    encode_fast_span(ss, span, &chunk.bodies[span.body.clone()]);
                }
            }
        });
    });
    out
}

fn encode_span(out: &mut Vec<u8>, span: &SpanRecord) {
    bytes(out, 1, &span.trace_id.to_be_bytes());
    bytes(out, 2, &span.span_id.to_be_bytes());
    if span.parent_span_id != 0 {
        bytes(out, 4, &span.parent_span_id.to_be_bytes());
    }
    string(out, 5, span.name());
    // SpanKind: INTERNAL = 1.
    uint(out, 6, 1);
    fixed64(out, 7, span.start_unix_nano);
    fixed64(out, 8, span.end_unix_nano);
    for (name, value) in &span.attributes {
        key_value(out, 9, name, value);
    }
    let Some(extra) = &span.extra else {
        return encode_flags(out);
    };
    for event in &extra.events {
        message(out, 11, |out| encode_event(out, event));
    }
    for (trace_id, span_id) in &extra.links {
        // Link { bytes trace_id = 1; bytes span_id = 2; }
        message(out, 13, |link| {
            bytes(link, 1, &trace_id.to_be_bytes());
            bytes(link, 2, &span_id.to_be_bytes());
        });
    }
    // Status { string message = 2; StatusCode code = 3; } with ERROR = 2.
    if let Status::Error(description) = &extra.status {
        message(out, 15, |status| {
            string(status, 2, description);
            uint(status, 3, 2);
        });
    }
    encode_flags(out);
}

/// A span of the fast path, as a `ScopeSpans.spans` field: the header, then the fields, events
/// and links it recorded, then its status.
pub(crate) fn encode_fast_span(out: &mut Vec<u8>, span: &Finished, body: &[u8]) {
    // The fixed fields are written into a stack buffer with their length computed first: no
    // capacity check per byte and no length patched afterwards.
    let name = span.name();
    let status = span.status();
    let status_len = status.map(|description| {
        let inner =
            if description.is_empty() { 0 } else { 1 + varint_len(description.len() as u64) + description.len() };
        inner + 2
    });
    let name_len = if name.is_empty() { 0 } else { 1 + varint_len(name.len() as u64) + name.len() };
    let parent_len = if span.parent_span_id != 0 { 10 } else { 0 };
    let len = 18
        + 10
        + parent_len
        + name_len
        + 2
        + 9
        + 9
        + body.len()
        + status_len.map_or(0, |l| 1 + varint_len(l as u64) + l)
        + 6;
    let mut head = Head::default();
    head.put(&[(2 << 3) | LEN]);
    head.varint(len as u64);
    head.put(&[(1 << 3) | LEN, 16]);
    head.put(&span.trace_id.to_be_bytes());
    head.put(&[(2 << 3) | LEN, 8]);
    head.put(&span.span_id.to_be_bytes());
    if span.parent_span_id != 0 {
        head.put(&[(4 << 3) | LEN, 8]);
        head.put(&span.parent_span_id.to_be_bytes());
    }
    out.reserve(head.len + len);
    out.extend_from_slice(head.bytes());
    string(out, 5, name);
    let mut tail = Head::default();
    // SpanKind: INTERNAL = 1.
    tail.put(&[6 << 3, 1]);
    tail.put(&[(7 << 3) | FIXED64]);
    tail.put(&span.start_unix_nano.to_le_bytes());
    tail.put(&[(8 << 3) | FIXED64]);
    tail.put(&span.end_unix_nano.to_le_bytes());
    out.extend_from_slice(tail.bytes());
    out.extend_from_slice(body);
    if let Some(description) = status {
        message(out, 15, |status| {
            string(status, 2, description);
            uint(status, 3, 2);
        });
    }
    encode_flags(out);
}

fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// A few bytes put together on the stack.
struct Head {
    buf: [u8; 64],
    len: usize,
}

impl Default for Head {
    fn default() -> Self {
        Head { buf: [0; 64], len: 0 }
    }
}

impl Head {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    #[inline]
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.put(&[(value as u8) | 0x80]);
            value >>= 7;
        }
        self.put(&[value as u8]);
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// `repeated Link links = 13` of a span being recorded.
pub(crate) fn encode_link(out: &mut Vec<u8>, trace_id: u128, span_id: u64) {
    message(out, 13, |link| {
        bytes(link, 1, &trace_id.to_be_bytes());
        bytes(link, 2, &span_id.to_be_bytes());
    });
}

/// `repeated Event events = 11` of a span being recorded.
pub(crate) fn encode_event_field(out: &mut Vec<u8>, event: &EventRecord) {
    message(out, 11, |out| encode_event(out, event));
}

/// Writes the fields of a span as `repeated KeyValue attributes = 9`, typed, straight into the
/// span's buffer (no allocation per field).
pub(crate) struct AttrEncoder<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    pub(crate) name_override: &'a mut Option<String>,
}

impl AttrEncoder<'_> {
    /// `KeyValue { key = 1; AnyValue value = 2 }` with `value` writing the `AnyValue` fields.
    #[inline]
    fn put(&mut self, field: &Field, value: impl FnOnce(&mut Vec<u8>)) {
        message(self.out, 9, |kv| {
            string(kv, 1, field.name());
            message(kv, 2, value);
        });
    }

    fn text(&mut self, field: &Field, write: impl Fn(&mut TextWriter<'_>) -> fmt::Result) {
        match field.name() {
            OTEL_NAME => {
                let mut name = Vec::new();
                let _ = write(&mut TextWriter(&mut name));
                *self.name_override = Some(String::from_utf8_lossy(&name).into_owned());
            }
            // Exporter instructions, not data (a remote parent is not taken from a function).
            OTEL_TRACEPARENT => {}
            _ => self.put(field, |any| {
                // string_value = 1
                message(any, 1, |text| {
                    let _ = write(&mut TextWriter(text));
                });
            }),
        }
    }
}

/// Formats text straight into the buffer.
struct TextWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for TextWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Visit for AttrEncoder<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, |any| fixed64(any, 4, value.to_bits()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, |any| {
            key(any, 3, VARINT);
            varint(any, value as u64);
        });
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
        self.put(field, |any| {
            key(any, 2, VARINT);
            varint(any, u64::from(value));
        });
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, |w| w.write_str(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.text(field, |w| write!(w, "{}", ErrorChain(value)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, |w| write!(w, "{value:?}"));
    }
}

/// `fixed32 flags = 16`: the W3C trace flags (sampled) in the low byte.
fn encode_flags(out: &mut Vec<u8>) {
    key(out, 16, 5);
    out.extend_from_slice(&1u32.to_le_bytes());
}

/// `Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }`
fn encode_event(out: &mut Vec<u8>, event: &EventRecord) {
    fixed64(out, 1, event.time_unix_nano);
    string(out, 2, &event.name);
    for (name, value) in &event.attributes {
        key_value(out, 3, name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_nested_messages_get_a_longer_length_prefix() {
        let mut out = Vec::new();
        message(&mut out, 1, |body| body.extend_from_slice(&[7; 300]));
        assert_eq!(&out[..3], [0x0a, 0xac, 0x02]);
        assert_eq!(out.len(), 3 + 300);
        let mut out = Vec::new();
        message(&mut out, 1, |body| body.extend_from_slice(&[7; 5]));
        assert_eq!(&out[..2], [0x0a, 5]);
    }

    #[test]
    fn varint_lengths_match_the_encoding() {
        for value in [0, 1, 127, 128, 300, 16_383, 16_384, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            varint(&mut out, value);
            assert_eq!(varint_len(value), out.len(), "{value}");
        }
    }

    #[test]
    fn varints_are_little_endian_base_128() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
    }
}
