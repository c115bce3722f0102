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
pub struct RequestFailed {
    /// The HTTP status of the response, `null` when there was none.
    pub status: Option<u16>,
    /// Time from receiving the request to the failure, in milliseconds.
    pub duration_ms: f64,
}
