//! The span-field cache: each span's fields, encoded as JSON once when recorded, kept in the
//! span's extensions and flattened into every line written inside the span. Read by the line
//! layers, by `context` (the bound request and user ids) and by the span exporter.

use std::error::Error;
use std::fmt;

use tracing_core::field::{Field, Visit};

use super::format;
use super::values::{push_debug_value, push_error_chain};

/// The fields recorded on a span, each value already encoded as JSON; kept in the span's
/// extensions (by whichever of our layers sees the span first).
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
