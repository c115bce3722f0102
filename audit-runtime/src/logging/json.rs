//! The JSON line: one object per event, in the schema's key order.

use std::error::Error;
use std::fmt;
use std::io::Write as _;

use tracing_core::Metadata;

use super::format::{self, EscapingWriter};
use super::layer::{LineFormat, LineParts};
use super::values::{push_debug_value, push_error_chain};

/// Writes lines as JSON objects.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct JsonFormat;

impl LineFormat for JsonFormat {
    const FIELDS_LEAD: bool = true;

    /// `,"key":` (the line drops the first comma); a key the layer writes itself is kept as
    /// `field.<key>`.
    #[inline]
    fn push_key(&self, out: &mut Vec<u8>, key: &str, plain: bool, renamed: bool) {
        out.extend_from_slice(b",\"");
        if plain {
            out.extend_from_slice(key.as_bytes());
        } else {
            if renamed {
                out.extend_from_slice(b"field.");
            }
            format::escape_into(out, key);
        }
        out.extend_from_slice(b"\":");
    }

    #[inline]
    fn push_string(&self, out: &mut Vec<u8>, value: &str) {
        format::push_str(out, value);
    }

    fn push_escaped_string(&self, out: &mut Vec<u8>, escaped: &[u8]) {
        out.push(b'"');
        out.extend_from_slice(escaped);
        out.push(b'"');
    }

    #[inline]
    fn push_text(&self, out: &mut Vec<u8>, text: &str) {
        format::escape_into(out, text);
    }

    fn push_debug_text(&self, out: &mut Vec<u8>, value: &dyn fmt::Debug) {
        let _ = fmt::Write::write_fmt(&mut EscapingWriter(out), format_args!("{value:?}"));
    }

    fn push_debug_value(&self, out: &mut Vec<u8>, value: &dyn fmt::Debug) {
        push_debug_value(out, value);
    }

    fn push_error(&self, out: &mut Vec<u8>, error: &(dyn Error + 'static)) {
        push_error_chain(out, error);
    }

    #[inline]
    fn push_span_value(&self, out: &mut Vec<u8>, json: &[u8]) {
        out.extend_from_slice(json);
    }

    fn push_hex_id(&self, out: &mut Vec<u8>, id: u128, width: usize) {
        let _ = write!(out, "\"{id:0width$x}\"");
    }

    /// The whole line, in the schema's order:
    ///
    /// `{` the event's own fields, `event`, the context (trace ids, then the fields of
    /// enclosing spans, innermost first), `timestamp`, `logger`, `level`, `source` `}`.
    fn write_line(&self, line: &mut Vec<u8>, parts: &LineParts<'_>, meta: &Metadata<'_>) {
        // The own fields are in the line already, each after a comma: the first becomes `{`.
        match line.first_mut() {
            Some(first) => {
                *first = b'{';
                line.push(b',');
            }
            None => line.push(b'{'),
        }
        line.extend_from_slice(b"\"event\":\"");
        line.extend_from_slice(parts.name);
        line.push(b'"');
        line.extend_from_slice(parts.context);
        line.extend_from_slice(b",\"timestamp\":\"");
        format::push_timestamp_now(line);
        line.extend_from_slice(b"\",\"logger\":\"");
        format::escape_into(line, meta.module_path().unwrap_or_else(|| meta.target()));
        line.extend_from_slice(b"\",\"level\":\"");
        line.extend_from_slice(parts.level.name().as_bytes());
        line.extend_from_slice(b"\",\"source\":\"");
        line.extend_from_slice(parts.source);
        line.extend_from_slice(b"\"}\n");
    }
}
