//! The request log beside what users pick today, in one run: one `GET /hello` through an
//! in-process axum router (`tower::ServiceExt::oneshot`, polled to completion on the bench
//! thread), with
//!
//! - `request_log_layer`: our `RequestLogLayer` (request id made as a UUID v4, the `request`
//!   span with `request_id` and `user_id`, the `RequestContext` extension, `request_started` and
//!   `request_finished`) and our `JsonLayer`;
//! - `tower_http_trace_layer`: tower-http's `TraceLayer::new_for_http()` with its span and its
//!   request and response events raised to `INFO` (its defaults are `DEBUG`, which `fmt`
//!   filters out: a peer that writes nothing), and `tracing_subscriber::fmt().json()`;
//! - `no_layer`: the bare router, for the cost of routing itself.
//!
//! Every writer is `io::sink()`. Each side writes two lines per request.
//!
//! Run: `cargo bench -p audit-runtime --features http --bench http -- --warm-up-time 1 --measurement-time 3`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use audit_runtime::http::RequestLogLayer;
use audit_runtime::logging::JsonLayer;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt as _;
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;
use tracing_subscriber::prelude::*;

fn router() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

fn request() -> Request<Body> {
    Request::builder().uri("/hello").header("user-agent", "bench/1.0").body(Body::empty()).unwrap()
}

/// Polls `future` to completion on this thread; the handler never waits on I/O.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn one_request(app: &Router) -> u16 {
    let response = block_on(app.clone().oneshot(request())).unwrap();
    response.status().as_u16()
}

/// Counts the lines written, to check that each side writes what it claims.
#[derive(Clone, Default)]
struct LineCount(Arc<AtomicUsize>);

impl std::io::Write for LineCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.iter().filter(|&&b| b == b'\n').count(), Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LineCount {
    type Writer = LineCount;
    fn make_writer(&'a self) -> LineCount {
        self.clone()
    }
}

/// Both sides write two lines per request (a start and a finish).
fn check_line_counts(ours: &Router, peer: &Router) {
    let count = LineCount::default();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(count.clone()));
    tracing::subscriber::with_default(subscriber, || one_request(ours));
    assert_eq!(count.0.load(Ordering::Relaxed), 2, "RequestLogLayer lines per request");
    let count = LineCount::default();
    let subscriber = tracing_subscriber::fmt().json().with_writer(count.clone()).finish();
    tracing::subscriber::with_default(subscriber, || one_request(peer));
    assert_eq!(count.0.load(Ordering::Relaxed), 2, "TraceLayer lines per request");
}

fn requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");

    let ours = router().layer(RequestLogLayer::new());
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(std::io::sink));
    tracing::subscriber::with_default(subscriber, || {
        assert_eq!(one_request(&ours), 200);
        group.bench_function("request_log_layer", |b| b.iter(|| black_box(one_request(&ours))));
    });

    let peer = router().layer(
        TraceLayer::new_for_http()
            .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
            .on_request(DefaultOnRequest::new().level(Level::INFO))
            .on_response(DefaultOnResponse::new().level(Level::INFO)),
    );
    check_line_counts(&ours, &peer);
    let subscriber = tracing_subscriber::fmt().json().with_writer(std::io::sink).finish();
    tracing::subscriber::with_default(subscriber, || {
        assert_eq!(one_request(&peer), 200);
        group.bench_function("tower_http_trace_layer", |b| b.iter(|| black_box(one_request(&peer))));
    });

    let bare = router();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(std::io::sink));
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("no_layer", |b| b.iter(|| black_box(one_request(&bare))));
    });
    group.finish();
}

criterion_group!(benches, requests);
criterion_main!(benches);
