//! Audited handlers over real sockets (issue #14): the `Audit` extractor gives the request's
//! user and the `Auditor` from the state, so a create, a change with its revision, a delete
//! and a view are one call each; store errors answer with the right status.

mod explorer_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use audit_runtime::Actor;
use audit_runtime::http::{ApiError, Audit, AuditViews, RequestLogLayer, bind_user_id};
use audit_runtime::logging::JsonLayer;
use audit_runtime::store::{AuditStore, Auditor};
use axum::extract::{FromRef, Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use explorer_support::{Observation, Reply, request};
use serde_json::{Value, json};

#[derive(Clone)]
struct AppState {
    auditor: Auditor,
    store: AuditStore,
    observations: Arc<Mutex<HashMap<i64, Observation>>>,
}

impl FromRef<AppState> for Auditor {
    fn from_ref(state: &AppState) -> Auditor {
        state.auditor.clone()
    }
}

async fn authenticate(request: Request, next: Next) -> Response {
    if request.headers().get("authorization").is_some_and(|v| v == "Bearer alice-token") {
        bind_user_id(&request, "alice");
    }
    next.run(request).await
}

fn find(state: &AppState, id: i64) -> Result<Observation, ApiError> {
    state.observations.lock().unwrap().get(&id).cloned().ok_or_else(ApiError::not_found)
}

async fn create(
    State(state): State<AppState>,
    audit: Audit,
    Json(new): Json<Observation>,
) -> Result<Json<Value>, ApiError> {
    state.observations.lock().unwrap().insert(new.id, new.clone());
    let revision = audit.created(&new, "created via the API").await?;
    Ok(Json(json!({ "id": new.id, "revision": revision })))
}

async fn update(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<i64>,
    Json(new): Json<Observation>,
) -> Result<Json<Value>, ApiError> {
    let old = find(&state, id)?;
    state.observations.lock().unwrap().insert(id, new.clone());
    let revision = audit.changed(&old, &new, "value corrected").await?;
    Ok(Json(json!({ "id": id, "revision": revision })))
}

async fn delete(State(state): State<AppState>, audit: Audit, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let old = state.observations.lock().unwrap().remove(&id).ok_or_else(ApiError::not_found)?;
    let revision = audit.deleted(&old, "withdrawn").await?;
    Ok(Json(json!({ "revision": revision })))
}

async fn read(
    State(state): State<AppState>,
    views: AuditViews,
    Path(id): Path<i64>,
) -> Result<Json<Observation>, ApiError> {
    let observation = find(&state, id)?;
    views.viewed(&observation);
    Ok(Json(observation))
}

/// Reverts through the store: its errors become API errors with `?`.
async fn revert(State(state): State<AppState>, Path((id, version)): Path<(i64, i64)>) -> Result<Json<Value>, ApiError> {
    let current = find(&state, id)?;
    let reverted = state.store.revert(&current, version).await?;
    Ok(Json(json!({ "value": reverted.value })))
}

struct Service {
    addr: std::net::SocketAddr,
    state: AppState,
    _dir: tempfile::TempDir,
}

async fn serve(with_request_log: bool) -> Service {
    // Our JSON layer keeps the request's context, which entries read their request id from.
    static LOGS: std::sync::Once = std::sync::Once::new();
    LOGS.call_once(|| {
        use tracing_subscriber::prelude::*;
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new(std::io::sink));
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let store = AuditStore::connect(&format!("sqlite://{}", dir.path().join("a.db").display())).await.unwrap();
    let state = AppState { auditor: Auditor::new(store.clone()), store, observations: Arc::default() };
    let app = Router::new()
        .route("/observations", post(create))
        .route("/observations/{id}", get(read).put(update).delete(delete))
        .route("/observations/{id}/revert/{version}", post(revert))
        .with_state(state.clone())
        .layer(middleware::from_fn(authenticate));
    let app = if with_request_log { app.layer(RequestLogLayer::new()) } else { app };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Service { addr, state, _dir: dir }
}

const ALICE: (&str, &str) = ("Authorization", "Bearer alice-token");
const JSON: (&str, &str) = ("Content-Type", "application/json");

fn body(id: i64, value: f64) -> String {
    json!({"id": id, "value": value, "note": "", "patient_ssn": "123-45-6789"}).to_string()
}

async fn call(service: &Service, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    request(service.addr, method, path, headers, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn one_call_records_each_create_change_delete_and_view_by_the_request_user() {
    let service = serve(true).await;
    let created =
        call(&service, "POST", "/observations", &[ALICE, JSON, ("X-Request-ID", "req-create")], &body(17, 36.6)).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let created_revision = created.json()["revision"].as_i64().expect("commit gives the revision id");
    let changed =
        call(&service, "PUT", "/observations/17", &[ALICE, JSON, ("X-Request-ID", "req-change")], &body(17, 38.2))
            .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let changed_revision = changed.json()["revision"].as_i64().unwrap();
    assert!(changed_revision > created_revision);
    for _ in 0..2 {
        assert_eq!(call(&service, "GET", "/observations/17", &[], "").await.status, 200, "views need no user");
    }
    let deleted = call(&service, "DELETE", "/observations/17", &[ALICE, ("X-Request-ID", "req-delete")], "").await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    service.state.auditor.flush().await.unwrap();

    let store = &service.state.store;
    let history = store.history("observation", "17").await.unwrap();
    let summary: Vec<(&str, &str, Option<&str>)> = history
        .iter()
        .map(|s| (s.entry.action.as_str(), s.entry.message.as_str(), s.entry.request_id.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("delete", "withdrawn", Some("req-delete")),
            ("change", "changed value", Some("req-change")),
            ("create", "created via the API", Some("req-create")),
        ],
        "{history:#?}"
    );
    assert!(history.iter().all(|s| s.entry.actor == Actor::user("alice")), "by the request's user");
    let change = &history[1].entry.changes;
    assert_eq!(change.len(), 1, "only the value changed: {change:?}");
    assert_eq!(
        (change[0].field.as_ref(), change[0].old.as_f64(), change[0].new.as_f64()),
        ("value", Some(36.6), Some(38.2))
    );

    let versions = store.version_snapshots("observation", "17").await.unwrap();
    let comments: Vec<(Option<&str>, Option<Actor>)> =
        versions.iter().map(|v| (v.comment.as_deref(), v.user.clone())).collect();
    assert_eq!(
        comments,
        [
            (Some("withdrawn"), Some(Actor::user("alice"))),
            (Some("value corrected"), Some(Actor::user("alice"))),
            (Some("created via the API"), Some(Actor::user("alice"))),
        ]
    );
    assert_eq!(versions[2].revision_id, created_revision, "the id commit gave is the stored revision's");
    assert_eq!(versions[1].revision_id, changed_revision);
    assert!(versions.iter().all(|v| v.object.get("patient_ssn").is_none()), "never the redacted field");
    let views = store.view_counts("observation", time::OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!(views[0].views, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_user_the_extractor_answers_401_and_without_the_layer_500() {
    let service = serve(true).await;
    let anonymous = call(&service, "POST", "/observations", &[JSON], &body(1, 1.0)).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_eq!(anonymous.json()["code"], "not_authenticated");
    assert!(service.state.observations.lock().unwrap().is_empty(), "the handler did not run");

    let no_layer = serve(false).await;
    let reply = call(&no_layer, "POST", "/observations", &[ALICE, JSON], &body(1, 1.0)).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn store_errors_answer_404_for_an_unknown_version_and_400_for_another_objects() {
    let service = serve(true).await;
    for (id, value) in [(1, 1.0), (2, 2.0)] {
        let reply = call(&service, "POST", "/observations", &[ALICE, JSON], &body(id, value)).await;
        assert_eq!(reply.status, 200);
    }
    service.state.auditor.flush().await.unwrap();
    let of_two = service.state.store.version_snapshots("observation", "2").await.unwrap()[0].id;
    let of_one = service.state.store.version_snapshots("observation", "1").await.unwrap()[0].id;

    let unknown = call(&service, "POST", "/observations/1/revert/9999", &[], "").await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(unknown.json()["code"], "not_found");
    assert!(unknown.json()["title"].as_str().unwrap().contains("version 9999"), "{}", unknown.body);

    let other = call(&service, "POST", &format!("/observations/1/revert/{of_two}"), &[], "").await;
    assert_eq!(other.status, 400, "{}", other.body);
    let param = &other.json()["invalid_params"][0];
    assert_eq!(param["name"], "version");
    assert!(param["reason"].as_str().unwrap().contains("observation 2"), "{}", other.body);

    let own = call(&service, "POST", &format!("/observations/1/revert/{of_one}"), &[], "").await;
    assert_eq!(own.status, 200, "{}", own.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unavailable_store_is_a_503_and_other_failures_a_500() {
    let error: ApiError = audit_runtime::store::StoreError::WriterStopped.into();
    assert_eq!(error.status(), 503);
    assert_eq!(error.code(), "store_unavailable");
    let error: ApiError = audit_runtime::store::StoreError::Corrupt { what: "x".into() }.into();
    assert_eq!(error.status(), 500);
    assert!(!error.title().contains('x'), "a server error keeps the store's message out of the body");
}
