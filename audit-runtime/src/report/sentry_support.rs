//! Sentry: `SENTRY_DSN` turns it on, `SENTRY_ENVIRONMENT` names the environment (so staging can
//! report to a Sentry-compatible tracker such as GitLab's error tracking).

use std::error::Error;

use super::ReportInitError;

/// Starts the Sentry client when `SENTRY_DSN` is set.
pub(crate) fn init_from_env() -> Result<Option<sentry::ClientInitGuard>, ReportInitError> {
    let Some(dsn) = std::env::var(crate::vars::SENTRY_DSN).ok().filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let parsed = parse_dsn(&dsn)?;
    let environment = std::env::var(crate::vars::SENTRY_ENVIRONMENT).ok().filter(|v| !v.trim().is_empty());
    let mut options = sentry::ClientOptions::default();
    options.dsn = Some(parsed);
    options.environment = environment.map(Into::into);
    options.release = sentry::release_name!();
    let guard = sentry::init(options);
    Ok(Some(guard))
}

/// Sends `error` with its chain, the request id and the user id of the current scope.
pub(crate) fn capture(error: &(dyn Error + 'static)) {
    with_context(|| {
        sentry::capture_error(error);
    });
}

/// Sends a panic message.
pub(crate) fn capture_message(message: &str) {
    with_context(|| {
        sentry::capture_message(message, sentry::Level::Fatal);
    });
}

fn with_context(send: impl FnOnce()) {
    let request_id = crate::context::current_request_id();
    let user_id = crate::context::current_user_id();
    sentry::with_scope(
        |scope| {
            if let Some(request_id) = request_id {
                scope.set_tag("request_id", request_id);
            }
            if let Some(id) = user_id {
                scope.set_user(Some(sentry::User { id: Some(id), ..Default::default() }));
            }
        },
        send,
    );
}

fn parse_dsn(dsn: &str) -> Result<sentry::types::Dsn, ReportInitError> {
    dsn.trim().parse().map_err(|e: sentry::types::ParseDsnError| ReportInitError::SentryDsn {
        value: redact_key(dsn),
        reason: e.to_string(),
    })
}

/// `https://key@host/1` → `https://***@host/1`: the key is a secret.
fn redact_key(dsn: &str) -> String {
    match (dsn.find("://"), dsn.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}***{}", &dsn[..scheme + 3], &dsn[at..]),
        _ => dsn.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_dsn_is_an_error_naming_the_variable_without_the_key() {
        let message = parse_dsn("https://s3cretkey@sentry.example.org").unwrap_err().to_string();
        assert!(message.starts_with("SENTRY_DSN=\"https://***@sentry.example.org\" is not valid"), "{message}");
        assert!(!message.contains("s3cretkey"), "{message}");
        assert!(parse_dsn("https://key@o1.ingest.sentry.io/42").is_ok());
    }
}
