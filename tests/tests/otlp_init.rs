//! `telemetry::init_from_env()`: one call sets up the JSON logs and the exporter from the
//! environment, as a service's `main` does. Its own test binary: it installs the global
//! subscriber.

mod otlp_support;

use std::time::Duration;

use audit_runtime::trace_span;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otlp_support::{Receiver, attribute, hex};

#[trace_span(fields(job))]
fn nightly(job: &str) {
    tracing::info!("job_ran");
}

#[test]
fn init_from_env_exports_spans_and_writes_their_ids_into_log_lines() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("app.log");
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint());
        std::env::set_var("OTEL_SERVICE_NAME", "nightly-jobs");
        std::env::set_var("OTEL_RESOURCE_ATTRIBUTES", "team=data");
        std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "50");
        std::env::set_var("LOGFILE", &logfile);
        std::env::set_var("CONSOLE_LOG_LEVEL", "critical");
    }
    let guard = audit_runtime::telemetry::init_from_env().unwrap();
    let second = audit_runtime::telemetry::init_from_env().unwrap_err().to_string();
    assert!(second.contains("telemetry::init_from_env is already installed"), "a second call says which: {second}");
    let logging = audit_runtime::logging::init_from_env().unwrap_err().to_string();
    assert!(
        logging.contains("telemetry::init_from_env already installed one"),
        "logging's own set-up fails too, and says which is installed: {logging}"
    );

    nightly("reindex");
    assert!(guard.flush(Duration::from_secs(5)));
    let spans = receiver.wait_for_spans(1);
    let (resource, span) = &spans[0];
    assert_eq!(span.name, "otlp_init::nightly");
    assert_eq!(attribute(&span.attributes, "job"), Some(&Value::StringValue("reindex".into())));
    assert_eq!(attribute(&resource.attributes, "service.name"), Some(&Value::StringValue("nightly-jobs".into())));
    assert_eq!(attribute(&resource.attributes, "team"), Some(&Value::StringValue("data".into())));

    // The collector fails: spans are dropped and counted, and one warning says so.
    receiver.set_failing(true);
    nightly("first");
    assert!(guard.flush(Duration::from_secs(5)));
    nightly("second");
    assert!(guard.flush(Duration::from_secs(5)));
    assert_eq!(guard.dropped_spans(), 2);
    assert_eq!(guard.exported_spans(), 1);

    drop(guard); // writes the log file out
    let text = std::fs::read_to_string(&logfile).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ran = lines.iter().find(|l| l["event"] == "job_ran").unwrap();
    assert_eq!(ran["trace_id"], hex(&span.trace_id));
    assert_eq!(ran["span_id"], hex(&span.span_id));
    let warnings: Vec<_> = lines.iter().filter(|l| l["event"] == "otlp_export_failed").collect();
    assert_eq!(warnings.len(), 1, "the warning is rate-limited: {text}");
    assert_eq!(warnings[0]["level"], "warning");
    assert!(warnings[0]["error"].as_str().unwrap().contains("503"), "{}", warnings[0]);
}
