//! The audit trail as the fault tests see it: records made, what the database holds, and
//! waiting for the auditor to catch up.
#![allow(dead_code)] // each test binary uses a different part

use std::time::{Duration, Instant};

use audit_runtime::store::{AuditStore, Auditor, EntryQuery};
use audit_runtime::{Action, Actor};

use crate::db::{Observation, TestDb};

/// Records `entry {id}` for each id; returns the slowest call.
pub async fn log_range(auditor: &Auditor, range: std::ops::Range<i64>) -> Duration {
    let mut slowest = Duration::ZERO;
    for id in range {
        let started = Instant::now();
        auditor.log_action(&Actor::user(7), Action::Change, &Observation::new(id, 0.0), format!("entry {id}"));
        slowest = slowest.max(started.elapsed());
    }
    slowest
}

/// The messages `log_range` gives those ids.
pub fn messages(ids: impl IntoIterator<Item = i64>) -> Vec<String> {
    ids.into_iter().map(|id| format!("entry {id}")).collect()
}

/// Every stored message, oldest first, read directly (not through the proxy).
pub async fn stored_messages(db: &TestDb) -> Vec<String> {
    let direct = AuditStore::connect(&db.url).await.unwrap();
    let entries = direct.entries(&EntryQuery::new()).await.unwrap();
    entries.iter().rev().map(|stored| stored.entry.message.clone()).collect()
}

pub async fn assert_intact(db: &TestDb) {
    let direct = AuditStore::connect(&db.url).await.unwrap();
    let report = direct.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
}

/// Flushes until nothing is spooled or held any more.
pub async fn drain(auditor: &Auditor) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let flushed = auditor.flush().await;
        let stats = auditor.stats();
        if flushed.is_ok() && stats.spooled == 0 && stats.held == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "not drained: {flushed:?} {stats:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
