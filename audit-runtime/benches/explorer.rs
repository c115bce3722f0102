//! The explorer's history page of one object with 10 000 entries (and 10 000 entries of other
//! objects around them), on SQLite: the first page (50 entries, keyset) through the router,
//! as HTML and as JSON, and a page deep in the history (`before=` the middle). Target: under
//! 20 ms server time for the first page.
//!
//! Run: `cargo bench -p audit-runtime --features explorer,sqlite --bench explorer -- --warm-up-time 1 --measurement-time 3`

use audit_runtime::store::{AuditStore, Auditor};
use audit_runtime::{Action, Actor, Audited, explorer};
use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt as _;

#[derive(Audited, Clone, serde::Serialize, serde::Deserialize)]
#[audited(object_type = "observation")]
struct Observation {
    id: i64,
    value: f64,
    note: String,
}

const ENTRIES: i64 = 10_000;

async fn seeded(dir: &std::path::Path) -> AuditStore {
    let store = AuditStore::connect(&format!("sqlite://{}", dir.join("bench.db").display())).await.unwrap();
    let auditor = Auditor::new(store.clone());
    let alice = Actor::user("alice");
    let mut old = Observation { id: 17, value: 0.0, note: "first".into() };
    for i in 0..ENTRIES {
        let new = Observation { value: i as f64, note: format!("note {i}"), ..old.clone() };
        auditor.track_change(&alice, &old, &new);
        // Another object's entry between each of ours: the page must not scan them.
        auditor.log_action(&alice, Action::Change, &Observation { id: 1000 + i, ..new.clone() }, "other");
        old = new;
    }
    auditor.flush().await.unwrap();
    store
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = runtime.block_on(seeded(dir.path()));
    let app = axum::Router::new().nest("/audit", explorer::router(store.clone()));
    let middle = runtime.block_on(store.history("observation", "17")).unwrap()[ENTRIES as usize / 2].seq;

    let page = |path: String, json: bool| {
        let app = app.clone();
        let runtime = &runtime;
        move || {
            let mut request = Request::builder().uri(&path);
            if json {
                request = request.header("accept", "application/json");
            }
            let response = runtime.block_on(app.clone().oneshot(request.body(Body::empty()).unwrap())).unwrap();
            assert_eq!(response.status(), 200);
            let body = runtime.block_on(axum::body::to_bytes(response.into_body(), usize::MAX)).unwrap();
            assert!(body.len() > 1000);
            body.len()
        }
    };
    let mut group = c.benchmark_group("explorer_history_10k");
    let mut first_html = page("/audit/objects/observation/17".into(), false);
    group.bench_function("first_page_html", |b| b.iter(&mut first_html));
    let mut first_json = page("/audit/objects/observation/17".into(), true);
    group.bench_function("first_page_json", |b| b.iter(&mut first_json));
    let mut deep = page(format!("/audit/objects/observation/17?before={middle}"), false);
    group.bench_function("page_at_5000_html", |b| b.iter(&mut deep));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
