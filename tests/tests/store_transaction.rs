//! Audit entries written inside the application's own sqlx transaction, on the store's
//! database: they commit with it, vanish with its rollback, and join the chain in commit order.

mod db;

use audit_runtime::store::{AuditStore, Auditor, StoreError};
use audit_runtime::{Action, Actor};
use db::{Observation, TestDb};

/// Runs `body` with a transaction of the application's own pool on the test database.
macro_rules! with_app_transaction {
    ($db:expr, |$tx:ident| $body:block) => {
        if $db.is_postgres() {
            let pool = sqlx::PgPool::connect(&$db.url).await.unwrap();
            #[allow(unused_mut)]
            let mut $tx = pool.begin().await.unwrap();
            $body
        } else {
            let pool = sqlx::SqlitePool::connect(&$db.url).await.unwrap();
            #[allow(unused_mut)]
            let mut $tx = pool.begin().await.unwrap();
            $body
        }
    };
}

async fn commit_and_rollback(db: &TestDb) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    let auditor = Auditor::builder(store.clone()).outbox_poll(std::time::Duration::from_secs(3600)).build().unwrap();
    let actor = Actor::user(42);
    let old = Observation::new(17, 37.0);
    let new = Observation { value: 38.2, ..old.clone() };

    with_app_transaction!(db, |tx| {
        let mut audit = auditor.in_transaction(&mut tx);
        assert!(audit.track_change(&actor, &old, &new).await.unwrap());
        assert!(!audit.track_change(&actor, &new, &new.clone()).await.unwrap(), "nothing changed: no entry");
        audit.log_action(&actor, Action::Change, &new, "changed value").await.unwrap();
        let mut revision = audit.create_revision();
        revision.set_user(&actor);
        revision.set_comment("measured again");
        revision.add(&new);
        revision.commit().await.unwrap();
        // Nothing is visible before the commit.
        assert!(store.history("observation", "17").await.unwrap().is_empty());
        tx.commit().await.unwrap();
    });
    with_app_transaction!(db, |tx| {
        let mut audit = auditor.in_transaction(&mut tx);
        audit.log_action(&actor, Action::Delete, &new, "deleted (rolled back)").await.unwrap();
        audit.log_bulk_action(&actor, Action::View, [&old, &new], "listed (rolled back)").await.unwrap();
        tx.rollback().await.unwrap();
    });

    auditor.flush().await.unwrap();
    let history = store.history("observation", "17").await.unwrap();
    let messages: Vec<&str> = history.iter().map(|s| s.entry.message.as_str()).collect();
    assert_eq!(messages, ["changed value", "changed value"], "newest first; nothing from the rollback");
    assert_eq!(history[1].entry.changes.len(), 1);
    let versions = store.versions::<Observation>("17").await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].comment.as_deref(), Some("measured again"));
    assert!(store.verify().await.unwrap().is_intact());
    // A second flush seals nothing again.
    auditor.flush().await.unwrap();
    assert_eq!(store.history("observation", "17").await.unwrap().len(), 2);
    drop(auditor);
}

/// (A restart sealing what a killed process committed is in `store_crash.rs`.)
async fn sealed_in_commit_order(db: &TestDb) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    let actor = Actor::system("importer");
    let auditor = Auditor::new(store.clone());
    for id in 0..5 {
        with_app_transaction!(db, |tx| {
            auditor
                .in_transaction(&mut tx)
                .log_action(&actor, Action::Create, &Observation::new(id, 0.0), format!("created {id}"))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        });
    }
    auditor.flush().await.unwrap();
    let entries = store.entries(&audit_runtime::store::EntryQuery::new()).await.unwrap();
    let messages: Vec<String> = entries.iter().rev().map(|s| s.entry.message.clone()).collect();
    assert_eq!(messages, (0..5).map(|id| format!("created {id}")).collect::<Vec<_>>());
    drop(auditor);
}

async fn a_transaction_on_another_database_is_refused(db: &TestDb) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    let auditor = Auditor::new(store);
    // A SQLite database without the audit tables.
    let other = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", other.path().join("app.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let error = auditor
        .in_transaction(&mut tx)
        .log_action(&Actor::user(1), Action::View, &Observation::new(1, 0.0), "viewed")
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::WrongDatabase { .. }), "{error:?}");
    let message = error.to_string();
    if db.is_postgres() {
        assert!(message.contains("Sqlite") && message.contains("Postgres"), "{message}");
    } else {
        assert!(message.contains("no audit tables"), "{message}");
    }
    drop(auditor);
}

on_both_backends!(commit_and_rollback, sealed_in_commit_order, a_transaction_on_another_database_is_refused);
