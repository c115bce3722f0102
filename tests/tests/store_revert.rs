//! Versions and revert on a real SQLite file and on the machine's real PostgreSQL, with the
//! DESIGN's own `Observation`: a redacted `String` and a skipped field, neither with a serde
//! default.

mod db;

use audit_runtime::store::{AuditStore, Auditor, StoreError};
use audit_runtime::{Action, Actor, Audited};
use db::TestDb;
use serde::{Deserialize, Serialize};

#[derive(audit_runtime::Audited, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[audited(object_type = "observation")]
pub struct Observation {
    #[audited(id)]
    pub id: i64,
    pub value: f64,
    pub note: Option<String>,
    #[audited(redact)]
    pub patient_ssn: String,
    #[audited(skip)]
    pub cache: Vec<u8>,
}

/// Another type sharing the id space.
#[derive(audit_runtime::Audited, Clone, Debug, Serialize, Deserialize)]
#[audited(object_type = "ward")]
struct Ward {
    id: i64,
    name: String,
}

fn observation(id: i64, value: f64, ssn: &str) -> Observation {
    Observation { id, value, note: None, patient_ssn: ssn.into(), cache: vec![id as u8; 3] }
}

async fn connect(db: &TestDb) -> (AuditStore, Auditor) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    let spool = std::env::temp_dir().join(format!("audit-test-spool-{}", uuid::Uuid::new_v4()));
    (store.clone(), Auditor::builder(store).spool_path(spool).build().unwrap())
}

async fn snapshot(auditor: &Auditor, comment: &str, objects: &[&Observation]) {
    let mut rev = auditor.create_revision();
    rev.set_user(&Actor::user("alice"));
    rev.set_comment(comment);
    for object in objects {
        rev.add(*object);
    }
    rev.commit().await.unwrap();
}

on_both_backends!(
    the_design_observation_reverts_keeping_current_secrets,
    a_version_of_another_object_is_refused,
    versions_carry_their_object_id_and_rfc3339_times,
    a_revert_is_recorded_as_a_change,
);

async fn the_design_observation_reverts_keeping_current_secrets(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    let first = observation(17, 36.6, "SSN-SECRET-OLD");
    snapshot(&auditor, "first", &[&first]).await;
    let mut current = first.clone();
    current.value = 38.2;
    current.note = Some("rechecked".into());
    current.patient_ssn = "SSN-SECRET-NOW".into();
    current.cache = vec![9, 9];
    snapshot(&auditor, "second", &[&current]).await;

    let versions = store.versions::<Observation>("17").await.unwrap();
    assert_eq!(versions.len(), 2);
    let oldest = &versions[1];
    assert_eq!(oldest.object.value, 36.6);
    assert_eq!(oldest.object.patient_ssn, "", "never stored: shown empty in a listing");
    assert!(oldest.object.cache.is_empty());

    let reverted = store.revert(&current, oldest.id).await.unwrap();
    assert_eq!(reverted.value, 36.6);
    assert_eq!(reverted.note, None, "a stored field takes the version's value, None included");
    assert_eq!(reverted.patient_ssn, "SSN-SECRET-NOW", "a redacted field keeps current's value");
    assert_eq!(reverted.cache, vec![9, 9], "a skipped field keeps current's value");

    let stored = db.text("SELECT COALESCE(STRING_AGG(snapshot, ' '), '') FROM audit_versions").await;
    assert!(!stored.contains("SSN-SECRET"), "{stored}");
}

async fn a_version_of_another_object_is_refused(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    let patient_1 = observation(1, 1.0, "SSN-1");
    let patient_2 = observation(2, 2.0, "SSN-2");
    snapshot(&auditor, "both", &[&patient_1, &patient_2]).await;
    let version_of_2 = store.versions::<Observation>("2").await.unwrap().remove(0);
    match store.revert(&patient_1, version_of_2.id).await {
        Err(StoreError::VersionOfAnotherObject { version_id, version_object, current_object }) => {
            assert_eq!(version_id, version_of_2.id);
            assert_eq!(version_object, "observation 2");
            assert_eq!(current_object, "observation 1");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let message = store.revert(&patient_1, version_of_2.id).await.unwrap_err().to_string();
    assert!(message.contains("observation 2") && message.contains("not of observation 1"), "{message}");

    // A version of another type with the same id.
    let mut rev = auditor.create_revision();
    rev.add(&Ward { id: 1, name: "Cardiology".into() });
    rev.commit().await.unwrap();
    let ward_version = store.versions::<Ward>("1").await.unwrap().remove(0);
    match store.revert(&patient_1, ward_version.id).await {
        Err(StoreError::VersionOfAnotherObject { version_object, .. }) => assert_eq!(version_object, "ward 1"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    match store.revert(&patient_1, 999_999).await {
        Err(StoreError::NotFound { what }) => assert_eq!(what, "version 999999"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

async fn versions_carry_their_object_id_and_rfc3339_times(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    snapshot(&auditor, "one", &[&observation(5, 1.0, "x")]).await;
    let version = store.versions::<Observation>("5").await.unwrap().remove(0);
    assert_eq!(version.object_id, "5");
    let json = serde_json::to_value(&version).unwrap();
    assert_eq!(json["object_id"], "5");
    let time = json["created_at"].as_str().expect("created_at is text, not a tuple");
    let parsed = time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(parsed, version.created_at);

    let untyped = store.version_snapshots("observation", "5").await.unwrap();
    assert_eq!(untyped.len(), 1);
    assert_eq!(untyped[0].object["value"], 1.0);
    assert_eq!(untyped[0].comment.as_deref(), Some("one"));

    let entry = {
        auditor.log_action(&Actor::user(1), Action::View, &observation(5, 1.0, "x"), "viewed");
        auditor.flush().await.unwrap();
        store.history("observation", "5").await.unwrap().remove(0)
    };
    let json = serde_json::to_value(&entry).unwrap();
    let time = json["time"].as_str().expect("an entry's time is text");
    time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).unwrap();
}

async fn a_revert_is_recorded_as_a_change(db: &TestDb) {
    let (store, auditor) = connect(db).await;
    let before = observation(8, 10.0, "SSN-8");
    snapshot(&auditor, "before", &[&before]).await;
    let mut current = before.clone();
    current.value = 99.0;
    let version = store.versions::<Observation>("8").await.unwrap().remove(0);
    let reverted = store.revert(&current, version.id).await.unwrap();
    // What the docs show: save the result, then record it like any other change.
    assert!(auditor.track_change(&Actor::user("alice"), &current, &reverted));
    auditor.flush().await.unwrap();
    let entry = store.history("observation", "8").await.unwrap().remove(0).entry;
    assert_eq!(entry.action, Action::Change);
    assert_eq!(entry.changes.len(), 1, "only the value changed: {:?}", entry.changes);
    assert_eq!(entry.changes[0].field, "value");
    assert_eq!((entry.changes[0].old.clone(), entry.changes[0].new.clone()), (99.0.into(), 10.0.into()));
    assert_eq!(reverted.object_id(), "8");
}
