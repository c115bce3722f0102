//! An axum service with the request log, the standard error body, and the audit store.
//!
//! ```text
//! cargo run -p audit-examples --features http --example service             # until Ctrl-C
//! cargo run -p audit-examples --features http --example service -- --smoke  # call every route once, exit
//! ```
//!
//! Log lines go to stdout (JSON; `LOG_FORMAT=console` for people); how to call the routes goes
//! to stderr. The audit store is `./service-audit.db` (or `AUDIT_STORE`, a store URL). `PORT`
//! picks the port (default 3000).
//!
//! - `GET/POST /zaken`, `GET/PUT/DELETE /zaken/{id}`: a CRUD resource that derives `Audited`;
//!   writes need `Authorization: Bearer alice-token` (or `bob-token`), bound as the user id.
//!   Each write is an audit action or tracked change plus a revision; each read is a view.
//! - `POST /zaken` with a bad body: 400 with `invalid_params` (axum's rejection, through `?`).
//! - `GET /panic`: a handler that panics: 500 with the standard body, `api.uncaught_exception`.
//! - `POST /zaken/{id}/publish`: the publication service is not configured: a
//!   `configuration_error` (mailed to `CONFIG_ERROR_REPORT_EMAIL` when set) and a 503.
//! - `/audit`: the audit explorer (history, versions, diffs, revert, views, the chain); alice
//!   may revert, bob may read, anyone else is refused. In a browser without a token, run with
//!   `EXPLORER_OPEN=1` to let every request in as alice (on 127.0.0.1 only).

use std::collections::BTreeMap;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use audit_runtime::context::task_scope;
use audit_runtime::explorer::{self, Access, Explorer};
use audit_runtime::http::{ApiError, Audit, AuditViews, RequestContext, RequestLogLayer, bind_user_id};
use audit_runtime::report::{self, ConfigurationError, handle_config_error};
use audit_runtime::store::{AuditStore, Auditor};
use audit_runtime::{Audited, logging};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRef, Path, Request, State};
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
    /// The applicant's citizen number: never in a log line, an audit entry or a snapshot. It
    /// stays serialisable (a revert keeps the current value of fields the store never saw by
    /// reading them from the object's own serialisation); the API answers with [`Public`].
    #[audited(redact)]
    #[serde(default)]
    bsn: String,
}

/// What the API shows of a zaak: everything but the citizen number.
#[derive(Serialize)]
struct Public {
    id: u64,
    naam: String,
    status: String,
}

impl From<Zaak> for Public {
    fn from(zaak: Zaak) -> Self {
        Public { id: zaak.id, naam: zaak.naam, status: zaak.status }
    }
}

/// The body of `POST /zaken` and `PUT /zaken/{id}`.
#[derive(Deserialize)]
struct ZaakInput {
    naam: String,
    status: String,
    #[serde(default)]
    bsn: String,
}

#[derive(Clone)]
struct AppState {
    auditor: Auditor,
    zaken: Zaken,
    next_id: Arc<AtomicU64>,
}

/// What the `Audit` extractor takes from the state.
impl FromRef<AppState> for Auditor {
    fn from_ref(state: &AppState) -> Auditor {
        state.auditor.clone()
    }
}

/// The table of zaken; also what the explorer loads and saves a reverted zaak through.
#[derive(Clone, Default)]
struct Zaken(Arc<Mutex<BTreeMap<u64, Zaak>>>);

impl explorer::Repository<Zaak> for Zaken {
    async fn load(&self, id: &str) -> Result<Option<Zaak>, ApiError> {
        Ok(id.parse().ok().and_then(|id| self.0.lock().unwrap().get(&id).cloned()))
    }
    async fn save(&self, zaak: &Zaak) -> Result<(), ApiError> {
        self.0.lock().unwrap().insert(zaak.id, zaak.clone());
        Ok(())
    }
}

/// The audit store unless `AUDIT_STORE` names another (a URL, e.g. `sqlite://quickstart-audit.db`).
const DATABASE: &str = "sqlite://service-audit.db";
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

/// `EXPLORER_OPEN=1`: a browser on this machine has no token; take it as alice's.
async fn open_explorer(request: Request, next: Next) -> Response {
    if RequestContext::from_extensions(request.extensions()).is_some_and(|ctx| ctx.user_id().is_none()) {
        bind_user_id(&request, "alice");
    }
    next.run(request).await
}

/// Who may do what in the explorer: alice reverts, bob reads, nobody else.
fn explorer_access(request: &axum::http::request::Parts) -> Access {
    match RequestContext::from_extensions(&request.extensions).and_then(RequestContext::user_id).as_deref() {
        Some("alice") => Access::Write,
        Some("bob") => Access::Read,
        _ => Access::Denied,
    }
}

fn find(state: &AppState, id: u64) -> Result<Zaak, ApiError> {
    state.zaken.0.lock().unwrap().get(&id).cloned().ok_or_else(ApiError::not_found)
}

async fn list(State(state): State<AppState>) -> Json<Vec<Public>> {
    Json(state.zaken.0.lock().unwrap().values().cloned().map(Public::from).collect())
}

/// `Audit` is the request's user (401 without one) and the auditor: one call records the
/// action and the first revision.
async fn create(
    State(state): State<AppState>,
    audit: Audit,
    body: Result<Json<ZaakInput>, JsonRejection>,
) -> Result<Json<Public>, ApiError> {
    let Json(input) = body?;
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let zaak = Zaak { id, naam: input.naam, status: input.status, bsn: input.bsn };
    state.zaken.0.lock().unwrap().insert(id, zaak.clone());
    audit.created(&zaak, "created via the API").await?;
    // Background work made inside the request: its lines carry the request id and the task id.
    let indexing = task_scope(format!("index-zaak-{id}"), 1);
    tokio::spawn(indexing.run(async move {
        tracing::info!(zaak_id = id, "zaak_indexed");
        Ok::<_, std::io::Error>(())
    }));
    Ok(Json(zaak.into()))
}

async fn read(
    State(state): State<AppState>,
    views: AuditViews,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Json<Public>, ApiError> {
    let Path(id) = id?;
    let zaak = find(&state, id)?;
    views.viewed(&zaak);
    Ok(Json(zaak.into()))
}

async fn update(
    State(state): State<AppState>,
    audit: Audit,
    id: Result<Path<u64>, PathRejection>,
    body: Result<Json<ZaakInput>, JsonRejection>,
) -> Result<Json<Public>, ApiError> {
    let Path(id) = id?;
    let Json(input) = body?;
    let old = find(&state, id)?;
    let new = Zaak { id, naam: input.naam, status: input.status, bsn: input.bsn };
    state.zaken.0.lock().unwrap().insert(id, new.clone());
    audit.changed(&old, &new, "updated via the API").await?;
    Ok(Json(new.into()))
}

async fn delete(
    State(state): State<AppState>,
    audit: Audit,
    id: Result<Path<u64>, PathRejection>,
) -> Result<axum::http::StatusCode, ApiError> {
    let Path(id) = id?;
    let zaak = state.zaken.0.lock().unwrap().remove(&id).ok_or_else(ApiError::not_found)?;
    audit.deleted(&zaak, "deleted via the API").await?;
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
async fn publish(
    State(state): State<AppState>,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Json<Public>, ApiError> {
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

fn app(state: AppState, store: AuditStore, open_explorer_to_alice: bool) -> Router {
    let explorer = Explorer::new(store)
        .authorize(explorer_access)
        .auditor(state.auditor.clone())
        .revertible::<Zaak, _>(state.zaken.clone())
        .router();
    let explorer = if open_explorer_to_alice { explorer.layer(middleware::from_fn(open_explorer)) } else { explorer };
    Router::new()
        .route("/zaken", get(list).post(create))
        .route("/zaken/{id}", get(read).put(update).delete(delete))
        .route("/zaken/{id}/publish", post(publish))
        .route("/panic", get(panics))
        .with_state(state)
        .nest("/audit", explorer)
        // Layers run outside in: the request log first, so authentication's lines carry the id.
        .layer(middleware::from_fn(authenticate))
        .layer(RequestLogLayer::new())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let smoke = std::env::args().skip(1).any(|arg| arg == "--smoke");
    let _logs = logging::init_from_env()?;
    let database = std::env::var("AUDIT_STORE").unwrap_or_else(|_| DATABASE.to_owned());
    let store = AuditStore::connect(&database).await?;
    let _reports = report::init_from_env(Some(&store))?;
    let auditor = Auditor::new(store.clone());
    let state = AppState { auditor: auditor.clone(), zaken: Zaken::default(), next_id: Arc::new(AtomicU64::new(1)) };
    let open = std::env::var("EXPLORER_OPEN").is_ok_and(|v| v == "1") && !smoke;

    let address = if smoke {
        "127.0.0.1:0".to_owned()
    } else {
        format!("127.0.0.1:{}", std::env::var("PORT").unwrap_or_else(|_| "3000".into()))
    };
    let listener = tokio::net::TcpListener::bind(&address).await?;
    let addr = listener.local_addr()?;
    let server = axum::serve(listener, app(state, store.clone(), open));

    if smoke {
        tokio::spawn(async move { server.await });
        let failures = smoke_test(addr).await;
        auditor.flush().await?;
        if failures > 0 {
            return Err(format!("{failures} route(s) answered unexpectedly").into());
        }
        eprintln!("smoke test passed: every route answered as expected (audit store: {})", store.url());
        return Ok(());
    }

    print_usage(addr, store.url());
    server
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    auditor.flush().await?;
    eprintln!("stopped; the audit trail is in {}", store.url());
    Ok(())
}

fn print_usage(addr: SocketAddr, store: &str) {
    let base = format!("http://{addr}");
    eprintln!(
        "\
listening on {base} (Ctrl-C stops); JSON log lines on stdout, audit trail in {store}

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
  curl -s {base}/audit/objects/zaak/1 -H 'Authorization: Bearer bob-token' -H 'Accept: application/json'

The audit explorer: {base}/audit (a browser without a token: restart with EXPLORER_OPEN=1)
"
    );
}

/// Calls every route once over a real socket; returns how many answered unexpectedly.
async fn smoke_test(addr: SocketAddr) -> usize {
    const JSON: &str = "Content-Type: application/json";
    const ALICE: &str = "Authorization: Bearer alice-token";
    const BOB: &str = "Authorization: Bearer bob-token";
    const JSON_PLEASE: &str = "Accept: application/json";
    let calls: [(&str, &str, &[&str], &str, u16); 18] = [
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
        // The explorer: pages for alice and bob, JSON on request, nobody else.
        ("GET", "/audit", &[ALICE], "", 200),
        ("GET", "/audit/objects/zaak/1", &[BOB], "", 200),
        ("GET", "/audit/objects/zaak/1/versions", &[BOB, JSON_PLEASE], "", 200),
        ("GET", "/audit/objects/zaak/1/diff", &[ALICE], "", 200),
        ("GET", "/audit/objects/zaak/1/views", &[ALICE], "", 200),
        ("GET", "/audit/verify", &[ALICE, JSON_PLEASE], "", 200),
        ("GET", "/audit", &[], "", 403),
        ("DELETE", "/zaken/1", &[ALICE], "", 204),
        ("GET", "/zaken/1", &[], "", 404),
    ];
    let mut failures = 0;
    for (method, path, headers, body, expected) in calls {
        match call(addr, method, path, headers, body).await {
            Ok((status, request_id)) if status == expected && !request_id.is_empty() => {
                eprintln!("ok    {method:<6} {path:<32} {status}  X-Request-ID: {request_id}");
            }
            Ok((status, request_id)) => {
                failures += 1;
                eprintln!("FAIL  {method:<6} {path:<32} {status} (expected {expected})  X-Request-ID: {request_id:?}");
            }
            Err(error) => {
                failures += 1;
                eprintln!("FAIL  {method:<6} {path:<32} {error}");
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
