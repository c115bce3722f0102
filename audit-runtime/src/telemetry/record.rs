//! The compact record of one span, filled by the layer on the caller's thread and encoded by
//! the exporter thread.

use std::error::Error;
use std::fmt::{self, Write as _};

use tracing_core::field::{Field, Visit};

use crate::logging::layer::ErrorChain;
use crate::trace::{OTEL_NAME, OTEL_TRACEPARENT};

/// An attribute value with its OTLP type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AttrValue {
    Str(String),
    Bool(bool),
    I64(i64),
    F64(f64),
}

/// A span's status as OTLP knows it (`OK` is never set by instrumentation).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Status {
    #[default]
    Unset,
    Error(String),
}

/// An event recorded inside a span.
#[derive(Debug)]
pub(crate) struct EventRecord {
    pub(crate) time_unix_nano: u64,
    pub(crate) name: String,
    pub(crate) attributes: Vec<(&'static str, AttrValue)>,
}

/// One span, as the exporter needs it. Kept small (what every span has), because it is moved
/// from the span's extensions into the queue: the rarer parts live behind one box.
#[derive(Debug)]
pub(crate) struct SpanRecord {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    /// Zero for a root span.
    pub(crate) parent_span_id: u64,
    pub(crate) static_name: &'static str,
    pub(crate) start_unix_nano: u64,
    pub(crate) end_unix_nano: u64,
    pub(crate) attributes: Vec<(&'static str, AttrValue)>,
    pub(crate) extra: Option<Box<Extra>>,
}

/// What only some spans have.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    /// Set by an `otel.name` field.
    pub(crate) name_override: Option<String>,
    pub(crate) events: Vec<EventRecord>,
    pub(crate) links: Vec<(u128, u64)>,
    pub(crate) status: Status,
}

impl SpanRecord {
    pub(crate) fn name(&self) -> &str {
        self.extra.as_ref().and_then(|e| e.name_override.as_deref()).unwrap_or(self.static_name)
    }

    pub(crate) fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Sets the exported name when `name` is some.
    pub(crate) fn rename(&mut self, name: Option<String>) {
        if name.is_some() {
            self.extra().name_override = name;
        }
    }
}

/// The process's resource attributes (`service.name` first).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Resource {
    pub(crate) attributes: Vec<(String, String)>,
}

/// Where a visitor puts what it reads.
pub(crate) struct AttrVisitor<'a> {
    pub(crate) attributes: &'a mut Vec<(&'static str, AttrValue)>,
    pub(crate) name_override: Option<&'a mut Option<String>>,
    pub(crate) traceparent: Option<&'a mut Option<String>>,
    /// An event's name (its `message`, or its `event` field).
    pub(crate) message: Option<&'a mut Option<String>>,
}

impl AttrVisitor<'_> {
    fn put(&mut self, field: &Field, value: AttrValue) {
        let name = field.name();
        if name == OTEL_NAME
            || name == OTEL_TRACEPARENT
            || ((name == "message" || name == "event") && self.message.is_some())
        {
            let AttrValue::Str(text) = value else { return };
            let slot = match name {
                OTEL_NAME => self.name_override.as_deref_mut(),
                OTEL_TRACEPARENT => self.traceparent.as_deref_mut(),
                // The `event` field names a typed event; a message names the others.
                "event" => self.message.as_deref_mut(),
                _ => match self.message.as_deref_mut() {
                    Some(slot) if slot.is_none() => Some(slot),
                    _ => {
                        self.attributes.push(("message", AttrValue::Str(text)));
                        return;
                    }
                },
            };
            if let Some(slot) = slot {
                *slot = Some(text);
            }
            return;
        }
        match self.attributes.iter_mut().find(|(k, _)| *k == name) {
            Some(entry) => entry.1 = value,
            None => self.attributes.push((name, value)),
        }
    }
}

impl Visit for AttrVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, AttrValue::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, AttrValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        // OTLP integers are signed 64-bit; larger values keep their digits as text.
        match i64::try_from(value) {
            Ok(v) => self.put(field, AttrValue::I64(v)),
            Err(_) => self.put(field, AttrValue::Str(value.to_string())),
        }
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(v) => self.put(field, AttrValue::I64(v)),
            Err(_) => self.put(field, AttrValue::Str(value.to_string())),
        }
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        match i64::try_from(value) {
            Ok(v) => self.put(field, AttrValue::I64(v)),
            Err(_) => self.put(field, AttrValue::Str(value.to_string())),
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, AttrValue::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, AttrValue::Str(value.to_owned()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.put(field, AttrValue::Str(ErrorChain(value).to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.put(field, AttrValue::Str(text));
    }
}

/// The text a failed span's status carries: the `error` (or `exception`) field of an error
/// event, else its message.
pub(crate) struct ErrorDescription(pub(crate) Option<String>);

impl Visit for ErrorDescription {
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        if matches!(field.name(), "error" | "exception") {
            self.0 = Some(value.to_string());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if matches!(field.name(), "error" | "exception") || (field.name() == "message" && self.0.is_none()) {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "error" | "exception") || (field.name() == "message" && self.0.is_none()) {
            self.0 = Some(format!("{value:?}"));
        }
    }
}
