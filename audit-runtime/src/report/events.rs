//! The lines error reports write, declared once so that the catalog lists them.

use std::error::Error;

use crate::log_event;

/// An error was reported with `capture_error` (or swallowed by `catch`): its message and
/// source chain are in `exception`.
#[log_event(name = "error_captured", level = "error", group = "Error reports")]
pub struct ErrorCaptured<'a> {
    /// The error, with its source chain.
    #[event(exception)]
    pub error: &'a (dyn Error + 'static),
}

/// A panic was caught, reported and swallowed by `catch_panic`.
#[log_event(name = "panic_captured", level = "error", group = "Error reports")]
pub struct PanicCaptured<'a> {
    /// The panic's message.
    pub message: &'a str,
}

/// A configuration error a person must fix (`handle_config_error`); mailed when
/// `CONFIG_ERROR_REPORT_EMAIL` is set, at most once per distinct error per window.
#[log_event(name = "configuration_error", level = "error", group = "Error reports")]
pub struct ConfigurationErrorLogged<'a> {
    /// What is wrong and how to fix it.
    pub message: &'a str,
    /// The type of the object whose configuration is wrong.
    pub object_type: &'a str,
    /// The id of that object.
    pub object_id: &'a str,
    /// How that object presents itself to people.
    pub object_repr: &'a str,
    /// The setting at fault; `null` when not given.
    pub config_field: Option<&'a str>,
    /// Where the setting is changed; `null` when not given.
    pub url: Option<&'a str>,
    /// The underlying error, with its source chain; `null` when none.
    #[event(exception)]
    pub error: Option<&'a (dyn Error + 'static)>,
}

/// Events of the mail reporter itself (`CONFIG_ERROR_REPORT_EMAIL`, `EMAIL_ERRORS`).
#[log_event(group = "Error reports")]
pub enum ReportMail<'a> {
    /// A report was mailed. When the reported error happened in a request, the line carries
    /// that request's `request_id`.
    #[event(name = "report.mailed", level = "info")]
    Mailed {
        /// The recipient.
        to: &'a str,
        /// The rate-limit key of the report (one per distinct error).
        key: &'a str,
    },
    /// A report could not be mailed (the SMTP server refused it or could not be reached).
    #[event(name = "report.mail_failed", level = "warning")]
    MailFailed {
        /// The recipient.
        to: &'a str,
        /// Why.
        #[event(exception)]
        error: &'a (dyn Error + 'static),
    },
    /// A report was not mailed: the queue of reports waiting to be sent was full (the error
    /// is in the logs regardless).
    #[event(name = "report.mail_dropped", level = "warning")]
    MailDropped {
        /// Why.
        reason: &'a str,
    },
    /// The shared rate limit in the audit store could not be read; the report is mailed
    /// anyway (better one mail too many than a report lost).
    #[event(name = "report.rate_limit_unavailable", level = "warning")]
    RateLimitUnavailable {
        /// Why.
        #[event(exception)]
        error: &'a (dyn Error + 'static),
    },
    /// The mail settings are wrong: nothing is mailed until they are fixed.
    #[event(name = "report.misconfigured", level = "error")]
    Misconfigured {
        /// What is wrong.
        #[event(exception)]
        error: &'a (dyn Error + 'static),
    },
    /// A report address is set, but this build cannot send mail (feature `smtp`).
    #[event(name = "report.mail_unavailable", level = "warning")]
    MailUnavailable {
        /// Why.
        reason: &'a str,
    },
}
