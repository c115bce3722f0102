//! Reporting configured only from the environment, as a service's `main` does it:
//! `report::init_from_env(Some(&store))`, `EMAIL_ERRORS` through `LogConfig::from_env()`, and
//! `handle_config_error` through the installed reporter. Its own test binary: it installs
//! process-wide state.

mod smtp;

use std::time::{Duration, Instant};

use audit_runtime::logging::LogConfig;
use audit_runtime::report::{self, ConfigurationError, Reporter};
use audit_runtime::store::AuditStore;
use smtp::SmtpServer;

#[derive(audit_runtime::Audited, serde::Serialize)]
#[audited(object_type = "report_rule")]
struct Rule {
    id: i64,
}

#[tokio::test]
async fn config_errors_and_error_lines_are_mailed_from_the_environment() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: set before anything else in this test binary reads the environment.
    unsafe {
        std::env::set_var("SMTP_URL", server.url());
        std::env::set_var("CONFIG_ERROR_REPORT_EMAIL", "config-owners@example.org");
        std::env::set_var("EMAIL_ERRORS", "oncall@example.org");
        std::env::set_var("CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS", "1");
        std::env::set_var("LOG_SOURCE", "billing");
    }
    let store = AuditStore::connect(&format!("sqlite://{}", dir.path().join("audit.db").display())).await.unwrap();
    let _reports = report::init_from_env(Some(&store)).unwrap();
    let (dispatch, _logs) = LogConfig::from_env().unwrap().stdout(false).build().unwrap();

    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..50 {
            tracing::error!(invoice = 17, "invoice_export_failed");
        }
        tracing::warn!("only_a_warning");
        for _ in 0..20 {
            report::handle_config_error(&ConfigurationError::new("rule has no target", &Rule { id: 4 }));
        }
    });
    let reporter = Reporter::global().expect("installed");
    let flushing = reporter.clone();
    tokio::task::spawn_blocking(move || flushing.flush()).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while server.messages().len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let messages = server.messages();
    // 50 identical error lines: one mail to EMAIL_ERRORS. 20 identical configuration errors:
    // one report to CONFIG_ERROR_REPORT_EMAIL, and, their `configuration_error` line being an
    // error line too, one mail to EMAIL_ERRORS. The warning: none.
    assert_eq!(messages.len(), 3, "{messages:#?}");
    let subjects_to = |to: &str| -> Vec<String> {
        let mut subjects: Vec<String> = messages
            .iter()
            .filter(|m| m.rcpt_to == [format!("<{to}>")])
            .map(|m| m.header("Subject").unwrap())
            .collect();
        subjects.sort();
        subjects
    };
    assert_eq!(
        subjects_to("oncall@example.org"),
        ["[billing] error: configuration_error", "[billing] error: invoice_export_failed"]
    );
    let line_mail = messages.iter().find(|m| m.header("Subject").unwrap().ends_with("invoice_export_failed")).unwrap();
    assert!(line_mail.body().contains("\"invoice\": 17"), "{}", line_mail.body());
    let config_mail = messages.iter().find(|m| m.rcpt_to == ["<config-owners@example.org>"]).expect("config mail");
    assert_eq!(config_mail.header("Subject").unwrap(), "[billing] Configuration error: rule has no target");
    assert!(config_mail.body().contains("at most once every 1 hours"), "{}", config_mail.body());
    let stats = reporter.stats();
    assert_eq!((stats.mailed, stats.suppressed), (3, 49 + 19 + 19), "{stats:?}");
}
