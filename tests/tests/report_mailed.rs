//! A configuration error of any object that can name itself, mailed from inside a request: the
//! mail reaches a real SMTP listener and the reporter's `report.mailed` line, written on its
//! own thread, carries the request's id.

mod common;
mod smtp;

use std::borrow::Cow;
use std::time::Duration;

use audit_runtime::logging::JsonLayer;
use audit_runtime::report::{Address, ConfigurationError, NamedObject, ReportConfig, Reporter, SmtpUrl};
use common::Capture;
use serde_json::json;
use smtp::SmtpServer;
use tracing_subscriber::prelude::*;

/// A tenant: not audited, but it can name itself.
struct Tenant {
    slug: &'static str,
}

impl NamedObject for Tenant {
    fn object_type(&self) -> Cow<'static, str> {
        Cow::Borrowed("tenant")
    }
    fn object_id(&self) -> String {
        self.slug.to_owned()
    }
    fn object_repr(&self) -> String {
        format!("tenant {}", self.slug)
    }
}

#[test]
fn report_mailed_carries_the_request_id_of_the_reported_error() {
    // The reporter writes from its own thread: the subscriber must be the global one.
    let capture = Capture::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(JsonLayer::new(capture.clone())))
        .unwrap();
    let server = SmtpServer::start();
    let config = ReportConfig::new(Some(SmtpUrl::parse("SMTP_URL", &server.url()).unwrap()))
        .config_error_email(Address::parse("CONFIG_ERROR_REPORT_EMAIL", "ops@example.org").unwrap())
        .rate_limit(Duration::from_secs(60));
    let reporter = Reporter::new(config);

    let error = ConfigurationError::new("no mail server configured", &Tenant { slug: "north" });
    assert_eq!((error.object_type(), error.object_id(), error.object_repr()), ("tenant", "north", "tenant north"));
    tracing::info_span!("request", request_id = "req-7f3a").in_scope(|| reporter.mail_config_error(&error));
    reporter.flush();
    assert_eq!(server.messages().len(), 1);
    assert!(server.messages()[0].body().contains("Object:        tenant north (tenant north)"));

    let lines = capture.json_lines();
    let mailed = lines.iter().find(|line| line["event"] == "report.mailed").expect("a report.mailed line");
    assert_eq!(mailed["request_id"], json!("req-7f3a"), "{mailed:?}");
    assert_eq!(mailed["to"], json!("ops@example.org"));
    // Outside a request, the line has no request id.
    let other = ConfigurationError::new("no SMS gateway configured", &Tenant { slug: "north" });
    reporter.mail_config_error(&other);
    reporter.flush();
    let lines = capture.json_lines();
    let second = lines.iter().filter(|line| line["event"] == "report.mailed").nth(1).expect("a second line");
    assert!(second.get("request_id").is_none(), "{second:?}");
}
