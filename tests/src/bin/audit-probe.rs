//! A process the crash tests kill with SIGKILL at random moments.
//!
//! `audit-probe journal URL JOURNAL_DIR START COUNT`: records `entry N` for N in START..,
//! through an `Auditor` with a journal, printing `ack N` once each call has returned.
//!
//! `audit-probe tx URL START COUNT`: for each N, one application transaction that inserts
//! business row N and records `tx N` inside it with `in_transaction`; every third is rolled
//! back. Prints `committed N` / `rolledback N` once `commit`/`rollback` returned.
//!
//! Both then wait to be killed.

use std::io::Write;

use audit_runtime::store::{AuditStore, Auditor};
use audit_runtime::{Action, Actor, Audited};

#[derive(Audited, serde::Serialize)]
#[audited(object_type = "probe")]
struct Probe {
    #[audited(id)]
    id: i64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    match args.get(1).map(String::as_str) {
        Some("journal") => {
            runtime.block_on(journal(&args[2], &args[3], args[4].parse().unwrap(), args[5].parse().unwrap()))
        }
        Some("tx") => runtime.block_on(transactions(&args[2], args[3].parse().unwrap(), args[4].parse().unwrap())),
        _ => panic!("usage: audit-probe journal URL DIR START COUNT | tx URL START COUNT"),
    }
    std::thread::park();
}

async fn journal(url: &str, dir: &str, start: i64, count: i64) {
    let store = AuditStore::connect(url).await.unwrap();
    let auditor = Auditor::builder(store).journal(dir).build().unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    for n in start..start + count {
        auditor.log_action(&Actor::user(7), Action::Change, &Probe { id: n }, format!("entry {n}"));
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
    }
    std::mem::forget(auditor);
}

async fn transactions(url: &str, start: i64, count: i64) {
    let store = AuditStore::connect(url).await.unwrap();
    let auditor = Auditor::new(store);
    let mut out = std::io::stdout().lock();
    // The same loop on each driver's own pool, as an application has one.
    macro_rules! run_on {
        ($pool:ty, $create:literal) => {{
            let pool = <$pool>::connect(url).await.unwrap();
            sqlx::query($create).execute(&pool).await.unwrap();
            writeln!(out, "ready").unwrap();
            out.flush().unwrap();
            for n in start..start + count {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("INSERT INTO business (id) VALUES ($1)").bind(n).execute(&mut *tx).await.unwrap();
                auditor
                    .in_transaction(&mut tx)
                    .log_action(&Actor::user(7), Action::Create, &Probe { id: n }, format!("tx {n}"))
                    .await
                    .unwrap();
                finish(tx, n, &mut out).await;
            }
        }};
    }
    if url.starts_with("sqlite") {
        run_on!(sqlx::SqlitePool, "CREATE TABLE IF NOT EXISTS business (id INTEGER PRIMARY KEY)");
    } else {
        run_on!(sqlx::PgPool, "CREATE TABLE IF NOT EXISTS business (id BIGINT PRIMARY KEY)");
    }
    std::mem::forget(auditor);
}

async fn finish<DB: sqlx::Database>(tx: sqlx::Transaction<'_, DB>, n: i64, out: &mut impl Write) {
    if n % 3 == 0 {
        tx.rollback().await.unwrap();
        writeln!(out, "rolledback {n}").unwrap();
    } else {
        tx.commit().await.unwrap();
        writeln!(out, "committed {n}").unwrap();
    }
    out.flush().unwrap();
}
