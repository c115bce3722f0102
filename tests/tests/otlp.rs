//! OTLP export received by a real HTTP server on a loopback socket, decoded with the standard
//! OTLP protobuf types.

mod common;
mod otlp_support;

use std::error::Error;
use std::fmt;
use std::time::{Duration, Instant};

use audit_runtime::logging::JsonLayer;
use audit_runtime::telemetry::{OtlpConfig, Sampler, TelemetryGuard};
use audit_runtime::trace;
use audit_runtime::trace_span;
use common::Capture;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use otlp_support::{Receiver, attribute, hex};
use tracing_subscriber::prelude::*;

fn config(endpoint: &str) -> OtlpConfig {
    OtlpConfig {
        endpoint: Some(format!("{endpoint}/v1/traces")),
        service_name: Some("otlp-test".to_owned()),
        resource_attributes: vec![("deployment.environment".to_owned(), "test".to_owned())],
        schedule_delay: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
        ..OtlpConfig::default()
    }
}

/// Runs `f` with our JSON layer and the exporter (in the given order), then flushes.
fn run(config: &OtlpConfig, exporter_first: bool, f: impl FnOnce()) -> (Capture, TelemetryGuard) {
    let capture = Capture::default();
    let json = JsonLayer::new(capture.clone());
    // The exporter layer is built for the subscriber it goes in (it carries a per-layer filter).
    let guard = if exporter_first {
        let (otlp, guard) = config.build().unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(otlp).with(json), f);
        guard
    } else {
        let (otlp, guard) = config.build().unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(json).with(otlp), f);
        guard
    };
    assert!(guard.flush(Duration::from_secs(5)), "the flush finished in time");
    (capture, guard)
}

#[derive(Debug)]
struct Timeout;
impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("upstream timed out")
    }
}
impl Error for Timeout {}

#[derive(Debug)]
struct SyncFailed(Timeout);
impl fmt::Display for SyncFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sync failed")
    }
}
impl Error for SyncFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

#[trace_span(name = "sync_all", fields(batch, dry_run, ratio = 0.5, label = %label))]
fn sync_all(batch: i64, dry_run: bool, label: &str, password: &str) -> usize {
    std::thread::sleep(Duration::from_millis(5));
    tracing::info!("sync_started");
    let _ = sync_one(1, password);
    let _ = sync_one(2, password);
    2
}

#[trace_span(err, fields(id))]
fn sync_one(id: u32, password: &str) -> Result<(), SyncFailed> {
    tracing::info!("syncing_one");
    if id == 2 && !password.is_empty() { Err(SyncFailed(Timeout)) } else { Ok(()) }
}

fn by_name<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn exported(receiver: &Receiver, count: usize) -> Vec<Span> {
    let spans: Vec<Span> = receiver.wait_for_spans(count).into_iter().map(|(_, s)| s).collect();
    assert_eq!(spans.len(), count, "{spans:#?}");
    spans
}

#[test]
fn spans_arrive_with_names_parents_typed_attributes_status_and_durations() {
    let receiver = Receiver::start();
    let (capture, guard) = run(&config(&receiver.endpoint()), false, || {
        assert_eq!(sync_all(40, true, "nightly", "s3cret-pw"), 2);
    });

    let requests = receiver.requests();
    assert!(requests.iter().all(|r| r.method == "POST" && r.path == "/v1/traces"), "{requests:?}");
    assert!(requests.iter().all(|r| r.content_type.as_deref() == Some("application/x-protobuf")));
    let with_resource = receiver.wait_for_spans(3);
    let resource = &with_resource[0].0;
    assert_eq!(attribute(&resource.attributes, "service.name"), Some(&Value::StringValue("otlp-test".into())));
    assert_eq!(attribute(&resource.attributes, "deployment.environment"), Some(&Value::StringValue("test".into())));

    let spans = exported(&receiver, 3);
    let root = by_name(&spans, "sync_all")[0];
    let children = by_name(&spans, "otlp::sync_one");
    assert_eq!(children.len(), 2);
    assert!(root.parent_span_id.is_empty(), "the root has no parent");
    assert_eq!(root.trace_id.len(), 16);
    assert_eq!(root.span_id.len(), 8);
    for child in &children {
        assert_eq!(child.parent_span_id, root.span_id);
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
    }
    assert_ne!(children[0].span_id, children[1].span_id);

    assert_eq!(attribute(&root.attributes, "batch"), Some(&Value::IntValue(40)));
    assert_eq!(attribute(&root.attributes, "dry_run"), Some(&Value::BoolValue(true)));
    assert_eq!(attribute(&root.attributes, "ratio"), Some(&Value::DoubleValue(0.5)));
    assert_eq!(attribute(&root.attributes, "label"), Some(&Value::StringValue("nightly".into())));
    assert_eq!(attribute(&root.attributes, "password"), None);

    let duration = root.end_time_unix_nano - root.start_time_unix_nano;
    assert!(duration >= 5_000_000, "the root lasted at least its 5 ms sleep: {duration} ns");
    assert!(duration < 10_000_000_000, "{duration}");
    for child in &children {
        assert!(child.start_time_unix_nano >= root.start_time_unix_nano);
        assert!(child.end_time_unix_nano <= root.end_time_unix_nano);
    }

    let ok = children.iter().find(|c| attribute(&c.attributes, "id") == Some(&Value::IntValue(1))).unwrap();
    let failed = children.iter().find(|c| attribute(&c.attributes, "id") == Some(&Value::IntValue(2))).unwrap();
    // The SDK's encoder always writes a status; UNSET (0) is the absent one.
    assert_eq!(ok.status.as_ref().map_or(0, |s| s.code), StatusCode::Unset as i32, "a success leaves the status unset");
    let status = failed.status.as_ref().expect("the failed span has a status");
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "sync failed");
    let failure = failed.events.iter().find(|e| e.name == "span_failed").expect("the error is a span event");
    // `#[trace_span(err)]` records the error as `exception`, the key of every log line's error.
    match attribute(&failure.attributes, "exception") {
        Some(Value::StringValue(text)) => {
            assert!(text.contains("Caused by:") && text.contains("upstream timed out"), "{text}")
        }
        other => panic!("{other:?}"),
    }

    // Nothing leaked the password, in the spans or in the lines.
    assert!(!format!("{spans:?}").contains("s3cret-pw"));
    assert!(!capture.text().contains("s3cret-pw"));
    assert_eq!(guard.dropped_spans(), 0);
    assert_eq!(guard.exported_spans(), 3);
}

#[test]
fn log_lines_carry_the_ids_of_the_exported_spans_whatever_the_layer_order() {
    for exporter_first in [false, true] {
        let receiver = Receiver::start();
        let (capture, _guard) = run(&config(&receiver.endpoint()), exporter_first, || {
            sync_all(1, false, "ids", "pw");
            tracing::info!("outside_any_span");
        });
        let spans = exported(&receiver, 3);
        let root = by_name(&spans, "sync_all")[0];
        let lines = capture.json_lines();
        let started = lines.iter().find(|l| l["event"] == "sync_started").unwrap();
        assert_eq!(started["trace_id"], hex(&root.trace_id), "exporter first: {exporter_first}");
        assert_eq!(started["span_id"], hex(&root.span_id));
        assert_eq!(started["batch"], 1, "the span's own fields are still there (exporter first: {exporter_first})");
        assert_eq!(started["trace_id"].as_str().unwrap().len(), 32);
        assert_eq!(started["span_id"].as_str().unwrap().len(), 16);
        let inner: Vec<_> = lines.iter().filter(|l| l["event"] == "syncing_one").collect();
        assert_eq!(inner.len(), 2);
        for line in inner {
            assert_eq!(line["trace_id"], hex(&root.trace_id));
            let child = spans.iter().find(|s| hex(&s.span_id) == line["span_id"]).expect("the innermost span's id");
            assert_eq!(child.parent_span_id, root.span_id);
        }
        let outside = lines.iter().find(|l| l["event"] == "outside_any_span").unwrap();
        assert!(!outside.contains_key("trace_id") && !outside.contains_key("span_id"));
    }
}

#[test]
fn async_spans_are_exported_with_their_parent() {
    #[trace_span(fields(id))]
    async fn child(id: u32) -> u32 {
        id * 2
    }
    #[trace_span]
    async fn parent() -> u32 {
        child(1).await + child(2).await
    }
    let receiver = Receiver::start();
    let (_capture, _guard) = run(&config(&receiver.endpoint()), false, || {
        let mut future = std::pin::pin!(parent());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert_eq!(future.as_mut().poll(&mut cx), std::task::Poll::Ready(6));
    });
    let spans = exported(&receiver, 3);
    let root = by_name(&spans, "otlp::parent")[0];
    for child in by_name(&spans, "otlp::child") {
        assert_eq!(child.parent_span_id, root.span_id);
    }
}

#[test]
fn traceparent_is_written_for_the_current_span_and_continued_from_a_header() {
    let receiver = Receiver::start();
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut outgoing = None;
    let (_capture, _guard) = run(&config(&receiver.endpoint()), false, || {
        let _request = trace::continue_trace("handle_request", Some(incoming));
        let _call = trace::span("call_downstream");
        outgoing = trace::current_traceparent().map(|tp| tp.to_string());
    });
    let spans = exported(&receiver, 2);
    let request = by_name(&spans, "handle_request")[0];
    let call = by_name(&spans, "call_downstream")[0];
    assert_eq!(hex(&request.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&request.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(call.parent_span_id, request.span_id);
    assert_eq!(outgoing, Some(format!("00-{}-{}-01", hex(&call.trace_id), hex(&call.span_id))));
    assert!(attribute(&request.attributes, "otel.traceparent").is_none());
    assert!(attribute(&request.attributes, "otel.name").is_none());
}

#[test]
fn follows_from_is_exported_as_a_link() {
    let receiver = Receiver::start();
    let (_capture, _guard) = run(&config(&receiver.endpoint()), false, || {
        let cause = tracing::info_span!("enqueue");
        let work = tracing::info_span!("work");
        work.follows_from(&cause);
    });
    let spans = exported(&receiver, 2);
    let cause = by_name(&spans, "enqueue")[0];
    let work = by_name(&spans, "work")[0];
    assert_eq!(work.links.len(), 1);
    assert_eq!(work.links[0].span_id, cause.span_id);
    assert_eq!(work.links[0].trace_id, cause.trace_id);
}

#[test]
fn always_off_exports_nothing_but_lines_still_carry_ids() {
    let receiver = Receiver::start();
    let config = OtlpConfig { sampler: Sampler::AlwaysOff, ..config(&receiver.endpoint()) };
    let (capture, guard) = run(&config, false, || {
        let _span = trace::span("unsampled");
        tracing::info!("inside");
        assert!(!trace::current_traceparent().unwrap().sampled);
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(receiver.spans().is_empty());
    assert_eq!(guard.exported_spans(), 0);
    assert_eq!(capture.only_line()["trace_id"].as_str().unwrap().len(), 32);
}

#[test]
fn a_collector_that_is_down_drops_spans_counts_them_and_never_blocks() {
    // A port nobody listens on: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config =
        OtlpConfig { max_queue_size: 64, max_export_batch_size: 16, ..config(&format!("http://127.0.0.1:{port}")) };
    let spans = 5_000;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    let (_, guard) = run(&config, false, || {
        for i in 0..spans {
            let call = Instant::now();
            let _span = trace::span!("doomed", i);
            drop(_span);
            slowest = slowest.max(call.elapsed());
        }
    });
    let total = started.elapsed();
    assert_eq!(guard.exported_spans(), 0);
    assert_eq!(guard.dropped_spans(), spans, "every span is counted as dropped once flushed");
    assert!(total < Duration::from_secs(5), "{total:?}");
    assert!(slowest < Duration::from_millis(200), "no span waited for the network: slowest {slowest:?}");
}
