//! Typed `#[log_event]` events beside the hand-written `tracing::info!` they replace, measured
//! in one run.
//!
//! `cargo bench -p audit-runtime --bench events -- --warm-up-time 1 --measurement-time 3`
//!
//! - `typed_event/*`: five fields (two strings, two integers, a bool) written as one JSON line
//!   to `io::sink()`: the typed event through our `JsonLayer`; the same fields as a
//!   hand-written `info!` through our `JsonLayer`; that `info!` through
//!   `tracing_subscriber::fmt().json()`.
//! - `disabled_typed_event/*`: the same event at `debug` while only `info` is enabled:
//!   `emit()` of a built event beside a `debug!` with the same fields.

use std::hint::black_box;

use audit_runtime::log_event;
use audit_runtime::logging::JsonLayer;
use criterion::{Criterion, criterion_group, criterion_main};
use tracing::Dispatch;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

/// Created an `Object` via the API.
#[log_event(name = "object_created", group = "Bench")]
struct ObjectCreated<'a> {
    object_uuid: &'a str,
    token_identifier: &'a str,
    objecttype_version: u64,
    record_index: i64,
    published: bool,
}

/// The same event at `debug`.
#[log_event(name = "object_created_debug", level = "debug", group = "Bench")]
struct ObjectCreatedDebug<'a> {
    object_uuid: &'a str,
    token_identifier: &'a str,
    objecttype_version: u64,
    record_index: i64,
    published: bool,
}

/// The field values, read through `black_box` by every bench alike so that none is
/// constant-folded.
struct Inputs {
    object_uuid: &'static str,
    token_identifier: &'static str,
    objecttype_version: u64,
    record_index: i64,
    published: bool,
}

const INPUTS: Inputs = Inputs {
    object_uuid: "1734afac-4c63-4b8c-9e1a-9f1f1b2c3d4e",
    token_identifier: "app-frontend",
    objecttype_version: 3,
    record_index: -17,
    published: true,
};

fn typed_event() {
    let v = black_box(&INPUTS);
    ObjectCreated {
        object_uuid: v.object_uuid,
        token_identifier: v.token_identifier,
        objecttype_version: v.objecttype_version,
        record_index: v.record_index,
        published: v.published,
    }
    .emit();
}

fn hand_written_event() {
    let v = black_box(&INPUTS);
    tracing::info!(
        object_uuid = v.object_uuid,
        token_identifier = v.token_identifier,
        objecttype_version = v.objecttype_version,
        record_index = v.record_index,
        published = v.published,
        "object_created"
    );
}

fn hand_written_debug_event() {
    let v = black_box(&INPUTS);
    tracing::debug!(
        object_uuid = v.object_uuid,
        token_identifier = v.token_identifier,
        objecttype_version = v.objecttype_version,
        record_index = v.record_index,
        published = v.published,
        "object_created"
    );
}

fn bench_enabled(c: &mut Criterion) {
    let mut group = c.benchmark_group("typed_event");
    let ours = Dispatch::new(tracing_subscriber::registry().with(JsonLayer::new(std::io::sink)));
    group.bench_function("typed_emit_json_layer", |b| {
        tracing::dispatcher::with_default(&ours, || b.iter(typed_event));
    });
    group.bench_function("hand_written_info_json_layer", |b| {
        tracing::dispatcher::with_default(&ours, || b.iter(hand_written_event));
    });
    let peer = Dispatch::new(tracing_subscriber::fmt().json().with_writer(std::io::sink).finish());
    group.bench_function("hand_written_info_fmt_json", |b| {
        tracing::dispatcher::with_default(&peer, || b.iter(hand_written_event));
    });
    group.finish();
}

fn bench_disabled(c: &mut Criterion) {
    let mut group = c.benchmark_group("disabled_typed_event");
    let info_only = Dispatch::new(
        tracing_subscriber::registry().with(JsonLayer::new(std::io::sink).with_filter(LevelFilter::INFO)),
    );
    // `emit()` of an event already built (its values are the caller's anyway) beside a
    // `debug!` whose values are at hand: both pay only for the level check.
    let event = ObjectCreatedDebug {
        object_uuid: INPUTS.object_uuid,
        token_identifier: INPUTS.token_identifier,
        objecttype_version: INPUTS.objecttype_version,
        record_index: INPUTS.record_index,
        published: INPUTS.published,
    };
    group.bench_function("typed_emit_at_debug", |b| {
        tracing::dispatcher::with_default(&info_only, || b.iter(|| black_box(&event).emit()));
    });
    group.bench_function("hand_written_debug", |b| {
        tracing::dispatcher::with_default(&info_only, || b.iter(hand_written_debug_event));
    });
    group.finish();
}

criterion_group!(benches, bench_enabled, bench_disabled);
criterion_main!(benches);
