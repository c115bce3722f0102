//! Exceptions of the API, with dotted event names.

use audit_runtime::log_event;

/// Errors of API requests.
#[log_event(level = "error", group = "Exceptions")]
pub enum ApiException<'a> {
    /// An API request failed with an error the API handles, answered with a problem
    /// response.
    #[event(name = "api.handled_exception")]
    Handled {
        /// Human-readable summary of the problem.
        title: &'a str,
        /// Machine-readable code, e.g. `not_authenticated`.
        code: &'a str,
        /// HTTP status of the response.
        status: u16,
        /// The input parameters that caused the error.
        data: &'a serde_json::Value,
    },
    /// An API request failed with an error the API did not expect.
    #[event(name = "api.uncaught_exception")]
    Uncaught {
        /// The error and its causes.
        error_chain: &'a str,
    },
}
