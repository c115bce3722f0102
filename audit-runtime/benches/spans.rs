//! Spans beside what users pick today, in one run:
//!
//! - `json`: a `#[trace_span]` call (one field) with our JSON layer at level info, beside
//!   `#[tracing::instrument]` with `tracing_subscriber::fmt().json()` (info by default); both
//!   write to a sink, with one event inside the span and with none. Our layer as the crate's
//!   set-ups build it (with its `LogFilter`), and as a plain layer (the registry keeps the span).
//! - `otlp`: a `#[trace_span]` call exported through the layer `OtlpConfig::build` gives (alone
//!   in the subscriber, so the fast path records the span without a `tracing` span) to an SDK
//!   `SpanExporter`, beside `#[tracing::instrument]` through `tracing-opentelemetry` and the
//!   SDK's batch span processor, both with the same exporter that does nothing (it receives the
//!   `SpanData` batches); the cost on the caller's thread.
//! - `otlp_exporter_thread`: what the exporter thread spends per span (collecting the threads'
//!   buffers, converting each record into `SpanData`, handing the batches to the exporter):
//!   `n` spans are recorded, then only the flush that exports them is timed.
//! - `disabled`: a call whose span level is filtered out, both ways.
//!
//! Run: `cargo bench -p audit-runtime --no-default-features --features otlp --bench spans -- --warm-up-time 2 --measurement-time 5`
//! (the `otlp` groups check that spans reached the exporter).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use audit_runtime::logging::{JsonLayer, LogFilter};
use audit_runtime::telemetry::OtlpConfig;
use audit_runtime::trace_span;
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

#[trace_span(fields(id))]
fn ours_logged(id: u64) -> u64 {
    tracing::info!("work_done");
    black_box(id)
}

#[tracing::instrument]
fn peer_logged(id: u64) -> u64 {
    tracing::info!("work_done");
    black_box(id)
}

/// A span with one field and nothing inside: the JSON cases without an event, and the OTLP ones.
#[trace_span(fields(id))]
fn ours_empty(id: u64) -> u64 {
    black_box(id)
}

#[tracing::instrument]
fn peer_empty(id: u64) -> u64 {
    black_box(id)
}

#[trace_span(level = "debug", fields(id))]
fn ours_disabled(id: u64) -> u64 {
    black_box(id)
}

#[tracing::instrument(level = "debug")]
fn peer_disabled(id: u64) -> u64 {
    black_box(id)
}

/// The SDK's exporter contract, doing nothing but counting what it is given.
#[derive(Clone, Debug, Default)]
struct NoopExporter(Arc<AtomicU64>);

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        black_box(batch);
        Ok(())
    }
}

fn json(c: &mut Criterion) {
    let mut group = c.benchmark_group("spans/json");
    let subscriber = tracing_subscriber::registry()
        .with(JsonLayer::new(std::io::sink).with_filter(LogFilter::level(LevelFilter::INFO)));
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("event inside/trace_span + JsonLayer", |b| b.iter(|| ours_logged(black_box(7))));
        group.bench_function("no event/trace_span + JsonLayer", |b| b.iter(|| ours_empty(black_box(7))));
    });
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(std::io::sink));
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("event inside/trace_span + plain JsonLayer", |b| b.iter(|| ours_logged(black_box(7))));
        group.bench_function("no event/trace_span + plain JsonLayer", |b| b.iter(|| ours_empty(black_box(7))));
    });
    let subscriber = tracing_subscriber::fmt().json().with_writer(std::io::sink).finish();
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("event inside/tracing::instrument + fmt().json()", |b| {
            b.iter(|| peer_logged(black_box(7)))
        });
        group.bench_function("no event/tracing::instrument + fmt().json()", |b| b.iter(|| peer_empty(black_box(7))));
    });
    group.finish();
}

fn otlp(c: &mut Criterion) {
    let mut group = c.benchmark_group("spans/otlp");
    let received = NoopExporter::default();
    let config = OtlpConfig { log_ids: false, ..OtlpConfig::default() }.exporter(received.clone());
    let (layer, guard) = config.build().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    let mut ran = false;
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("trace_span + OtlpLayer + SpanExporter", |b| {
            ran = true;
            b.iter(|| ours_empty(black_box(7)))
        });
    });
    drop(guard);
    // (Not run when a filter on the command line leaves it out.)
    assert!(!ran || received.0.load(Ordering::Relaxed) > 0, "the bench exported spans to the SpanExporter");

    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(NoopExporter::default()).build())
        .build();
    let tracer = provider.tracer("bench");
    let subscriber = tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("tracing::instrument + tracing-opentelemetry + batch", |b| {
            b.iter(|| peer_empty(black_box(7)))
        });
    });
    let _ = provider.shutdown();
    group.finish();
}

/// The exporter thread's share: `iters` spans recorded first (not timed), then the flush that
/// collects, converts and exports them (timed), per span.
fn otlp_exporter_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("spans/otlp_exporter_thread");
    // Each sample keeps its spans until the flush: a few hundred thousand, not millions.
    group.sampling_mode(criterion::SamplingMode::Flat).sample_size(10).measurement_time(Duration::from_secs(2));
    let received = NoopExporter::default();
    let config = OtlpConfig {
        log_ids: false,
        // Only the flush exports (one batch): nothing is dropped, and the exporter thread is not
        // woken while the spans are recorded.
        max_queue_size: usize::MAX / 2,
        max_export_batch_size: usize::MAX / 2,
        schedule_delay: Duration::from_secs(3600),
        ..OtlpConfig::default()
    }
    .exporter(received.clone());
    let (layer, guard) = config.build().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    let mut ran = false;
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("convert to SpanData + export, per span", |b| {
            ran = true;
            b.iter_custom(|iters| {
                for i in 0..iters {
                    ours_empty(black_box(i));
                }
                let start = Instant::now();
                assert!(guard.flush(Duration::from_secs(600)));
                start.elapsed()
            })
        });
    });
    assert_eq!(guard.dropped_spans(), 0);
    drop(guard);
    assert!(!ran || received.0.load(Ordering::Relaxed) > 0);
    group.finish();
}

fn disabled(c: &mut Criterion) {
    let mut group = c.benchmark_group("spans/disabled");
    let subscriber = tracing_subscriber::registry()
        .with(JsonLayer::new(std::io::sink).with_filter(LogFilter::level(LevelFilter::INFO)));
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("trace_span(level = debug)", |b| b.iter(|| ours_disabled(black_box(7))));
        group.bench_function("tracing::instrument(level = debug)", |b| b.iter(|| peer_disabled(black_box(7))));
    });
    group.finish();
}

criterion_group!(benches, json, otlp, otlp_exporter_thread, disabled);
criterion_main!(benches);
