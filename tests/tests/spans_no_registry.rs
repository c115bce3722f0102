//! With only the toolkit's layers in the subscriber, a `#[trace_span]` function's span is not
//! made in the registry at all, and lines inside still carry its fields. Alone in its test
//! binary: `tracing` caches a callsite's interest across all live subscribers, and concurrent
//! tests building subscribers of other kinds can leave a stale "always" for a moment (a race of
//! `tracing-core`'s interest rebuild), which would make the registry span this test rules out.

mod common;

use audit_runtime::logging::{JsonLayer, LogFilter};
use audit_runtime::trace_span;
use common::Capture;
use serde_json::{Map, Value};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

type BoxedLayer = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;

fn lines_with(json: impl FnOnce(Capture) -> BoxedLayer, f: impl FnOnce()) -> Vec<Map<String, Value>> {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(json(capture.clone()));
    tracing::subscriber::with_default(subscriber, f);
    capture.json_lines()
}

fn filtered(capture: Capture) -> BoxedLayer {
    JsonLayer::new(capture).with_filter(LogFilter::level(LevelFilter::INFO)).boxed()
}

fn plain(capture: Capture) -> BoxedLayer {
    JsonLayer::new(capture).with_filter(LevelFilter::INFO).boxed()
}

#[trace_span(fields(order = 1))]
fn fast_alone() -> bool {
    tracing::info!("alone");
    // No `tracing` span was made for it: the toolkit keeps it.
    tracing::Span::current().is_none()
}

#[test]
fn with_only_our_layers_the_registry_makes_no_span_and_lines_keep_the_fields() {
    let mut no_registry_span = false;
    let lines = lines_with(filtered, || no_registry_span = fast_alone());
    assert!(no_registry_span, "the function's span went through the registry");
    assert_eq!(lines[0]["order"], 1);
    assert_eq!(lines[0]["event"], "alone");
    assert_eq!(audit_runtime::context::current_field("order"), None);

    // A plain layer wants every span: the registry makes it.
    let mut no_registry_span = true;
    let lines = lines_with(plain, || no_registry_span = fast_alone());
    assert!(!no_registry_span);
    assert_eq!(lines[0]["order"], 1);
}
