//! Error reports: errors logged in one standard shape, sent to Sentry when configured, and
//! configuration errors mailed to whoever fixes them, at most once per error per window.
//!
//! - [`capture_error`]: log an error (and send it to Sentry with the `sentry` feature).
//! - [`catch`], [`catch_async`], [`catch_panic`]: run code, report and swallow the named
//!   error kinds (or a panic), and go on.
//! - [`ConfigurationError`] and [`handle_config_error`]: a setting a person must fix; logged
//!   always as `configuration_error`, mailed to `CONFIG_ERROR_REPORT_EMAIL` (feature `smtp`) at
//!   most once per distinct error per `CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS`, counted in the
//!   audit store when [`init_from_env`] is given one, so many processes share one limit.
//! - `EMAIL_ERRORS` (read by [`crate::logging::LogConfig`]): `error` and `critical` lines by
//!   mail, through the same reporter and limit.

mod capture;
mod config_error;
pub mod events;
#[cfg(feature = "smtp")]
mod mail;
mod reporter;
#[cfg(feature = "sentry")]
mod sentry_support;

pub use capture::{BoxError, ErrorKinds, capture_error, catch, catch_async, catch_panic};
pub use config_error::{ConfigurationError, NamedObject, handle_config_error};
/// *Available with the crate feature `smtp`.*
#[cfg(feature = "smtp")]
pub use mail::{Address, MailConfigError, SmtpUrl};
#[cfg(feature = "smtp")]
pub(crate) use reporter::email_errors_layer;
pub use reporter::vars;
/// *Available with the crate feature `smtp`.*
#[cfg(feature = "smtp")]
pub use reporter::{ReportConfig, ReportStats, Reporter};

/// What [`init_from_env`] could not accept. Its `Debug` is its message.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ReportInitError {
    /// A mail setting is wrong.
    #[cfg(feature = "smtp")]
    #[error(transparent)]
    Mail(#[from] MailConfigError),
    /// An address is configured but this build cannot send mail.
    #[error("{variable} is set but audit-runtime was built without the `smtp` feature: enable it to send mail")]
    MailNotBuilt {
        /// The variable that asks for mail.
        variable: &'static str,
    },
    /// `SENTRY_DSN` is not a DSN.
    #[error("SENTRY_DSN={value:?} is not valid: expected a DSN such as https://key@o0.ingest.sentry.io/0 ({reason})")]
    SentryDsn {
        /// The value (without its key).
        value: String,
        /// Why.
        reason: String,
    },
}

debug_is_display!(ReportInitError);

/// Keeps the reporting services alive (Sentry's client flushes when this is dropped).
#[must_use = "dropping the guard flushes and stops Sentry reporting"]
#[derive(Default)]
pub struct ReportGuard {
    #[cfg(feature = "sentry")]
    _sentry: Option<sentry::ClientInitGuard>,
}

impl std::fmt::Debug for ReportGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportGuard")
    }
}

/// Sets reporting up from the environment: the mail reporter (`CONFIG_ERROR_REPORT_EMAIL`,
/// `EMAIL_ERRORS`, `SMTP_URL`, `EMAIL_FROM`, `CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS`), counting
/// its limit in `store` when given, and Sentry (`SENTRY_DSN`, `SENTRY_ENVIRONMENT`) with the
/// `sentry` feature. Call it once, early in `main`; keep the guard.
///
/// *Available with the crate feature `sqlite` or `postgres`.*
#[cfg(feature = "store")]
pub fn init_from_env(store: Option<&crate::store::AuditStore>) -> Result<ReportGuard, ReportInitError> {
    #[cfg(feature = "smtp")]
    {
        let config = ReportConfig::from_env()?;
        if config.mails_anything() {
            let reporter = Reporter::new(config);
            if let Some(store) = store {
                reporter.share_limit_through(store);
            }
            if !reporter.install() {
                // One was made earlier (from the environment, by a first error): give it the store.
                if let (Some(installed), Some(store)) = (Reporter::global(), store) {
                    installed.share_limit_through(store);
                }
            }
        }
    }
    #[cfg(not(feature = "smtp"))]
    {
        let _ = store;
        mail_not_built()?;
    }
    guard()
}

/// [`init_from_env`] for a build without the audit store: the mail limit is per process.
#[cfg(not(feature = "store"))]
pub fn init_from_env() -> Result<ReportGuard, ReportInitError> {
    #[cfg(feature = "smtp")]
    {
        let config = ReportConfig::from_env()?;
        if config.mails_anything() {
            Reporter::new(config).install();
        }
    }
    #[cfg(not(feature = "smtp"))]
    mail_not_built()?;
    guard()
}

#[cfg(not(feature = "smtp"))]
fn mail_not_built() -> Result<(), ReportInitError> {
    for variable in [vars::CONFIG_ERROR_REPORT_EMAIL, vars::EMAIL_ERRORS] {
        if std::env::var_os(variable).is_some_and(|v| !v.is_empty()) {
            return Err(ReportInitError::MailNotBuilt { variable });
        }
    }
    Ok(())
}

fn guard() -> Result<ReportGuard, ReportInitError> {
    #[cfg(feature = "sentry")]
    {
        Ok(ReportGuard { _sentry: sentry_support::init_from_env()? })
    }
    #[cfg(not(feature = "sentry"))]
    {
        Ok(ReportGuard::default())
    }
}
