//! Field values as the line's text, shared by span fields and events: `Debug` values (nested
//! JSON when they are a [`JsonValue`](super::JsonValue)) and errors with their source chain.

use std::cell::RefCell;
use std::error::Error;
use std::fmt::{self, Write as _};

use super::format::{self, EscapingWriter, RawWriter};
use super::json_value;

/// Past this, a per-thread buffer is given back after the line (a 50 MB field must not stay
/// allocated on every thread that once logged one).
pub(crate) const RETAINED_CAPACITY: usize = 64 * 1024;

/// Shrinks `buffer` back to `keep` bytes when one line made it grow past [`RETAINED_CAPACITY`].
#[inline]
pub(crate) fn shrink_if_huge(buffer: &mut Vec<u8>, keep: usize) {
    if buffer.capacity() > RETAINED_CAPACITY {
        buffer.clear();
        buffer.shrink_to(keep);
    }
}

thread_local! {
    /// `Debug` output, before we know whether it is JSON or text.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(SCRATCH_CAPACITY));
}

const SCRATCH_CAPACITY: usize = 128;

/// Writes a `Debug` value: nested JSON when it is a [`json_value::JsonValue`], else a string.
pub(crate) fn push_debug_value(out: &mut Vec<u8>, value: &dyn fmt::Debug) {
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
            shrink_if_huge(&mut scratch, SCRATCH_CAPACITY);
        }
        // A `Debug` impl that itself logs: format it as a plain string.
        Err(_) => {
            out.push(b'"');
            let _ = write!(EscapingWriter(out), "{value:?}");
            out.push(b'"');
        }
    });
}

/// The capacity of this thread's scratch buffer (for tests of [`shrink_if_huge`]).
#[cfg(test)]
pub(crate) fn scratch_capacity() -> usize {
    SCRATCH.with(|scratch| scratch.borrow().capacity())
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
pub(crate) fn push_error_chain(out: &mut Vec<u8>, error: &(dyn Error + 'static)) {
    out.push(b'"');
    let _ = write!(EscapingWriter(out), "{}", ErrorChain(error));
    out.push(b'"');
}
