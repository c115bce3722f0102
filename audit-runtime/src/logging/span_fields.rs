//! The span-field cache's writer: each span's fields, encoded as JSON once when recorded, kept
//! in the span's extensions (as `context::fields::SpanFields`) or, for a span `#[trace_span]`
//! records itself, in its entry on the per-thread context (`context::fields::FlatFields`), and
//! flattened into every line written inside the span.

use std::error::Error;
use std::fmt;

use tracing_core::field::{Field, Visit};

use crate::context::fields::FlatFields;
pub(crate) use crate::context::fields::SpanFields;

use super::format;
use super::values::{push_debug_value, push_error_chain};

/// Where a span's encoded field values are kept.
pub(crate) trait FieldStore {
    /// Keeps the value `write` writes as `key`'s.
    fn encode(&mut self, key: &'static str, write: impl FnOnce(&mut Vec<u8>));
}

impl FieldStore for SpanFields {
    fn encode(&mut self, key: &'static str, write: impl FnOnce(&mut Vec<u8>)) {
        let mut out = Vec::new();
        write(&mut out);
        // Everything the encoders write is valid UTF-8 (escaped JSON text).
        let text = String::from_utf8(out).unwrap_or_default();
        self.set(key, text);
    }
}

impl FieldStore for FlatFields {
    #[inline]
    fn encode(&mut self, key: &'static str, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.text);
        self.end_value(key);
    }
}

/// Records span fields as JSON values.
pub(crate) struct SpanFieldVisitor<'a, T = SpanFields> {
    pub(crate) fields: &'a mut T,
}

impl<T: FieldStore> SpanFieldVisitor<'_, T> {
    #[inline]
    fn encode(&mut self, field: &Field, write: impl FnOnce(&mut Vec<u8>)) {
        // `otel.*` fields steer the span exporter (its name, a remote parent): not log data.
        if field.name().starts_with("otel.") {
            return;
        }
        self.fields.encode(field.name(), write);
    }
}

impl<T: FieldStore> Visit for SpanFieldVisitor<'_, T> {
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
