//! The console line, for people: `TIME LEVEL event key=value ... [logger]`, coloured when asked.

use std::error::Error;
use std::fmt::{self, Write as _};
use std::io::Write as _;

use tracing_core::Metadata;

use super::format::{self, ControlEscapingWriter};
use super::layer::{LineFormat, LineLevel, LineParts};
use super::values::ErrorChain;

/// Writes readable lines; `ansi` turns colours on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConsoleFormat {
    pub(crate) ansi: bool,
}

impl LineFormat for ConsoleFormat {
    /// ` key=`, dimmed when coloured; a key the layer writes itself is kept as `field.<key>`.
    fn push_key(&self, out: &mut Vec<u8>, key: &str, _plain: bool, renamed: bool) {
        out.push(b' ');
        if self.ansi {
            out.extend_from_slice(b"\x1b[2m");
        }
        if renamed {
            out.extend_from_slice(b"field.");
        }
        format::escape_into(out, key);
        out.push(b'=');
        if self.ansi {
            out.extend_from_slice(b"\x1b[0m");
        }
    }

    /// Shown bare unless it would be ambiguous (empty, or holding a space, `=` or `"`).
    fn push_string(&self, out: &mut Vec<u8>, value: &str) {
        if value.is_empty() || value.contains([' ', '=', '"']) {
            format::push_str(out, value);
        } else {
            format::escape_controls_into(out, value);
        }
    }

    fn push_escaped_string(&self, out: &mut Vec<u8>, escaped: &[u8]) {
        out.extend_from_slice(escaped);
    }

    fn push_text(&self, out: &mut Vec<u8>, text: &str) {
        format::escape_controls_into(out, text);
    }

    fn push_debug_text(&self, out: &mut Vec<u8>, value: &dyn fmt::Debug) {
        let _ = write!(ControlEscapingWriter(out), "{value:?}");
    }

    fn push_debug_value(&self, out: &mut Vec<u8>, value: &dyn fmt::Debug) {
        self.push_debug_text(out, value);
    }

    fn push_error(&self, out: &mut Vec<u8>, error: &(dyn Error + 'static)) {
        self.push_string(out, &ErrorChain(error).to_string());
    }

    /// A span value (JSON text): strings without their quotes when unambiguous.
    fn push_span_value(&self, out: &mut Vec<u8>, json: &[u8]) {
        let bytes = json;
        let plain_string = bytes.len() >= 2
            && bytes[0] == b'"'
            && bytes[bytes.len() - 1] == b'"'
            && !bytes[1..bytes.len() - 1].iter().any(|b| matches!(b, b' ' | b'=' | b'\\'));
        if plain_string {
            out.extend_from_slice(&bytes[1..bytes.len() - 1]);
        } else {
            out.extend_from_slice(bytes);
        }
    }

    fn push_hex_id(&self, out: &mut Vec<u8>, id: u128, width: usize) {
        let _ = write!(out, "{id:0width$x}");
    }

    /// `TIME LEVEL event` own fields, context fields, `[logger]`.
    fn write_line(&self, line: &mut Vec<u8>, parts: &LineParts<'_>, meta: &Metadata<'_>) {
        let ansi = self.ansi;
        let (dim, bold, reset) = if ansi { ("\x1b[2m", "\x1b[1m", "\x1b[0m") } else { ("", "", "") };
        let colour = match parts.level {
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
        let _ = write!(line, " {colour}{:<8}{reset} {bold}", parts.level.name());
        line.extend_from_slice(parts.name);
        line.extend_from_slice(reset.as_bytes());
        line.extend_from_slice(parts.own_fields);
        line.extend_from_slice(parts.context);
        let _ = write!(line, " {dim}[");
        format::escape_into(line, meta.module_path().unwrap_or_else(|| meta.target()));
        let _ = writeln!(line, "]{reset}");
    }
}
