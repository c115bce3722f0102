//! The fast path of `#[trace_span]` under OTLP export: spans recorded without a `tracing` span
//! when only the exporter wants them, mixed with `tracing` spans, across threads and awaits,
//! received by a real OTLP/HTTP receiver on loopback and decoded with the standard types.

mod common;
mod otlp_support;

use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_runtime::logging::JsonLayer;
use audit_runtime::telemetry::{OtlpConfig, Sampler, TelemetryGuard};
use audit_runtime::trace;
use audit_runtime::trace_span;
use common::Capture;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use otlp_support::{Receiver, attribute, hex};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

fn config(receiver: &Receiver) -> OtlpConfig {
    OtlpConfig {
        endpoint: Some(format!("{}/v1/traces", receiver.endpoint())),
        service_name: Some("otlp-fast-test".to_owned()),
        schedule_delay: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
        ..OtlpConfig::default()
    }
}

/// Runs `f` with only the exporter in the subscriber, then flushes.
fn exporter_only(config: &OtlpConfig, f: impl FnOnce()) -> TelemetryGuard {
    let (otlp, guard) = config.build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(otlp), f);
    assert!(guard.flush(Duration::from_secs(5)));
    guard
}

/// Runs `f` with the exporter and our JSON layer, then flushes.
fn with_json(config: &OtlpConfig, f: impl FnOnce()) -> (Capture, TelemetryGuard) {
    let capture = Capture::default();
    let (otlp, guard) = config.build().unwrap();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(capture.clone())).with(otlp);
    tracing::subscriber::with_default(subscriber, f);
    assert!(guard.flush(Duration::from_secs(5)));
    (capture, guard)
}

fn exported(receiver: &Receiver, count: usize) -> Vec<Span> {
    let spans: Vec<Span> = receiver.wait_for_spans(count).into_iter().map(|(_, s)| s).collect();
    assert_eq!(spans.len(), count, "{spans:#?}");
    spans
}

fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one span {name:?} in {spans:#?}");
    found[0]
}

fn assert_child(child: &Span, parent: &Span) {
    assert_eq!(hex(&child.parent_span_id), hex(&parent.span_id), "{} is a child of {}", child.name, parent.name);
    assert_eq!(child.trace_id, parent.trace_id);
}

#[trace_span]
fn fast_outer() {
    let tracing_span = tracing::info_span!("tracing_middle");
    let _entered = tracing_span.enter();
    fast_inner();
}

#[trace_span]
fn fast_inner() {
    tracing::info!("inner_line");
}

#[test]
fn fast_and_tracing_spans_nest_both_ways_with_the_right_parents() {
    let receiver = Receiver::start();
    let guard = exporter_only(&config(&receiver), || {
        // tracing -> fast -> tracing -> fast
        let top = tracing::info_span!("tracing_top");
        let _entered = top.enter();
        fast_outer();
    });
    let spans = exported(&receiver, 4);
    let top = named(&spans, "tracing_top");
    let outer = named(&spans, "otlp_fast::fast_outer");
    let middle = named(&spans, "tracing_middle");
    let inner = named(&spans, "otlp_fast::fast_inner");
    assert!(top.parent_span_id.is_empty());
    assert_child(outer, top);
    assert_child(middle, outer);
    assert_child(inner, middle);
    // The event inside the innermost fast span is one of its span events.
    assert!(inner.events.iter().any(|e| e.name == "inner_line"), "{inner:#?}");
    assert_eq!(guard.exported_spans(), 4);
    assert_eq!(guard.dropped_spans(), 0);
}

#[trace_span]
fn sees_no_tracing_span() -> bool {
    tracing::Span::current().is_none()
}

#[test]
fn with_only_the_exporter_no_tracing_span_is_made_and_the_span_is_still_exported() {
    let receiver = Receiver::start();
    let mut bypassed = false;
    let _guard = exporter_only(&config(&receiver), || bypassed = sees_no_tracing_span());
    assert!(bypassed, "the registry made no span for a function only the exporter wants");
    let spans = exported(&receiver, 1);
    assert_eq!(spans[0].name, "otlp_fast::sees_no_tracing_span");
    assert!(spans[0].parent_span_id.is_empty());
}

#[derive(Debug)]
struct Refused;
impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refused by upstream")
    }
}
impl Error for Refused {}

#[trace_span(err, ret, fields(count, active, ratio = 0.25, label = %label, big = u64::MAX, tags = ?["a", "b"]))]
fn typed(count: i64, active: bool, label: &str, fail: bool) -> Result<u32, Refused> {
    if fail { Err(Refused) } else { Ok(7) }
}

#[test]
fn fields_err_and_ret_are_exported_with_their_types() {
    let receiver = Receiver::start();
    let _guard = exporter_only(&config(&receiver), || {
        let _ = typed(-3, true, "nightly", false);
        let _ = typed(4, false, "again", true);
    });
    let spans = exported(&receiver, 2);
    let ok = spans.iter().find(|s| attribute(&s.attributes, "count") == Some(&Value::IntValue(-3))).unwrap();
    let failed = spans.iter().find(|s| attribute(&s.attributes, "count") == Some(&Value::IntValue(4))).unwrap();
    assert_eq!(attribute(&ok.attributes, "active"), Some(&Value::BoolValue(true)));
    assert_eq!(attribute(&ok.attributes, "ratio"), Some(&Value::DoubleValue(0.25)));
    assert_eq!(attribute(&ok.attributes, "label"), Some(&Value::StringValue("nightly".into())));
    assert_eq!(attribute(&ok.attributes, "big"), Some(&Value::StringValue(u64::MAX.to_string())));
    assert_eq!(attribute(&ok.attributes, "tags"), Some(&Value::StringValue("[\"a\", \"b\"]".into())));
    assert!(attribute(&ok.attributes, "fail").is_none(), "arguments not named are not recorded");
    assert_eq!(
        ok.status.as_ref().map_or(0, |s| s.code),
        StatusCode::Unset as i32,
        "UNSET: the SDK always writes a status"
    );
    let returned = ok.events.iter().find(|e| e.name == "span_returned").expect("ret is a span event");
    assert_eq!(attribute(&returned.attributes, "return_value"), Some(&Value::StringValue("7".into())));

    let status = failed.status.as_ref().expect("err sets the status");
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "refused by upstream");
    let failure = failed.events.iter().find(|e| e.name == "span_failed").expect("err is a span event");
    assert_eq!(attribute(&failure.attributes, "exception"), Some(&Value::StringValue("refused by upstream".into())));
    assert_eq!(attribute(&failure.attributes, "level"), Some(&Value::StringValue("error".into())));
}

#[trace_span(fields(step))]
async fn step(step: u32) -> u32 {
    // Give the runtime a chance to resume us on another worker thread.
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    tracing::info!("step_done");
    step
}

#[trace_span(fields(job))]
async fn job(job: u32) -> u32 {
    let mut total = 0;
    for i in 0..3 {
        total += step(i).await;
        tokio::task::yield_now().await;
    }
    total + job
}

#[test]
fn async_spans_keep_their_parents_across_threads_and_awaits() {
    let receiver = Receiver::start();
    let (otlp, guard) = config(&receiver).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(otlp));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_time().build().unwrap();
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    // The first two tasks meet at a blocking barrier, which only two worker threads can pass:
    // the spans surely run on several threads, however busy the machine is.
    let meet = Arc::new(std::sync::Barrier::new(2));
    runtime.block_on({
        let dispatch = dispatch.clone();
        let threads = threads.clone();
        async move {
            let tasks: Vec<_> = (0..8)
                .map(|n| {
                    let dispatch = dispatch.clone();
                    let threads = threads.clone();
                    let meet = meet.clone();
                    tokio::spawn(async move {
                        if n < 2 {
                            meet.wait();
                        }
                        let _default = tracing::dispatcher::set_default(&dispatch);
                        threads.lock().unwrap().insert(std::thread::current().id());
                        let out = tracing::instrument::WithSubscriber::with_subscriber(job(n), dispatch.clone()).await;
                        threads.lock().unwrap().insert(std::thread::current().id());
                        out
                    })
                })
                .collect();
            for (n, task) in tasks.into_iter().enumerate() {
                assert_eq!(task.await.unwrap(), 3 + n as u32);
            }
        }
    });
    drop(runtime);
    assert!(threads.lock().unwrap().len() > 1, "the tasks ran on several threads");
    assert!(guard.flush(Duration::from_secs(5)));
    let spans = exported(&receiver, 8 * 4);
    let jobs: Vec<&Span> = spans.iter().filter(|s| s.name == "otlp_fast::job").collect();
    assert_eq!(jobs.len(), 8);
    for job in &jobs {
        assert!(job.parent_span_id.is_empty());
        let steps: Vec<&Span> = spans.iter().filter(|s| s.parent_span_id == job.span_id).collect();
        assert_eq!(steps.len(), 3, "each job has its three steps: {spans:#?}");
        for step in steps {
            assert_eq!(step.name, "otlp_fast::step");
            assert_eq!(step.trace_id, job.trace_id);
            assert!(step.start_time_unix_nano >= job.start_time_unix_nano);
            assert!(step.end_time_unix_nano <= job.end_time_unix_nano);
            assert!(step.end_time_unix_nano - step.start_time_unix_nano >= 2_000_000, "the step lasted its sleep");
            assert!(step.events.iter().any(|e| e.name == "step_done"), "the event inside is the step's");
        }
    }
    let trace_ids: std::collections::HashSet<_> = jobs.iter().map(|j| j.trace_id.clone()).collect();
    assert_eq!(trace_ids.len(), 8, "each job is its own trace");
    assert_eq!(guard.dropped_spans(), 0);
}

#[trace_span]
fn sampled_parent() {
    fast_inner();
}

#[test]
fn sampling_applies_to_fast_spans_and_children_follow_their_parent() {
    // Always off: nothing exported, yet log lines and traceparent carry the ids.
    let receiver = Receiver::start();
    let config_off = OtlpConfig { sampler: Sampler::AlwaysOff, ..config(&receiver) };
    let mut traceparent = None;
    let (capture, guard) = with_json(&config_off, || {
        sampled_parent();
        #[trace_span]
        fn read_traceparent() -> Option<trace::TraceParent> {
            trace::current_traceparent()
        }
        traceparent = read_traceparent();
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(receiver.spans().is_empty());
    assert_eq!(guard.exported_spans(), 0);
    let line = capture.only_line();
    assert_eq!(line["trace_id"].as_str().unwrap().len(), 32);
    assert!(!traceparent.expect("a traceparent inside a fast span").sampled);

    // Parent-based: a remote unsampled parent keeps its fast children out too, a sampled one
    // brings them in.
    let receiver = Receiver::start();
    let _guard = exporter_only(&config(&receiver), || {
        let _remote =
            trace::continue_trace("unsampled_request", Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
        sampled_parent();
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(receiver.spans().is_empty(), "{:?}", receiver.spans());
    let _guard = exporter_only(&config(&receiver), || {
        let _remote =
            trace::continue_trace("sampled_request", Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        sampled_parent();
    });
    let spans = exported(&receiver, 3);
    let parent = named(&spans, "otlp_fast::sampled_parent");
    assert_eq!(hex(&parent.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_child(named(&spans, "otlp_fast::fast_inner"), parent);

    // A ratio sampler decides per trace.
    let receiver = Receiver::start();
    let half = OtlpConfig { sampler: Sampler::TraceIdRatio(0.5), ..config(&receiver) };
    let guard = exporter_only(&half, || (0..400).for_each(|_| fast_inner()));
    std::thread::sleep(Duration::from_millis(100));
    let kept = guard.exported_spans();
    assert!((120..280).contains(&kept), "about half of 400 traces: {kept}");
}

#[test]
fn log_lines_carry_the_ids_of_the_exported_spans_fast_or_not() {
    let receiver = Receiver::start();
    let (capture, _guard) = with_json(&config(&receiver), || {
        fast_outer();
        tracing::info!("outside");
    });
    let spans = exported(&receiver, 3);
    let lines = capture.json_lines();
    let inner_line = lines.iter().find(|l| l["event"] == "inner_line").unwrap();
    let inner = named(&spans, "otlp_fast::fast_inner");
    assert_eq!(inner_line["trace_id"], hex(&inner.trace_id));
    assert_eq!(inner_line["span_id"], hex(&inner.span_id));
    assert_child(inner, named(&spans, "tracing_middle"));
    assert_child(named(&spans, "tracing_middle"), named(&spans, "otlp_fast::fast_outer"));
    let outside = lines.iter().find(|l| l["event"] == "outside").unwrap();
    assert!(!outside.contains_key("trace_id"));
}

/// Counts the spans it is told about, by name.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Seen {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        self.0.lock().unwrap().push(attrs.metadata().name().to_owned());
    }
}

#[trace_span(fields(id))]
fn seen_by_others(id: u32) -> bool {
    !tracing::Span::current().is_none()
}

#[test]
fn other_layers_still_see_the_spans_when_the_exporter_is_on() {
    let receiver = Receiver::start();
    let seen = Seen::default();
    let (otlp, guard) = config(&receiver).build().unwrap();
    let mut current = false;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(seen.clone()).with(otlp), || {
        current = seen_by_others(3);
    });
    assert!(guard.flush(Duration::from_secs(5)));
    assert!(current, "Span::current() is the function's span when another layer wants it");
    assert_eq!(*seen.0.lock().unwrap(), ["otlp_fast::seen_by_others"]);
    let spans = exported(&receiver, 1);
    assert_eq!(spans[0].name, "otlp_fast::seen_by_others", "exported once, not twice");
    assert_eq!(attribute(&spans[0].attributes, "id"), Some(&Value::IntValue(3)));
}

#[trace_span(level = "debug")]
fn at_debug() {}

#[test]
fn the_filter_around_the_exporter_applies_to_fast_spans() {
    let receiver = Receiver::start();
    let (otlp, guard) = config(&receiver).build().unwrap();
    let capture = Capture::default();
    // The JSON layer wants debug spans, the exporter only info.
    let subscriber = tracing_subscriber::registry()
        .with(JsonLayer::new(capture.clone()))
        .with(otlp.with_filter(tracing_subscriber::filter::LevelFilter::INFO));
    tracing::subscriber::with_default(subscriber, || {
        at_debug();
        fast_inner();
    });
    assert!(guard.flush(Duration::from_secs(5)));
    let spans = exported(&receiver, 1);
    assert_eq!(spans[0].name, "otlp_fast::fast_inner");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(receiver.spans().len(), 1, "the debug span was not exported");
}

#[test]
fn the_exporter_recovers_when_the_collector_comes_back_on_the_same_address() {
    // A port nobody listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = OtlpConfig {
        endpoint: Some(format!("http://127.0.0.1:{port}/v1/traces")),
        schedule_delay: Duration::from_millis(50),
        timeout: Duration::from_secs(1),
        ..OtlpConfig::default()
    };
    let (otlp, guard) = config.build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(otlp));
    tracing::dispatcher::with_default(&dispatch, || (0..5).for_each(|_| fast_inner()));
    assert!(guard.flush(Duration::from_secs(5)));
    assert_eq!(guard.dropped_spans(), 5, "the collector is down: dropped and counted");
    assert_eq!(guard.exported_spans(), 0);

    let receiver = Receiver::start_on(port);
    // After the back-off (half a second after the first failure) the next export is tried.
    std::thread::sleep(Duration::from_millis(700));
    tracing::dispatcher::with_default(&dispatch, || (0..3).for_each(|_| fast_inner()));
    assert!(guard.flush(Duration::from_secs(5)));
    let spans = exported(&receiver, 3);
    assert!(spans.iter().all(|s| s.name == "otlp_fast::fast_inner"));
    assert_eq!(guard.exported_spans(), 3);
    assert_eq!(guard.dropped_spans(), 5);
}

#[trace_span]
fn sleeping(duration: Duration) {
    std::thread::sleep(duration);
}

fn unix_nanos(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[test]
fn exported_times_follow_the_wall_clock_and_durations_the_time_spent() {
    const SLEEP: Duration = Duration::from_millis(30);
    const SLACK: u64 = 3_000_000;
    let receiver = Receiver::start();
    let (otlp, guard) = config(&receiver).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(otlp));
    // One span right away (the clock may not be calibrated yet), one after the first
    // calibration, one after a re-calibration.
    let mut bounds = Vec::new();
    for pause in [Duration::ZERO, Duration::from_millis(50), Duration::from_millis(1200)] {
        std::thread::sleep(pause);
        let before = std::time::SystemTime::now();
        tracing::dispatcher::with_default(&dispatch, || sleeping(SLEEP));
        bounds.push((unix_nanos(before), unix_nanos(std::time::SystemTime::now())));
    }
    assert!(guard.flush(Duration::from_secs(5)));
    let mut spans = exported(&receiver, 3);
    spans.sort_by_key(|s| s.start_time_unix_nano);
    for (span, (before, after)) in spans.iter().zip(bounds) {
        let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
        assert!(start + SLACK >= before && end <= after + SLACK, "{start}..{end} within {before}..{after}");
        let took = end - start;
        assert!(took + SLACK / 10 >= SLEEP.as_nanos() as u64, "{took} ns for a sleep of {SLEEP:?}");
        assert!(took <= after - before + SLACK / 10, "{took} ns, {} ns measured around", after - before);
    }
}

#[test]
fn flush_delivers_the_partial_buffer_of_a_thread_that_stays_alive_and_idle() {
    let receiver = Receiver::start();
    let config = OtlpConfig { schedule_delay: Duration::from_secs(60), ..config(&receiver) };
    let (otlp, guard) = config.build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(otlp));
    let (recorded_tx, recorded) = std::sync::mpsc::channel::<()>();
    let (go_on, go_on_rx) = std::sync::mpsc::channel::<usize>();
    let worker = std::thread::spawn(move || {
        // Fewer spans than a chunk, then more than two chunks, each time left idle.
        for count in [3, 150] {
            tracing::dispatcher::with_default(&dispatch, || (0..count).for_each(|_| fast_inner()));
            recorded_tx.send(()).unwrap();
            if go_on_rx.recv().is_err() {
                return;
            }
        }
    });
    recorded.recv().unwrap();
    // The export delay is a minute: only the flush sends them.
    assert!(guard.flush(Duration::from_secs(5)));
    assert_eq!(exported(&receiver, 3).len(), 3);
    go_on.send(150).unwrap();
    recorded.recv().unwrap();
    assert!(guard.flush(Duration::from_secs(5)));
    assert_eq!(exported(&receiver, 153).len(), 153);
    assert_eq!(guard.exported_spans(), 153);
    assert_eq!(guard.dropped_spans(), 0);
    drop(go_on);
    worker.join().unwrap();
}

#[test]
fn a_full_queue_drops_and_counts_fast_spans_without_blocking() {
    let receiver = Receiver::start();
    let config = OtlpConfig {
        max_queue_size: 16,
        max_export_batch_size: 8,
        schedule_delay: Duration::from_secs(60),
        ..config(&receiver)
    };
    // Far faster than one HTTP request per 8 spans can carry them.
    let guard = exporter_only(&config, || (0..1_000).for_each(|_| fast_inner()));
    let (exported, dropped) = (guard.exported_spans(), guard.dropped_spans());
    assert_eq!(exported + dropped, 1_000, "every span is exported or counted as dropped");
    assert!(dropped > 0 && exported > 0, "{exported} exported, {dropped} dropped");
    assert_eq!(receiver.wait_for_spans(exported as usize).len() as u64, exported);
}
