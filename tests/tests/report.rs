//! Error reports: `capture_error` and `catch`, and configuration-error mail received by a real
//! SMTP listener, rate-limited through the audit store, with header injection attempts.

mod common;
mod db;
mod smtp;

use std::error::Error;
use std::num::ParseIntError;
use std::time::{Duration, Instant};

use audit_runtime::report::{
    self, Address, BoxError, ConfigurationError, ReportConfig, Reporter, SmtpUrl, capture_error, catch, catch_panic,
};
use audit_runtime::store::AuditStore;
use common::capture_json;
use serde_json::json;
use smtp::SmtpServer;

#[derive(audit_runtime::Audited, serde::Serialize)]
#[audited(object_type = "dashboard_widget")]
struct Widget {
    id: i64,
    title: String,
}

fn reporter(server: &SmtpServer, window: Duration) -> Reporter {
    let config = ReportConfig::new(Some(SmtpUrl::parse("SMTP_URL", &server.url()).unwrap()))
        .config_error_email(Address::parse("CONFIG_ERROR_REPORT_EMAIL", "ops@example.org").unwrap())
        .from_address(Address::parse("EMAIL_FROM", "audit@service.example").unwrap())
        .rate_limit(window);
    Reporter::new(config)
}

fn wait_for_mails(server: &SmtpServer, count: usize) -> Vec<smtp::Received> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let messages = server.messages();
        if messages.len() >= count || Instant::now() > deadline {
            return messages;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until both reporters have sent (or suppressed) everything submitted.
async fn flush_both(first: &Reporter, second: &Reporter) {
    let (first, second) = (first.clone(), second.clone());
    tokio::task::spawn_blocking(move || {
        first.flush();
        second.flush();
    })
    .await
    .unwrap();
}

on_both_backends!(one_mail_per_error_per_window_shared_through_the_store);

async fn one_mail_per_error_per_window_shared_through_the_store(db: &db::TestDb) {
    let server = SmtpServer::start();
    let window = Duration::from_secs(2);
    // Two processes' worth: each its own store connection and its own reporter.
    let (first_store, second_store) =
        (AuditStore::connect(&db.url).await.unwrap(), AuditStore::connect(&db.url).await.unwrap());
    let (first, second) = (reporter(&server, window), reporter(&server, window));
    first.share_limit_through(&first_store);
    second.share_limit_through(&second_store);
    let widget = Widget { id: 3, title: "Ward overview".into() };
    let error = ConfigurationError::new("'ward_id' configuration is missing", &widget).config_field("ward_id");
    let started = Instant::now();
    for i in 0..1000 {
        if i % 2 == 0 { first.mail_config_error(&error) } else { second.mail_config_error(&error) }
    }
    flush_both(&first, &second).await;
    assert!(started.elapsed() < window, "the test ran past its own window");
    assert_eq!(server.messages().len(), 1, "1 000 identical errors in one window: one mail");
    let stats = (first.stats(), second.stats());
    assert_eq!(stats.0.mailed + stats.1.mailed, 1);
    assert_eq!(stats.0.suppressed + stats.1.suppressed, 999);

    // A different error is its own report.
    let other = ConfigurationError::new("Ward 7 does not exist", &widget).config_field("ward_id");
    second.mail_config_error(&other);
    assert_eq!(wait_for_mails(&server, 2).len(), 2);

    // After the window, the same error is mailed again, once.
    tokio::time::sleep(window + Duration::from_millis(200)).await;
    for i in 0..100 {
        if i % 2 == 0 { first.mail_config_error(&error) } else { second.mail_config_error(&error) }
    }
    flush_both(&first, &second).await;
    let messages = server.messages();
    assert_eq!(messages.len(), 3, "one more mail after the window");
    let mail = &messages[0];
    assert_eq!(mail.mail_from, "<audit@service.example>");
    assert_eq!(mail.rcpt_to, ["<ops@example.org>"]);
    assert_eq!(mail.header("Subject").unwrap(), "[app] Configuration error: 'ward_id' configuration is missing");
    let body = mail.body();
    assert!(body.contains("Object:        dashboard_widget 3 (dashboard_widget 3)"), "{body}");
    assert!(body.contains("Setting:       ward_id"), "{body}");
}

#[test]
fn header_injection_attempts_stay_in_the_body() {
    let server = SmtpServer::start();
    let reporter = reporter(&server, Duration::from_secs(60));
    let widget = Widget { id: 9, title: "x".into() };
    let hostile = "bad value\r\nBcc: thief@evil.example\r\nSubject: you won\r\n\r\n.\r\nMAIL FROM:<x@evil.example>";
    let error = ConfigurationError::new(hostile, &widget).config_field("a\r\nX-Injected: yes").url("/w/9\nX-Url: 1");
    reporter.mail_config_error(&error);
    reporter.flush();
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "one message, not two");
    let mail = &messages[0];
    assert_eq!(mail.rcpt_to, ["<ops@example.org>"], "no recipient was added");
    for header in mail.headers() {
        let name = header.split(':').next().unwrap().to_ascii_lowercase();
        assert!(
            [
                "from",
                "to",
                "subject",
                "date",
                "message-id",
                "mime-version",
                "content-type",
                "content-transfer-encoding"
            ]
            .contains(&name.as_str()),
            "unexpected header {header:?}"
        );
    }
    let subject = mail.header("Subject").unwrap();
    assert!(!subject.contains('\r') && !subject.contains('\n'));
    assert!(subject.contains("Bcc: thief@evil.example"), "the text is kept, inside the subject: {subject}");
    assert!(mail.body().contains("Bcc: thief@evil.example"), "and in the body, where it is harmless");

    // Addresses are checked where they are configured.
    let error = Address::parse("CONFIG_ERROR_REPORT_EMAIL", "ops@example.org\r\nBcc: thief@evil.example").unwrap_err();
    assert!(error.to_string().starts_with("CONFIG_ERROR_REPORT_EMAIL="), "{error}");
}

#[test]
fn a_mail_server_that_is_down_is_logged_and_counted() {
    let config = ReportConfig::new(Some(SmtpUrl::parse("SMTP_URL", "smtp://127.0.0.1:1").unwrap()))
        .config_error_email(Address::parse("X", "ops@example.org").unwrap());
    let reporter = Reporter::new(config);
    let widget = Widget { id: 1, title: "x".into() };
    reporter.mail_config_error(&ConfigurationError::new("broken", &widget));
    reporter.flush();
    assert_eq!(reporter.stats().failed, 1);
    assert_eq!(reporter.stats().mailed, 0);
}

#[derive(Debug)]
struct LookupFailed(std::io::Error);

impl std::fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ward lookup failed")
    }
}

impl Error for LookupFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn capture_error_logs_the_chain_and_catch_swallows_only_the_named_kinds() {
    let capture = capture_json(|| {
        let _request = tracing::info_span!("request", request_id = "r-9").entered();
        capture_error(&LookupFailed(std::io::Error::other("connection reset")));

        let caught = catch::<(ParseIntError,), u16>(|| Ok("80a".parse::<u16>()?)).unwrap();
        assert_eq!(caught, None);
        let fine = catch::<(ParseIntError,), u16>(|| Ok("80".parse::<u16>()?)).unwrap();
        assert_eq!(fine, Some(80));
        let other: Result<Option<u16>, BoxError> =
            catch::<(ParseIntError, std::fmt::Error), u16>(|| Err(Box::new(LookupFailed(std::io::Error::other("x")))));
        assert!(other.unwrap_err().is::<LookupFailed>(), "other kinds go on up");

        let panicked = catch_panic(|| -> u8 { panic!("the ward list is empty") });
        assert_eq!(panicked, None);
    });
    let lines = capture.json_lines();
    assert_eq!(lines[0]["event"], json!("error_captured"));
    assert_eq!(lines[0]["exception"], json!("ward lookup failed\n\nCaused by:\n    0: connection reset"));
    assert_eq!(lines[0]["request_id"], json!("r-9"));
    assert_eq!(lines[1]["event"], json!("error_captured"));
    assert_eq!(lines[1]["exception"], json!("invalid digit found in string"));
    assert_eq!(lines[2]["event"], json!("panic_captured"));
    assert_eq!(lines[2]["message"], json!("the ward list is empty"));
    assert_eq!(lines.len(), 3, "no line for what was not caught");
}

#[test]
fn handle_config_error_always_logs() {
    let widget = Widget { id: 3, title: "Ward overview".into() };
    let capture = capture_json(|| {
        let error = ConfigurationError::new("Ward 7 does not exist", &widget)
            .url("/dashboard/3")
            .config_field("ward_id")
            .caused_by(std::io::Error::other("no row"));
        report::handle_config_error(&error);
    });
    let line = capture.only_line();
    assert_eq!(line["event"], json!("configuration_error"));
    assert_eq!(line["level"], json!("error"));
    assert_eq!(line["message"], json!("Ward 7 does not exist"));
    assert_eq!(line["object_type"], json!("dashboard_widget"));
    assert_eq!(line["object_id"], json!("3"));
    assert_eq!(line["config_field"], json!("ward_id"));
    assert_eq!(line["url"], json!("/dashboard/3"));
    assert_eq!(line["exception"], json!("no row"));
}
