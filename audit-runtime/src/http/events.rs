//! The events of the request log, declared once so that they are listed in the catalog.

use crate::log_event;

/// A request was received: the first line of every request.
#[log_event(name = "request_started", level = "info", group = "Requests")]
pub struct RequestStarted<'a> {
    /// The HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// The path of the URL, without the query string (which may hold tokens).
    pub path: &'a str,
    /// The `User-Agent` header (escaped like any value); `null` when absent.
    pub user_agent: Option<&'a str>,
}

/// A request was answered with a status below 500: the last line of the request.
#[log_event(name = "request_finished", level = "info", group = "Requests")]
pub struct RequestFinished {
    /// The HTTP status of the response.
    pub status: u16,
    /// Time from receiving the request to having the response head, in milliseconds.
    pub duration_ms: f64,
}

/// A request failed: answered with a 5xx status (a panic in the handler is answered with 500),
/// or the service returned an error instead of a response (`status` is then `null` and the
/// error is in `exception`). Written instead of `request_finished`.
#[log_event(name = "request_failed", level = "error", group = "Requests")]
pub struct RequestFailed<'a> {
    /// The HTTP status of the response, `null` when there was none.
    pub status: Option<u16>,
    /// Time from receiving the request to the failure, in milliseconds.
    pub duration_ms: f64,
    /// The service's error when it gave no response; `null` when it answered.
    #[event(exception)]
    pub error: Option<&'a (dyn std::error::Error + 'static)>,
}

/// A handler answered with an [`ApiError`](super::ApiError): its body's fields, and the cause
/// set with `with_source` as `exception` (never sent to the client). A client error (4xx) is
/// written at `warning`, a server error (5xx) at `error`.
#[log_event(group = "API errors")]
pub enum HandledException<'a> {
    /// A handler answered with a client error (4xx): the request was at fault.
    #[event(name = "api.handled_exception", level = "warning")]
    ClientError {
        /// The human-readable title of the error body.
        title: &'a str,
        /// The machine-readable code, e.g. `not_found`.
        code: &'a str,
        /// The HTTP status, 400 to 499.
        status: u16,
        /// Details of the error as the body has them (any JSON the handler gave); `null` when none.
        data: Option<&'a serde_json::Value>,
        /// The input parameters at fault (`name`, `code`, `reason` each); `null` when none.
        invalid_params: Option<&'a [super::InvalidParam]>,
        /// The id in the error body, to find this line from what the client saw.
        exception_id: &'a str,
        /// The cause, with its source chain; `null` when none was set.
        #[event(exception)]
        error: Option<&'a (dyn std::error::Error + 'static)>,
    },
    /// A handler answered with a server error (5xx): the service was at fault.
    #[event(name = "api.handled_exception", level = "error")]
    ServerError {
        /// The human-readable title of the error body.
        title: &'a str,
        /// The machine-readable code, e.g. `error`.
        code: &'a str,
        /// The HTTP status, 500 to 599.
        status: u16,
        /// Details of the error as the body has them (any JSON the handler gave); `null` when none.
        data: Option<&'a serde_json::Value>,
        /// The input parameters at fault (`name`, `code`, `reason` each); `null` when none.
        invalid_params: Option<&'a [super::InvalidParam]>,
        /// The id in the error body, to find this line from what the client saw.
        exception_id: &'a str,
        /// The cause, with its source chain; `null` when none was set.
        #[event(exception)]
        error: Option<&'a (dyn std::error::Error + 'static)>,
    },
}

/// A handler panicked: the request was answered with a 500 whose body has `exception_id`.
#[log_event(name = "api.uncaught_exception", level = "error", group = "API errors")]
pub struct UncaughtException<'a> {
    /// The panic's message.
    pub message: &'a str,
    /// The id in the 500 body, to find this line from what the client saw.
    pub exception_id: &'a str,
    /// `panicked at FILE:LINE:`, the message, and the backtrace from the panicking frame.
    #[event(exception)]
    pub panic: &'a str,
}
