//! The database goes away mid-run: a TCP proxy between the auditor and PostgreSQL is stopped and
//! started again. Nothing is lost, the order is kept, the chain stays valid, and callers never
//! wait on the outage. Also a restart of the process with a non-empty spool.

mod db;
mod proxy;
mod trail;

use std::time::{Duration, Instant};

use audit_runtime::store::{AuditStore, Auditor, EntryQuery};
use proxy::postgres_behind_proxy;
use trail::log_range;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_the_database_goes_away_mid_run() {
    let Some((db, proxy)) = postgres_behind_proxy("outage").await else { return };
    let store = AuditStore::connect(&proxy.url_for(&db)).await.unwrap();
    let spool = tempfile::tempdir().unwrap();
    let auditor = Auditor::builder(store).spool_path(spool.path().join("audit.spool")).build().unwrap();

    log_range(&auditor, 0..100).await;
    auditor.flush().await.unwrap();
    assert_eq!(auditor.stats().written, 100);

    proxy.cut();
    let slowest = log_range(&auditor, 100..250).await;
    assert!(slowest < Duration::from_millis(100), "a caller waited {slowest:?} during the outage");
    auditor.flush().await.expect("flush succeeds: the records are durable in the spool");
    let stats = auditor.stats();
    assert_eq!(stats.spooled, 150, "{stats:?}");
    assert!(stats.write_errors >= 1);
    assert!(stats.last_error.is_some());

    proxy.restore().await;
    log_range(&auditor, 250..300).await;
    // The writer retries on its own; a flush also retries at once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        auditor.flush().await.unwrap();
        if auditor.stats().spooled == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the spool was not drained: {:?}", auditor.stats());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Read back directly, not through the proxy.
    let direct = AuditStore::connect(&db.url).await.unwrap();
    let entries = direct.entries(&EntryQuery::new()).await.unwrap();
    let messages: Vec<String> = entries.iter().rev().map(|s| s.entry.message.clone()).collect();
    let expected: Vec<String> = (0..300).map(|id| format!("entry {id}")).collect();
    assert_eq!(messages, expected, "every entry, in order");
    assert!(direct.verify().await.unwrap().is_intact());
    assert!(std::fs::metadata(spool.path().join("audit.spool")).unwrap().len() == 0);
    drop(auditor);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_writes_what_the_spool_holds() {
    let Some((db, proxy)) = postgres_behind_proxy("restart").await else { return };
    let store = AuditStore::connect(&proxy.url_for(&db)).await.unwrap();
    let spool_dir = tempfile::tempdir().unwrap();
    let spool = spool_dir.path().join("audit.spool");

    proxy.cut();
    let auditor = Auditor::builder(store.clone()).spool_path(&spool).build().unwrap();
    log_range(&auditor, 0..50).await;
    auditor.shutdown().await.unwrap();
    // Each spooled record is a frame that starts with the spool format's marker.
    let spooled = std::fs::read(&spool).unwrap();
    let frames = spooled.windows(4).filter(|window| *window == b"\xA7AR1").count();
    assert_eq!(frames, 50, "the process ends with its records in the spool");

    // "Restart": the database is back and a new auditor opens the same spool.
    proxy.restore().await;
    let auditor = Auditor::builder(store).spool_path(&spool).build().unwrap();
    assert_eq!(auditor.stats().spooled, 50);
    log_range(&auditor, 50..60).await;
    auditor.flush().await.unwrap();
    assert_eq!(auditor.stats().spooled, 0);

    let direct = AuditStore::connect(&db.url).await.unwrap();
    let entries = direct.entries(&EntryQuery::new()).await.unwrap();
    let messages: Vec<String> = entries.iter().rev().map(|s| s.entry.message.clone()).collect();
    assert_eq!(messages, (0..60).map(|id| format!("entry {id}")).collect::<Vec<_>>());
    assert!(direct.verify().await.unwrap().is_intact());
    drop(auditor);
    db.cleanup().await;
}
