//! Tampering with plain SQL, as an intruder would, with every kind of row the store keeps:
//! revisions, versions, view counts, purge checkpoints and the object index are all covered by
//! the chain, so `verify()` reports each. Purging works only through `purge_before`.

mod db;

use audit_runtime::store::{AuditStore, Auditor, Tampering};
use audit_runtime::{Action, Actor};
use db::{Observation, TestDb};

/// A store with entries, two revisions and some views, all written.
async fn populated(db: &TestDb) -> AuditStore {
    let store = AuditStore::connect(&db.url).await.unwrap();
    let auditor =
        Auditor::builder(store.clone()).spool_path(tempfile::tempdir().unwrap().keep().join("s")).build().unwrap();
    let alice = Actor::user("alice");
    for id in 0..3 {
        let object = Observation::new(id, 1.0);
        auditor.log_action(&alice, Action::Create, &object, "created");
        let mut revision = auditor.create_revision();
        revision.set_user(&alice);
        revision.set_comment("first draft");
        revision.add(&object);
        revision.commit().await.unwrap();
        auditor.log_view(&object);
        auditor.log_view(&object);
    }
    auditor.flush().await.unwrap();
    drop(auditor);
    let report = store.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    store
}

async fn broken(store: &AuditStore) -> Tampering {
    let report = store.verify().await.unwrap();
    report.first_broken.clone().unwrap_or_else(|| panic!("tampering not detected: {report:?}")).tampering
}

async fn an_edited_revision_comment_is_seen(db: &TestDb) {
    let store = populated(db).await;
    db.sql(if db.is_postgres() {
        "DROP TRIGGER audit_revisions_append_only ON audit_revisions"
    } else {
        "DROP TRIGGER audit_revisions_no_update"
    })
    .await
    .unwrap();
    db.sql("UPDATE audit_revisions SET comment = 'approved by chief' WHERE id = 2").await.unwrap();
    assert_eq!(broken(&store).await, Tampering::RevisionAltered);
}

async fn a_forged_version_is_seen(db: &TestDb) {
    let store = populated(db).await;
    // INSERT is all it takes; no trigger is in the way.
    db.sql(
        "INSERT INTO audit_versions (revision_id, object_type, object_id, object_repr, fields, snapshot) \
         VALUES (1, 'observation', '0', 'observation 0', '[\"id\",\"value\"]', '{\"id\":0,\"value\":99.0}')",
    )
    .await
    .unwrap();
    assert_eq!(broken(&store).await, Tampering::RevisionAltered);
}

async fn a_forged_revision_is_seen(db: &TestDb) {
    let store = populated(db).await;
    db.sql(
        "INSERT INTO audit_revisions (created_us, actor_kind, actor_id, comment) VALUES (1, 'user', 'mallory', 'ok')",
    )
    .await
    .unwrap();
    assert_eq!(broken(&store).await, Tampering::RevisionAltered);
}

async fn edited_view_counts_are_seen(db: &TestDb) {
    let store = populated(db).await;
    db.sql("UPDATE audit_views SET count = count + 1000").await.unwrap();
    assert_eq!(broken(&store).await, Tampering::ViewCountsAltered);
}

async fn a_forged_checkpoint_is_seen(db: &TestDb) {
    let store = populated(db).await;
    let hash = db.text("SELECT hash FROM audit_entries ORDER BY seq DESC LIMIT 1").await;
    let seq = db.text("SELECT CAST(MAX(seq) AS TEXT) FROM audit_entries").await;
    // A checkpoint at the newest entry would make `verify` start after everything.
    db.sql(&format!("INSERT INTO audit_checkpoints (seq, hash, removed, created_us) VALUES ({seq}, '{hash}', 0, 1)"))
        .await
        .unwrap();
    assert_eq!(broken(&store).await, Tampering::CheckpointForged);
}

async fn purging_keeps_everything_verifiable(db: &TestDb) {
    let store = populated(db).await;
    let purged = store.purge_before(time::OffsetDateTime::now_utc() + time::Duration::hours(1)).await.unwrap();
    assert!(purged.removed > 0);
    let report = store.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    // The view counts stay, attested by the purge's own entry.
    let views = store.view_counts("observation", time::OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!(views.iter().map(|v| v.views).sum::<u64>(), 6);
    // Revisions went with the entries that attested them.
    assert!(store.versions::<Observation>("0").await.unwrap().is_empty());
    // New records after a purge keep verifying.
    let auditor =
        Auditor::builder(store.clone()).spool_path(tempfile::tempdir().unwrap().keep().join("s")).build().unwrap();
    auditor.log_view(&Observation::new(0, 1.0));
    auditor.log_action(&Actor::user(1), Action::Change, &Observation::new(0, 2.0), "after the purge");
    auditor.flush().await.unwrap();
    let report = store.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    drop(auditor);
}

async fn deleting_is_refused_outside_purge_before(db: &TestDb) {
    let store = populated(db).await;
    if db.is_postgres() {
        // A role that may SELECT, INSERT and DELETE, and sets the purge flag itself.
        let role = format!("audit_app_{}", std::process::id());
        db.sql(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; \
             GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA public TO {role}; \
             GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}"
        ))
        .await
        .unwrap();
        let as_role = db.url.replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
        let restricted = TestDb { url: as_role, kind: db::Kind::Sqlite(tempfile::tempdir().unwrap()) };
        let error = restricted
            .sql("BEGIN; SET LOCAL audit.purging = 'on'; DELETE FROM audit_entries WHERE seq <= 2; COMMIT")
            .await
            .expect_err("the restricted role opened the purge gate");
        assert!(error.to_string().contains("append-only"), "{error}");
        // Calling the purge function itself deletes, but leaves no checkpoint the chain names.
        restricted.sql("SELECT audit_purge(2, 0)").await.unwrap();
        let tampering = broken(&store).await;
        assert!(
            matches!(tampering, Tampering::CheckpointMismatch | Tampering::Deleted | Tampering::InsertedOrReordered),
            "{tampering:?}"
        );
        db.sql(&format!("REASSIGN OWNED BY {role} TO postgres; DROP OWNED BY {role}")).await.unwrap();
        let _ = db.sql(&format!("DROP ROLE {role}")).await;
    } else {
        // No table or setting opens the gate: the old gate table is gone.
        assert!(db.sql("UPDATE audit_purge_gate SET purging = 1").await.is_err());
        let error = db.sql("DELETE FROM audit_entries WHERE seq <= 2").await.unwrap_err();
        assert!(error.to_string().contains("append-only"), "{error}");
        assert!(db.sql("DELETE FROM audit_versions").await.is_err());
    }
}

async fn an_edited_object_index_is_seen(db: &TestDb) {
    if db.is_postgres() {
        return; // PostgreSQL's object index is a B-tree index, which SQL cannot edit.
    }
    let store = populated(db).await;
    let auditor =
        Auditor::builder(store.clone()).spool_path(tempfile::tempdir().unwrap().keep().join("s")).build().unwrap();
    auditor.log_action(&Actor::user(1), Action::Delete, &Observation::new(1, 1.0), "deleted");
    auditor.flush().await.unwrap();
    drop(auditor);
    assert!(store.verify().await.unwrap().is_intact());
    // Point the object's head back at its first entry: `history` would hide the deletion.
    db.sql(
        "UPDATE audit_object_heads SET last_seq = (SELECT MIN(seq) FROM audit_entries \
         WHERE object_type = 'observation' AND object_id = '1') WHERE object_type = 'observation' AND object_id = '1'",
    )
    .await
    .unwrap();
    assert_eq!(store.history("observation", "1").await.unwrap().len(), 1, "the edit hides the deletion");
    assert_eq!(broken(&store).await, Tampering::ObjectIndexAltered);
}

on_both_backends!(
    an_edited_revision_comment_is_seen,
    a_forged_version_is_seen,
    a_forged_revision_is_seen,
    edited_view_counts_are_seen,
    a_forged_checkpoint_is_seen,
    purging_keeps_everything_verifiable,
    deleting_is_refused_outside_purge_before,
    an_edited_object_index_is_seen,
);
