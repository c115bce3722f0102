//! The context bound by enclosing scopes (a request, a background task, a span): what every log
//! line and audit entry made inside picks up.
//!
//! Context travels in `tracing` spans, so it follows `.instrument(span)` into async code and
//! spawned tasks. Reading it needs one of this crate's layers ([`JsonLayer`](crate::logging::JsonLayer),
//! [`ConsoleLayer`](crate::logging::ConsoleLayer), or the set-up of
//! [`init_from_env`](crate::logging::init_from_env)) in the current subscriber: they keep span
//! fields where these functions find them.

use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

use crate::logging::layer::SpanFields;

/// The key of the request id.
pub const REQUEST_ID: &str = "request_id";
/// The key of the user id.
pub const USER_ID: &str = "user_id";
/// The key of a background task's id.
pub const TASK_ID: &str = "task_id";

/// The value of `key` in the innermost enclosing span that recorded it, as JSON.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// let subscriber = tracing_subscriber::registry()
///     .with(audit_runtime::logging::JsonLayer::new(std::io::sink));
/// tracing::subscriber::with_default(subscriber, || {
///     let _request = tracing::info_span!("request", request_id = "2f9e9a5b").entered();
///     assert_eq!(audit_runtime::context::current_request_id().as_deref(), Some("2f9e9a5b"));
/// });
/// ```
pub fn current_field(key: &str) -> Option<serde_json::Value> {
    with_current_json(key, |json| serde_json::from_str(json).ok()).flatten()
}

/// The bound request id, if any. A non-string value is given as its JSON text.
pub fn current_request_id() -> Option<String> {
    current_string(REQUEST_ID)
}

/// The bound user id, if any. A non-string value (a numeric id) is given as its JSON text.
pub fn current_user_id() -> Option<String> {
    current_string(USER_ID)
}

/// `key`'s bound value as text: a JSON string without quotes, anything else as JSON; `null` is
/// no value.
pub fn current_string(key: &str) -> Option<String> {
    match current_field(key)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn with_current_json<R>(key: &str, read: impl FnOnce(&str) -> R) -> Option<R> {
    let span = tracing::Span::current();
    let id = span.id()?;
    let mut read = Some(read);
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let start = registry.span(&id)?;
        for span in start.scope() {
            let extensions = span.extensions();
            if let Some(json) = extensions.get::<SpanFields>().and_then(|fields| fields.get(key)) {
                return read.take().map(|read| read(json));
            }
        }
        None
    })
}
