//! Crash reports by hand: log an error (and send it to Sentry with the `sentry` feature), and
//! run code that reports and swallows the error kinds named, and goes on.

use std::error::Error;
use std::panic::UnwindSafe;

use super::events::{ErrorCaptured, PanicCaptured};

/// The boxed error that [`catch`] and [`catch_async`] take.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Logs `error` as an `error_captured` line (its `source()` chain in `exception`) and, with the
/// `sentry` feature and `SENTRY_DSN` set, sends it to Sentry with the request and user ids.
pub fn capture_error(error: &(dyn Error + 'static)) {
    ErrorCaptured { error }.emit();
    #[cfg(feature = "sentry")]
    super::sentry_support::capture(error);
}

/// Error types [`catch`] reports and swallows: a tuple of types, such as
/// `(std::num::ParseIntError, std::io::Error)`.
pub trait ErrorKinds {
    /// Whether `error` is one of the kinds.
    fn matches(error: &(dyn Error + 'static)) -> bool;
}

macro_rules! error_kinds {
    ($($kind:ident),+) => {
        impl<$($kind: Error + 'static),+> ErrorKinds for ($($kind,)+) {
            fn matches(error: &(dyn Error + 'static)) -> bool {
                $(error.is::<$kind>())||+
            }
        }
    };
}
error_kinds!(A);
error_kinds!(A, B);
error_kinds!(A, B, C);
error_kinds!(A, B, C, D);
error_kinds!(A, B, C, D, E);
error_kinds!(A, B, C, D, E, F);

/// Runs `work`; an error of one of the `K` kinds is reported with [`capture_error`] and
/// swallowed (`Ok(None)`), any other error is returned:
///
/// ```
/// use std::num::ParseIntError;
/// use audit_runtime::report::{catch, BoxError};
///
/// let port = catch::<(ParseIntError,), _>(|| Ok("80a".parse::<u16>()?))?;
/// assert_eq!(port, None); // reported, swallowed, and the program goes on
/// # Ok::<(), BoxError>(())
/// ```
pub fn catch<K: ErrorKinds, T>(work: impl FnOnce() -> Result<T, BoxError>) -> Result<Option<T>, BoxError> {
    settle::<K, T>(work())
}

/// [`catch`] for async code.
pub async fn catch_async<K: ErrorKinds, T>(
    work: impl Future<Output = Result<T, BoxError>>,
) -> Result<Option<T>, BoxError> {
    settle::<K, T>(work.await)
}

fn settle<K: ErrorKinds, T>(result: Result<T, BoxError>) -> Result<Option<T>, BoxError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if K::matches(&*error) => {
            capture_error(&*error);
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Runs `work`; a panic is reported as a `panic_captured` line (with its message) and
/// swallowed (`None`). The panic hook still runs as usual.
pub fn catch_panic<T>(work: impl FnOnce() -> T + UnwindSafe) -> Option<T> {
    match std::panic::catch_unwind(work) {
        Ok(value) => Some(value),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-text payload".to_owned());
            PanicCaptured { message: &message }.emit();
            #[cfg(feature = "sentry")]
            super::sentry_support::capture_message(&message);
            None
        }
    }
}
