//! Which set-up call installed the process's global subscriber, so that a second one can say
//! which is in place. Neutral: the logging and telemetry set-ups both write here.

use std::sync::OnceLock;

static INSTALLED_BY: OnceLock<&'static str> = OnceLock::new();

/// Records that `by` (such as `"logging::init_from_env"`) installed the global subscriber.
pub(crate) fn record(by: &'static str) {
    let _ = INSTALLED_BY.set(by);
}

/// What installed the global subscriber: one of our set-up calls, or, when one is installed but
/// none of ours did it, a subscriber set up outside audit-runtime.
pub(crate) fn installed() -> Option<&'static str> {
    if let Some(by) = INSTALLED_BY.get() {
        return Some(by);
    }
    tracing::dispatcher::has_been_set().then_some("a global tracing subscriber set up outside audit-runtime")
}
