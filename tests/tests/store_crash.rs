//! Real processes killed with SIGKILL at random moments (`audit-probe`), on a real SQLite file
//! and the real PostgreSQL: with a journal, no call that returned is lost and nothing is stored
//! twice; with `in_transaction`, the audit entries are exactly the committed business changes
//! (no phantom from a rollback, no orphan from a crash after the commit).

mod db;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use audit_runtime::store::{AuditStore, Auditor, EntryQuery};
use db::TestDb;

const PROBE: &str = env!("CARGO_BIN_EXE_audit-probe");

/// Runs the probe, waits until it has printed `lines_before_kill` lines after `ready`, kills
/// it with SIGKILL, and returns every line it printed.
fn run_and_kill(args: &[&str], lines_before_kill: usize) -> Vec<String> {
    let mut child: Child =
        Command::new(PROBE).args(args).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ready = false;
    while lines.len() < lines_before_kill {
        let line = lines_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the probe stopped talking");
        if line == "ready" {
            ready = true;
        } else if ready {
            lines.push(line);
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    // Lines it printed before dying count too: each was printed after its call returned.
    lines.extend(lines_rx.try_iter().filter(|l| l != "ready"));
    lines
}

fn numbers(lines: &[String], prefix: &str) -> BTreeSet<i64> {
    lines.iter().filter_map(|l| l.strip_prefix(prefix)?.parse().ok()).collect()
}

/// How many times each message is stored.
async fn stored_messages(store: &AuditStore) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for stored in store.entries(&EntryQuery::new()).await.unwrap() {
        *counts.entry(stored.entry.message).or_default() += 1;
    }
    counts
}

/// A pseudo-random kill point per trial, different each run.
fn kill_after(trial: u64) -> usize {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    200 + ((seed ^ (trial * 7919)) % 2_500) as usize
}

async fn journal_loses_nothing_acknowledged(db: &TestDb) {
    let journal = tempfile::tempdir().unwrap();
    let journal_dir = journal.path().join("audit.journal");
    let mut acknowledged = BTreeSet::new();
    for trial in 0..3u64 {
        let start = (trial * 100_000) as i64;
        let lines = run_and_kill(
            &["journal", &db.url, journal_dir.to_str().unwrap(), &start.to_string(), "20000"],
            kill_after(trial),
        );
        acknowledged.extend(numbers(&lines, "ack "));
    }
    // The next start replays what the journal holds.
    let store = AuditStore::connect(&db.url).await.unwrap();
    let auditor = Auditor::builder(store.clone()).journal(&journal_dir).build().unwrap();
    auditor.flush().await.unwrap();
    let stored = stored_messages(&store).await;
    let lost: Vec<i64> = acknowledged.iter().copied().filter(|n| !stored.contains_key(&format!("entry {n}"))).collect();
    assert!(lost.is_empty(), "{} acknowledged calls lost, e.g. {:?}", lost.len(), &lost[..lost.len().min(5)]);
    let twice: Vec<&String> = stored.iter().filter(|(_, count)| **count > 1).map(|(m, _)| m).collect();
    assert!(twice.is_empty(), "stored twice: {twice:?}");
    assert!(acknowledged.len() >= 600, "the probe acknowledged only {}", acknowledged.len());
    assert!(store.verify().await.unwrap().is_intact());
    drop(auditor);
}

async fn transactions_leave_no_phantom_and_no_orphan(db: &TestDb) {
    let mut committed = BTreeSet::new();
    let mut rolled_back = BTreeSet::new();
    for trial in 0..3u64 {
        let start = (trial * 100_000) as i64;
        let lines = run_and_kill(&["tx", &db.url, &start.to_string(), "20000"], kill_after(trial) / 4);
        committed.extend(numbers(&lines, "committed "));
        rolled_back.extend(numbers(&lines, "rolledback "));
    }
    // Any Auditor on the store seals what the killed processes committed.
    let store = AuditStore::connect(&db.url).await.unwrap();
    let auditor = Auditor::new(store.clone());
    auditor.flush().await.unwrap();
    let stored = stored_messages(&store).await;
    let business: BTreeSet<i64> = {
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
        sqlx::query_scalar::<_, i64>("SELECT id FROM business")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .collect()
    };
    let audited: BTreeSet<i64> = stored.keys().filter_map(|m| m.strip_prefix("tx ")?.parse().ok()).collect();
    assert!(committed.is_subset(&business), "a committed business row is missing");
    assert_eq!(audited, business, "audit entries must match the committed business rows exactly");
    assert!(rolled_back.is_disjoint(&audited), "a rolled-back change left an entry");
    assert!(stored.values().all(|count| *count == 1), "an entry was sealed twice");
    assert!(!committed.is_empty());
    assert!(store.verify().await.unwrap().is_intact());
    drop(auditor);
}

on_both_backends!(journal_loses_nothing_acknowledged, transactions_leave_no_phantom_and_no_orphan);
