//! Every store operation on a real SQLite file and on the machine's real PostgreSQL.

mod db;

use audit_runtime::store::{AuditStore, Auditor, EntryQuery, StoreError, Tampering};
use audit_runtime::{Action, Actor};
use db::{Observation, TestDb};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

async fn connect(db: &TestDb) -> (AuditStore, Auditor) {
    let store = AuditStore::connect(&db.url).await.expect("connect");
    let spool = std::env::temp_dir().join(format!("audit-test-spool-{}", uuid::Uuid::new_v4()));
    let auditor = Auditor::builder(store.clone()).spool_path(spool).build().expect("auditor");
    (store, auditor)
}

on_both_backends!(
    actions_changes_and_history,
    bulk_actions_and_queries,
    revisions_versions_and_revert,
    revert_of_an_older_shape,
    anonymous_view_counts,
    hostile_strings_in_every_text_field,
    tampering_of_each_kind_is_found,
    tables_are_append_only,
    purge_keeps_the_chain_verifiable,
    a_hundred_thousand_entries,
    concurrent_writers_keep_one_chain,
    a_newer_schema_is_refused,
    a_version_2_database_is_migrated_with_its_histories,
    interleaved_auditors_keep_each_history_whole,
    backpressure_waits_and_loses_nothing,
    rate_limits_are_shared_by_every_connection,
);

async fn actions_changes_and_history(db: &TestDb) {
    use tracing_subscriber::prelude::*;
    // Our layer keeps span fields, so entries pick up the bound request id. Global, because the
    // runtime may move this test between threads; it writes to a sink, harmless to other tests.
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(audit_runtime::logging::JsonLayer::new(std::io::sink)),
    );
    let (store, auditor) = connect(db).await;
    let alice = Actor::user(42);
    let old = Observation::new(17, 36.6);
    let mut new = old.clone();
    new.value = 38.2;
    new.patient_ssn = "SSN-SECRET-CHANGED".into();
    {
        let _request = tracing::info_span!("request", request_id = "req-7").entered();
        auditor.log_action(&alice, Action::Create, &old, "created");
        assert!(auditor.track_change(&alice, &old, &new));
        assert!(!auditor.track_change(&alice, &new, &new), "no change gives no entry");
        auditor.log_action(&Actor::system("retention"), Action::Delete, &new, "deleted");
    }
    auditor.flush().await.unwrap();

    let history = store.history("observation", "17").await.unwrap();
    let actions: Vec<Action> = history.iter().map(|s| s.entry.action).collect();
    assert_eq!(actions, [Action::Delete, Action::Change, Action::Create], "newest first");
    let change = &history[1];
    assert_eq!(change.entry.actor, alice);
    assert_eq!(change.entry.object_type, "observation");
    assert_eq!(change.entry.object_id, "17");
    let fields: Vec<&str> = change.entry.changes.iter().map(|c| c.field.as_ref()).collect();
    assert_eq!(fields, ["value", "patient_ssn"]);
    assert_eq!(change.entry.changes[0].old, serde_json::json!(36.6));
    assert_eq!(change.entry.changes[0].new, serde_json::json!(38.2));
    assert_eq!(change.entry.changes[1].old, serde_json::json!("[redacted]"));
    assert!(history.iter().all(|s| s.entry.request_id.as_deref() == Some("req-7")), "{history:?}");
    assert_eq!(history[0].entry.actor, Actor::system("retention"));
    assert!(history.windows(2).all(|w| w[0].seq > w[1].seq));

    let report = store.verify().await.unwrap();
    assert!(report.is_intact());
    assert_eq!(report.checked, 3);
    assert_eq!(auditor.stats().written, 3);
    // The secret never reached the store.
    let dump =
        db.text("SELECT COALESCE(STRING_AGG(message || changes || object_repr, ' '), '') FROM audit_entries").await;
    assert!(!dump.contains("SSN-SECRET"), "{dump}");
}

async fn bulk_actions_and_queries(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    let objects: Vec<Observation> = (1..=10).map(|id| Observation::new(id, 1.0)).collect();
    let before = OffsetDateTime::now_utc();
    auditor.log_bulk_action(&Actor::system("nightly-import"), Action::Create, &objects, "imported");
    auditor.log_action(&Actor::user("bob"), Action::View, &objects[0], "opened");
    auditor.flush().await.unwrap();

    let by_bob = store.entries(&EntryQuery::new().actor(&Actor::user("bob"))).await.unwrap();
    assert_eq!(by_bob.len(), 1);
    assert_eq!(by_bob[0].entry.message, "opened");
    let imported = store.entries(&EntryQuery::new().actor(&Actor::system("nightly-import"))).await.unwrap();
    assert_eq!(imported.len(), 10);

    // Pages of four, newest first, with the last seq of a page as the cursor.
    let mut seen = Vec::new();
    let mut query = EntryQuery::new().object_type("observation").limit(4);
    loop {
        let page = store.entries(&query).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        seen.extend(page.iter().map(|s| s.seq));
        query = EntryQuery::new().object_type("observation").limit(4).before(page.last().unwrap().seq);
    }
    assert_eq!(seen, (1..=11).rev().collect::<Vec<i64>>());

    let in_range = store.entries(&EntryQuery::new().since(before - Duration::seconds(1))).await.unwrap();
    assert_eq!(in_range.len(), 11);
    let none = store.entries(&EntryQuery::new().until(before - Duration::seconds(1))).await.unwrap();
    assert!(none.is_empty());
}

async fn revisions_versions_and_revert(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    let alice = Actor::user("alice");
    let mut obj = Observation::new(5, 1.5);
    let other = Observation::new(6, 2.5);
    let mut rev = auditor.create_revision();
    rev.set_user(&alice);
    rev.set_comment("Created revision 1");
    rev.add(&obj);
    rev.add(&other);
    rev.commit().await.unwrap();

    obj.value = 9.75;
    obj.note = Some("rechecked".into());
    let mut rev = auditor.create_revision();
    rev.set_comment("Created revision 2");
    rev.add(&obj);
    rev.commit().await.unwrap();

    let versions = store.versions::<Observation>("5").await.unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].comment.as_deref(), Some("Created revision 2"));
    assert_eq!(versions[0].user, None);
    assert_eq!(versions[1].user, Some(alice));
    assert_eq!(versions[1].object.value, 1.5);
    assert!(versions[0].created_at >= versions[1].created_at);

    let first: Observation = store.revert(&obj, versions[1].id).await.unwrap();
    assert_eq!(first.value, 1.5);
    assert_eq!(first.note, None);
    assert_eq!(first.patient_ssn, obj.patient_ssn, "a redacted field is never stored: it keeps current's value");
    assert_eq!(first.cache, obj.cache, "a skipped field is never stored: it keeps current's value");
    let latest: Observation = store.revert(&obj, versions[0].id).await.unwrap();
    assert_eq!(latest.note.as_deref(), Some("rechecked"));
    assert_eq!(store.versions::<Observation>("6").await.unwrap().len(), 1);

    let snapshots = db.text("SELECT COALESCE(STRING_AGG(snapshot, ' '), '') FROM audit_versions").await;
    assert!(!snapshots.contains("SSN-SECRET"), "{snapshots}");
    match store.revert(&obj, 999).await {
        Err(StoreError::NotFound { what }) => assert_eq!(what, "version 999"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// The shape of the record when the snapshot was taken.
#[derive(audit_runtime::Audited, Clone, Debug, Serialize, Deserialize)]
#[audited(object_type = "ward")]
struct WardV1 {
    id: i64,
    name: String,
}

/// A later shape with a defaulted field.
#[derive(audit_runtime::Audited, Clone, Debug, Serialize, Deserialize)]
#[audited(object_type = "ward")]
struct WardV2 {
    id: i64,
    name: String,
    #[serde(default = "default_beds")]
    beds: u32,
}

fn default_beds() -> u32 {
    12
}

/// A later shape whose new field has no default.
#[derive(audit_runtime::Audited, Clone, Debug, Serialize, Deserialize)]
#[audited(object_type = "ward")]
struct WardV3 {
    id: i64,
    name: String,
    head_nurse: String,
}

async fn revert_of_an_older_shape(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    let mut rev = auditor.create_revision();
    rev.add(&WardV1 { id: 1, name: "Cardiology".into() });
    rev.commit().await.unwrap();
    let version = store.versions::<WardV1>("1").await.unwrap().remove(0);

    let current = WardV2 { id: 1, name: "Oncology".into(), beds: 30 };
    let v2: WardV2 = store.revert(&current, version.id).await.unwrap();
    assert_eq!((v2.name.as_str(), v2.beds), ("Cardiology", 12), "new fields take their serde default");

    let current = WardV3 { id: 1, name: "Oncology".into(), head_nurse: "Ann".into() };
    let error = store.revert(&current, version.id).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("missing field `head_nurse`"), "{message}");
    assert!(message.contains("[\"id\", \"name\"]"), "the error names the fields the snapshot has: {message}");
}

async fn anonymous_view_counts(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    let a = Observation::new(1, 0.0);
    let b = Observation::new(2, 0.0);
    {
        let _request = tracing::info_span!("request", user_id = "alice", request_id = "r1").entered();
        for _ in 0..3 {
            auditor.log_view(&a);
        }
        auditor.log_view(&b);
    }
    auditor.flush().await.unwrap();
    let today = OffsetDateTime::now_utc();
    let counts = store.view_counts("observation", today).await.unwrap();
    let counts: Vec<(String, u64)> = counts.into_iter().map(|c| (c.object_id, c.views)).collect();
    assert_eq!(counts, [("1".to_owned(), 3), ("2".to_owned(), 1)]);
    assert!(store.view_counts("observation", today + Duration::days(1)).await.unwrap().is_empty());
    // Anonymous by construction: the table has no column for a user or an address.
    let columns = if db.is_postgres() {
        db.text("SELECT STRING_AGG(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'audit_views'").await
    } else {
        db.text("SELECT GROUP_CONCAT(name, ',') FROM pragma_table_info('audit_views')").await
    };
    assert_eq!(columns, "object_type,object_id,day,count");
}

/// An object whose id and repr are whatever a user typed.
#[derive(audit_runtime::Audited, Clone, Debug, Serialize, Deserialize)]
#[audited(object_type = "document", repr = document_repr)]
struct Document {
    id: String,
    title: String,
}

fn document_repr(document: &Document) -> String {
    document.title.clone()
}

const HOSTILE: &str = "Robert'); DROP TABLE audit_entries;-- \"quoted\" back\\slash\nnewline\ttab \u{1b}[31m \u{0} nul ünïcödé 🚑 $1 ?1 %s";

async fn hostile_strings_in_every_text_field(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    let doc = Document { id: HOSTILE.to_owned(), title: HOSTILE.to_owned() };
    let mut edited = doc.clone();
    edited.title = format!("{HOSTILE} v2");
    {
        let _request = tracing::info_span!("request", request_id = HOSTILE).entered();
        auditor.log_action(&Actor::user(HOSTILE), Action::Create, &doc, HOSTILE);
        auditor.track_change(&Actor::system(HOSTILE), &doc, &edited);
        auditor.log_view(&doc);
        let mut rev = auditor.create_revision();
        rev.set_user(&Actor::user(HOSTILE));
        rev.set_comment(HOSTILE);
        rev.add(&edited);
        rev.commit().await.unwrap();
    }
    auditor.flush().await.unwrap();

    let stored = HOSTILE.replace('\0', "\u{fffd}");
    let history = store.history("document", &stored).await.unwrap();
    assert_eq!(history.len(), 2);
    let create = &history[1].entry;
    assert_eq!(create.actor, Actor::user(&stored));
    assert_eq!(create.object_id, stored);
    assert_eq!(create.object_repr, stored);
    assert_eq!(create.message, stored);
    let change = &history[0].entry;
    assert_eq!(change.actor, Actor::system(&stored));
    assert_eq!(change.changes[0].new, serde_json::json!(format!("{HOSTILE} v2")), "JSON keeps even NUL exactly");
    let versions = store.versions::<Document>(&stored).await.unwrap();
    assert_eq!(versions[0].comment.as_deref(), Some(stored.as_str()));
    assert_eq!(versions[0].object.title, format!("{HOSTILE} v2"));
    assert_eq!(store.view_counts("document", OffsetDateTime::now_utc()).await.unwrap()[0].object_id, stored);
    assert!(store.verify().await.unwrap().is_intact());
    assert_eq!(store.entry_count().await.unwrap(), 2, "the table is still there");
}

async fn write_entries(auditor: &Auditor, n: i64) {
    for id in 1..=n {
        auditor.log_action(&Actor::user(id), Action::Change, &Observation::new(id, 0.0), format!("entry {id}"));
    }
    auditor.flush().await.unwrap();
}

async fn tampering_of_each_kind_is_found(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    write_entries(&auditor, 10).await;
    assert!(store.verify().await.unwrap().is_intact());
    db.drop_triggers().await;

    let broken = |report: audit_runtime::store::VerifyReport| report.first_broken.expect("tampering found");

    // Edited: a message rewritten.
    db.sql("UPDATE audit_entries SET message = 'nothing to see' WHERE seq = 4").await.unwrap();
    let found = broken(store.verify().await.unwrap());
    assert_eq!((found.seq, found.tampering), (4, Tampering::Edited));
    let original = "UPDATE audit_entries SET message = 'entry 4' WHERE seq = 4";
    db.sql(original).await.unwrap();
    assert!(store.verify().await.unwrap().is_intact(), "restoring the text restores the chain");

    // Reordered: two entries swap places.
    db.sql("UPDATE audit_entries SET seq = -1 WHERE seq = 6; UPDATE audit_entries SET seq = 6 WHERE seq = 7; UPDATE audit_entries SET seq = 7 WHERE seq = -1").await.unwrap();
    let found = broken(store.verify().await.unwrap());
    assert_eq!(found.seq, 6);
    db.sql("UPDATE audit_entries SET seq = -1 WHERE seq = 6; UPDATE audit_entries SET seq = 6 WHERE seq = 7; UPDATE audit_entries SET seq = 7 WHERE seq = -1").await.unwrap();
    assert!(store.verify().await.unwrap().is_intact());

    // Inserted: a forged entry copied from a real one, placed at the end.
    db.sql("INSERT INTO audit_entries (seq, time_us, actor_kind, actor_id, action, object_type, object_id, object_repr, message, changes, request_id, prev_hash, hash) SELECT 11, time_us, actor_kind, actor_id, action, object_type, object_id, object_repr, 'forged', changes, request_id, prev_hash, hash FROM audit_entries WHERE seq = 3").await.unwrap();
    let found = broken(store.verify().await.unwrap());
    assert_eq!(found.seq, 11);
    db.sql("DELETE FROM audit_entries WHERE seq = 11").await.unwrap();
    assert!(store.verify().await.unwrap().is_intact());

    // Deleted: an entry removed.
    db.sql("DELETE FROM audit_entries WHERE seq = 5").await.unwrap();
    let report = store.verify().await.unwrap();
    assert_eq!(report.checked, 5, "it stops at the first break");
    let found = broken(report);
    assert_eq!((found.seq, found.tampering), (6, Tampering::Deleted));
}

async fn tables_are_append_only(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    write_entries(&auditor, 2).await;
    for sql in [
        "UPDATE audit_entries SET message = 'x' WHERE seq = 1",
        "DELETE FROM audit_entries WHERE seq = 1",
        "UPDATE audit_versions SET snapshot = '{}'",
    ] {
        if sql.contains("versions") {
            let mut rev = auditor.create_revision();
            rev.add(&Observation::new(1, 1.0));
            rev.commit().await.unwrap();
        }
        let error = db.sql(sql).await.expect_err(sql).to_string();
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    if db.is_postgres() {
        let error = db.sql("TRUNCATE audit_entries").await.expect_err("truncate").to_string();
        assert!(error.contains("append-only"), "{error}");
    }
    assert_eq!(store.entry_count().await.unwrap(), 2);
}

async fn purge_keeps_the_chain_verifiable(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    write_entries(&auditor, 5).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cut = OffsetDateTime::now_utc();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    write_entries(&auditor, 5).await;

    let report = store.purge_before(cut).await.unwrap();
    assert_eq!((report.removed, report.checkpoint), (5, Some(5)));
    let verified = store.verify().await.unwrap();
    assert!(verified.is_intact(), "{verified:?}");
    // The five kept, and the purge's own entry (seq 11), which names the checkpoint.
    assert_eq!((verified.checked, verified.checkpoint), (6, Some(5)));
    let seqs: Vec<i64> = store.history("observation", "2").await.unwrap().iter().map(|s| s.seq).collect();
    assert_eq!(seqs, [7], "the history keeps what the purge kept");

    // The chain goes on from the checkpoint, also after purging everything.
    assert_eq!(store.purge_before(OffsetDateTime::now_utc() + Duration::hours(1)).await.unwrap().removed, 6);
    write_entries(&auditor, 3).await;
    let verified = store.verify().await.unwrap();
    assert!(verified.is_intact(), "{verified:?}");
    assert_eq!(verified.checked, 4);
    let seqs: Vec<i64> = store.history("observation", "1").await.unwrap().iter().map(|s| s.seq).collect();
    assert_eq!(seqs, [13], "a history emptied by a purge starts again");
    assert!(store.history("observation", "5").await.unwrap().is_empty());

    // A purge that would hide tampering is refused.
    db.drop_triggers().await;
    db.sql("UPDATE audit_entries SET message = 'rewritten' WHERE seq = 13").await.unwrap();
    match store.purge_before(OffsetDateTime::now_utc() + Duration::hours(1)).await {
        Err(StoreError::BrokenChain(broken)) => assert_eq!(broken.seq, 13),
        other => panic!("expected the purge to be refused, got {other:?}"),
    }
}

async fn a_hundred_thousand_entries(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    let objects: Vec<Observation> = (0..100_000).map(|id| Observation::new(id, id as f64)).collect();
    auditor.log_bulk_action(&Actor::system("migration"), Action::Create, &objects, "imported");
    auditor.flush().await.unwrap();
    assert_eq!(store.entry_count().await.unwrap(), 100_000);
    if let db::Kind::Sqlite(dir) = &db.kind {
        // About 45 MB of WAL if nothing copied it into the database as the writer went.
        let wal = std::fs::metadata(dir.path().join("audit.db-wal")).map_or(0, |m| m.len());
        assert!(wal < 20 << 20, "the WAL is checkpointed as the writer goes: it is {wal} bytes");
    }
    let all = store.entries(&EntryQuery::new()).await.unwrap();
    assert_eq!(all.len(), 100_000);
    let mut ids: Vec<i64> = all.iter().map(|s| s.entry.object_id.parse().unwrap()).collect();
    ids.sort_unstable();
    assert!(ids.iter().copied().eq(0..100_000));
    let report = store.verify().await.unwrap();
    assert!(report.is_intact());
    assert_eq!(report.checked, 100_000);
}

async fn concurrent_writers_keep_one_chain(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    // A second auditor on its own pool: as a second replica would be.
    let (_, second) = connect(db).await;
    let mut tasks = Vec::new();
    for task in 0..8i64 {
        let auditor = if task % 2 == 0 { auditor.clone() } else { second.clone() };
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                let obj = Observation::new(task * 1000 + i, 0.0);
                auditor.log_action(&Actor::user(task), Action::Create, &obj, "created");
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            auditor.flush().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = store.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checked, 2000);
}

async fn a_newer_schema_is_refused(db: &TestDb) {
    let (_store, _auditor) = connect(db).await;
    db.sql("UPDATE audit_meta SET value = '99' WHERE key = 'schema_version'").await.unwrap();
    match AuditStore::connect(&db.url).await {
        Err(error @ StoreError::NewerSchema { found: 99, supported: 5 }) => {
            assert!(error.to_string().contains("upgrade audit-runtime"), "{error}");
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

/// A database an earlier release made (schema 2: histories found through an index) keeps its
/// histories when version 3 links each object's entries, and new entries continue the links.
async fn a_version_2_database_is_migrated_with_its_histories(db: &TestDb) {
    AuditStore::create_at_version(&db.url, 2).await.unwrap();
    // Entries as release 2 wrote them (13 columns); the hashes are not real ones.
    for (seq, object_id, message) in [(1, "7", "first of 7"), (2, "8", "only 8"), (3, "7", "second of 7")] {
        db.sql(&format!(
            "INSERT INTO audit_entries VALUES ({seq}, {seq}000000, 'user', '42', 'change', 'observation', \
             '{object_id}', 'observation {object_id}', '{message}', '[]', NULL, 'prev', 'hash')"
        ))
        .await
        .unwrap();
    }
    let (store, auditor) = connect(db).await;
    let messages = |history: Vec<audit_runtime::store::StoredEntry>| -> Vec<String> {
        history.into_iter().map(|stored| stored.entry.message).collect()
    };
    assert_eq!(messages(store.history("observation", "7").await.unwrap()), ["second of 7", "first of 7"]);
    assert_eq!(messages(store.history("observation", "8").await.unwrap()), ["only 8"]);

    auditor.log_action(&Actor::user(42), Action::Change, &Observation::new(7, 1.0), "third of 7");
    auditor.flush().await.unwrap();
    assert_eq!(messages(store.history("observation", "7").await.unwrap()), ["third of 7", "second of 7", "first of 7"]);
    let page = store.entries(&EntryQuery::new().object("observation", "7").before(4).limit(1)).await.unwrap();
    assert_eq!(messages(page), ["second of 7"], "pages walk the same links");
}

/// Each writer remembers the newest entry of the objects it wrote; when another writer has
/// appended since, it must not trust that memory.
async fn interleaved_auditors_keep_each_history_whole(db: &TestDb) {
    let (store, first) = connect(db).await;
    let (_, second) = connect(db).await;
    let actor = Actor::user(42);
    let object = Observation::new(5, 1.0);
    for (step, auditor) in [&first, &second, &first, &first, &second].into_iter().enumerate() {
        auditor.log_action(&actor, Action::Change, &object, format!("step {step}"));
        auditor.flush().await.unwrap();
    }
    let history = store.history("observation", "5").await.unwrap();
    let messages: Vec<&str> = history.iter().map(|stored| stored.entry.message.as_str()).collect();
    assert_eq!(messages, ["step 4", "step 3", "step 2", "step 1", "step 0"]);
    assert!(store.verify().await.unwrap().is_intact());
}

async fn backpressure_waits_and_loses_nothing(db: &TestDb) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    let spool = std::env::temp_dir().join(format!("audit-test-spool-{}", uuid::Uuid::new_v4()));
    let auditor = Auditor::builder(store.clone()).queue_capacity(4).batch_size(3).spool_path(spool).build().unwrap();
    let writer = auditor.clone();
    // From a plain thread, as sync code would call it.
    std::thread::spawn(move || {
        for id in 0..500 {
            writer.log_action(&Actor::user(1), Action::View, &Observation::new(id, 0.0), "viewed");
        }
    })
    .join()
    .unwrap();
    auditor.shutdown().await.unwrap();
    assert_eq!(store.entry_count().await.unwrap(), 500);
}

#[tokio::test]
async fn bad_urls_and_unreachable_servers_are_clear_errors() {
    for (url, says) in [
        ("audit.db", "has no scheme"),
        ("mysql://root@127.0.0.1/audit", "scheme \"mysql\" is not supported"),
        ("postgres://u:hunter2@127.0.0.1:99999/db", "port \"99999\""),
    ] {
        let error = AuditStore::connect(url).await.unwrap_err().to_string();
        assert!(error.contains(says), "{url}: {error}");
        assert!(!error.contains("hunter2"), "the password never shows: {error}");
    }
    let started = std::time::Instant::now();
    let error = AuditStore::connect("postgres://app:hunter2@127.0.0.1:1/audit").await.unwrap_err();
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.starts_with("cannot connect to postgres://app:***@127.0.0.1:1/audit"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

async fn rate_limits_are_shared_by_every_connection(db: &TestDb) {
    // Two stores with their own pools: as two processes would have.
    let first = AuditStore::connect(&db.url).await.unwrap();
    let second = AuditStore::connect(&db.url).await.unwrap();
    let window = std::time::Duration::from_millis(1500);
    let mut claims = Vec::new();
    for i in 0..1000 {
        let store = if i % 2 == 0 { first.clone() } else { second.clone() };
        claims.push(tokio::spawn(async move { store.claim("config_error:abc", window).await.unwrap() }));
    }
    let mut won = 0;
    for claim in claims {
        won += usize::from(claim.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one claim wins a window");
    assert!(first.claim("another key", window).await.unwrap(), "keys are independent");
    tokio::time::sleep(window + std::time::Duration::from_millis(100)).await;
    assert!(second.claim("config_error:abc", window).await.unwrap(), "a new window, a new winner");
    assert!(!first.claim("config_error:abc", window).await.unwrap());
}
