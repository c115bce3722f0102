//! The OTLP exporter built from the standard variables reaches an HTTPS collector: a receiver
//! on a loopback socket with a self-signed certificate made here, trusted through
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`, that refuses requests without its API key header. A
//! header value that would inject another header is refused with an error naming the variable.

mod otlp_support;

use std::ffi::OsString;
use std::time::Duration;

use audit_runtime::telemetry::{OtlpConfig, TelemetryGuard, vars};
use audit_runtime::trace_span;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otlp_support::{Receiver, TestCertificate, attribute};
use tracing_subscriber::prelude::*;

#[trace_span(fields(invoice))]
fn bill(invoice: u32) {
    tracing::info!("invoice_billed");
}

/// The configuration the variables `vars` give (read through a lookup, not the process's
/// environment, which other tests of this binary share).
fn from_vars(vars: &[(&str, String)]) -> OtlpConfig {
    let vars: Vec<(String, OsString)> = vars.iter().map(|(k, v)| (k.to_string(), v.into())).collect();
    let mut config =
        OtlpConfig::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).unwrap();
    config.schedule_delay = Duration::from_millis(50);
    config.timeout = Duration::from_secs(3);
    config
}

fn run(config: &OtlpConfig, f: impl FnOnce()) -> TelemetryGuard {
    let (otlp, guard) = config.build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(otlp), f);
    assert!(guard.flush(Duration::from_secs(10)), "the flush finished in time");
    guard
}

#[test]
fn spans_reach_an_https_collector_that_requires_a_header() {
    let certificate = TestCertificate::for_localhost();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("collector-ca.pem");
    std::fs::write(&ca, &certificate.pem).unwrap();
    let receiver = Receiver::start_tls(&certificate, Some(("x-api-key", "k3y with space")));

    let config = from_vars(&[
        (vars::ENDPOINT, receiver.endpoint()),
        (vars::CERTIFICATE, ca.display().to_string()),
        (vars::HEADERS, "x-api-key=k3y%20with%20space".to_owned()),
    ]);
    assert_eq!(config.endpoint.as_deref(), Some(format!("{}/v1/traces", receiver.endpoint()).as_str()));
    let guard = run(&config, || bill(7));
    let spans = receiver.wait_for_spans(1);
    assert_eq!(spans.len(), 1, "the span arrived over TLS");
    assert_eq!(spans[0].1.name, "otlp_tls::bill");
    assert_eq!(attribute(&spans[0].1.attributes, "invoice"), Some(&Value::IntValue(7)));
    assert_eq!(guard.exported_spans(), 1);
    let request = &receiver.requests()[0];
    assert_eq!(request.path, "/v1/traces");
    assert!(request.headers.iter().any(|(n, v)| n == "x-api-key" && v == "k3y with space"), "{:?}", request.headers);
    assert_eq!(receiver.refused.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn without_the_header_the_collector_refuses_and_the_spans_are_counted_as_dropped() {
    let certificate = TestCertificate::for_localhost();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &certificate.pem).unwrap();
    let receiver = Receiver::start_tls(&certificate, Some(("x-api-key", "right")));
    let config = from_vars(&[
        (vars::TRACES_ENDPOINT, format!("{}/v1/traces", receiver.endpoint())),
        (vars::CERTIFICATE, ca.display().to_string()),
        (vars::HEADERS, "x-api-key=wrong".to_owned()),
    ]);
    let guard = run(&config, || bill(1));
    assert!(receiver.refused.load(std::sync::atomic::Ordering::SeqCst) >= 1, "the request reached the collector");
    assert_eq!(guard.dropped_spans(), 1);
    assert!(receiver.spans().is_empty());
}

#[test]
fn an_untrusted_certificate_is_refused() {
    // The collector's certificate is not in the system's store and no certificate file is given.
    let certificate = TestCertificate::for_localhost();
    let receiver = Receiver::start_tls(&certificate, None);
    let config = from_vars(&[(vars::ENDPOINT, receiver.endpoint())]);
    let guard = run(&config, || bill(2));
    assert_eq!(guard.dropped_spans(), 1, "TLS verification failed, nothing was accepted");
    assert!(receiver.spans().is_empty());
}

#[test]
fn a_header_value_with_crlf_is_refused_naming_the_variable() {
    let vars: Vec<(String, OsString)> = vec![(vars::HEADERS.to_owned(), "api-key=secret%0D%0AX-Injected: yes".into())];
    let error = OtlpConfig::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("OTEL_EXPORTER_OTLP_HEADERS="), "{error}");
    assert!(error.contains("control character"), "{error}");
    assert!(!error.contains("secret"), "the value (a key) is not shown: {error}");
}
