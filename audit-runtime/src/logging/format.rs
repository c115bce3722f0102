//! The byte-level pieces of a JSON line: string escaping, numbers and the fixed-width timestamp.
//!
//! Everything here appends to a `Vec<u8>` that the caller reuses, so a line is built without
//! allocating once the buffer has grown to its working size.

use std::cell::Cell;
use std::fmt;
#[cfg(test)]
use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes that must be escaped inside a JSON string: `"`, `\`, the C0 controls and DEL (escaped
/// too so that a terminal showing the line never sees a raw control byte).
const fn needs_escape_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0x7f] = true;
    table
}
static NEEDS_ESCAPE: [bool; 256] = needs_escape_table();

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as the inside of a JSON string (no surrounding quotes).
///
/// Rust strings are valid UTF-8, so the only work is escaping. Most values need none: they are
/// checked eight bytes at a time and copied in one go. U+2028 and U+2029 are escaped as well,
/// so a line can be embedded in JavaScript.
#[inline]
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if !needs_escaping(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    escape_slow(out, bytes);
}

/// Whether any byte needs escaping (or is 0xE2, which may start U+2028/U+2029).
#[inline]
pub(crate) fn needs_escaping(bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len < 8 {
        return bytes.iter().any(|&b| NEEDS_ESCAPE[b as usize] || b == 0xE2);
    }
    let load = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    let mut at = 0;
    while at + 8 <= len {
        if chunk_needs_attention(load(at)) {
            return true;
        }
        at += 8;
    }
    // The last bytes as one overlapping load: no padding through memory (a store-forwarding
    // stall that cost more than the whole check).
    at < len && chunk_needs_attention(load(len - 8))
}

#[cold]
fn escape_slow(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if NEEDS_ESCAPE[b as usize] {
            out.extend_from_slice(&bytes[start..i]);
            push_escaped_byte(out, b);
            start = i + 1;
        } else if b == 0xE2 && bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) {
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(if bytes[i + 2] == 0xA8 { b"\\u2028" } else { b"\\u2029" });
            i += 3;
            start = i;
            continue;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `chunk` is below `n` (exact for `n <= 128`).
#[inline(always)]
const fn has_byte_below(chunk: u64, n: u8) -> bool {
    chunk.wrapping_sub(ONES * n as u64) & !chunk & HIGHS != 0
}

/// Whether any byte of `chunk` equals `b`.
#[inline(always)]
const fn has_byte(chunk: u64, b: u8) -> bool {
    let x = chunk ^ (ONES * b as u64);
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

/// Whether a chunk holds a byte to escape, or 0xE2 (which may start U+2028 or U+2029).
#[inline(always)]
const fn chunk_needs_attention(chunk: u64) -> bool {
    has_byte_below(chunk, 0x20)
        | has_byte(chunk, b'"')
        | has_byte(chunk, b'\\')
        | has_byte(chunk, 0x7f)
        | has_byte(chunk, 0xE2)
}

#[cold]
fn push_escaped_byte(out: &mut Vec<u8>, b: u8) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]),
    }
}

/// Appends `s` as a complete JSON string, quotes included.
#[inline]
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape_into(out, s);
    out.push(b'"');
}

/// A `fmt::Write` that escapes what it is given straight into the line buffer, so `Debug` and
/// `Display` values never need an intermediate `String`.
pub(crate) struct EscapingWriter<'a>(pub(crate) &'a mut Vec<u8>);

impl fmt::Write for EscapingWriter<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

/// Appends `s` for a person's terminal: control bytes (which could move the cursor or recolour
/// the screen) are shown escaped; quotes and backslashes are left as they are.
pub(crate) fn escape_controls_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b < 0x20 || b == 0x7f {
            out.extend_from_slice(&bytes[start..i]);
            push_escaped_byte(out, b);
            start = i + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// A `fmt::Write` that escapes control bytes only, for the console format.
pub(crate) struct ControlEscapingWriter<'a>(pub(crate) &'a mut Vec<u8>);

impl fmt::Write for ControlEscapingWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_controls_into(self.0, s);
        Ok(())
    }
}

/// A `fmt::Write` that appends text unescaped (for scratch buffers).
pub(crate) struct RawWriter<'a>(pub(crate) &'a mut Vec<u8>);

impl fmt::Write for RawWriter<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[inline]
pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

#[inline]
pub(crate) fn push_i128(out: &mut Vec<u8>, v: i128) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

#[inline]
pub(crate) fn push_u128(out: &mut Vec<u8>, v: u128) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a float as a JSON number. JSON has no NaN or infinity: those are written as the
/// strings `"NaN"`, `"inf"` and `"-inf"` so that the line still parses and the value is not lost.
#[inline]
pub(crate) fn push_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        out.extend_from_slice(b"\"inf\"");
    } else {
        out.extend_from_slice(b"\"-inf\"");
    }
}

#[inline]
pub(crate) fn push_bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

thread_local! {
    /// The whole seconds last formatted on this thread and their `YYYY-MM-DDTHH:MM:SS` text:
    /// most lines fall in the same second as the one before, so the date arithmetic is skipped.
    static LAST_SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// Appends the current UTC time as RFC 3339 with exactly six fractional digits and `Z`.
#[inline]
pub(crate) fn push_timestamp_now(out: &mut Vec<u8>) {
    let nanos = crate::clock::unix_nano();
    push_unix_micros(out, nanos / 1_000_000_000, (nanos % 1_000_000_000 / 1_000) as u32);
}

/// Appends `at` as RFC 3339 UTC, microseconds, `Z`. Times before 1970 are written as the epoch.
#[cfg(test)]
pub(crate) fn push_timestamp(out: &mut Vec<u8>, at: SystemTime) {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    push_unix_micros(out, since_epoch.as_secs(), since_epoch.subsec_micros());
}

#[inline]
fn push_unix_micros(out: &mut Vec<u8>, secs: u64, micros: u32) {
    let prefix = LAST_SECOND.with(|cache| {
        let (cached_secs, text) = cache.get();
        if cached_secs == secs {
            text
        } else {
            let text = format_seconds(secs);
            cache.set((secs, text));
            text
        }
    });
    let mut fraction = [b'.', b'0', b'0', b'0', b'0', b'0', b'0', b'Z'];
    let mut m = micros;
    for slot in fraction[1..7].iter_mut().rev() {
        *slot = b'0' + (m % 10) as u8;
        m /= 10;
    }
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&fraction);
}

/// `YYYY-MM-DDTHH:MM:SS` for seconds since the Unix epoch (UTC).
fn format_seconds(secs: u64) -> [u8; 19] {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let (h, mi, s) = ((rem / 3600) as u8, ((rem % 3600) / 60) as u8, (rem % 60) as u8);
    let mut t = *b"0000-00-00T00:00:00";
    let year = year.clamp(0, 9999) as u32;
    t[0] = b'0' + (year / 1000) as u8;
    t[1] = b'0' + (year / 100 % 10) as u8;
    t[2] = b'0' + (year / 10 % 10) as u8;
    t[3] = b'0' + (year % 10) as u8;
    two_digits(&mut t[5..7], month);
    two_digits(&mut t[8..10], day);
    two_digits(&mut t[11..13], h);
    two_digits(&mut t[14..16], mi);
    two_digits(&mut t[17..19], s);
    t
}

fn two_digits(slot: &mut [u8], v: u8) {
    slot[0] = b'0' + v / 10;
    slot[1] = b'0' + v % 10;
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(escaped("a\"b\\c\n\t\r\u{0}\u{1b}\u{7f}"), r#""a\"b\\c\n\t\r\u0000\u001b\u007f""#);
        assert_eq!(escaped("line\u{2028}sep\u{2029}"), r#""line\u2028sep\u2029""#);
        assert_eq!(escaped("héllo ✓"), "\"héllo ✓\"");
        // Escapes found at every offset of the eight-byte scan, and in long plain runs.
        for offset in 0..20 {
            let plain = "p".repeat(offset);
            assert_eq!(escaped(&format!("{plain}\n{plain}")), format!("\"{plain}\\n{plain}\""));
            assert_eq!(escaped(&format!("{plain}\u{2028}")), format!("\"{plain}\\u2028\""));
            assert_eq!(escaped(&format!("{plain}\u{e200}x")), format!("\"{plain}\u{e200}x\""));
        }
    }

    #[test]
    fn console_text_escapes_control_bytes_only() {
        let mut out = Vec::new();
        escape_controls_into(&mut out, "say \"hi\" \\ \u{1b}[31mred\nnext");
        assert_eq!(std::str::from_utf8(&out).unwrap(), "say \"hi\" \\ \\u001b[31mred\\nnext");
    }

    #[test]
    fn timestamps_have_fixed_width_and_known_values() {
        let mut out = Vec::new();
        push_timestamp(&mut out, UNIX_EPOCH + Duration::new(1_747_663_760, 339_166_999));
        assert_eq!(std::str::from_utf8(&out).unwrap(), "2025-05-19T14:09:20.339166Z");
        out.clear();
        push_timestamp(&mut out, UNIX_EPOCH + Duration::new(951_782_400, 5_000)); // leap day 2000
        assert_eq!(std::str::from_utf8(&out).unwrap(), "2000-02-29T00:00:00.000005Z");
        out.clear();
        push_timestamp(&mut out, UNIX_EPOCH);
        assert_eq!(out.len(), "2025-05-19T14:09:20.339166Z".len());
        assert_eq!(std::str::from_utf8(&out).unwrap(), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn non_finite_floats_stay_valid_json() {
        for (v, text) in
            [(f64::NAN, "\"NaN\""), (f64::INFINITY, "\"inf\""), (f64::NEG_INFINITY, "\"-inf\""), (1.5, "1.5")]
        {
            let mut out = Vec::new();
            push_f64(&mut out, v);
            assert_eq!(std::str::from_utf8(&out).unwrap(), text);
        }
    }
}
