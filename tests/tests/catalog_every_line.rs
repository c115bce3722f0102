//! Every line a service writes is in its catalog: a service that uses logging, typed events,
//! requests (handled errors of both kinds, a panic, a traced handler with `err` and `ret`),
//! error reports, configuration errors, background tasks and change tracking runs over a real
//! socket, and each line it writes validates against `catalog::render(Format::JsonSchema)`.

mod common;

use std::net::SocketAddr;

use audit_examples::objects::ObjectCreated;
use audit_runtime::catalog::{self, Format};
use audit_runtime::http::{ApiError, RequestLogLayer};
use audit_runtime::logging::JsonLayer;
use audit_runtime::report::{self, ConfigurationError};
use audit_runtime::{Action, Actor, Audited, audit, context, trace_span};
use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::Capture;
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::prelude::*;
use uuid::Uuid;

#[derive(Audited, Clone, Debug, Serialize)]
#[audited(object_type = "patient")]
struct Patient {
    id: i64,
    ward: String,
    #[audited(redact)]
    ssn: String,
}

/// A handler traced with the bound argument inside its `Path` pattern, `err` and `ret`.
#[trace_span(fields(id), err, ret)]
async fn patient(Path(id): Path<i64>) -> Result<String, ApiError> {
    match id {
        404 => Err(ApiError::not_found()),
        500 => Err(ApiError::internal(std::io::Error::other("the ward database is down"))),
        _ => {
            let before = Patient { id, ward: "A".into(), ssn: "123-45-6789".into() };
            let after = Patient { ward: "B".into(), ..before.clone() };
            audit::log_action(&Actor::user("alice"), Action::View, &before, "viewed");
            audit::track_change(&Actor::user("alice"), &before, &after);
            ObjectCreated {
                object_uuid: Uuid::from_u128(1),
                objecttype_uuid: Uuid::from_u128(2),
                objecttype_version: 1,
                token_identifier: "app",
                token_application: "Ward dashboard",
            }
            .emit();
            Ok(format!("patient {id}"))
        }
    }
}

async fn panics() -> String {
    let ward: Option<&str> = std::hint::black_box(None);
    ward.expect("a ward").to_owned()
}

async fn misconfigured() -> Result<String, ApiError> {
    let widget = Patient { id: 3, ward: "C".into(), ssn: "987-65-4321".into() };
    let error = ConfigurationError::new("'ward_id' configuration is missing", &widget).config_field("ward_id");
    report::handle_config_error(&error);
    report::capture_error(&error);
    Ok("configured".into())
}

#[trace_span(ret)]
fn admitted() -> Patient {
    Patient { id: 9, ward: "D".into(), ssn: "111-22-3333".into() }
}

async fn fetch(addr: SocketAddr, path: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let head = String::from_utf8_lossy(&raw);
    head.split(' ').nth(1).and_then(|status| status.parse().ok()).expect("a status line")
}

#[test]
fn every_line_of_a_service_using_every_feature_is_in_its_catalog() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(capture.clone()));
    let _default = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let app = Router::new()
            .route("/patients/{id}", get(patient))
            .route("/panic", get(panics))
            .route("/misconfigured", get(misconfigured))
            .layer(RequestLogLayer::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        assert_eq!(fetch(addr, "/patients/17").await, 200);
        assert_eq!(fetch(addr, "/patients/404").await, 404);
        assert_eq!(fetch(addr, "/patients/500").await, 500);
        assert_eq!(fetch(addr, "/panic").await, 500);
        assert_eq!(fetch(addr, "/misconfigured").await, 200);

        // The audit store's own lines: migrations, a purge.
        let dir = tempfile::tempdir().unwrap();
        let store =
            audit_runtime::store::AuditStore::connect(&format!("sqlite://{}", dir.path().join("a.db").display()))
                .await
                .unwrap();
        let auditor =
            audit_runtime::store::Auditor::builder(store.clone()).journal(dir.path().join("journal")).build().unwrap();
        auditor.log_action(
            &audit_runtime::Actor::system("import"),
            audit_runtime::Action::Create,
            &admitted(),
            "imported",
        );
        auditor.shutdown().await.unwrap();
        store.purge_before(time::OffsetDateTime::now_utc() + time::Duration::hours(1)).await.unwrap();

        let _ = context::task_scope("nightly-import", 1).run(async { Ok::<_, std::io::Error>(()) }).await;
        let _ = context::task_scope("nightly-import", 2)
            .run(async { Err::<(), _>(std::io::Error::other("disk full")) })
            .await;
    });
    let _ = admitted();
    let _ = report::catch_panic(|| panic!("a report of a panic"));

    let document: Value = serde_json::from_str(&catalog::render(Format::JsonSchema)).unwrap();
    let validator = jsonschema::options().should_validate_formats(true).build(&document).unwrap();
    let lines = capture.json_lines();
    let mut names: Vec<String> = Vec::new();
    let mut rejected = Vec::new();
    for line in &lines {
        let line = Value::Object(line.clone());
        names.push(line["event"].as_str().unwrap_or_default().to_owned());
        let errors: Vec<String> = validator.iter_errors(&line).map(|error| error.to_string()).collect();
        if !errors.is_empty() {
            rejected.push(format!("{line}\n    {}", errors.join("\n    ")));
        }
    }
    assert!(rejected.is_empty(), "{} of {} lines rejected:\n{}", rejected.len(), lines.len(), rejected.join("\n"));

    // The run wrote every kind of line it was meant to.
    for expected in [
        "request_started",
        "request_finished",
        "request_failed",
        "api.handled_exception",
        "api.uncaught_exception",
        "span_failed",
        "span_returned",
        "audit.action",
        "audit.change",
        "object_created",
        "configuration_error",
        "error_captured",
        "panic_captured",
        "task_started",
        "task_succeeded",
        "task_failed",
        "audit.schema_migrated",
        "audit.purged",
    ] {
        assert!(names.iter().any(|name| name == expected), "no `{expected}` line among {names:?}");
    }
    // Redacted values stay out of every line, `ret` of an `Audited` value included.
    let text = capture.text();
    for secret in ["123-45-6789", "987-65-4321", "111-22-3333"] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
}
