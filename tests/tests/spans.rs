//! `#[trace_span]` and the scope form, seen through our JSON layer and a layer that records the
//! span tree.

mod common;

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use audit_runtime::logging::JsonLayer;
use audit_runtime::trace::{self, TraceParent};
use audit_runtime::trace_span;
use common::Capture;
use tracing::span::{Attributes, Id};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// A span as the recorder saw it.
#[derive(Clone, Debug)]
struct SeenSpan {
    name: String,
    parent: Option<String>,
    fields: Vec<String>,
    follows_from: Vec<String>,
}

/// Records every span's name, parent and field names.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(u64, SeenSpan)>>>);

impl Recorder {
    fn spans(&self) -> Vec<SeenSpan> {
        self.0.lock().unwrap().iter().map(|(_, s)| s.clone()).collect()
    }
    fn named(&self, name: &str) -> SeenSpan {
        self.spans()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span named {name:?} in {:?}", self.spans()))
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let seen = SeenSpan {
            name: attrs.metadata().name().to_owned(),
            parent: span.parent().map(|p| p.name().to_owned()),
            fields: attrs.fields().iter().map(|f| f.name().to_owned()).collect(),
            follows_from: Vec::new(),
        };
        self.0.lock().unwrap().push((id.into_u64(), seen));
    }
    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let cause = ctx.span(follows).unwrap().name().to_owned();
        let mut spans = self.0.lock().unwrap();
        if let Some((_, seen)) = spans.iter_mut().rev().find(|(i, _)| *i == id.into_u64()) {
            seen.follows_from.push(cause);
        }
    }
}

/// Runs `f` with our JSON layer and the recorder, at `level` and above.
fn run(level: Level, f: impl FnOnce()) -> (Capture, Recorder) {
    let capture = Capture::default();
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry()
        .with(JsonLayer::new(capture.clone()))
        .with(recorder.clone())
        .with(tracing_subscriber::filter::LevelFilter::from_level(level));
    tracing::subscriber::with_default(subscriber, f);
    (capture, recorder)
}

/// Polls a future to completion on this thread (the futures here never wait on I/O).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// A future that is pending once, so that an instrumented future is polled (and its span
/// entered) twice.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

// ---- the functions under test ----

#[trace_span]
fn plain() {
    tracing::info!("inside_plain");
}

#[trace_span(fields(user))]
fn login(user: &str, password: &str) -> bool {
    tracing::info!("login_checked");
    password.len() > 3
}

#[derive(Debug)]
enum Kind {
    Csv,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("csv")
    }
}

#[trace_span(name = "import", level = "info", fields(rows = items.len(), kind = %kind, first = ?items.first(), batch))]
fn import(items: &[u32], kind: Kind, batch: u64) {
    tracing::info!("imported");
}

#[derive(Debug)]
struct LowLevel;
impl fmt::Display for LowLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("disk full")
    }
}
impl Error for LowLevel {}

#[derive(Debug)]
struct SaveFailed(LowLevel);
impl fmt::Display for SaveFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("could not save")
    }
}
impl Error for SaveFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

#[trace_span(err, fields(id))]
fn save(id: u32, fail: bool) -> Result<u32, SaveFailed> {
    if fail {
        return Err(SaveFailed(LowLevel));
    }
    Ok(id)
}

#[trace_span(err)]
fn parse_text(text: &str) -> Result<i32, String> {
    text.parse::<i32>().map_err(|e| format!("not a number: {e}"))
}

#[trace_span(ret)]
fn double(x: i32) -> i32 {
    x * 2
}

#[trace_span(err, ret)]
fn checked_half(x: i32) -> Result<i32, String> {
    if x % 2 == 0 { Ok(x / 2) } else { Err(format!("{x} is odd")) }
}

#[trace_span(fields(id))]
async fn load(id: u32, token: &str) -> usize {
    yield_once().await;
    tracing::info!("loaded");
    token.len() + id as usize
}

#[trace_span(err, ret)]
async fn load_checked(id: u32) -> Result<u32, SaveFailed> {
    yield_once().await;
    if id == 0 { Err(SaveFailed(LowLevel)) } else { Ok(id) }
}

#[trace_span(fields(id))]
fn fetch(id: u32) -> impl Future<Output = u32> {
    tracing::info!("fetch_started");
    async move {
        yield_once().await;
        tracing::info!("fetch_polled");
        id + 1
    }
}

#[trace_span]
fn outer() {
    middle();
}

#[trace_span]
fn middle() {
    inner();
}

#[trace_span]
fn inner() {
    tracing::info!("deep");
}

#[trace_span(level = "debug", fields(x))]
fn chatty(x: u32) -> u32 {
    x + 1
}

struct Store {
    name: String,
}

impl Store {
    #[trace_span(fields(key, store = %self.name))]
    fn get(&self, key: &str) -> usize {
        tracing::info!("store_read");
        key.len()
    }
}

trait Repository {
    fn count(&self, table: &str) -> usize;
}

impl Repository for Store {
    #[trace_span(fields(table))]
    fn count(&self, table: &str) -> usize {
        tracing::info!("counted");
        table.len() + self.name.len()
    }
}

#[trace_span(parent = None)]
fn detached() {
    tracing::info!("detached_line");
}

#[trace_span(follows_from = [cause.id()])]
fn caused_by(cause: &tracing::Span) {}

// ---- the tests ----

fn line<'a>(
    lines: &'a [serde_json::Map<String, serde_json::Value>],
    event: &str,
) -> &'a serde_json::Map<String, serde_json::Value> {
    lines.iter().find(|l| l["event"] == event).unwrap_or_else(|| panic!("no line {event:?} in {lines:?}"))
}

#[test]
fn the_default_name_is_module_and_function_and_no_argument_is_recorded() {
    let (capture, recorder) = run(Level::INFO, plain);
    let span = recorder.named("spans::plain");
    assert!(span.fields.is_empty(), "{span:?}");
    assert_eq!(capture.only_line()["event"], "inside_plain");
}

#[test]
fn a_named_argument_is_recorded_and_an_unnamed_one_never() {
    let (capture, recorder) = run(Level::INFO, || {
        assert!(login("ada", "hunter2-secret"));
    });
    let line = capture.only_line();
    assert_eq!(line["user"], "ada");
    assert!(!capture.text().contains("hunter2-secret"), "{}", capture.text());
    assert_eq!(recorder.named("spans::login").fields, ["user"]);
}

#[test]
fn fields_by_expression_with_display_and_debug() {
    let (capture, recorder) = run(Level::INFO, || import(&[4, 5, 6], Kind::Csv, 9));
    let line = capture.only_line();
    assert_eq!(line["rows"], 3);
    assert_eq!(line["kind"], "csv");
    assert_eq!(line["first"], "Some(4)");
    assert_eq!(line["batch"], 9);
    assert_eq!(recorder.named("import").fields, ["rows", "kind", "first", "batch"]);
}

#[test]
fn err_records_the_error_with_its_source_chain_at_level_error() {
    let (capture, _) = run(Level::INFO, || {
        assert!(save(7, true).is_err());
        assert_eq!(save(8, false).ok(), Some(8));
    });
    let lines = capture.json_lines();
    assert_eq!(lines.len(), 1, "only the failure is logged: {lines:?}");
    let failed = &lines[0];
    assert_eq!(failed["event"], "span_failed");
    assert_eq!(failed["level"], "error");
    assert_eq!(failed["id"], 7);
    let exception = failed["exception"].as_str().unwrap();
    assert!(exception.starts_with("could not save"), "{exception}");
    assert!(exception.contains("Caused by:") && exception.contains("disk full"), "{exception}");
}

#[test]
fn err_on_a_display_only_error_records_its_text() {
    let (capture, _) = run(Level::INFO, || assert!(parse_text("x").is_err()));
    let line = capture.only_line();
    assert_eq!(line["event"], "span_failed");
    assert!(line["exception"].as_str().unwrap().starts_with("not a number"), "{line:?}");
    assert_eq!(line["exception_id"], serde_json::Value::Null, "only an `ApiError` has one");
    assert_eq!(line["level"], "error");
}

/// An audited value whose derived `Debug` would print the redacted SSN.
#[derive(audit_runtime::Audited, Clone, Debug, serde::Serialize)]
struct Patient {
    id: i64,
    ward: String,
    #[audited(redact)]
    ssn: String,
}

#[trace_span(ret)]
fn admit() -> Patient {
    Patient { id: 7, ward: "A".into(), ssn: "123-45-6789".into() }
}

#[trace_span(ret)]
fn admit_all() -> Vec<Patient> {
    vec![admit()]
}

#[trace_span(err, ret)]
fn admit_checked() -> Result<Patient, String> {
    Ok(Patient { id: 8, ward: "B".into(), ssn: "987-65-4321".into() })
}

#[test]
fn ret_of_an_audited_value_records_its_snapshot_never_a_redacted_field() {
    let (capture, _) = run(Level::INFO, || {
        assert_eq!(admit().id, 7);
        assert_eq!(admit_all().len(), 1);
        assert_eq!(admit_checked().unwrap().id, 8);
    });
    let text = capture.text();
    assert!(!text.contains("123-45-6789") && !text.contains("987-65-4321"), "{text}");
    let returned: Vec<serde_json::Value> = capture
        .json_lines()
        .into_iter()
        .filter(|line| line["event"] == "span_returned")
        .map(|line| line["return_value"].clone())
        .collect();
    assert_eq!(
        returned,
        [
            serde_json::json!({"id": 7, "ward": "A"}),
            serde_json::json!({"id": 7, "ward": "A"}),
            serde_json::json!([{"id": 7, "ward": "A"}]),
            serde_json::json!({"id": 8, "ward": "B"}),
        ]
    );
}

#[test]
fn ret_records_the_returned_value() {
    let (capture, _) = run(Level::INFO, || assert_eq!(double(21), 42));
    let line = capture.only_line();
    assert_eq!(line["event"], "span_returned");
    assert_eq!(line["return_value"], "42");
    assert_eq!(line["level"], "info");
}

#[test]
fn err_and_ret_together_record_the_ok_value_or_the_error() {
    let (capture, _) = run(Level::INFO, || {
        assert_eq!(checked_half(8), Ok(4));
        assert!(checked_half(3).is_err());
    });
    let lines = capture.json_lines();
    assert_eq!(line(&lines, "span_returned")["return_value"], "4");
    assert_eq!(line(&lines, "span_failed")["exception"], "3 is odd");
}

#[test]
fn async_fn_span_covers_every_poll() {
    let (capture, recorder) = run(Level::INFO, || assert_eq!(block_on(load(5, "tok")), 8));
    let line = capture.only_line();
    assert_eq!(line["event"], "loaded");
    assert_eq!(line["id"], 5);
    assert!(!capture.text().contains("tok\""), "the unnamed token is not recorded: {}", capture.text());
    assert_eq!(recorder.named("spans::load").fields, ["id"]);
}

#[test]
fn async_fn_with_err_and_ret() {
    let (capture, _) = run(Level::INFO, || {
        assert_eq!(block_on(load_checked(3)).ok(), Some(3));
        assert!(block_on(load_checked(0)).is_err());
    });
    let lines = capture.json_lines();
    assert_eq!(line(&lines, "span_returned")["return_value"], "3");
    assert!(line(&lines, "span_failed")["exception"].as_str().unwrap().contains("disk full"));
}

#[test]
fn a_function_returning_impl_future_instruments_the_future() {
    let (capture, _) = run(Level::INFO, || {
        let future = fetch(1);
        tracing::info!("between");
        assert_eq!(block_on(future), 2);
    });
    let lines = capture.json_lines();
    assert_eq!(line(&lines, "fetch_started")["id"], 1);
    assert!(!line(&lines, "between").contains_key("id"), "the span is not entered between polls");
    assert_eq!(line(&lines, "fetch_polled")["id"], 1);
}

#[test]
fn nested_spans_have_the_right_parents() {
    let (capture, recorder) = run(Level::INFO, outer);
    assert_eq!(recorder.named("spans::outer").parent, None);
    assert_eq!(recorder.named("spans::middle").parent.as_deref(), Some("spans::outer"));
    assert_eq!(recorder.named("spans::inner").parent.as_deref(), Some("spans::middle"));
    assert_eq!(capture.only_line()["event"], "deep");
}

#[test]
fn a_disabled_level_makes_no_span_and_still_runs_the_function() {
    let (_, recorder) = run(Level::INFO, || assert_eq!(chatty(1), 2));
    assert!(recorder.spans().is_empty(), "{:?}", recorder.spans());
    let (_, recorder) = run(Level::DEBUG, || assert_eq!(chatty(1), 2));
    assert_eq!(recorder.named("spans::chatty").fields, ["x"]);
}

#[test]
fn methods_and_trait_impl_methods() {
    let store = Store { name: "main".to_owned() };
    let (capture, recorder) = run(Level::INFO, || {
        assert_eq!(store.get("abc"), 3);
        assert_eq!(store.count("users"), 9);
    });
    let lines = capture.json_lines();
    assert_eq!(line(&lines, "store_read")["key"], "abc");
    assert_eq!(line(&lines, "store_read")["store"], "main");
    assert_eq!(line(&lines, "counted")["table"], "users");
    assert_eq!(recorder.named("spans::count").fields, ["table"]);
}

#[test]
fn parent_none_makes_a_root_span() {
    let (capture, recorder) = run(Level::INFO, || {
        let _outer = trace::span!("outer_scope", scope = 1);
        detached();
    });
    assert_eq!(recorder.named("spans::detached").parent, None);
    assert!(!capture.only_line().contains_key("scope"));
}

#[test]
fn follows_from_links_the_cause() {
    let (_, recorder) = run(Level::INFO, || {
        let cause = tracing::info_span!("the_cause");
        caused_by(&cause);
    });
    assert_eq!(recorder.named("spans::caused_by").follows_from, ["the_cause"]);
}

#[test]
fn the_scope_guard_binds_fields_until_dropped() {
    let (capture, recorder) = run(Level::INFO, || {
        {
            let _batch = trace::span("import_batch");
            let _rows = trace::span!("import_rows", batch = 7, source = %"csv");
            tracing::info!("in_scope");
        }
        tracing::info!("after_scope");
    });
    let lines = capture.json_lines();
    assert_eq!(line(&lines, "in_scope")["batch"], 7);
    assert_eq!(line(&lines, "in_scope")["source"], "app", "a field named like a standard key is renamed");
    assert_eq!(line(&lines, "in_scope")["field.source"], "csv");
    assert!(!line(&lines, "after_scope").contains_key("batch"));
    assert!(!capture.text().contains("otel."), "exporter instructions stay out of log lines: {}", capture.text());
    assert_eq!(recorder.named("import_rows").parent.as_deref(), Some("audit_runtime::trace::span"));
}

#[test]
fn the_future_form_enters_the_span_at_every_poll() {
    let (capture, _) = run(Level::INFO, || {
        let _outer = trace::span!("request", request_id = "r-1");
        block_on(trace::in_span("load_all", async {
            yield_once().await;
            tracing::info!("polled");
        }));
    });
    assert_eq!(capture.only_line()["request_id"], "r-1");
}

#[test]
fn the_guard_records_an_error_at_level_error() {
    let (capture, _) = run(Level::INFO, || {
        let span = trace::span("job");
        span.record_error(&SaveFailed(LowLevel));
    });
    let line = capture.only_line();
    assert_eq!(line["level"], "error");
    assert!(line["exception"].as_str().unwrap().contains("disk full"));
}

#[test]
fn traceparent_round_trip() {
    let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let tp = TraceParent::parse(header).unwrap();
    assert_eq!(tp.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
    assert_eq!(tp.span_id, 0x00f067aa0ba902b7);
    assert!(tp.sampled);
    assert_eq!(tp.to_string(), header);
    let unsampled = TraceParent { sampled: false, ..tp };
    assert_eq!(TraceParent::parse(&unsampled.to_string()).unwrap(), unsampled);
}

#[test]
fn a_malformed_traceparent_says_what_is_wrong() {
    for (bad, reason) in [
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", "32 lower-case hex"),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "all zeros"),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "32 lower-case hex"),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version"),
        ("garbage", "four parts"),
    ] {
        let error = TraceParent::parse(bad).unwrap_err().to_string();
        assert!(error.contains(reason) && error.contains(bad), "{bad}: {error}");
    }
}

#[test]
fn without_an_exporter_there_is_no_traceparent() {
    let (_, _) = run(Level::INFO, || {
        let _span = trace::span("job");
        assert_eq!(trace::current_traceparent(), None);
    });
}
