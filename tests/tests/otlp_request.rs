//! A request through `RequestLogLayer` continues its caller's trace: with a W3C `traceparent`
//! header, the request span is exported as a SERVER span of that trace, child of the caller's
//! span; every log line of the request, also a record of the `log` crate, carries the trace id
//! and the request id; and `inject_trace_context` passes the trace on. One test binary: it
//! installs the global subscriber (and the `log` bridge) with `telemetry::init`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_runtime::http::{RequestContext, RequestLogLayer, inject_trace_context};
use audit_runtime::logging::LogConfig;
use audit_runtime::telemetry::OtlpConfig;
use axum::Router;
use axum::routing::get;
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Keeps what it is given: any `SpanExporter` works behind the fast recording path.
#[derive(Clone, Debug, Default)]
struct Memory(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Memory {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

async fn handler(ctx: RequestContext) -> String {
    tracing::info!("handler_ran");
    log::info!(target: "legacy_client", "legacy client called with {} items", 3);
    let mut outgoing = http::HeaderMap::new();
    assert!(inject_trace_context(&mut outgoing), "inside the request span there is a context to pass on");
    let traceparent = outgoing.get("traceparent").unwrap().to_str().unwrap().to_owned();
    format!("{} {traceparent}", ctx.request_id())
}

async fn get_with_traceparent(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /work HTTP/1.1\r\nHost: {addr}\r\ntraceparent: 00-{TRACE}-{CALLER_SPAN}-01\r\ntracestate: vendor=abc\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    reply.split("\r\n\r\n").nth(1).unwrap().to_owned()
}

#[test]
fn a_request_with_traceparent_is_a_server_span_of_the_callers_trace_and_its_lines_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("service.log");
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe {
        std::env::set_var("LOGFILE", &logfile);
        std::env::set_var("CONSOLE_LOG_LEVEL", "critical");
        std::env::set_var("LOG_LEVEL", "info");
    }
    let memory = Memory::default();
    let otlp =
        OtlpConfig { schedule_delay: Duration::from_millis(20), ..OtlpConfig::default() }.exporter(memory.clone());
    let guard = audit_runtime::telemetry::init(&LogConfig::from_env().unwrap(), &otlp).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let body = runtime.block_on(async {
        let app = Router::new().route("/work", get(handler)).layer(RequestLogLayer::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        get_with_traceparent(addr).await
    });
    let (request_id, outgoing) = body.split_once(' ').unwrap();
    assert!(guard.flush(Duration::from_secs(5)));

    let spans = memory.0.lock().unwrap().clone();
    let request = spans.iter().find(|s| s.name == "request").expect("the request span was exported");
    assert_eq!(request.span_context.trace_id(), TraceId::from_hex(TRACE).unwrap(), "the caller's trace");
    assert_eq!(request.parent_span_id, SpanId::from_hex(CALLER_SPAN).unwrap(), "child of the caller's span");
    assert!(request.parent_span_is_remote);
    assert_eq!(request.span_kind, SpanKind::Server);
    assert_eq!(request.span_context.trace_state().header(), "vendor=abc", "tracestate is kept");
    let request_span_id = request.span_context.span_id();
    assert_eq!(outgoing, format!("00-{TRACE}-{request_span_id}-01"), "outgoing requests continue the trace");

    drop(guard); // writes the log file out
    let text = std::fs::read_to_string(&logfile).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of_request: Vec<_> = lines.iter().filter(|l| l["request_id"] == request_id).collect();
    assert!(of_request.len() >= 4, "started, handler, log record, finished: {text}");
    for line in &of_request {
        assert_eq!(line["trace_id"], TRACE, "{line}");
        assert!(line.get("otel.kind").is_none() && line.get("otel.traceparent").is_none(), "{line}");
    }
    let legacy = lines
        .iter()
        .find(|l| l["event"] == "legacy client called with 3 items")
        .unwrap_or_else(|| panic!("the log crate's record is a JSON line: {text}"));
    assert_eq!(legacy["log.target"], "legacy_client", "{legacy}");
    assert_eq!(legacy["request_id"], request_id, "{legacy}");
    assert_eq!(legacy["level"], "info", "{legacy}");
    assert_eq!(legacy["span_id"], request_span_id.to_string(), "{legacy}");
}
