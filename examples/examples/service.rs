//! An axum service with the request log, the standard error body, and the audit store.
//!
//! ```text
//! cargo run -p audit-examples --features http --example service             # until Ctrl-C
//! cargo run -p audit-examples --features http --example service -- --smoke  # call every route once, exit
//! ```
//!
//! Log lines go to stdout (JSON; `LOG_FORMAT=console` for people); how to call the routes goes
//! to stderr. The audit store is `./service-audit.db`. `PORT` picks the port (default 3000).
//!
//! - `GET/POST /zaken`, `GET/PUT/DELETE /zaken/{id}`: a CRUD resource that derives `Audited`;
//!   writes need `Authorization: Bearer alice-token` (or `bob-token`), bound as the user id.
//!   Each write is an audit action or tracked change plus a revision; each read is a view.
//! - `POST /zaken` with a bad body: 400 with `invalid_params` (axum's rejection, through `?`).
//! - `GET /panic`: a handler that panics: 500 with the standard body, `api.uncaught_exception`.
//! - `POST /zaken/{id}/publish`: the publication service is not configured: a
//!   `configuration_error` (mailed to `CONFIG_ERROR_REPORT_EMAIL` when set) and a 503.

use std::collections::BTreeMap;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use audit_runtime::context::task_scope;
use audit_runtime::http::{ApiError, RequestContext, RequestLogLayer, bind_user_id};
use audit_runtime::report::{self, ConfigurationError, handle_config_error};
use audit_runtime::store::{AuditStore, Auditor};
use audit_runtime::{Action, Actor, Audited, logging};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The resource: a case (`zaak`), audited field by field.
#[derive(Audited, Clone, Debug, Serialize, Deserialize)]
#[audited(object_type = "zaak")]
struct Zaak {
    #[audited(id)]
    id: u64,
    naam: String,
    status: String,
    /// The applicant's citizen number: never in a log line, an audit entry or a snapshot.
    #[audited(redact)]
    #[serde(default, skip_serializing)]
    bsn: String,
}

/// The body of `POST /zaken` and `PUT /zaken/{id}`.
#[derive(Deserialize)]
struct ZaakInput {
    naam: String,
    status: String,
    #[serde(default)]
    bsn: String,
}

struct AppState {
    auditor: Auditor,
    zaken: Mutex<BTreeMap<u64, Zaak>>,
    next_id: AtomicU64,
}

type Shared = Arc<AppState>;

const DATABASE: &str = "service-audit.db";
const TOKENS: [(&str, &str); 2] = [("alice-token", "alice"), ("bob-token", "bob")];

/// Authentication: binds the user id as soon as the token is known, so every later line and
/// audit entry of the request carries it.
async fn authenticate(request: Request, next: Next) -> Response {
    let token =
        request.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if let Some((_, user)) = TOKENS.iter().find(|(known, _)| Some(*known) == token) {
        bind_user_id(&request, user);
    }
    next.run(request).await
}

/// The acting user, or 401 with the standard error body.
fn actor(ctx: &RequestContext) -> Result<Actor, ApiError> {
    ctx.user_id().map(|id| Actor::user(&*id)).ok_or_else(ApiError::not_authenticated)
}

fn find(state: &AppState, id: u64) -> Result<Zaak, ApiError> {
    state.zaken.lock().unwrap().get(&id).cloned().ok_or_else(ApiError::not_found)
}

async fn list(State(state): State<Shared>) -> Json<Vec<Zaak>> {
    Json(state.zaken.lock().unwrap().values().cloned().collect())
}

async fn create(
    State(state): State<Shared>,
    ctx: RequestContext,
    body: Result<Json<ZaakInput>, JsonRejection>,
) -> Result<Json<Zaak>, ApiError> {
    let actor = actor(&ctx)?;
    let Json(input) = body?;
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let zaak = Zaak { id, naam: input.naam, status: input.status, bsn: input.bsn };
    state.zaken.lock().unwrap().insert(id, zaak.clone());
    state.auditor.log_action(&actor, Action::Create, &zaak, "created via the API");
    let mut revision = state.auditor.create_revision();
    revision.set_user(&actor);
    revision.set_comment("created");
    revision.add(&zaak);
    revision.commit().await.map_err(ApiError::internal)?;
    // Background work made inside the request: its lines carry the request id and the task id.
    let indexing = task_scope(format!("index-zaak-{id}"), 1);
    tokio::spawn(indexing.run(async move {
        tracing::info!(zaak_id = id, "zaak_indexed");
        Ok::<_, std::io::Error>(())
    }));
    Ok(Json(zaak))
}

async fn read(State(state): State<Shared>, id: Result<Path<u64>, PathRejection>) -> Result<Json<Zaak>, ApiError> {
    let Path(id) = id?;
    let zaak = find(&state, id)?;
    state.auditor.log_view(&zaak);
    Ok(Json(zaak))
}

async fn update(
    State(state): State<Shared>,
    ctx: RequestContext,
    id: Result<Path<u64>, PathRejection>,
    body: Result<Json<ZaakInput>, JsonRejection>,
) -> Result<Json<Zaak>, ApiError> {
    let actor = actor(&ctx)?;
    let Path(id) = id?;
    let Json(input) = body?;
    let old = find(&state, id)?;
    let new = Zaak { id, naam: input.naam, status: input.status, bsn: input.bsn };
    state.zaken.lock().unwrap().insert(id, new.clone());
    state.auditor.track_change(&actor, &old, &new);
    let mut revision = state.auditor.create_revision();
    revision.set_user(&actor);
    revision.set_comment("updated");
    revision.add(&new);
    revision.commit().await.map_err(ApiError::internal)?;
    Ok(Json(new))
}

async fn delete(
    State(state): State<Shared>,
    ctx: RequestContext,
    id: Result<Path<u64>, PathRejection>,
) -> Result<axum::http::StatusCode, ApiError> {
    let actor = actor(&ctx)?;
    let Path(id) = id?;
    let zaak = state.zaken.lock().unwrap().remove(&id).ok_or_else(ApiError::not_found)?;
    state.auditor.log_action(&actor, Action::Delete, &zaak, "deleted via the API");
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn panics() -> &'static str {
    let zaken_per_page = std::hint::black_box(0);
    if zaken_per_page == 0 {
        panic!("division by zero: zaken_per_page is 0");
    }
    "unreachable"
}

/// Publishing needs a service nobody configured: a person must fix it, so it is a
/// configuration error (logged always, mailed at most once per window), and the client gets a 503.
async fn publish(State(state): State<Shared>, id: Result<Path<u64>, PathRejection>) -> Result<Json<Zaak>, ApiError> {
    let Path(id) = id?;
    let zaak = find(&state, id)?;
    handle_config_error(
        &ConfigurationError::new("No publication service is configured for zaken.", &zaak)
            .url("https://publicaties.example.invalid/api/v1")
            .config_field("PUBLICATION_SERVICE_URL"),
    );
    Err(ApiError::new(503, "service_unavailable", "Publishing is not available: the service is not configured.")
        .with_data(serde_json::json!({"detail": "The administrators have been told."})))
}

fn app(state: Shared) -> Router {
    Router::new()
        .route("/zaken", get(list).post(create))
        .route("/zaken/{id}", get(read).put(update).delete(delete))
        .route("/zaken/{id}/publish", post(publish))
        .route("/panic", get(panics))
        .with_state(state)
        // Layers run outside in: the request log first, so authentication's lines carry the id.
        .layer(middleware::from_fn(authenticate))
        .layer(RequestLogLayer::new())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let smoke = std::env::args().skip(1).any(|arg| arg == "--smoke");
    let _logs = logging::init_from_env()?;
    let store = AuditStore::connect(&format!("sqlite://{DATABASE}")).await?;
    let _reports = report::init_from_env(Some(&store))?;
    let auditor = Auditor::new(store.clone());
    let state = Arc::new(AppState { auditor: auditor.clone(), zaken: Mutex::default(), next_id: AtomicU64::new(1) });

    let address = if smoke {
        "127.0.0.1:0".to_owned()
    } else {
        format!("127.0.0.1:{}", std::env::var("PORT").unwrap_or_else(|_| "3000".into()))
    };
    let listener = tokio::net::TcpListener::bind(&address).await?;
    let addr = listener.local_addr()?;
    let server = axum::serve(listener, app(state));

    if smoke {
        tokio::spawn(async move { server.await });
        let failures = smoke_test(addr).await;
        auditor.flush().await?;
        if failures > 0 {
            return Err(format!("{failures} route(s) answered unexpectedly").into());
        }
        eprintln!("smoke test passed: every route answered as expected (audit store: ./{DATABASE})");
        return Ok(());
    }

    print_usage(addr);
    server
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    auditor.flush().await?;
    eprintln!("stopped; the audit trail is in ./{DATABASE}");
    Ok(())
}

fn print_usage(addr: SocketAddr) {
    let base = format!("http://{addr}");
    eprintln!(
        "\
listening on {base} (Ctrl-C stops); JSON log lines on stdout, audit trail in ./{DATABASE}

  curl -s {base}/zaken
  curl -s -X POST {base}/zaken -H 'Authorization: Bearer alice-token' -H 'Content-Type: application/json' \\
       -d '{{\"naam\": \"Bouwvergunning\", \"status\": \"open\", \"bsn\": \"123456782\"}}'
  curl -s {base}/zaken/1 -H 'X-Request-ID: my-trace-42' -i
  curl -s -X PUT {base}/zaken/1 -H 'Authorization: Bearer bob-token' -H 'Content-Type: application/json' \\
       -d '{{\"naam\": \"Bouwvergunning\", \"status\": \"closed\"}}'
  curl -s -X POST {base}/zaken -H 'Authorization: Bearer alice-token' -H 'Content-Type: application/json' -d '{{\"naam\": 1}}'
  curl -s -X POST {base}/zaken -H 'Content-Type: application/json' -d '{{}}'            # 401 not_authenticated
  curl -s -X POST {base}/zaken/1/publish                                              # configuration error, 503
  curl -s {base}/panic                                                                # 500, api.uncaught_exception
  curl -s -X DELETE {base}/zaken/1 -H 'Authorization: Bearer alice-token'
"
    );
}

/// Calls every route once over a real socket; returns how many answered unexpectedly.
async fn smoke_test(addr: SocketAddr) -> usize {
    const JSON: &str = "Content-Type: application/json";
    const ALICE: &str = "Authorization: Bearer alice-token";
    let calls: [(&str, &str, &[&str], &str, u16); 11] = [
        ("POST", "/zaken", &[ALICE, JSON], r#"{"naam": "Bouwvergunning", "status": "open", "bsn": "123456782"}"#, 200),
        ("GET", "/zaken", &[], "", 200),
        ("GET", "/zaken/1", &["X-Request-ID: smoke-read-1"], "", 200),
        (
            "PUT",
            "/zaken/1",
            &["Authorization: Bearer bob-token", JSON],
            r#"{"naam": "Bouwvergunning", "status": "closed"}"#,
            200,
        ),
        ("POST", "/zaken", &[ALICE, JSON], r#"{"naam": 1}"#, 400),
        ("POST", "/zaken", &[JSON], "{}", 401),
        ("GET", "/zaken/abc", &[], "", 400),
        ("POST", "/zaken/1/publish", &[], "", 503),
        ("GET", "/panic", &[], "", 500),
        ("DELETE", "/zaken/1", &[ALICE], "", 204),
        ("GET", "/zaken/1", &[], "", 404),
    ];
    let mut failures = 0;
    for (method, path, headers, body, expected) in calls {
        match call(addr, method, path, headers, body).await {
            Ok((status, request_id)) if status == expected && !request_id.is_empty() => {
                eprintln!("ok    {method:<6} {path:<20} {status}  X-Request-ID: {request_id}");
            }
            Ok((status, request_id)) => {
                failures += 1;
                eprintln!("FAIL  {method:<6} {path:<20} {status} (expected {expected})  X-Request-ID: {request_id:?}");
            }
            Err(error) => {
                failures += 1;
                eprintln!("FAIL  {method:<6} {path:<20} {error}");
            }
        }
    }
    failures
}

/// One HTTP/1.1 request over a new connection: the status and the echoed request id.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await?;
    let reply = String::from_utf8_lossy(&reply);
    let status = reply.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let request_id = reply
        .lines()
        .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("x-request-id")))
        .map_or(String::new(), |(_, value)| value.trim().to_owned());
    Ok((status, request_id))
}
