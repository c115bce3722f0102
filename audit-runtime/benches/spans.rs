//! Spans beside what users pick today, in one run:
//!
//! - `json`: a `#[trace_span]` call (one field, one event inside) with our JSON layer, beside
//!   `#[tracing::instrument]` with `tracing_subscriber::fmt().json()`; both write to a sink.
//! - `otlp`: a `#[trace_span]` call exported through the layer `OtlpConfig::build` gives (alone
//!   in the subscriber, so the fast path records the span without a `tracing` span), beside
//!   `#[tracing::instrument]` through `tracing-opentelemetry` and the SDK's batch span processor
//!   (with an exporter that does nothing; ours encodes each batch and posts it to a minimal
//!   collector on loopback, which reads it and answers 200).
//! - `disabled`: a call whose span level is filtered out, both ways.
//!
//! Run: `cargo bench -p audit-runtime --no-default-features --features otlp --bench spans -- --warm-up-time 2 --measurement-time 5`
//! (the whole file: the `otlp` group checks that spans reached the collector).

use std::hint::black_box;
use std::time::Duration;

use audit_runtime::logging::JsonLayer;
use audit_runtime::telemetry::{Endpoint, OtlpConfig};
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

#[trace_span(fields(id))]
fn ours_exported(id: u64) -> u64 {
    black_box(id)
}

#[tracing::instrument]
fn peer_exported(id: u64) -> u64 {
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

/// A collector stand-in on `127.0.0.1`: reads each request whole and answers `200 OK`.
fn loopback_collector() -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                let _ = (&stream).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        }
    });
    address
}

/// The SDK's exporter contract, doing nothing.
#[derive(Debug)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

fn json(c: &mut Criterion) {
    let mut group = c.benchmark_group("spans/json");
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(std::io::sink));
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("trace_span + JsonLayer", |b| b.iter(|| ours_logged(black_box(7))));
    });
    let subscriber = tracing_subscriber::fmt().json().with_writer(std::io::sink).finish();
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("tracing::instrument + fmt().json()", |b| b.iter(|| peer_logged(black_box(7))));
    });
    group.finish();
}

fn otlp(c: &mut Criterion) {
    let mut group = c.benchmark_group("spans/otlp");
    let collector = loopback_collector();
    let config = OtlpConfig {
        // A real HTTP exchange with a collector on loopback for every batch.
        endpoint: Endpoint::parse("bench", &format!("http://{collector}/v1/traces")).unwrap(),
        timeout: Duration::from_millis(200),
        log_ids: false,
        ..OtlpConfig::default()
    };
    let (layer, guard) = config.build().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("trace_span + OtlpLayer", |b| b.iter(|| ours_exported(black_box(7))));
    });
    let exported = guard.exported_spans();
    drop(guard);
    assert!(exported > 0, "the bench exported spans to the loopback collector");

    let provider =
        SdkTracerProvider::builder().with_span_processor(BatchSpanProcessor::builder(NoopExporter).build()).build();
    let tracer = provider.tracer("bench");
    let subscriber = tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("tracing::instrument + tracing-opentelemetry + batch", |b| {
            b.iter(|| peer_exported(black_box(7)))
        });
    });
    let _ = provider.shutdown();
    group.finish();
}

fn disabled(c: &mut Criterion) {
    let mut group = c.benchmark_group("spans/disabled");
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(std::io::sink).with_filter(LevelFilter::INFO));
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("trace_span(level = debug)", |b| b.iter(|| ours_disabled(black_box(7))));
        group.bench_function("tracing::instrument(level = debug)", |b| b.iter(|| peer_disabled(black_box(7))));
    });
    group.finish();
}

criterion_group!(benches, json, otlp, disabled);
criterion_main!(benches);
