//! Signed checkpoints written by the `Auditor` to a witness, on a real SQLite file and on the
//! machine's real PostgreSQL, and the store checked against them.

mod db;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_runtime::store::witness::{
    CheckpointSchedule, DirectoryWitness, SecretKey, SignedCheckpoint, Witness, WitnessError, verify_with_witness,
};
use audit_runtime::store::{AnchorMismatch, AuditStore, Auditor, StoreError};
use audit_runtime::{Action, Actor};
use db::{Observation, TestDb};

fn spool() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("audit-test-spool-{}", uuid::Uuid::new_v4()))
}

fn log(auditor: &Auditor, ids: std::ops::RangeInclusive<i64>, message: &str) {
    for id in ids {
        auditor.log_action(&Actor::user(id), Action::Change, &Observation::new(id, 0.0), format!("{message} {id}"));
    }
}

/// A store of 25 entries witnessed every 10 entries (and at shutdown) in `dir`.
async fn witnessed_store(db: &TestDb, dir: &std::path::Path, key: SecretKey) -> AuditStore {
    let store = AuditStore::connect(&db.url).await.unwrap();
    let witness = DirectoryWitness::new(dir).unwrap();
    let auditor = Auditor::builder(store.clone())
        .spool_path(spool())
        .witness(key, witness, CheckpointSchedule::entries(10))
        .build()
        .unwrap();
    for (batch, signed) in [(1..=10, Some(10)), (11..=20, Some(20)), (21..=25, None)] {
        log(&auditor, batch, "entry");
        auditor.flush().await.unwrap();
        // Signing runs on its own thread: wait for it before the next batch moves the end.
        if let Some(seq) = signed {
            let file = dir.join(format!("checkpoint-{seq:020}.json"));
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !file.exists() {
                assert!(std::time::Instant::now() < deadline, "no checkpoint at entry {seq} within 10 s");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    auditor.shutdown().await.unwrap();
    store
}

fn checkpoint_seqs(dir: &std::path::Path) -> Vec<i64> {
    let mut seqs: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .map(|name| {
            assert!(name.starts_with("checkpoint-") && name.ends_with(".json"), "only whole checkpoints: {name}");
            name["checkpoint-".len()..name.len() - ".json".len()].parse().unwrap()
        })
        .collect();
    seqs.sort_unstable();
    seqs
}

on_both_backends!(
    the_auditor_signs_checkpoints_on_schedule_and_at_shutdown,
    a_signature_of_another_key_is_refused,
    a_truncated_store_fails_the_witness_check,
    a_recomputed_store_fails_the_witness_check,
    any_sink_can_witness_and_time_triggers_checkpoints,
);

async fn the_auditor_signs_checkpoints_on_schedule_and_at_shutdown(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate().unwrap();
    let public = key.public_key();
    let store = witnessed_store(db, dir.path(), key).await;
    let seqs = checkpoint_seqs(dir.path());
    assert_eq!(seqs, [10, 20, 25], "one every 10 entries, and the end at shutdown");

    let witness = DirectoryWitness::open(dir.path()).unwrap();
    let newest = witness.latest().unwrap().unwrap();
    assert_eq!(newest.seq, 25);
    assert_eq!(newest.hash, db.text("SELECT hash FROM audit_entries WHERE seq = 25").await);
    assert_eq!(newest.public_key, public.to_hex());
    let text = std::fs::read_to_string(dir.path().join("checkpoint-00000000000000000025.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let time = json["time"].as_str().expect("the time is text");
    time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).expect("RFC 3339");

    let (checkpoint, report) = verify_with_witness(&store, &witness, &public).await.unwrap();
    assert_eq!((checkpoint.seq, report.checked), (25, 25));
}

async fn a_signature_of_another_key_is_refused(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let store = witnessed_store(db, dir.path(), SecretKey::generate().unwrap()).await;
    let witness = DirectoryWitness::open(dir.path()).unwrap();
    let stranger = SecretKey::generate().unwrap().public_key();
    match verify_with_witness(&store, &witness, &stranger).await {
        Err(StoreError::Witness(WitnessError::BadSignature { seq, expected, .. })) => {
            assert_eq!((seq, expected), (25, stranger.to_hex()));
        }
        other => panic!("expected a refused signature, got {other:?}"),
    }

    // A checkpoint forged by someone with another key, in the witness's own format, is refused
    // too, though it names the intruder's key.
    let intruder = SecretKey::generate().unwrap();
    let forged = intruder.sign(&store.verify().await.unwrap().head().unwrap(), time::OffsetDateTime::now_utc());
    let mut witness_dir = DirectoryWitness::new(dir.path()).unwrap();
    let mut forged_later = forged.clone();
    forged_later.seq = 26;
    witness_dir.record(&intruder.sign(&forged_later.anchor(), forged.time)).unwrap();
    let error = verify_with_witness(&store, &witness_dir, &stranger).await.unwrap_err();
    assert!(error.to_string().contains("not signed by the public key"), "{error}");
}

async fn a_truncated_store_fails_the_witness_check(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate().unwrap();
    let public = key.public_key();
    let store = witnessed_store(db, dir.path(), key).await;
    db.delete_entries("seq > 22").await;
    assert!(store.verify().await.unwrap().is_intact(), "the cut chain verifies on its own");
    let witness = DirectoryWitness::open(dir.path()).unwrap();
    match verify_with_witness(&store, &witness, &public).await {
        Err(StoreError::AnchorMismatch { anchor, mismatch }) => {
            assert_eq!(anchor.seq, 25);
            assert_eq!(mismatch, AnchorMismatch::Truncated { last: 22 });
        }
        other => panic!("expected a truncation, got {other:?}"),
    }
}

async fn a_recomputed_store_fails_the_witness_check(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate().unwrap();
    let public = key.public_key();
    let store = witnessed_store(db, dir.path(), key).await;
    db.delete_entries("1 = 1").await;
    let rewriter = Auditor::builder(store.clone()).spool_path(spool()).build().unwrap();
    log(&rewriter, 1..=30, "rewritten");
    rewriter.shutdown().await.unwrap();
    assert!(store.verify().await.unwrap().is_intact(), "the recomputed chain verifies on its own");
    let witness = DirectoryWitness::open(dir.path()).unwrap();
    match verify_with_witness(&store, &witness, &public).await {
        Err(StoreError::AnchorMismatch { mismatch: AnchorMismatch::Rewritten { .. }, anchor }) => {
            assert_eq!(anchor.seq, 25)
        }
        other => panic!("expected a rewritten chain, got {other:?}"),
    }
}

/// A witness the application gives: here, memory.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<SignedCheckpoint>>>);

impl Witness for Collected {
    fn record(&mut self, checkpoint: &SignedCheckpoint) -> Result<(), WitnessError> {
        self.0.lock().unwrap().push(checkpoint.clone());
        Ok(())
    }
}

async fn any_sink_can_witness_and_time_triggers_checkpoints(db: &TestDb) {
    let store = AuditStore::connect(&db.url).await.unwrap();
    let key = SecretKey::generate().unwrap();
    let public = key.public_key();
    let sink = Collected::default();
    let auditor = Auditor::builder(store.clone())
        .spool_path(spool())
        .witness(key, sink.clone(), CheckpointSchedule::interval(Duration::from_millis(100)))
        .build()
        .unwrap();
    log(&auditor, 1..=3, "entry");
    auditor.flush().await.unwrap();
    // No count is set: only the interval signs while the auditor runs.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sink.0.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no checkpoint within 10 s of an interval of 100 ms");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = sink.0.lock().unwrap()[0].clone();
    assert_eq!(first.seq, 3);
    let anchor = first.verify(&public).unwrap();
    store.verify_against(&anchor).await.unwrap();
    // Nothing new: no new checkpoint however long it waits.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(sink.0.lock().unwrap().len(), 1, "an unchanged chain is not signed again");
    auditor.shutdown().await.unwrap();
    assert_eq!(sink.0.lock().unwrap().len(), 1);
}
