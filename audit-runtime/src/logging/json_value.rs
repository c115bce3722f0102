//! Nested JSON values through `tracing`.
//!
//! `tracing` records only primitives, `Display` and `Debug`. [`JsonValue`] wraps any `Serialize`
//! value: its `Debug` output is the value's JSON text, and it tells our layer (through a
//! thread-local flag) that the text is JSON, so the layer writes it as a nested value instead of
//! a quoted string. Other layers (for example `tracing_subscriber::fmt`) just print the JSON text.

use std::cell::Cell;
use std::fmt;

use serde::Serialize;

/// What a redacted value is replaced with, everywhere: log lines, the audit store, spans, mail.
pub const REDACTED: &str = "[redacted]";

thread_local! {
    /// Bytes of JSON the last [`JsonValue`] formatted on this thread wrote; `usize::MAX` when
    /// none did. The layer compares it with the length of the whole `Debug` output, so a
    /// `JsonValue` nested inside some other `Debug` text is never mistaken for raw JSON.
    static JSON_LEN: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// A `Serialize` value recorded as a `tracing` field; our JSON layer writes it as nested JSON.
///
/// ```
/// use audit_runtime::logging::JsonValue;
/// let attributes = serde_json::json!({"zaaktype": "https://example.org/1"});
/// tracing::info!(additional_attributes = ?JsonValue(&attributes), "notification_received");
/// ```
pub struct JsonValue<'a, T: ?Sized>(pub &'a T);

impl<T: Serialize + ?Sized> fmt::Debug for JsonValue<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Adapter<'a, 'b> {
            f: &'a mut fmt::Formatter<'b>,
            written: usize,
        }
        impl std::io::Write for Adapter<'_, '_> {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                // serde_json only ever writes complete UTF-8 sequences per call.
                let s = std::str::from_utf8(buf).map_err(std::io::Error::other)?;
                self.f.write_str(s).map_err(std::io::Error::other)?;
                self.written += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut adapter = Adapter { f, written: 0 };
        match serde_json::to_writer(&mut adapter, self.0) {
            Ok(()) => {
                JSON_LEN.with(|len| len.set(adapter.written));
                Ok(())
            }
            // A value that cannot be serialized (a map with non-string keys, a failing
            // `Serialize` impl) is logged as the error text, never silently dropped.
            Err(e) => write!(adapter.f, "<unserializable: {e}>"),
        }
    }
}

/// Forgets any earlier [`JsonValue`] before a `Debug` value is formatted.
pub(crate) fn reset_json_len() {
    JSON_LEN.with(|len| len.set(usize::MAX));
}

/// Whether a `Debug` output of `total_len` bytes, formatted since [`reset_json_len`], is
/// exactly one [`JsonValue`]'s JSON text.
pub(crate) fn output_is_json(total_len: usize) -> bool {
    JSON_LEN.with(|len| len.replace(usize::MAX)) == total_len
}
