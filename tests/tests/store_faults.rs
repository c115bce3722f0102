//! Faults between the auditor and PostgreSQL, injected by a TCP proxy: a stall that holds a
//! `COMMIT` (and delivers it late), a stall in the middle of a steady stream, and a lost
//! `COMMIT` acknowledgement. Callers never wait, every entry is stored exactly once, in order,
//! and the chain verifies. (Cutting the connection is in `store_outage.rs`; faults of the disk
//! under the spool are in `store_spool_faults.rs`.)

mod db;
mod proxy;
mod trail;

use std::time::{Duration, Instant};

use audit_runtime::store::{AuditStore, Auditor};
use proxy::postgres_behind_proxy;
use trail::{assert_intact, drain, log_range, messages, stored_messages, wait_until};

/// The writer only looks into the outbox when flushed: its periodic (empty) transactions would
/// otherwise take the `COMMIT` a fault is armed for.
const NO_OUTBOX_POLL: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_during_commit_is_an_outage_and_the_late_commit_stores_nothing_twice() {
    let Some((db, proxy)) = postgres_behind_proxy("stall").await else { return };
    let store = AuditStore::connect(&proxy.plain_url_for(&db)).await.unwrap();
    let spool = tempfile::tempdir().unwrap();
    let auditor = Auditor::builder(store)
        .spool_path(spool.path().join("audit.spool"))
        .write_timeout(Duration::from_secs(1))
        .outbox_poll(NO_OUTBOX_POLL)
        .build()
        .unwrap();
    log_range(&auditor, 0..100).await;
    auditor.flush().await.unwrap();

    // The next batch's COMMIT is held and everything stalls, connections open: the writer
    // cannot know whether that batch committed.
    proxy.stall_at_next_commit();
    let mut slowest = log_range(&auditor, 100..200).await;
    wait_until("a COMMIT is held", || proxy.commits_held() == 1).await;
    let stalled_at = Instant::now();
    slowest = slowest.max(log_range(&auditor, 200..300).await);
    let started = Instant::now();
    let flushed = tokio::time::timeout(Duration::from_secs(10), auditor.flush()).await;
    let flush_took = started.elapsed();
    let stalled_for = stalled_at.elapsed();
    if flushed.is_err() {
        proxy.unstall(); // so that the auditor can stop
    }
    flushed
        .unwrap_or_else(|_| panic!("flush did not return during the stall: {:?}", auditor.stats()))
        .expect("flush succeeds: the records are durable in the spool");
    assert!(slowest < Duration::from_millis(100), "a caller waited {slowest:?} during the stall");
    assert!(flush_took < Duration::from_secs(5), "flush took {flush_took:?} during the stall");
    let stats = auditor.stats();
    assert!(stats.spooled > 0, "{stats:?}");
    assert!(stats.write_errors >= 1, "{stats:?}");
    let last_error = stats.last_error.unwrap_or_default();
    assert!(last_error.contains("did not answer within"), "the stall is reported as a timeout: {last_error}");

    // Un-stalled within the server's idle-transaction limit (10 s): the held COMMIT arrives
    // late and commits the batch the writer has spooled, then the spool is replayed.
    proxy.unstall();
    assert!(stalled_for < Duration::from_secs(7), "the stall lasted {stalled_for:?}: too long to test a late COMMIT");
    drain(&auditor).await;
    assert_eq!(proxy.held_commits_completed(), 1, "the held COMMIT reached the server and committed");
    log_range(&auditor, 300..350).await;
    auditor.flush().await.unwrap();

    assert_eq!(stored_messages(&db).await, messages(0..350), "every entry once, in order");
    assert_intact(&db).await;
    assert_eq!(auditor.stats().lost, 0);
    drop(auditor);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_mid_run_blocks_no_caller_and_loses_nothing() {
    let Some((db, proxy)) = postgres_behind_proxy("stallmidrun").await else { return };
    let store = AuditStore::connect(&proxy.url_for(&db)).await.unwrap();
    let spool = tempfile::tempdir().unwrap();
    let auditor = Auditor::builder(store)
        .spool_path(spool.path().join("audit.spool"))
        .write_timeout(Duration::from_secs(1))
        .build()
        .unwrap();

    // A steady stream: 10 records every 5 ms for about 3 s. The stall starts in the middle of
    // it, wherever the writer is (most likely inside a statement), and lasts about 2 s.
    const ROUNDS: i64 = 600;
    let stream = {
        let auditor = auditor.clone();
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for round in 0..ROUNDS {
                slowest = slowest.max(log_range(&auditor, round * 10..round * 10 + 10).await);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            slowest
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.stall();
    let stalled_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let flushed = tokio::time::timeout(Duration::from_secs(10), auditor.flush()).await;
    let flush_took = started.elapsed();
    let stats = auditor.stats();
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(stalled_at.elapsed())).await;
    proxy.unstall();
    let slowest = stream.await.unwrap();

    let flushed = flushed.unwrap_or_else(|_| panic!("flush did not return during the stall: {stats:?}"));
    flushed.expect("flush succeeds: the records are durable in the spool");
    assert!(flush_took < Duration::from_secs(5), "flush took {flush_took:?} during the stall");
    drain(&auditor).await;
    assert!(stats.spooled > 0 && stats.write_errors >= 1, "the stall was handled as an outage: {stats:?}");
    assert!(slowest < Duration::from_millis(100), "a caller waited {slowest:?}");
    assert_eq!(stored_messages(&db).await, messages(0..ROUNDS * 10), "every entry once, in order");
    assert_intact(&db).await;
    assert_eq!(auditor.stats().lost, 0);
    drop(auditor);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_commit_acknowledgement_stores_nothing_twice() {
    let Some((db, proxy)) = postgres_behind_proxy("lostcommit").await else { return };
    let store = AuditStore::connect(&proxy.plain_url_for(&db)).await.unwrap();
    let spool = tempfile::tempdir().unwrap();
    let auditor = Auditor::builder(store)
        .spool_path(spool.path().join("audit.spool"))
        .outbox_poll(NO_OUTBOX_POLL)
        .build()
        .unwrap();
    log_range(&auditor, 0..50).await;
    auditor.flush().await.unwrap();

    proxy.drop_next_commit_reply();
    log_range(&auditor, 50..150).await;
    wait_until("a COMMIT acknowledgement is dropped", || proxy.replies_dropped() == 1).await;
    // The server has the batch; the writer was told the connection failed.
    let stored = stored_messages(&db).await;
    assert!(stored.len() > 50, "the batch whose acknowledgement was lost is committed: {} entries", stored.len());
    drain(&auditor).await;
    assert!(auditor.stats().write_errors >= 1, "{:?}", auditor.stats());
    log_range(&auditor, 150..200).await;
    auditor.flush().await.unwrap();

    assert_eq!(proxy.replies_dropped(), 1);
    assert_eq!(stored_messages(&db).await, messages(0..200), "every entry once, in order");
    assert_intact(&db).await;
    assert_eq!(auditor.stats().lost, 0);
    drop(auditor);
    db.cleanup().await;
}
