//! The environment variables the toolkit reads, by name, in one place. (`logging::vars` and
//! `report::vars` are this module under the names their modules have always used.)

// Logging (`logging::init_from_env`, `LogConfig::from_env`).
/// Minimum level everywhere; plain levels or `EnvFilter` directives.
pub const LOG_LEVEL: &str = "LOG_LEVEL";
/// `json` or `console`.
pub const LOG_FORMAT: &str = "LOG_FORMAT";
/// Minimum level on stdout.
pub const CONSOLE_LOG_LEVEL: &str = "CONSOLE_LOG_LEVEL";
/// Path of a JSON log file.
pub const LOGFILE: &str = "LOGFILE";
/// Minimum level in the log file.
pub const LOGFILE_LOG_LEVEL: &str = "LOGFILE_LOG_LEVEL";
/// Path of a file that receives `error` and `critical` lines only.
pub const LOG_ERRORS: &str = "LOG_ERRORS";
/// The `source` value of every line.
pub const LOG_SOURCE: &str = "LOG_SOURCE";

// Error reports (`report::init_from_env`; mail needs the `smtp` feature, Sentry `sentry`).
/// An address that receives `error` and `critical` lines by mail, rate-limited like
/// configuration errors.
pub const EMAIL_ERRORS: &str = "EMAIL_ERRORS";
/// Where configuration errors are mailed; unset: not mailed.
pub const CONFIG_ERROR_REPORT_EMAIL: &str = "CONFIG_ERROR_REPORT_EMAIL";
/// Hours between two mails about the same error (default 24; fractions allowed).
pub const CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS: &str = "CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS";
/// The SMTP server: `smtp://host:port` (default `smtp://localhost:25`).
pub const SMTP_URL: &str = "SMTP_URL";
/// The sender address (default `audit@localhost`).
pub const EMAIL_FROM: &str = "EMAIL_FROM";
/// Sentry's DSN; unset: nothing is sent to Sentry.
pub const SENTRY_DSN: &str = "SENTRY_DSN";
/// The environment Sentry files reports under (`production`, `staging`).
pub const SENTRY_ENVIRONMENT: &str = "SENTRY_ENVIRONMENT";

// The event catalog (`catalog::print_if_requested`, `catalog::assert_compatible`).
/// Prints the catalog in this format and exits (`rst`, `markdown`, `json-schema`).
pub const EVENT_CATALOG: &str = crate::catalog::CATALOG_ENV;
/// `1` accepts breaking catalog changes on purpose.
pub const ACCEPT_CATALOG_CHANGES: &str = crate::catalog::ACCEPT_ENV;
