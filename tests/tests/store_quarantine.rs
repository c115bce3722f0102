//! A record the database refuses for what it holds (not for an outage) is quarantined, so the
//! records behind it are written instead of waiting forever.

mod db;

use audit_runtime::store::{AuditStore, Auditor, EntryQuery};
use audit_runtime::{Action, Actor};
use db::{Observation, TestDb};

async fn a_refused_record_is_quarantined_and_the_rest_written(db: &TestDb) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    // A rule the toolkit does not know about, as a database administrator might add.
    let rule = if db.is_postgres() {
        "ALTER TABLE audit_entries ADD CONSTRAINT no_poison CHECK (message <> 'poison')"
    } else {
        "CREATE TRIGGER no_poison BEFORE INSERT ON audit_entries WHEN NEW.message = 'poison' \
         BEGIN SELECT RAISE(ABORT, 'poison is refused'); END"
    };
    db.sql(rule).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("audit.spool");
    let auditor = Auditor::builder(store.clone()).spool_path(&spool).build().unwrap();
    let actor = Actor::user(3);
    for id in 0..100 {
        let message = if id == 37 { "poison".to_owned() } else { format!("entry {id}") };
        auditor.log_action(&actor, Action::Change, &Observation::new(id, 0.0), message);
    }
    auditor.flush().await.unwrap();
    let stats = auditor.stats();
    assert_eq!(stats.quarantined, 1, "{stats:?}");
    assert_eq!(stats.spooled, 0, "{stats:?}");
    let messages: Vec<String> =
        store.entries(&EntryQuery::new()).await.unwrap().into_iter().rev().map(|s| s.entry.message).collect();
    let expected: Vec<String> = (0..100).filter(|id| *id != 37).map(|id| format!("entry {id}")).collect();
    assert_eq!(messages, expected);
    let quarantine = std::fs::read(dir.path().join("audit.spool.quarantine")).unwrap();
    assert!(String::from_utf8_lossy(&quarantine).contains("poison"), "the refused record is kept");
    assert!(store.verify().await.unwrap().is_intact());
    drop(auditor);
}

on_both_backends!(a_refused_record_is_quarantined_and_the_rest_written);
