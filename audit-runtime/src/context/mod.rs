//! The context bound by enclosing scopes (a request, a background task, a span): what every log
//! line and audit entry made inside picks up.
//!
//! Context travels in `tracing` spans, so it follows `.instrument(span)` into async code and
//! spawned tasks. Reading it needs one of this crate's layers ([`JsonLayer`](crate::logging::JsonLayer),
//! [`ConsoleLayer`](crate::logging::ConsoleLayer), or the set-up of
//! [`init_from_env`](crate::logging::init_from_env)) in the current subscriber: they keep span
//! fields where these functions find them.

pub(crate) mod fields;
pub(crate) mod spans;

use tracing_core::span::Id;
use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

use fields::SpanFields;
use spans::Enclosing;

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
    serde_json::from_str(&current_json(key)?).ok()
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

/// The JSON text of `key` in the innermost enclosing span that recorded it.
fn current_json(key: &str) -> Option<String> {
    let mut found = None;
    // The spans entered on this thread, innermost first (some are `#[trace_span]` spans that
    // have no `tracing` span), as the log layers flatten them; without any, the current
    // `tracing` span and its parents.
    let walked = spans::enclosing(|enclosing| match enclosing {
        Enclosing::Fields(fields) => {
            found = fields.get(key).map(str::to_owned);
            found.is_none()
        }
        Enclosing::Tracing { id, callsite, outer } => {
            registered_json(id, callsite, outer, key, &mut found) && found.is_none()
        }
    });
    if !walked {
        registered_json(&tracing::Span::current().id()?, 0, None, key, &mut found);
    }
    found
}

/// Looks for `key` in the `tracing` span `id` and its parents (see `spans::walk_registered`).
fn registered_json(
    id: &Id,
    callsite: usize,
    outer: Option<(&Id, usize)>,
    key: &str,
    found: &mut Option<String>,
) -> bool {
    tracing::dispatcher::get_default(|dispatch| {
        let Some(registry) = dispatch.downcast_ref::<Registry>() else { return false };
        spans::walk_registered(registry.span(id), callsite, outer, |span| {
            let extensions = span.extensions();
            let Some(fields) = extensions.get::<SpanFields>() else { return false };
            if found.is_none() {
                *found = fields.get(key).map(str::to_owned);
            }
            fields.detached
        })
    })
}

/// The key of a background task's attempt count in log lines.
pub const TASK_ATTEMPT_COUNT: &str = "task_attempt_count";

/// A scope for one attempt of a background task: binds `task_id` and `task_attempt_count` the
/// way a request binds `request_id`, and writes `task_started`, then `task_succeeded`
/// (`duration_ms`) or `task_failed` (`duration_ms`, and the error as `exception`).
///
/// ```
/// use audit_runtime::context::task_scope;
///
/// // A closure: `Ok` succeeds, `Err` fails (the error's text, `{:#}`, is the `exception`).
/// let sent: Result<u32, std::io::Error> = task_scope("send-notification-17", 1).in_scope(|| {
///     tracing::info!("notification_sent"); // carries "task_id" and "task_attempt_count"
///     Ok(17)
/// });
///
/// // A future (spawn the returned future; it carries the scope wherever it runs).
/// # async fn deliver() -> Result<(), String> { Ok(()) }
/// # async fn example() {
/// let delivered = task_scope("deliver-42", 2).run(deliver()).await;
/// # }
/// ```
///
/// A scope made inside an HTTP request (its span is the parent of the `task` span) keeps the
/// request's `request_id` on the task's lines too. A closure that
/// panics, or a future dropped before it completes, writes `task_failed` too. Like the
/// request span, the `task` span is at level `ERROR` so that a `LOG_LEVEL` above `info` does
/// not take the task id away from the lines that are written.
pub fn task_scope(task_id: impl std::fmt::Display, attempt: u32) -> TaskScope {
    let task_id = task_id.to_string();
    TaskScope { span: tracing::error_span!("task", task_id = task_id.as_str(), task_attempt_count = attempt) }
}

/// What [`task_scope`] returns: run a closure with [`in_scope`](Self::in_scope) or a future with
/// [`run`](Self::run).
#[must_use = "a task scope does nothing until `in_scope` or `run` is called"]
#[derive(Debug, Clone)]
pub struct TaskScope {
    span: tracing::Span,
}

/// The outcome of a task: whether it failed, and why. Implemented for `()` (always succeeds)
/// and for `Result<T, E>` with `E: Display` (the `exception` is `{:#}` of the error, which
/// prints the whole chain for `anyhow::Error`).
pub trait TaskOutcome {
    /// The error, when the task failed.
    fn failure(&self) -> Option<&dyn std::fmt::Display>;
}

impl TaskOutcome for () {
    fn failure(&self) -> Option<&dyn std::fmt::Display> {
        None
    }
}

impl<T, E: std::fmt::Display> TaskOutcome for Result<T, E> {
    fn failure(&self) -> Option<&dyn std::fmt::Display> {
        self.as_ref().err().map(|error| error as &dyn std::fmt::Display)
    }
}

impl TaskScope {
    /// The `task` span: instrument work spawned by the task with a clone of it.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Runs `work` inside the scope.
    pub fn in_scope<R: TaskOutcome>(self, work: impl FnOnce() -> R) -> R {
        let _entered = self.span.enter();
        let attempt = TaskAttempt::start();
        let outcome = work();
        attempt.finish(&outcome);
        outcome
    }

    /// Runs `work` inside the scope: the span is entered at every poll, `task_started` is
    /// written at the first.
    pub fn run<F>(self, work: F) -> impl std::future::Future<Output = F::Output> + use<F>
    where
        F: std::future::Future,
        F::Output: TaskOutcome,
    {
        use tracing::Instrument as _;
        async move {
            let attempt = TaskAttempt::start();
            let outcome = work.await;
            attempt.finish(&outcome);
            outcome
        }
        .instrument(self.span)
    }
}

/// One running attempt; writes `task_failed` if dropped unfinished (a panic, a cancelled future).
struct TaskAttempt {
    start: std::time::Instant,
    finished: bool,
}

impl TaskAttempt {
    fn start() -> Self {
        task_events::TaskStarted.emit();
        TaskAttempt { start: std::time::Instant::now(), finished: false }
    }

    fn duration_ms(&self) -> f64 {
        self.start.elapsed().as_micros() as f64 / 1000.0
    }

    fn finish(mut self, outcome: &impl TaskOutcome) {
        self.finished = true;
        match outcome.failure() {
            None => task_events::TaskSucceeded { duration_ms: self.duration_ms() }.emit(),
            Some(error) => task_failed(self.duration_ms(), &format!("{error:#}")),
        }
    }
}

impl Drop for TaskAttempt {
    fn drop(&mut self) {
        if !self.finished {
            let why = if std::thread::panicking() {
                "the task panicked"
            } else {
                "the task was cancelled: its future was dropped before it completed"
            };
            task_failed(self.duration_ms(), why);
        }
    }
}

/// `task_failed` with the error as `exception` (a key `#[log_event]` fields cannot take).
fn task_failed(duration_ms: f64, error: &str) {
    tracing::error!(event = "task_failed", duration_ms, exception = error);
}

/// The events of [`task_scope`], declared for the catalog.
pub mod task_events {
    use crate::log_event;

    /// A background task started an attempt.
    #[log_event(name = "task_started", level = "info", group = "Background tasks")]
    pub struct TaskStarted;

    /// A background task's attempt succeeded.
    #[log_event(name = "task_succeeded", level = "info", group = "Background tasks")]
    pub struct TaskSucceeded {
        /// How long the attempt took, in milliseconds.
        pub duration_ms: f64,
    }

    /// A background task's attempt failed (it returned an error, panicked, or was cancelled);
    /// the reason is in `exception`.
    #[log_event(name = "task_failed", level = "error", group = "Background tasks")]
    pub struct TaskFailed {
        /// How long the attempt took, in milliseconds.
        pub duration_ms: f64,
    }
}
