//! The audit explorer over real sockets (issue #14): its JSON forms, search and keyset pages,
//! errors that name the input, escaping, redaction, authorization and the revert form's
//! anti-forgery checks. The browser tests are in `explorer_browser.rs`.

mod db;
mod explorer_support;

use std::collections::{BTreeSet, VecDeque};

use audit_runtime::explorer;
use audit_runtime::http::Audit;
use audit_runtime::store::EntryQuery;
use audit_runtime::{Action, Actor, AuditEntry};
use explorer_support::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn the_json_forms_carry_history_versions_diff_views_and_the_chain() {
    let app = start(false).await;
    seed(&app).await;
    let addr = app.addr;

    let history = get_json(addr, &format!("{NEST}/objects/observation/17"), "reader-token").await;
    assert_eq!(history.status, 200, "{}", history.body);
    assert!(history.header("content-type").unwrap().starts_with("application/json"));
    let history = history.json();
    let entries = history["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["change", "change", "create"], "newest first: {history}");
    let newest = &entries[0];
    assert_eq!(newest["actor"], "user alice");
    assert_eq!(newest["changes"][0]["field"], "patient_ssn");
    assert_eq!(newest["changes"][0]["redacted"], true);
    assert!(newest["changes"][0].get("old").is_none() && newest["changes"][0].get("new").is_none());
    let value_change = entries[1]["changes"].as_array().unwrap().iter().find(|c| c["field"] == "value").unwrap();
    assert_eq!((value_change["old"].as_f64(), value_change["new"].as_f64()), (Some(36.6), Some(38.2)));
    assert!(entries[0]["time"].as_str().unwrap().ends_with('Z'), "RFC 3339 UTC: {}", entries[0]["time"]);
    assert_eq!(history["next"], Value::Null);

    let versions = get_json(addr, &format!("{NEST}/objects/observation/17/versions"), "admin-token").await.json();
    let list = versions["versions"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["comment"], "SSN corrected");
    assert_eq!(list[1]["user"], format!("user {HOSTILE_ACTOR}"));
    assert_eq!(list[2]["snapshot"]["value"], 36.6);
    assert_eq!(versions["revertible"], true, "the admin may revert");
    let reader = get_json(addr, &format!("{NEST}/objects/observation/17/versions"), "reader-token").await.json();
    assert_eq!(reader["revertible"], false, "a reader may not");

    let (v1, v2) = (list[2]["id"].as_i64().unwrap(), list[1]["id"].as_i64().unwrap());
    let diff =
        get_json(addr, &format!("{NEST}/objects/observation/17/diff?from={v1}&to={v2}"), "reader-token").await.json();
    assert_eq!(diff["from"]["id"], v1);
    assert_eq!(diff["to"]["id"], v2);
    let fields = diff["fields"].as_array().unwrap();
    let note = fields.iter().find(|f| f["field"] == "note").unwrap();
    assert_eq!(note["changed"], true);
    let words = note["words"].as_array().expect("long text is diffed word by word");
    let removed: Vec<&str> =
        words.iter().filter(|w| w["op"] == "delete").map(|w| w["text"].as_str().unwrap()).collect();
    assert!(removed.contains(&"mild") && removed.contains(&"morning."), "{removed:?}");
    let id = fields.iter().find(|f| f["field"] == "id").unwrap();
    assert_eq!(id["changed"], false);
    assert!(fields.iter().all(|f| f["field"] != "patient_ssn"), "a snapshot never holds the redacted field");

    let views = get_json(addr, &format!("{NEST}/objects/observation/17/views?days=7"), "reader-token").await.json();
    assert_eq!(views["total"], 3);
    let days = views["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!(days[6]["views"], 3, "today's views are the last day: {views}");
    let type_views = get_json(addr, &format!("{NEST}/views/observation"), "reader-token").await.json();
    assert_eq!(type_views["total"], 3);
    assert_eq!(type_views["days"].as_array().unwrap().len(), 30);

    let chain = get_json(addr, &format!("{NEST}/verify"), "reader-token").await.json();
    assert_eq!(chain["intact"], true);
    let head = app.store.verify().await.unwrap().head().unwrap().to_string();
    assert_eq!(chain["head"], head.as_str());
    assert!(chain["checked"].as_u64().unwrap() >= 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn search_filters_and_pages_by_keyset() {
    let app = start(false).await;
    let alice = Audit::new(app.auditor.clone(), Actor::user("alice"));
    for id in 0..120 {
        let observation = Observation { id, value: id as f64, note: String::new(), patient_ssn: String::new() };
        alice.auditor().log_action(alice.actor(), Action::Create, &observation, "imported");
    }
    app.auditor.log_action(&Actor::system("retention"), Action::Delete, &observation(5), "deleted after 30 days");
    app.auditor.flush().await.unwrap();
    let addr = app.addr;

    // Every page of 50, following `next`: no entry twice, none missed, oldest last.
    let mut seen = Vec::new();
    let mut path = format!("{NEST}?action=create&limit=50");
    let mut pages = 0;
    loop {
        let page = get_json(addr, &path, "reader-token").await.json();
        pages += 1;
        for entry in page["entries"].as_array().unwrap() {
            assert_eq!(entry["action"], "create");
            seen.push(entry["seq"].as_i64().unwrap());
        }
        match page["next"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&format!("{NEST}?")), "the next link keeps the nest path: {next}");
                assert!(next.contains("action=create") && next.contains("limit=50"), "and the filters: {next}");
                path = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, strictly");

    let by_actor = get_json(addr, &format!("{NEST}?actor=system:retention"), "reader-token").await.json();
    let entries = by_actor["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["message"], "deleted after 30 days");
    let one = get_json(addr, &format!("{NEST}?object_type=observation&object_id=5"), "reader-token").await.json();
    assert_eq!(one["entries"].as_array().unwrap().len(), 2);
    let future = get_json(addr, &format!("{NEST}?since=2999-01-01"), "reader-token").await.json();
    assert_eq!(future["entries"].as_array().unwrap().len(), 0);
    let until_past = get_json(addr, &format!("{NEST}?until=2000-01-01T00:00:00Z"), "reader-token").await.json();
    assert_eq!(until_past["entries"].as_array().unwrap().len(), 0);
    let today = time::OffsetDateTime::now_utc().date();
    let today_only = get_json(addr, &format!("{NEST}?since={today}&until={today}&limit=500"), "reader-token").await;
    assert_eq!(today_only.json()["entries"].as_array().unwrap().len(), 121, "a day as `until` includes that day");
}

fn observation(id: i64) -> Observation {
    Observation { id, value: 0.0, note: String::new(), patient_ssn: String::new() }
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_of_one_request_are_found_by_its_id() {
    let app = start(false).await;
    let mut in_request = AuditEntry::action(&Actor::user("alice"), Action::Change, &observation(1), "in request");
    in_request.request_id = Some("req-42".into());
    app.auditor.record(in_request);
    app.auditor.log_action(&Actor::user("alice"), Action::Change, &observation(2), "elsewhere");
    app.auditor.flush().await.unwrap();
    let page = get_json(app.addr, &format!("{NEST}?request_id=req-42"), "reader-token").await.json();
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{page}");
    assert_eq!(entries[0]["message"], "in request");
    assert_eq!(entries[0]["request_id"], "req-42");
    // The page links each request id to this search.
    let html = get(app.addr, NEST, "reader-token").await;
    assert!(hrefs(&html.body).contains(&format!("{NEST}?request_id=req-42")), "{}", html.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_an_error_naming_the_parameter_and_what_is_accepted() {
    let app = start(false).await;
    seed(&app).await;
    let addr = app.addr;
    let cases = [
        ("?limit=abc", 400, "limit", "a whole number from 1 to 500"),
        ("?limit=0", 400, "limit", "a whole number from 1 to 500"),
        ("?colour=red", 400, "colour", "accepted: object_type, object_id"),
        ("?action=edit", 400, "action", "accepted: create, change, delete, view"),
        ("?since=yesterday", 400, "since", "RFC 3339"),
        ("?object_id=17", 400, "object_id", "needs its object_type"),
        ("/objects/observation/17?before=x", 400, "before", "seq"),
        ("/objects/observation/17/diff?to=999", 404, "to", "its versions are: 3, 2, 1"),
        ("/objects/observation/17/diff?from=abc", 400, "from", "a version id"),
        ("/objects/observation/17/views?days=1000", 400, "days", "from 1 to 366"),
        ("/objects/observation/17/revert/abc", 400, "version", "a version id"),
        ("/objects/observation/17/revert/999", 404, "version", "its versions are: 3, 2, 1"),
    ];
    for (path, status, name, reason) in cases {
        let reply = get_json(addr, &format!("{NEST}{path}"), "admin-token").await;
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
        let body = reply.json();
        let param = &body["invalid_params"][0];
        assert_eq!(param["name"], name, "{path}: {body}");
        assert!(param["reason"].as_str().unwrap().contains(reason), "{path}: {body}");
        // The page says the same to a person.
        let page = get(addr, &format!("{NEST}{path}"), "admin-token").await;
        assert_eq!(page.status, status);
        assert!(page.body.contains(name) && page.body.contains("<html"), "{path}: {}", page.body);
    }
    // Version ids are global: one of another object is not this object's.
    let other = Observation { id: 18, ..observation(18) };
    Audit::new(app.auditor.clone(), Actor::user("alice")).created(&other, "other").await.unwrap();
    let versions = app.store.version_snapshots("observation", "18").await.unwrap();
    let reply =
        get_json(addr, &format!("{NEST}/objects/observation/17/diff?to={}", versions[0].id), "admin-token").await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_strings_stay_text_on_every_page() {
    let app = start(false).await;
    seed(&app).await;
    let pages = crawl(&app, "admin-token").await;
    assert!(pages.len() >= 8, "the crawl reached {} pages: {:?}", pages.len(), pages.keys());
    for (path, body) in &pages {
        assert!(!body.contains("<script"), "{path} has markup from the data:\n{body}");
        assert!(!body.contains("<img"), "{path} has markup from the data:\n{body}");
    }
    let history = &pages[&format!("{NEST}/objects/observation/17")];
    assert!(history.contains("&lt;img src=x onerror=alert('actor')&gt;"), "the actor is shown as text");
    let diff = pages.iter().find(|(path, _)| path.contains("/diff?")).expect("a diff page").1;
    assert!(diff.contains("&lt;script&gt;alert(&quot;note&quot;)&lt;/script&gt;"), "{diff}");
    let versions = &pages[&format!("{NEST}/objects/observation/17/versions")];
    assert!(versions.contains("&lt;/td&gt;&lt;script&gt;alert('comment')&lt;/script&gt;"), "{versions}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redacted_value_reaches_no_page_and_no_json() {
    let app = start(false).await;
    seed(&app).await;
    let pages = crawl(&app, "admin-token").await;
    for (path, body) in &pages {
        assert!(!body.contains(SSN) && !body.contains(SSN_LATER), "{path} shows the redacted value");
        let json = get_json(app.addr, path, "admin-token").await;
        assert!(!json.body.contains(SSN) && !json.body.contains(SSN_LATER), "{path} (JSON) shows it");
    }
    let history = &pages[&format!("{NEST}/objects/observation/17")];
    assert!(history.contains("patient_ssn") && history.contains("changed (redacted)"), "only that it changed");
}

/// Every page reachable by links from the explorer's root (HTML), by path. Every link must
/// stay under the nest path and answer 200.
async fn crawl(app: &App, token: &str) -> std::collections::BTreeMap<String, String> {
    let mut pages = std::collections::BTreeMap::new();
    let mut queue = VecDeque::from([NEST.to_owned()]);
    let mut queued = BTreeSet::new();
    while let Some(path) = queue.pop_front() {
        let reply = get(app.addr, &path, token).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        for href in hrefs(&reply.body) {
            assert!(href.starts_with(NEST), "{path} links out of the explorer: {href}");
            // Revert pages are GETs too (the confirmation); the POST is never crawled.
            if queued.len() < 200 && queued.insert(href.clone()) {
                queue.push_back(href);
            }
        }
        pages.insert(path, reply.body);
    }
    pages
}

#[tokio::test(flavor = "multi_thread")]
async fn the_authorization_check_refuses_and_limits() {
    let app = start(false).await;
    seed(&app).await;
    let addr = app.addr;
    for path in ["", "/objects/observation/17", "/verify", "/views/observation"] {
        let reply = request(addr, "GET", &format!("{NEST}{path}"), &[], "").await;
        assert_eq!(reply.status, 403, "{path} without a token");
        assert!(!reply.body.contains("alice"), "a refusal shows no data");
        let json = request(addr, "GET", &format!("{NEST}{path}"), &[("Accept", "application/json")], "").await;
        assert_eq!(json.status, 403);
        assert_eq!(json.json()["code"], "permission_denied");
    }
    let versions = app.store.version_snapshots("observation", "17").await.unwrap();
    let first = versions.last().unwrap().id;
    let revert = format!("{NEST}/objects/observation/17/revert/{first}");
    // A reader sees no revert link, and may not open the form or post it.
    let page = get(addr, &format!("{NEST}/objects/observation/17/versions"), "reader-token").await;
    assert!(!page.body.contains("/revert/"), "no revert offered to a reader");
    assert_eq!(get(addr, &revert, "reader-token").await.status, 403);
    let admin_form = get(addr, &revert, "admin-token").await;
    let (_, token) = revert_form(&admin_form.body);
    let posted = request(
        addr,
        "POST",
        &revert,
        &[("Authorization", "Bearer reader-token"), ("Content-Type", "application/x-www-form-urlencoded")],
        &format!("token={token}"),
    )
    .await;
    assert_eq!(posted.status, 403, "a reader cannot revert, even with a token: {}", posted.body);
    assert_eq!(app.observations.get("17").unwrap().value, 38.2, "nothing changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revert_needs_the_form_token_and_a_same_site_request_and_is_recorded() {
    let app = start(false).await;
    seed(&app).await;
    let addr = app.addr;
    let versions = app.store.version_snapshots("observation", "17").await.unwrap();
    let first = versions.last().unwrap().id;
    let path = format!("{NEST}/objects/observation/17/revert/{first}");
    let page = get(addr, &path, "admin-token").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (action, token) = revert_form(&page.body);
    assert_eq!(action, path);
    let form = |token: &str| format!("token={token}");
    let post = async |headers: &[(&str, &str)], body: &str| {
        let mut all =
            vec![("Authorization", "Bearer admin-token"), ("Content-Type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        request(addr, "POST", &path, &all, body).await
    };
    let forged = post(&[], &form("1999999999.00")).await;
    assert_eq!(forged.status, 403, "a made-up token");
    assert!(forged.body.contains("token"), "{}", forged.body);
    assert_eq!(post(&[], "").await.status, 403, "no token");
    let evil = post(&[("Origin", "https://evil.example")], &form(&token)).await;
    assert_eq!(evil.status, 403, "another site's Origin: {}", evil.body);
    assert_eq!(post(&[("Sec-Fetch-Site", "cross-site")], &form(&token)).await.status, 403);
    // Another object's revert with this token: bound to the object.
    let other = request(
        addr,
        "POST",
        &format!("{NEST}/objects/observation/17/revert/{}", versions[0].id),
        &[("Authorization", "Bearer admin-token"), ("Content-Type", "application/x-www-form-urlencoded")],
        &form(&token),
    )
    .await;
    assert_eq!(other.status, 403, "the token is for one version");
    assert_eq!(app.observations.get("17").unwrap().value, 38.2, "nothing changed yet");

    let origin = format!("http://{addr}");
    let done = post(&[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")], &form(&token)).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.header("location"), Some(format!("{NEST}/objects/observation/17").as_str()));
    let reverted = app.observations.get("17").unwrap();
    assert_eq!(reverted.value, 36.6);
    assert_eq!(reverted.patient_ssn, SSN_LATER, "the redacted field keeps the current value");
    app.auditor.flush().await.unwrap();
    let newest = &app.store.history("observation", "17").await.unwrap()[0];
    assert_eq!(newest.entry.action, Action::Change);
    assert_eq!(newest.entry.actor, Actor::user("admin"));
    let now = app.store.version_snapshots("observation", "17").await.unwrap();
    assert_eq!(now.len(), 4);
    assert_eq!(now[0].comment.as_deref(), Some(format!("Reverted to version {first}").as_str()));
    assert_eq!(now[0].user, Some(Actor::user("admin")));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simple_router_reads_under_any_nest_path_and_offers_no_revert() {
    let dir = tempfile::tempdir().unwrap();
    let store = audit_runtime::store::AuditStore::connect(&format!("sqlite://{}", dir.path().join("a.db").display()))
        .await
        .unwrap();
    let auditor = audit_runtime::store::Auditor::new(store.clone());
    Audit::new(auditor.clone(), Actor::user("alice")).created(&observation(3), "first").await.unwrap();
    auditor.flush().await.unwrap();
    let app = axum::Router::new().nest("/admin/audit", explorer::router(store.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let root = request(addr, "GET", "/admin/audit", &[], "").await;
    assert_eq!(root.status, 200, "{}", root.body);
    let links = hrefs(&root.body);
    assert!(links.contains(&"/admin/audit/objects/observation/3".to_owned()), "{links:?}");
    let versions = request(addr, "GET", "/admin/audit/objects/observation/3/versions", &[], "").await;
    assert_eq!(versions.status, 200);
    assert!(!versions.body.contains("/revert/"));
    let id = store.version_snapshots("observation", "3").await.unwrap()[0].id;
    let confirm = request(addr, "GET", &format!("/admin/audit/objects/observation/3/revert/{id}"), &[], "").await;
    assert_eq!(confirm.status, 403, "read-only: {}", confirm.body);
    let entries = store.entries(&EntryQuery::new()).await.unwrap();
    assert_eq!(entries.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_objects_history_pages_by_keyset_whatever_the_cursor() {
    let app = start(false).await;
    let alice = Actor::user("alice");
    for i in 0..120 {
        app.auditor.log_action(&alice, Action::Change, &observation(17), format!("ours {i}"));
        app.auditor.log_action(&alice, Action::Change, &observation(18), format!("theirs {i}"));
    }
    app.auditor.flush().await.unwrap();
    let all = app.store.history("observation", "17").await.unwrap();
    let mut seen = Vec::new();
    let mut path = format!("{NEST}/objects/observation/17?limit=50");
    loop {
        let page = get_json(app.addr, &path, "reader-token").await.json();
        seen.extend(page["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()));
        match page["next"].as_str() {
            Some(next) => path = next.to_owned(),
            None => break,
        }
    }
    let expected: Vec<i64> = all.iter().map(|s| s.seq).collect();
    assert_eq!(seen, expected, "every entry once, newest first, across pages");
    // A cursor that is another object's entry still gives this object's older entries.
    let theirs = app.store.history("observation", "18").await.unwrap()[60].seq;
    let page =
        get_json(app.addr, &format!("{NEST}/objects/observation/17?before={theirs}&limit=5"), "reader-token").await;
    let seqs: Vec<i64> =
        page.json()["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let older: Vec<i64> = expected.iter().copied().filter(|seq| *seq < theirs).take(5).collect();
    assert_eq!(seqs, older);
    // The oldest entry as the cursor: an empty last page.
    let oldest = *expected.last().unwrap();
    let page =
        get_json(app.addr, &format!("{NEST}/objects/observation/17?before={oldest}"), "reader-token").await.json();
    assert_eq!(page["entries"].as_array().unwrap().len(), 0);
    assert_eq!(page["next"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_explorer_reads_a_postgres_store_too() {
    let Some(db) = db::postgres("explorer_reads_postgres").await else { return };
    let app = start_on(Some(&db.url), false).await;
    seed(&app).await;
    let history = get_json(app.addr, &format!("{NEST}/objects/observation/17?limit=2"), "reader-token").await.json();
    let entries = history["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let next = history["next"].as_str().expect("a second page");
    let rest = get_json(app.addr, next, "reader-token").await.json();
    assert_eq!(rest["entries"].as_array().unwrap().len(), 1);
    assert_eq!(rest["entries"][0]["action"], "create");
    let views = get_json(app.addr, &format!("{NEST}/objects/observation/17/views"), "reader-token").await.json();
    assert_eq!(views["total"], 3);
    let type_views = get_json(app.addr, &format!("{NEST}/views/observation"), "reader-token").await.json();
    assert_eq!(type_views["total"], 3);
    let versions = get_json(app.addr, &format!("{NEST}/objects/observation/17/versions"), "reader-token").await.json();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 3);
    let chain = get_json(app.addr, &format!("{NEST}/verify"), "reader-token").await.json();
    assert_eq!(chain["intact"], true);
    drop(app);
    db.cleanup().await;
}
