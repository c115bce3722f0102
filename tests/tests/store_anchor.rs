//! Anchors on a real SQLite file and on the machine's real PostgreSQL: what `verify()` cannot
//! see from inside the database (a cut tail, an emptied store, a chain rewritten from scratch)
//! is found against an anchor kept outside it.

mod db;

use audit_runtime::store::{Anchor, AnchorMismatch, AuditStore, Auditor, StoreError};
use audit_runtime::{Action, Actor};
use db::{Observation, TestDb};

fn auditor_for(store: &AuditStore) -> Auditor {
    let spool = std::env::temp_dir().join(format!("audit-test-spool-{}", uuid::Uuid::new_v4()));
    Auditor::builder(store.clone()).spool_path(spool).build().expect("auditor")
}

async fn write_entries(store: &AuditStore, ids: std::ops::RangeInclusive<i64>, message: &str) {
    let auditor = auditor_for(store);
    for id in ids {
        auditor.log_action(&Actor::user(id), Action::Change, &Observation::new(id, 0.0), format!("{message} {id}"));
    }
    auditor.shutdown().await.unwrap();
}

/// The error `verify_against` gives, which must be a mismatch.
async fn mismatch(store: &AuditStore, anchor: &Anchor) -> AnchorMismatch {
    match store.verify_against(anchor).await {
        Err(StoreError::AnchorMismatch { anchor: checked, mismatch }) => {
            assert_eq!(&checked, anchor);
            mismatch
        }
        other => panic!("expected an anchor mismatch, got {other:?}"),
    }
}

on_both_backends!(
    the_head_is_the_newest_entry_and_verifies,
    a_truncated_tail_is_found,
    a_chain_rewritten_from_scratch_is_found,
    an_emptied_store_is_found,
    an_edited_entry_fails_the_anchor_check_too,
    anchors_survive_a_purge_at_their_position,
);

async fn the_head_is_the_newest_entry_and_verifies(db: &TestDb) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    assert_eq!(store.verify().await.unwrap().head(), None, "an empty store has no head");
    write_entries(&store, 1..=12, "entry").await;
    let report = store.verify().await.unwrap();
    let head = report.head().expect("a head");
    assert_eq!(head.seq, 12);
    let newest = db.text("SELECT hash FROM audit_entries WHERE seq = 12").await;
    assert_eq!(head.hash, newest);

    let text = head.to_string();
    assert_eq!(text, format!("12:{newest}"));
    assert_eq!(text.parse::<Anchor>().unwrap(), head);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["head"], serde_json::Value::String(text.clone()));

    let verified = store.verify_against(&head).await.unwrap();
    assert!(verified.is_intact());
    // More entries later: the old anchor still holds, and an older position too.
    write_entries(&store, 13..=15, "entry").await;
    store.verify_against(&head).await.unwrap();
    let fifth = Anchor { seq: 5, hash: db.text("SELECT hash FROM audit_entries WHERE seq = 5").await };
    store.verify_against(&fifth).await.unwrap();
}

async fn a_truncated_tail_is_found(db: &TestDb) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    write_entries(&store, 1..=10, "entry").await;
    let anchor = store.verify().await.unwrap().head().unwrap();
    db.delete_entries("seq > 7").await;
    let report = store.verify().await.unwrap();
    assert!(report.is_intact(), "a cut tail leaves a chain that verifies on its own: {report:?}");
    assert_eq!(mismatch(&store, &anchor).await, AnchorMismatch::Truncated { last: 7 });
    let message = store.verify_against(&anchor).await.unwrap_err().to_string();
    assert!(message.contains(&anchor.to_string()) && message.contains("tail was removed"), "{message}");
}

async fn a_chain_rewritten_from_scratch_is_found(db: &TestDb) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    write_entries(&store, 1..=10, "entry").await;
    let anchor = store.verify().await.unwrap().head().unwrap();
    // Everything deleted and a different history written in its place, every hash recomputed:
    // the same positions, a chain that verifies.
    db.delete_entries("1 = 1").await;
    write_entries(&store, 1..=10, "nothing happened").await;
    let report = store.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.head().unwrap().seq, anchor.seq);
    match mismatch(&store, &anchor).await {
        AnchorMismatch::Rewritten { found } => assert_ne!(found, anchor.hash),
        other => panic!("expected Rewritten, got {other:?}"),
    }
    // A longer rewritten chain is found just the same.
    write_entries(&store, 11..=20, "more").await;
    assert!(matches!(mismatch(&store, &anchor).await, AnchorMismatch::Rewritten { .. }));
}

async fn an_emptied_store_is_found(db: &TestDb) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    write_entries(&store, 1..=4, "entry").await;
    let anchor = store.verify().await.unwrap().head().unwrap();
    db.delete_entries("1 = 1").await;
    assert!(store.verify().await.unwrap().is_intact(), "an empty store verifies on its own");
    assert_eq!(mismatch(&store, &anchor).await, AnchorMismatch::Empty);

    // The SQLite file deleted: a read-only open refuses to go on, and a store made anew in its
    // place does not match the anchor.
    if let db::Kind::Sqlite(dir) = &db.kind {
        drop(store);
        for name in ["audit.db", "audit.db-wal", "audit.db-shm"] {
            let _ = std::fs::remove_file(dir.path().join(name));
        }
        match AuditStore::open_existing(&db.url).await {
            Err(StoreError::NoStore { location, .. }) => assert!(location.ends_with("audit.db"), "{location}"),
            other => panic!("expected NoStore, got {other:?}"),
        }
        assert!(!dir.path().join("audit.db").exists(), "a read-only open creates nothing");
        let fresh = AuditStore::connect(&db.url).await.unwrap();
        assert_eq!(mismatch(&fresh, &anchor).await, AnchorMismatch::Empty);
    }
}

async fn an_edited_entry_fails_the_anchor_check_too(db: &TestDb) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    write_entries(&store, 1..=6, "entry").await;
    let anchor = store.verify().await.unwrap().head().unwrap();
    db.drop_triggers().await;
    db.sql("UPDATE audit_entries SET message = 'x' WHERE seq = 3").await.unwrap();
    match mismatch(&store, &anchor).await {
        AnchorMismatch::Broken { entry } => assert_eq!(entry.seq, 3),
        other => panic!("expected Broken, got {other:?}"),
    }
}

async fn anchors_survive_a_purge_at_their_position(db: &TestDb) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    write_entries(&store, 1..=5, "entry").await;
    let third = Anchor { seq: 3, hash: db.text("SELECT hash FROM audit_entries WHERE seq = 3").await };
    let head = store.verify().await.unwrap().head().unwrap();
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert_eq!(store.purge_before(later).await.unwrap().checkpoint, Some(5));
    // Every entry purged: the new head is the purge's own entry (it names the checkpoint), and
    // the anchor at the checkpoint still holds.
    let after = store.verify().await.unwrap().head().unwrap();
    assert_eq!(after.seq, 6);
    store.verify_against(&head).await.unwrap();
    store.verify_against(&after).await.unwrap();
    assert_eq!(mismatch(&store, &third).await, AnchorMismatch::Purged { checkpoint: 5 });
}

#[test]
fn bad_anchor_texts_say_what_is_accepted() {
    for text in
        ["", "12", "x:ab", "0:ab", &format!("-3:{}", "a".repeat(64)), "12:abc", &format!("12:{}", "g".repeat(64))]
    {
        let error = text.parse::<Anchor>().unwrap_err().to_string();
        assert!(error.contains("expected SEQ:HEX") && error.contains(&format!("{text:?}")), "{text}: {error}");
    }
    let upper = format!("7:{}", "AB".repeat(32));
    assert_eq!(upper.parse::<Anchor>().unwrap().hash, "ab".repeat(32));
}
