//! Aggregate entries/s with 1, 2 and 4 writer processes sharing one PostgreSQL (replicas of a
//! service), and the chain verified after each round.
//!
//! `cargo bench -p audit-runtime --features postgres --bench store_replicas`
//!
//! The bench runs itself as the writer processes (`AUDIT_REPLICA_URL` set). PostgreSQL:
//! `AUDIT_BENCH_POSTGRES_URL`, else `postgres://postgres@127.0.0.1:5432/test` (a database
//! `audit_replicas` is created there and dropped afterwards).

use std::time::Instant;

use audit_runtime::store::{AuditStore, Auditor};
use audit_runtime::{Action, Actor};
use sqlx::Connection;

#[derive(audit_runtime::Audited, Clone, serde::Serialize, serde::Deserialize)]
#[audited(object_type = "observation")]
struct Observation {
    id: i64,
    value: f64,
}

/// Entries each writer process records.
const PER_PROCESS: i64 = 100_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

/// One replica: records its entries as fast as it can, then flushes.
fn writer(url: &str, replica: i64) {
    let rt = runtime();
    let store = rt.block_on(AuditStore::connect(url)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let auditor = Auditor::builder(store).spool_path(dir.path().join("spool")).build().unwrap();
    let actor = Actor::system(format!("replica-{replica}"));
    for id in 0..PER_PROCESS {
        auditor.log_action(
            &actor,
            Action::Change,
            &Observation { id: replica * PER_PROCESS + id, value: 1.0 },
            "value recorded",
        );
    }
    rt.block_on(auditor.flush()).unwrap();
    let stats = auditor.stats();
    assert_eq!(stats.written, PER_PROCESS as u64, "{stats:?}");
}

fn main() {
    if let Ok(url) = std::env::var("AUDIT_REPLICA_URL") {
        let replica = std::env::var("AUDIT_REPLICA").unwrap().parse().unwrap();
        writer(&url, replica);
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there is nothing to list.
    }
    let base = std::env::var("AUDIT_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    sqlx::any::install_default_drivers();
    let rt = runtime();
    let admin = |sql: &'static str| {
        rt.block_on(async {
            let mut conn = sqlx::AnyConnection::connect(&base).await.expect("PostgreSQL is reachable");
            let _ = sqlx::raw_sql(sql).execute(&mut conn).await;
        })
    };
    let url = format!("{}/audit_replicas", base.rsplit_once('/').map_or(base.as_str(), |(b, _)| b));
    for processes in [1i64, 2, 4] {
        admin("DROP DATABASE IF EXISTS audit_replicas WITH (FORCE)");
        admin("CREATE DATABASE audit_replicas");
        rt.block_on(AuditStore::connect(&url)).unwrap(); // migrate once, before the clock starts
        let started = Instant::now();
        let children: Vec<_> = (0..processes)
            .map(|replica| {
                std::process::Command::new(std::env::current_exe().unwrap())
                    .env("AUDIT_REPLICA_URL", &url)
                    .env("AUDIT_REPLICA", replica.to_string())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success(), "a writer process failed");
        }
        let elapsed = started.elapsed();
        let store = rt.block_on(AuditStore::connect(&url)).unwrap();
        let report = rt.block_on(store.verify()).unwrap();
        let total = processes * PER_PROCESS;
        println!(
            "replicas_postgres/{processes}: {total} entries in {:.2} s = {:.0} entries/s aggregate; chain {} ({} checked)",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64(),
            if report.is_intact() { "intact" } else { "BROKEN" },
            report.checked
        );
        assert!(report.is_intact() && report.checked == total as u64);
    }
    admin("DROP DATABASE IF EXISTS audit_replicas WITH (FORCE)");
}
