//! `#[trace_span]` spans kept in the toolkit's own per-thread context: with the log layers
//! behind their `LogFilter` (as every set-up of the crate builds them), a function's span is
//! made in the registry only when another layer wants it. Lines inside carry the same fields,
//! in the same order and with the same shadowing, as when the registry keeps every span.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use audit_runtime::logging::{JsonLayer, LogFilter};
use audit_runtime::trace;
use audit_runtime::trace_span;
use common::Capture;
use serde_json::{Map, Value};
use tracing::span::{Attributes, Id};
use tracing::{Event, Instrument as _, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

#[trace_span(fields(account, step = "load"))]
fn load(account: u32) {
    tracing::info!(row = 1, "row_loaded");
    let _inner = tracing::info_span!("decode", step = "decode", codec = "csv").entered();
    tracing::info!("row_decoded");
    check(7);
}

#[trace_span(fields(account = 99, id))]
fn check(id: u32) {
    // An event's own field wins over every span's.
    tracing::info!(account = 5, "checked");
    detached_child();
}

#[trace_span(parent = None, fields(alone = true))]
fn detached_child() {
    tracing::info!("detached_work");
}

#[trace_span(level = "debug", fields(quiet = 1))]
fn below_the_level() {
    tracing::info!("inside_a_disabled_span");
}

/// Calls everything above inside a request span (a `tracing` span) and a scope span.
fn scenario() {
    let request = tracing::info_span!("request", request_id = "r-17", account = 1, step = "request");
    let _request = request.enter();
    load(42);
    below_the_level();
    let _scope = trace::span!("batch", batch = 3, step = "batch");
    load(43);
    let explicit = tracing::info_span!(parent: None, "elsewhere", place = "far");
    tracing::info!(parent: &explicit, "given_a_parent");
}

/// The lines of `f` with the JSON layer `layer` builds, without their time.
fn lines_with(
    json: impl FnOnce(Capture) -> Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>,
    f: impl FnOnce(),
) -> Vec<Map<String, Value>> {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(json(capture.clone()));
    tracing::subscriber::with_default(subscriber, f);
    let mut lines = capture.json_lines();
    for line in &mut lines {
        line.remove("timestamp");
    }
    lines
}

/// The text of each line of `f`, with its time cut out.
fn texts_with(
    json: impl FnOnce(Capture) -> Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>,
    f: impl FnOnce(),
) -> Vec<String> {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(json(capture.clone()));
    tracing::subscriber::with_default(subscriber, f);
    capture
        .text()
        .lines()
        .map(|line| {
            let start = line.find("\"timestamp\":\"").expect("every line has a time") + 13;
            let end = start + line[start..].find('"').unwrap();
            format!("{}{}", &line[..start], &line[end..])
        })
        .collect()
}

fn filtered(capture: Capture) -> Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> {
    JsonLayer::new(capture).with_filter(LogFilter::level(LevelFilter::INFO)).boxed()
}

fn plain(capture: Capture) -> Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> {
    JsonLayer::new(capture).with_filter(LevelFilter::INFO).boxed()
}

#[test]
fn lines_carry_the_same_fields_in_the_same_order_as_with_registry_spans() {
    let ours = lines_with(filtered, scenario);
    let registry = lines_with(plain, scenario);
    assert_eq!(ours.len(), 10, "{ours:#?}");
    assert_eq!(ours, registry);
    // Byte for byte, keys in the same order, but for the time.
    assert_eq!(texts_with(filtered, scenario), texts_with(plain, scenario));

    let line = |event: &str, nth: usize| ours.iter().filter(|l| l["event"] == event).nth(nth).unwrap().clone();
    let loaded = line("row_loaded", 0);
    assert_eq!((loaded["account"].clone(), loaded["step"].clone()), (Value::from(42), Value::from("load")));
    assert_eq!(loaded["request_id"], "r-17");
    let decoded = line("row_decoded", 0);
    assert_eq!(decoded["step"], "decode", "the innermost span's field wins");
    assert_eq!(decoded["codec"], "csv");
    let checked = line("checked", 0);
    assert_eq!(checked["account"], 5, "the event's own field wins");
    assert_eq!(checked["id"], 7);
    assert_eq!(checked["codec"], "csv", "a `tracing` span entered around a function span");
    let detached = line("detached_work", 0);
    assert_eq!(detached["alone"], true);
    assert!(!detached.contains_key("request_id"), "a root span has no enclosing fields: {detached:?}");
    let disabled = line("inside_a_disabled_span", 0);
    assert!(!disabled.contains_key("quiet"), "{disabled:?}");
    assert_eq!(disabled["step"], "request");
    let second = line("row_loaded", 1);
    assert_eq!((second["account"].clone(), second["batch"].clone()), (Value::from(43), Value::from(3)));
    assert_eq!(second["step"], "load");
    let given = line("given_a_parent", 0);
    assert_eq!(given["place"], "far");
    assert!(!given.contains_key("request_id") && !given.contains_key("batch"), "{given:?}");
}

#[trace_span(fields(account))]
fn bound(account: u32) -> Option<serde_json::Value> {
    audit_runtime::context::current_field("account")
}

#[test]
fn the_context_functions_read_fields_of_function_spans() {
    let mut seen = None;
    lines_with(filtered, || {
        let _request = tracing::info_span!("request", request_id = "r-1", account = 1).entered();
        seen = Some((bound(8), audit_runtime::context::current_request_id()));
    });
    assert_eq!(seen, Some((Some(Value::from(8)), Some("r-1".to_owned()))));
}

type NamedEvent = (String, Option<String>);

/// Counts what a layer of the user's sees.
#[derive(Clone, Default)]
struct Counts {
    new_spans: Arc<Mutex<Vec<String>>>,
    enters: Arc<AtomicUsize>,
    closes: Arc<AtomicUsize>,
    /// Each event's name and the name of its span.
    events: Arc<Mutex<Vec<NamedEvent>>>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Counts {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        self.new_spans.lock().unwrap().push(attrs.metadata().name().to_owned());
    }
    fn on_enter(&self, _id: &Id, _ctx: Context<'_, S>) {
        self.enters.fetch_add(1, Ordering::Relaxed);
    }
    fn on_close(&self, _id: Id, _ctx: Context<'_, S>) {
        self.closes.fetch_add(1, Ordering::Relaxed);
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let span = ctx.event_span(event).map(|s| s.name().to_owned());
        self.events.lock().unwrap().push((event.metadata().name().to_owned(), span));
    }
}

#[trace_span(fields(n))]
fn counted(n: u32) {
    tracing::info!(n, "counted_once");
}

#[test]
fn a_user_layer_beside_ours_sees_every_span_and_event_exactly_once() {
    for user_filtered in [false, true] {
        let capture = Capture::default();
        let counts = Counts::default();
        let user: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> =
            if user_filtered { counts.clone().with_filter(LevelFilter::INFO).boxed() } else { counts.clone().boxed() };
        let subscriber = tracing_subscriber::registry().with(vec![filtered(capture.clone()), user]);
        tracing::subscriber::with_default(subscriber, || {
            for n in 0..3 {
                counted(n);
            }
        });
        assert_eq!(
            *counts.new_spans.lock().unwrap(),
            ["spans_context::counted"; 3],
            "filtered user layer: {user_filtered}"
        );
        assert_eq!(counts.enters.load(Ordering::Relaxed), 3);
        assert_eq!(counts.closes.load(Ordering::Relaxed), 3);
        let events = counts.events.lock().unwrap().clone();
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(events.iter().all(|(_, span)| span.as_deref() == Some("spans_context::counted")), "{events:?}");
        let lines = capture.json_lines();
        assert_eq!(lines.len(), 3, "one line per event");
        assert_eq!(lines.iter().map(|l| l["n"].clone()).collect::<Vec<_>>(), [0, 1, 2].map(Value::from));
    }
}

#[trace_span(fields(job))]
async fn job(job: u32) -> u32 {
    tracing::info!("job_started");
    Yield(false).await;
    tracing::info!("job_resumed");
    job
}

/// Pending once, then ready: the future is moved to another thread in between.
struct Yield(bool);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

struct NoopWake;
impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn an_async_span_keeps_its_context_across_threads() {
    let capture = Capture::default();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(filtered(capture.clone())));
    let request = tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("request", request_id = "r-9"));
    let mut future = Box::pin(job(5).instrument(request));
    let waker = Waker::from(Arc::new(NoopWake));
    let first =
        tracing::dispatcher::with_default(&dispatch, || future.as_mut().poll(&mut TaskContext::from_waker(&waker)));
    assert!(first.is_pending());
    let (moved, dispatch2) = (future, dispatch.clone());
    let done = std::thread::spawn(move || {
        let mut future = moved;
        let waker = Waker::from(Arc::new(NoopWake));
        tracing::dispatcher::with_default(&dispatch2, || future.as_mut().poll(&mut TaskContext::from_waker(&waker)))
    })
    .join()
    .unwrap();
    assert_eq!(done, Poll::Ready(5));
    let lines = capture.json_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert_eq!(line["job"], 5, "{line:?}");
        assert_eq!(line["request_id"], "r-9", "{line:?}");
    }
    assert_eq!(lines[1]["event"], "job_resumed");
}

#[test]
fn a_span_entered_under_another_subscriber_is_not_read_as_one_of_this_ones() {
    let outer = Capture::default();
    let inner = Capture::default();
    let outer_subscriber = tracing_subscriber::registry().with(filtered(outer.clone()));
    tracing::subscriber::with_default(outer_subscriber, || {
        let _request = tracing::info_span!("outer_request", outer_only = 1).entered();
        let inner_subscriber = tracing_subscriber::registry().with(filtered(inner.clone()));
        tracing::subscriber::with_default(inner_subscriber, || {
            // The first span of this registry: the id the outer one has in its own.
            let _work = tracing::info_span!("inner_work", inner_only = 2).entered();
            counted(1);
        });
        tracing::info!("back_outside");
    });
    let line = inner.only_line();
    assert_eq!((line["inner_only"].clone(), line["n"].clone()), (Value::from(2), Value::from(1)));
    assert!(!line.contains_key("outer_only"), "{line:?}");
    assert_eq!(outer.only_line()["outer_only"], 1);
}
