//! Requests over real sockets (issue #7): an axum server with `RequestLogLayer` on
//! 127.0.0.1:0, a raw HTTP/1.1 client, and our JSON layer writing into memory.
//!
//! Each test runs on a current-thread runtime: the server, its connections and the client are
//! tasks on the test's thread, so the test's default subscriber sees every line.

mod common;
mod raw_http;

use std::net::SocketAddr;

use audit_runtime::context;
use audit_runtime::http::{ApiError, BearerToken, RequestContext, RequestLogLayer, bind_user_id};
use audit_runtime::logging::JsonLayer;
use audit_runtime::store::{AuditStore, Auditor, EntryQuery};
use audit_runtime::{Action, Actor, Audited};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::Capture;
// A response as read off the socket: status, headers and body as bytes.
use raw_http::RawReply as Reply;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tracing::Instrument as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

type Line = Map<String, Value>;

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| std::str::from_utf8(value).expect("ASCII header"))
    }

    fn request_id(&self) -> &str {
        self.header("x-request-id").expect("the response echoes X-Request-ID")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `head` (request line and headers, without the final blank line) and `body` over a new
/// connection with `Connection: close`, and reads the whole response.
async fn send_raw(addr: SocketAddr, head: &[u8], body: &[u8]) -> Reply {
    let mut request = head.to_vec();
    request.extend_from_slice(
        format!("\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
    );
    request.extend_from_slice(body);
    raw_http::exchange(addr, &request).await
}

async fn get_path(addr: SocketAddr, path: &str, headers: &[(&str, &[u8])]) -> Reply {
    let mut head = format!("GET {path} HTTP/1.1").into_bytes();
    for (name, value) in headers {
        head.extend_from_slice(format!("\r\n{name}: ").as_bytes());
        head.extend_from_slice(value);
    }
    send_raw(addr, &head, b"").await
}

async fn post_json(addr: SocketAddr, path: &str, body: &str) -> Reply {
    let head = format!("POST {path} HTTP/1.1\r\nContent-Type: application/json");
    send_raw(addr, head.as_bytes(), body.as_bytes()).await
}

/// An audited resource of the test service.
#[derive(Audited, Clone, Debug, Serialize, Deserialize)]
#[audited(object_type = "zaak")]
struct Zaak {
    #[audited(id)]
    id: u32,
    naam: String,
}

#[derive(Deserialize)]
struct NewZaak {
    naam: String,
    #[allow(dead_code)]
    count: u32,
}

#[derive(Clone)]
struct AppState {
    auditor: Option<Auditor>,
}

async fn hello(ctx: RequestContext) -> String {
    tracing::info!("handler_ran");
    {
        // Lines inside a span of the handler carry the request's fields and the span's own.
        let _load = tracing::info_span!("load", table = "zaken").entered();
        tracing::info!("loaded");
    }
    // Spawned work instrumented with the request's span carries its context too.
    tokio::spawn(async { tracing::info!("spawned_work") }.instrument(ctx.span().clone())).await.unwrap();
    ctx.request_id().to_owned()
}

async fn boom() -> String {
    let divisor = std::hint::black_box(0);
    if divisor == 0 {
        panic!("division by zero");
    }
    "unreachable".into()
}

/// The middleware an application would write: binds the user once the token is known.
async fn authenticate(request: Request, next: Next) -> Response {
    if request.headers().get("authorization").is_some_and(|v| v == "Bearer alice-token") {
        assert!(bind_user_id(&request, "alice"));
    }
    next.run(request).await
}

async fn whoami(ctx: RequestContext) -> String {
    tracing::info!("whoami_called");
    format!("{:?}|{:?}", context::current_user_id(), ctx.user_id().as_deref())
}

async fn create(
    State(state): State<AppState>,
    body: Result<Json<NewZaak>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(new) = body?;
    let zaak = Zaak { id: 7, naam: new.naam };
    if let Some(auditor) = &state.auditor {
        auditor.log_action(&Actor::user("alice"), Action::Create, &zaak, "created via the API");
    }
    Ok(Json(json!({"id": zaak.id, "naam": zaak.naam})))
}

async fn item(id: Result<Path<u32>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = id?;
    Ok(id.to_string())
}

async fn token(BearerToken(token): BearerToken) -> String {
    format!("{} bytes", token.len())
}

/// A traced handler whose `err` meets an `ApiError`; `id` is bound inside the `Path` pattern.
#[audit_runtime::trace_span(fields(id), err)]
async fn traced(Path(id): Path<u16>) -> Result<String, ApiError> {
    match id {
        200 => Ok("found".into()),
        status => Err(ApiError::new(status, "traced", "A traced error.")),
    }
}

fn app(state: AppState) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route("/panic", get(boom))
        .route("/me", get(whoami).layer(middleware::from_fn(authenticate)))
        .route("/zaken", post(create))
        .route("/zaken/{id}", get(item))
        .route("/token", get(token))
        .route("/not-authenticated", get(|| async { Err::<(), _>(ApiError::not_authenticated()) }))
        .route(
            "/forbidden",
            get(|| async {
                Err::<(), _>(ApiError::permission_denied("Je hebt geen toestemming om deze actie uit te voeren."))
            }),
        )
        .route("/unavailable", get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "later") }))
        .route("/traced/{id}", get(traced))
        .with_state(state)
        .layer(RequestLogLayer::new())
}

/// Installs a capturing subscriber on this thread and starts the server.
async fn serve(state: AppState) -> (SocketAddr, Capture, tracing::subscriber::DefaultGuard) {
    serve_at(state, LevelFilter::INFO).await
}

/// [`serve`] with the JSON layer filtered at `level`, as `LOG_LEVEL` does.
async fn serve_at(state: AppState, level: LevelFilter) -> (SocketAddr, Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let layer = JsonLayer::new(capture.clone()).with_filter(level);
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let app = app(state);
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (addr, capture, guard)
}

fn lines_with(capture: &Capture, request_id: &str) -> Vec<Line> {
    capture.json_lines().into_iter().filter(|line| line.get("request_id") == Some(&json!(request_id))).collect()
}

fn event<'a>(lines: &'a [Line], name: &str) -> &'a Line {
    lines.iter().find(|line| line["event"] == name).unwrap_or_else(|| panic!("no {name} line in {lines:#?}"))
}

fn is_uuid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok_and(|id| id.hyphenated().to_string() == text)
}

fn no_state() -> AppState {
    AppState { auditor: None }
}

#[tokio::test]
async fn a_sane_request_id_is_taken_echoed_and_on_every_line() {
    let (addr, capture, _guard) = serve(no_state()).await;
    let reply =
        get_path(addr, "/hello?token=s3cr3t", &[("X-Request-ID", b"req-2f9e9a5b"), ("User-Agent", b"curl/8.5")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.request_id(), "req-2f9e9a5b");
    assert_eq!(reply.text(), "req-2f9e9a5b", "the handler sees the same id");

    let lines = lines_with(&capture, "req-2f9e9a5b");
    let events: Vec<&str> = lines.iter().map(|line| line["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["request_started", "handler_ran", "loaded", "spawned_work", "request_finished"]);
    assert_eq!(capture.json_lines().len(), 5, "every line of the request carries its id:\n{}", capture.text());
    assert_eq!(event(&lines, "loaded")["table"], "zaken");
    for line in &lines {
        assert_eq!(line["user_id"], Value::Null, "no user bound: null, as in the seeds: {line:?}");
    }
    let started = event(&lines, "request_started");
    assert_eq!(started["method"], "GET");
    assert_eq!(started["path"], "/hello", "the query string (it may hold secrets) is not logged");
    assert_eq!(started["user_agent"], "curl/8.5");
    let finished = event(&lines, "request_finished");
    assert_eq!(finished["status"], 200);
    assert!(finished["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{finished:?}");
    assert!(!capture.text().contains("s3cr3t"));
}

#[tokio::test]
async fn without_a_request_id_a_uuid_is_made() {
    let (addr, capture, _guard) = serve(no_state()).await;
    let first = get_path(addr, "/hello", &[]).await;
    let second = get_path(addr, "/hello", &[]).await;
    assert!(is_uuid(first.request_id()), "{:?}", first.request_id());
    assert_ne!(first.request_id(), second.request_id());
    assert_eq!(lines_with(&capture, first.request_id()).len(), 5);
}

#[tokio::test]
async fn hostile_request_ids_are_replaced_and_never_echoed_or_logged() {
    let (addr, capture, _guard) = serve(no_state()).await;
    let long = vec![b'a'; 4096];
    let hostile: [(&str, &[u8]); 4] = [
        ("4 KB", &long),
        ("non-ASCII", "zaak-ünïcødé-✓".as_bytes()),
        ("a tab (a control character)", b"abc\tdef"),
        ("129 bytes", &[b'x'; 129]),
    ];
    for (what, value) in hostile {
        let reply = get_path(addr, "/hello", &[("X-Request-ID", value)]).await;
        assert_eq!(reply.status, 200, "{what}");
        assert!(is_uuid(reply.request_id()), "{what}: replaced by a UUID, got {:?}", reply.request_id());
        assert_eq!(lines_with(&capture, reply.request_id()).len(), 5, "{what}");
    }
    let text = capture.text();
    assert!(!text.contains("aaaaaaaaaaaaaaaa") && !text.contains("ünïcødé") && !text.contains("xxxxxxxx"));
    assert!(!text.contains("def\""), "{text}");

    // 128 bytes is the limit, inclusive.
    let edge = "y".repeat(128);
    assert_eq!(get_path(addr, "/hello", &[("X-Request-ID", edge.as_bytes())]).await.request_id(), edge);
}

#[tokio::test]
async fn newlines_in_a_request_id_never_reach_a_line_or_the_response() {
    let (addr, capture, _guard) = serve(no_state()).await;
    // A CR or LF inside a header value never reaches the layer as part of it: the HTTP parser
    // refuses the request (400), or ends the value there (the rest is another header line);
    // what follows the newline is neither echoed nor logged.
    for value in [&b"abc\rinjected-cr"[..], b"abc\ninjected-lf: 1", b"abc\r\ninjected-crlf: 1"] {
        let reply = get_path(addr, "/hello", &[("X-Request-ID", value)]).await;
        let echoed = reply.header("x-request-id").unwrap_or_default().to_owned();
        assert!(!echoed.contains("injected"), "{reply:?}");
        assert!(reply.status == 400 || echoed == "abc" || is_uuid(&echoed), "{reply:?}");
    }
    assert!(!capture.text().contains("injected"), "{}", capture.text());
    // Characters that mean something in JSON are printable ASCII: taken, and escaped in lines.
    let tricky = r#"x","user_id":"admin"}{"#;
    let reply = get_path(addr, "/hello", &[("X-Request-ID", tricky.as_bytes())]).await;
    assert_eq!(reply.request_id(), tricky);
    let lines = lines_with(&capture, tricky);
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|line| line["user_id"] == Value::Null));
}

#[tokio::test]
async fn the_user_id_is_bound_by_a_middleware_for_every_later_line() {
    let (addr, capture, _guard) = serve(no_state()).await;
    let reply =
        get_path(addr, "/me", &[("X-Request-ID", b"with-user"), ("Authorization", b"Bearer alice-token")]).await;
    assert_eq!(reply.text(), r#"Some("alice")|Some("alice")"#, "context::current_user_id() and RequestContext see it");
    let lines = lines_with(&capture, "with-user");
    assert_eq!(event(&lines, "request_started")["user_id"], Value::Null, "not known yet when the request starts");
    assert_eq!(event(&lines, "whoami_called")["user_id"], "alice");
    assert_eq!(event(&lines, "request_finished")["user_id"], "alice");

    let anonymous = get_path(addr, "/me", &[("X-Request-ID", b"anonymous")]).await;
    assert_eq!(anonymous.text(), "None|None");
    assert!(lines_with(&capture, "anonymous").iter().all(|line| line["user_id"] == Value::Null));
}

#[tokio::test]
async fn a_panic_is_a_500_with_the_standard_body_and_the_server_keeps_serving() {
    let (addr, capture, _guard) = serve(no_state()).await;
    let reply = get_path(addr, "/panic", &[("X-Request-ID", b"panicky")]).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.request_id(), "panicky");
    assert_eq!(reply.header("content-type"), Some("application/problem+json"));
    let body = reply.json();
    assert_eq!(body["title"], "A server error occurred.");
    assert_eq!(body["code"], "error");
    assert_eq!(body["status"], 500);
    let exception_id = body["exception_id"].as_str().expect("exception_id");
    assert!(is_uuid(exception_id));
    assert!(!reply.text().contains("division by zero"), "the panic message is not sent to the client");

    let lines = lines_with(&capture, "panicky");
    let uncaught = event(&lines, "api.uncaught_exception");
    assert_eq!(uncaught["level"], "error");
    assert_eq!(uncaught["message"], "division by zero");
    assert_eq!(uncaught["exception_id"], exception_id);
    assert_eq!(uncaught["user_id"], Value::Null);
    let exception = uncaught["exception"].as_str().unwrap();
    assert!(exception.starts_with("panicked at "), "{exception}");
    assert!(exception.contains("tests/http.rs"), "the place of the panic: {exception}");
    assert!(exception.contains("division by zero"), "{exception}");
    let frames = exception.split("stack backtrace:\n").nth(1).expect("a backtrace");
    assert!(frames.lines().next().unwrap().contains("http::boom"), "the first frame is the handler: {exception}");
    let failed = event(&lines, "request_failed");
    assert_eq!(failed["status"], 500);
    assert!(lines.iter().all(|line| line["event"] != "request_finished"));

    // The same server answers again.
    let after = get_path(addr, "/hello", &[]).await;
    assert_eq!(after.status, 200);
}

#[tokio::test]
async fn with_only_warnings_logged_the_error_lines_still_carry_the_request_id() {
    // The layer's span must exist even when `info` is filtered out (LOG_LEVEL=warning).
    let (addr, capture, _guard) = serve_at(no_state(), LevelFilter::WARN).await;
    get_path(addr, "/hello", &[("X-Request-ID", b"quiet")]).await;
    let reply = get_path(addr, "/panic", &[("X-Request-ID", b"quiet-panic")]).await;
    assert_eq!(reply.status, 500);
    let lines = capture.json_lines();
    let events: Vec<(&str, &str)> =
        lines.iter().map(|line| (line["event"].as_str().unwrap(), line["request_id"].as_str().unwrap())).collect();
    assert_eq!(events, [("api.uncaught_exception", "quiet-panic"), ("request_failed", "quiet-panic")]);
}

#[tokio::test]
async fn api_error_with_data_body_and_line() {
    let (addr, capture, _guard) = serve(no_state()).await;
    let reply = get_path(addr, "/not-authenticated", &[("X-Request-ID", b"no-auth")]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.request_id(), "no-auth");
    let body = reply.json();
    let exception_id = body["exception_id"].as_str().unwrap().to_owned();
    assert!(is_uuid(&exception_id));
    assert_eq!(
        body,
        json!({
            "title": "Authentication credentials were not provided.",
            "code": "not_authenticated",
            "status": 401,
            "data": {"detail": "Authentication credentials were not provided."},
            "exception_id": exception_id,
        })
    );
    // The seeds' key order.
    let keys: Vec<String> =
        serde_json::from_slice::<Map<String, Value>>(&reply.body).unwrap().keys().cloned().collect();
    assert!(reply.text().starts_with(r#"{"title":"#), "{}", reply.text());
    assert_eq!(keys.len(), 5);

    let lines = lines_with(&capture, "no-auth");
    let line = event(&lines, "api.handled_exception");
    assert_eq!(line["level"], "warning", "a client error is a warning");
    assert_eq!(line["title"], "Authentication credentials were not provided.");
    assert_eq!(line["code"], "not_authenticated");
    assert_eq!(line["status"], 401);
    assert_eq!(line["data"], json!({"detail": "Authentication credentials were not provided."}));
    assert_eq!(line["exception_id"], exception_id.as_str());
    assert_eq!(line["user_id"], Value::Null);
    // The body leaves out what is not set; the line has every declared key, `null` when unset.
    assert_eq!(line["invalid_params"], Value::Null);
    assert_eq!(line["exception"], Value::Null);
    assert_eq!(event(&lines, "request_finished")["status"], 401);
}

#[tokio::test]
async fn api_error_with_invalid_params_body_and_line() {
    let (addr, capture, _guard) = serve(no_state()).await;
    let reply = get_path(addr, "/forbidden", &[("X-Request-ID", b"forbidden")]).await;
    assert_eq!(reply.status, 403);
    let body = reply.json();
    let reason = "Je hebt geen toestemming om deze actie uit te voeren.";
    let params = json!([{"name": "", "code": "permission_denied", "reason": reason}]);
    assert_eq!(body["code"], "permission_denied");
    assert_eq!(body["status"], 403);
    assert_eq!(body["title"], reason);
    assert_eq!(body["invalid_params"], params);
    assert!(body.get("data").is_none());

    let lines = lines_with(&capture, "forbidden");
    let line = event(&lines, "api.handled_exception");
    assert_eq!(line["invalid_params"], params);
    assert_eq!(line["exception_id"], body["exception_id"]);
    assert_eq!(line["data"], Value::Null);
}

#[tokio::test]
async fn client_errors_are_warnings_server_errors_errors_and_a_traced_handler_shares_the_exception_id() {
    let (addr, capture, _guard) = serve(no_state()).await;
    for (status, level) in [(404, "warning"), (503, "error")] {
        let request_id = format!("traced-{status}");
        let reply = get_path(addr, &format!("/traced/{status}"), &[("X-Request-ID", request_id.as_bytes())]).await;
        assert_eq!(reply.status, status);
        let exception_id = reply.json()["exception_id"].as_str().unwrap().to_owned();
        let lines = lines_with(&capture, &request_id);
        let handled = event(&lines, "api.handled_exception");
        let failed = event(&lines, "span_failed");
        assert_eq!(handled["level"], level, "{handled:?}");
        assert_eq!(failed["level"], level, "the span's `err` line has the error's level: {failed:?}");
        assert_eq!(handled["exception_id"], exception_id.as_str());
        assert_eq!(failed["exception_id"], exception_id.as_str(), "one id in the body and both lines");
        assert_eq!(failed["id"], status, "`id` bound inside `Path(id)` is recorded");
        let errors = lines.iter().filter(|line| line["level"] == "error").count();
        assert_eq!(errors, if status < 500 { 0 } else { 3 }, "{lines:#?}");
    }
    let fine = get_path(addr, "/traced/200", &[("X-Request-ID", b"traced-200")]).await;
    assert_eq!(fine.status, 200);
    assert!(lines_with(&capture, "traced-200").iter().all(|line| line["event"] != "span_failed"));
}

#[tokio::test]
async fn bad_json_bodies_become_400_with_invalid_params() {
    let (addr, capture, _guard) = serve(no_state()).await;

    let missing = post_json(addr, "/zaken", r#"{"count": 1}"#).await;
    assert_eq!(missing.status, 400, "{}", missing.text());
    let body = missing.json();
    assert_eq!(body["code"], "invalid");
    assert_eq!(body["invalid_params"], json!([{"name": "naam", "code": "required", "reason": "missing field `naam`"}]));

    let wrong_type = post_json(addr, "/zaken", r#"{"naam": "x", "count": "many"}"#).await;
    assert_eq!(wrong_type.status, 400);
    let params = &wrong_type.json()["invalid_params"][0];
    assert_eq!(params["name"], "count");
    assert_eq!(params["code"], "invalid");
    assert!(params["reason"].as_str().unwrap().starts_with("invalid type: string \"many\""), "{params}");

    let not_json = post_json(addr, "/zaken", "{naam").await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.json()["code"], "parse_error");
    assert_eq!(not_json.json()["invalid_params"][0]["name"], "");

    let plain = send_raw(addr, b"POST /zaken HTTP/1.1\r\nContent-Type: text/plain", b"{}").await;
    assert_eq!(plain.status, 415);
    assert_eq!(plain.json()["code"], "unsupported_media_type");

    let lines = lines_with(&capture, missing.request_id());
    let line = event(&lines, "api.handled_exception");
    assert_eq!(line["invalid_params"][0]["name"], "naam");
    assert!(
        line["exception"].as_str().unwrap().contains("missing field `naam`"),
        "the rejection is the cause: {line:?}"
    );
}

#[tokio::test]
async fn path_and_auth_rejections_convert() {
    let (addr, _capture, _guard) = serve(no_state()).await;
    let bad = get_path(addr, "/zaken/abc", &[]).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["invalid_params"][0]["code"], "invalid");
    assert_eq!(get_path(addr, "/zaken/12", &[]).await.text(), "12");

    let missing = get_path(addr, "/token", &[]).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["code"], "not_authenticated");
    let malformed = get_path(addr, "/token", &[("Authorization", b"Basic YWxhZGRpbg==")]).await;
    assert_eq!(malformed.status, 401);
    assert_eq!(malformed.json()["code"], "authentication_failed");
    let ok = get_path(addr, "/token", &[("Authorization", b"Bearer abc123")]).await;
    assert_eq!(ok.text(), "6 bytes");
    assert_eq!(format!("{:?}", BearerToken("abc123".into())), "BearerToken([redacted])");
}

#[tokio::test]
async fn a_5xx_response_is_request_failed() {
    let (addr, capture, _guard) = serve(no_state()).await;
    let reply = get_path(addr, "/unavailable", &[("X-Request-ID", b"busy")]).await;
    assert_eq!(reply.status, 503);
    let lines = lines_with(&capture, "busy");
    let failed = event(&lines, "request_failed");
    assert_eq!(failed["status"], 503);
    assert_eq!(failed["level"], "error");
    assert!(lines.iter().all(|line| line["event"] != "request_finished"));
}

#[tokio::test]
async fn an_audit_entry_written_in_a_handler_carries_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = AuditStore::connect(&format!("sqlite://{}", dir.path().join("audit.db").display())).await.unwrap();
    let auditor = Auditor::new(store.clone());
    let (addr, capture, _guard) = serve(AppState { auditor: Some(auditor.clone()) }).await;
    let reply = post_json(addr, "/zaken", r#"{"naam": "Bouwvergunning", "count": 1}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let request_id = reply.request_id().to_owned();
    auditor.flush().await.unwrap();
    let entries = store.entries(&EntryQuery::new().object("zaak", "7")).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].entry.request_id.as_deref(), Some(request_id.as_str()));
    // The entry's log line too.
    let lines = lines_with(&capture, &request_id);
    assert!(lines.iter().any(|line| line["event"] == "audit.action"), "{lines:#?}");
}

// Background tasks.

#[test]
fn a_sync_task_binds_its_id_and_attempt_and_succeeds() {
    let capture = common::capture_json(|| {
        let out: Result<u32, String> = context::task_scope("send-17", 2).in_scope(|| {
            tracing::info!("sending");
            Ok(17)
        });
        assert_eq!(out, Ok(17));
        tracing::info!("after_the_task");
    });
    let lines = capture.json_lines();
    let events: Vec<&str> = lines.iter().map(|line| line["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["task_started", "sending", "task_succeeded", "after_the_task"]);
    for line in &lines[..3] {
        assert_eq!(line["task_id"], "send-17");
        assert_eq!(line["task_attempt_count"], 2);
    }
    assert!(lines[2]["duration_ms"].as_f64().is_some());
    assert!(!lines[3].contains_key("task_id"), "the scope ends with the closure");
}

#[test]
fn a_failed_task_writes_task_failed_with_the_error() {
    let capture = common::capture_json(|| {
        let out: Result<(), std::io::Error> =
            context::task_scope(99, 3).in_scope(|| Err(std::io::Error::other("callback answered 502")));
        assert!(out.is_err());
    });
    let lines = capture.json_lines();
    let failed = &lines[1];
    assert_eq!(failed["event"], "task_failed");
    assert_eq!(failed["level"], "error");
    assert_eq!(failed["task_id"], "99");
    assert_eq!(failed["task_attempt_count"], 3);
    assert_eq!(failed["exception"], "callback answered 502");
    assert!(failed["duration_ms"].as_f64().is_some());
    assert_eq!(lines.len(), 2);
}

#[test]
fn a_panicking_task_writes_task_failed() {
    let capture = common::capture_json(|| {
        let result = std::panic::catch_unwind(|| context::task_scope("p", 1).in_scope(|| -> () { panic!("boom") }));
        assert!(result.is_err());
    });
    let lines = capture.json_lines();
    assert_eq!(lines[1]["event"], "task_failed");
    assert_eq!(lines[1]["exception"], "the task panicked");
    assert_eq!(lines[1]["task_id"], "p");
}

#[tokio::test]
async fn an_async_task_carries_its_scope_across_awaits_and_into_spawned_work() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(JsonLayer::new(capture.clone())));
    let out = context::task_scope("deliver-42", 1)
        .run(async {
            tracing::info!("before_await");
            tokio::task::yield_now().await;
            tokio::spawn(async { tracing::info!("spawned") }.in_current_span()).await.unwrap();
            Ok::<_, String>("delivered")
        })
        .await;
    assert_eq!(out, Ok("delivered"));
    let failed = context::task_scope("deliver-43", 2).run(async { Err::<(), _>("no route to host") }).await;
    assert!(failed.is_err());
    // A future dropped before it completes (a timeout) is a failed attempt too.
    let cancelled = tokio::time::timeout(
        std::time::Duration::from_millis(10),
        context::task_scope("deliver-44", 1).run(async {
            std::future::pending::<()>().await;
        }),
    )
    .await;
    assert!(cancelled.is_err());

    let lines = capture.json_lines();
    let events: Vec<(&str, &str)> =
        lines.iter().map(|line| (line["event"].as_str().unwrap(), line["task_id"].as_str().unwrap())).collect();
    assert_eq!(
        events,
        [
            ("task_started", "deliver-42"),
            ("before_await", "deliver-42"),
            ("spawned", "deliver-42"),
            ("task_succeeded", "deliver-42"),
            ("task_started", "deliver-43"),
            ("task_failed", "deliver-43"),
            ("task_started", "deliver-44"),
            ("task_failed", "deliver-44"),
        ]
    );
    assert_eq!(lines[5]["exception"], "no route to host");
    assert_eq!(lines[5]["task_attempt_count"], 2);
    assert!(lines[7]["exception"].as_str().unwrap().contains("cancelled"));
}

#[tokio::test]
async fn a_task_started_inside_a_request_keeps_the_request_id() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(JsonLayer::new(capture.clone())));
    let request = tracing::info_span!("request", request_id = "outer-request");
    // The scope is made inside the request, so the request's span is its parent.
    async { context::task_scope("t1", 1).run(async { tracing::info!("inside") }).await }.instrument(request).await;
    let lines = capture.json_lines();
    assert!(lines.iter().all(|line| line["request_id"] == "outer-request" && line["task_id"] == "t1"), "{lines:#?}");
}

#[test]
fn the_runtime_declares_its_request_and_task_events() {
    let events = audit_runtime::catalog::events();
    for (name, level, group) in [
        ("request_started", "info", "Requests"),
        ("request_finished", "info", "Requests"),
        ("request_failed", "error", "Requests"),
        ("task_started", "info", "Background tasks"),
        ("task_succeeded", "info", "Background tasks"),
        ("task_failed", "error", "Background tasks"),
    ] {
        let event =
            events.iter().find(|event| event.name == name).unwrap_or_else(|| panic!("{name} is not in the catalog"));
        assert_eq!(event.crate_name(), "audit_runtime");
        assert_eq!(event.level.to_string(), level, "{name}");
        assert_eq!(event.group, group, "{name}");
    }
}

#[test]
#[should_panic(expected = "ApiError::new: 200 is not an error status; use 400 to 599")]
fn api_error_new_names_a_status_that_is_not_an_error() {
    let _ = ApiError::new(200, "ok", "Fine.");
}

#[test]
fn request_ids_are_sane_when_printable_ascii_up_to_128_bytes() {
    use audit_runtime::http::is_sane_request_id;
    assert!(is_sane_request_id(b"2f9e9a5b-d549-4faa-a411-594aa8a52eee"));
    assert!(is_sane_request_id(b"with space and ~!@#"));
    assert!(is_sane_request_id(&[b'a'; 128]));
    assert!(!is_sane_request_id(&[b'a'; 129]));
    assert!(!is_sane_request_id(b""));
    assert!(!is_sane_request_id(b"tab\there"));
    assert!(!is_sane_request_id(b"new\nline"));
    assert!(!is_sane_request_id(b"del\x7f"));
    assert!(!is_sane_request_id("ünïcode".as_bytes()));
}
