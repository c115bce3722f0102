//! Turning a panic in a handler into a value: its message, where it happened and the backtrace.
//!
//! A panic's payload carries only its message; the place and the backtrace exist only while the
//! panic hook runs. [`install_hook`] adds a hook (once per process) that, on a thread inside
//! [`catch`], keeps them for `catch` to return. Such a panic becomes one JSON line
//! (`api.uncaught_exception`), so the hook installed before ours (the default one prints
//! `thread '...' panicked at` and more lines on stderr) is not called for it, unless
//! [`print_panics_to_stderr`] asks for it. Panics outside requests reach that hook as usual. A
//! hook installed later that does not chain to ours leaves the backtrace out.

use std::any::Any;
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a panic inside a request also reaches the previous panic hook (stderr).
static PRINT_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Whether a panic inside a request is also printed by the previous panic hook (by default
/// Rust's own, on stderr), besides its `api.uncaught_exception` line. Off by default, so that
/// every line of a service's output is JSON.
pub fn print_panics_to_stderr(yes: bool) {
    PRINT_TO_STDERR.store(yes, Ordering::Relaxed);
}

thread_local! {
    /// How many [`catch`] calls are running on this thread.
    static CATCH_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// What the hook saw of the last panic on this thread inside a [`catch`].
    static LAST_PANIC: RefCell<Option<HookRecord>> = const { RefCell::new(None) };
}

struct HookRecord {
    location: String,
    backtrace: Backtrace,
}

/// Installs the capturing hook, chained to the current one; later calls do nothing.
pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCH_DEPTH.with(Cell::get) > 0 {
                let location = info.location().map_or_else(|| "<unknown>".to_owned(), ToString::to_string);
                // Only inside a request: other panics of the process cost nothing extra.
                let record = HookRecord { location, backtrace: Backtrace::force_capture() };
                LAST_PANIC.with(|last| *last.borrow_mut() = Some(record));
                if !PRINT_TO_STDERR.load(Ordering::Relaxed) {
                    return;
                }
            }
            previous(info);
        }));
    });
}

/// A panic caught by [`catch`].
pub(crate) struct CaughtPanic {
    /// The panic's message.
    pub(crate) message: String,
    /// The message, the place and the backtrace, as one text (the line's `exception`).
    pub(crate) exception: String,
}

impl fmt::Debug for CaughtPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaughtPanic").field("message", &self.message).finish_non_exhaustive()
    }
}

/// Runs `f`, catching a panic.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, CaughtPanic> {
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            CATCH_DEPTH.with(|depth| depth.set(depth.get() - 1));
        }
    }
    CATCH_DEPTH.with(|depth| depth.set(depth.get() + 1));
    let depth = Depth;
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    drop(depth);
    result.map_err(|payload| {
        let record = LAST_PANIC.with(|last| last.borrow_mut().take());
        let caught = describe(&*payload, record);
        // A payload whose `drop` panics must not take the server down with it.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
        caught
    })
}

fn describe(payload: &(dyn Any + Send), record: Option<HookRecord>) -> CaughtPanic {
    let message = if let Some(text) = payload.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "Box<dyn Any>".to_owned()
    };
    // The layout of Rust's own panic message, so it reads as people know it.
    let exception = match record {
        Some(HookRecord { location, backtrace }) => {
            let backtrace = from_the_panicking_frame(&backtrace.to_string());
            format!("panicked at {location}:\n{message}\n\nstack backtrace:\n{backtrace}")
        }
        None => format!(
            "panicked:\n{message}\n\n(no backtrace: a panic hook installed after the RequestLogLayer does not call the previous hook)"
        ),
    };
    CaughtPanic { message, exception }
}

/// The backtrace without the frames of the hook and of the panic machinery, as Rust's own
/// short backtraces print it: the first frame is the code that panicked.
fn from_the_panicking_frame(backtrace: &str) -> String {
    let lines: Vec<&str> = backtrace.lines().collect();
    // A frame starts with `   N: symbol`; its `at file:line` lines follow.
    let is_frame = |line: &str| {
        let line = line.trim_start();
        line.split_once(": ").is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let machinery = ["std::panicking::", "core::panicking::", "rust_begin_unwind", "std::sys::backtrace::"];
    // From the top: the hook, then the panic machinery; the first frame after is the code that
    // panicked. (Frames further down, such as `catch_unwind` of a test harness, stay.)
    let mut in_machinery = false;
    for (index, line) in lines.iter().enumerate().filter(|(_, line)| is_frame(line)) {
        if machinery.iter().any(|m| line.contains(m)) {
            in_machinery = true;
        } else if in_machinery {
            return lines[index..].join("\n");
        }
    }
    backtrace.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_returns_the_message_place_and_backtrace() {
        install_hook();
        let caught = catch(|| panic!("division by zero")).unwrap_err();
        assert_eq!(caught.message, "division by zero");
        assert!(caught.exception.starts_with("panicked at "), "{}", caught.exception);
        assert!(caught.exception.contains("panic.rs"), "{}", caught.exception);
        assert!(caught.exception.contains("stack backtrace:"), "{}", caught.exception);
        let frames = caught.exception.split("stack backtrace:\n").nth(1).unwrap();
        assert!(!frames.contains("install_hook"), "the hook's frames are left out: {frames}");
        assert!(!frames.contains("core::panicking"), "{frames}");
        assert_eq!(catch(|| 7).unwrap(), 7);
        assert_eq!(CATCH_DEPTH.with(Cell::get), 0);
    }
}
