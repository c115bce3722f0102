//! JSON logs beside `tracing_subscriber::fmt().json()`, measured in one run.
//!
//! `cargo bench -p audit-runtime --bench logging`
//!
//! - `enabled_event/*`: one `info!` with five fields (two strings, two integers, a bool),
//!   written as one JSON line to `io::sink()`.
//! - `filtered_out_event/*`: the same event at `debug` while the level is `info`: ours as
//!   `init_from_env()` builds it (per-sink filters), and plain `tracing` with `fmt` at `info`.

use std::hint::black_box;

use audit_runtime::logging::{JsonLayer, LogConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use tracing::Dispatch;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

fn five_field_event() {
    tracing::info!(
        object_uuid = black_box("1734afac-4c63-4b8c-9e1a-9f1f1b2c3d4e"),
        token_identifier = black_box("app-frontend"),
        objecttype_version = black_box(3u64),
        record_index = black_box(-17i64),
        published = black_box(true),
        "object_created"
    );
}

fn five_field_debug_event() {
    tracing::debug!(
        object_uuid = black_box("1734afac-4c63-4b8c-9e1a-9f1f1b2c3d4e"),
        token_identifier = black_box("app-frontend"),
        objecttype_version = black_box(3u64),
        record_index = black_box(-17i64),
        published = black_box(true),
        "object_created"
    );
}

fn bench_enabled(c: &mut Criterion) {
    let mut group = c.benchmark_group("enabled_event");
    let ours = Dispatch::new(tracing_subscriber::registry().with(JsonLayer::new(std::io::sink)));
    group.bench_function("audit_runtime_json_layer", |b| {
        tracing::dispatcher::with_default(&ours, || b.iter(five_field_event));
    });
    let peer = Dispatch::new(tracing_subscriber::fmt().json().with_writer(std::io::sink).finish());
    group.bench_function("tracing_subscriber_fmt_json", |b| {
        tracing::dispatcher::with_default(&peer, || b.iter(five_field_event));
    });
    group.finish();
}

fn bench_filtered_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("filtered_out_event");
    // What `init_from_env()` installs, with stdout off so nothing is written if a level is wrong.
    let (ours, _guard) = LogConfig::default().stdout(false).logfile("/dev/null").build().expect("config builds");
    group.bench_function("audit_runtime_init_config", |b| {
        tracing::dispatcher::with_default(&ours, || b.iter(five_field_debug_event));
    });
    let bare = Dispatch::new(
        tracing_subscriber::registry().with(JsonLayer::new(std::io::sink).with_filter(LevelFilter::INFO)),
    );
    group.bench_function("audit_runtime_json_layer", |b| {
        tracing::dispatcher::with_default(&bare, || b.iter(five_field_debug_event));
    });
    let peer =
        Dispatch::new(tracing_subscriber::fmt().with_max_level(LevelFilter::INFO).with_writer(std::io::sink).finish());
    group.bench_function("plain_tracing", |b| {
        tracing::dispatcher::with_default(&peer, || b.iter(five_field_debug_event));
    });
    group.finish();
}

criterion_group!(benches, bench_enabled, bench_filtered_out);
criterion_main!(benches);
