//! `AuditStore::open_existing` on a real SQLite file and on the machine's real PostgreSQL: it
//! reads, and it never creates, migrates or writes.

mod db;

use audit_runtime::store::{AuditStore, Auditor, StoreError};
use audit_runtime::{Action, Actor};
use db::{Observation, TestDb};

on_both_backends!(reads_what_is_there_and_writes_nothing, an_older_schema_is_not_migrated);

async fn reads_what_is_there_and_writes_nothing(db: &TestDb) {
    match AuditStore::open_existing(&db.url).await {
        Err(StoreError::NoStore { reason, .. }) => {
            assert!(reason.contains("does not exist") || reason.contains("no audit tables"), "{reason}")
        }
        other => panic!("a database without a store is refused, got {other:?}"),
    }
    if let db::Kind::Sqlite(dir) = &db.kind {
        assert!(!dir.path().join("audit.db").exists(), "nothing was created");
    }

    let store = AuditStore::connect(&db.url).await.unwrap();
    let spool = std::env::temp_dir().join(format!("audit-test-spool-{}", uuid::Uuid::new_v4()));
    let auditor = Auditor::builder(store).spool_path(spool).build().unwrap();
    auditor.log_action(&Actor::user(1), Action::Create, &Observation::new(3, 1.0), "created");
    auditor.shutdown().await.unwrap();

    let reader = AuditStore::open_existing(&db.url).await.unwrap();
    assert_eq!(reader.history("observation", "3").await.unwrap().len(), 1);
    assert!(reader.verify().await.unwrap().is_intact());
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let error = reader.purge_before(later).await.expect_err("a read-only store refuses to purge");
    assert!(matches!(error, StoreError::Database { .. }), "{error:?}");
    assert_eq!(reader.entry_count().await.unwrap(), 1);
}

async fn an_older_schema_is_not_migrated(db: &TestDb) {
    AuditStore::create_at_version(&db.url, 2).await.unwrap();
    match AuditStore::open_existing(&db.url).await {
        Err(StoreError::OlderSchema { found: 2, supported }) => assert!(supported > 2),
        other => panic!("expected OlderSchema, got {other:?}"),
    }
    let version = db.text("SELECT value FROM audit_meta WHERE key = 'schema_version'").await;
    assert_eq!(version, "2");
}
