//! The README's main job: a realistic run of the toolkit, printing what a newcomer wants to see.
//!
//! `cargo run --example quickstart`
//!
//! Log lines go to stdout (JSON by default; `LOG_FORMAT=console` for the readable form), and the
//! narration goes to stderr, so `cargo run --example quickstart | jq .` works.

use std::error::Error;
use std::fmt;

use audit_runtime::logging::{self, JsonValue};

fn main() -> Result<(), Box<dyn Error>> {
    // One call configures logging from LOG_LEVEL, LOG_FORMAT, LOGFILE, LOG_ERRORS, ...
    let _logs = logging::init_from_env()?;

    step("An object is created through the API");
    let object_uuid = "1734afac-4c63-4b8c-9e1a-9f1f1b2c3d4e";
    {
        // Everything logged while serving a request carries its request id.
        let _request =
            tracing::info_span!("request", request_id = "2f9e9a5b-d549-4faa-a411-594aa8a52eee", user_id = "alice")
                .entered();
        tracing::info!(method = "POST", path = "/api/v2/objects", "request_started");
        tracing::info!(object_uuid, objecttype_version = 1, token_identifier = "frontend", "object_created");
        tracing::info!(
            additional_attributes = ?JsonValue(&serde_json::json!({"zaaktype": "https://example.org/zaaktypen/1"})),
            "notification_sent"
        );
        tracing::info!(status = 201, duration_ms = 4.2, "request_finished");
    }

    step("A request fails with a handled error");
    {
        let _request = tracing::info_span!(
            "request",
            request_id = "68b46bf0-a5b8-43f7-a550-e37dee617bff",
            user_id = tracing::field::Empty
        )
        .entered();
        let error = UpstreamError { service: "objecttypes", cause: std::io::Error::other("connection refused") };
        tracing::error!(
            error = &error as &dyn Error,
            title = "Could not reach the Objecttypes API.",
            code = "upstream_unavailable",
            status = 502,
            "api.handled_exception"
        );
    }

    step("A warning outside any request");
    tracing::warn!(retries = 3, queue = "notifications", "notification_retry_scheduled");

    eprintln!("\nEvery line above is one JSON object: event, level, timestamp, logger and source are always there.");
    eprintln!("Try LOG_FORMAT=console, LOG_LEVEL=warning, or LOGFILE=app.log LOGFILE_LOG_LEVEL=debug.");
    Ok(())
}

/// Narration, on stderr so that stdout holds only log lines.
fn step(title: &str) {
    eprintln!("\n── {title}");
}

/// An error with a source, as services have them.
#[derive(Debug)]
struct UpstreamError {
    service: &'static str,
    cause: std::io::Error,
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} service did not answer", self.service)
    }
}

impl Error for UpstreamError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}
