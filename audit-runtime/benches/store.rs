//! Audit entries written per second: the batched `Auditor` (without and with a journal) beside
//! one sqlx `INSERT` per entry, and beside a raw bulk insert of the same rows (the machine's
//! limit), on SQLite and on PostgreSQL, measured in one run; recording inside
//! the application's transaction beside the same `INSERT`s written by hand there; then the
//! latency of the recording call while the writer is busy, and with the journal at 10 000
//! calls/s.
//!
//! `cargo bench -p audit-runtime --features postgres,witness --bench store` (without `witness`,
//! the signed-checkpoint case is left out)
//!
//! PostgreSQL: `AUDIT_BENCH_POSTGRES_URL`, else `postgres://postgres@127.0.0.1:5432/test`
//! (a database `audit_bench` is created there and dropped afterwards).

use std::hint::black_box;
use std::time::{Duration, Instant};

use audit_runtime::store::{AuditStore, Auditor};
use audit_runtime::{Action, Actor};
use criterion::{BenchmarkId, Criterion, Throughput};
use sqlx::Connection;

#[path = "store/raw.rs"]
mod raw;

#[derive(audit_runtime::Audited, Clone, serde::Serialize, serde::Deserialize)]
#[audited(object_type = "observation")]
struct Observation {
    id: i64,
    value: f64,
    note: String,
}

const ENTRIES: u64 = 1_000;

/// The audit table's 13 columns, with the three indexes a hand-rolled audit table needs (it is
/// read by object, by actor and by time; ours finds an object's entries through linked heads
/// instead of the first), written the way a hand-rolled audit log does: one `INSERT` per entry.
const PEER_TABLE: &str = "CREATE TABLE IF NOT EXISTS peer_entries (seq BIGINT, time_us BIGINT, actor_kind TEXT, \
    actor_id TEXT, action TEXT, object_type TEXT, object_id TEXT, object_repr TEXT, message TEXT, changes TEXT, \
    request_id TEXT, prev_hash TEXT, hash TEXT); \
    CREATE INDEX IF NOT EXISTS peer_by_object ON peer_entries (object_type, object_id, seq); \
    CREATE INDEX IF NOT EXISTS peer_by_actor ON peer_entries (actor_kind, actor_id, seq); \
    CREATE INDEX IF NOT EXISTS peer_by_time ON peer_entries (time_us)";
const PEER_INSERT: &str = "INSERT INTO peer_entries VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn objects() -> Vec<Observation> {
    (0..ENTRIES as i64)
        .map(|id| Observation { id, value: id as f64, note: "checked by the night shift".into() })
        .collect()
}

async fn auditor_round(auditor: &Auditor, objects: &[Observation]) {
    let actor = Actor::user(42);
    for object in objects {
        auditor.log_action(&actor, Action::Change, object, "value recorded");
    }
    auditor.flush().await.unwrap();
}

async fn peer_round(conn: &mut sqlx::AnyConnection, objects: &[Observation], seq: &mut i64) {
    for object in objects {
        *seq += 1;
        sqlx::query(PEER_INSERT)
            .bind(*seq)
            .bind(1_700_000_000_000_000i64)
            .bind("user")
            .bind("42")
            .bind("change")
            .bind("observation")
            .bind(object.id.to_string())
            .bind(format!("observation {}", object.id))
            .bind("value recorded")
            .bind("[]")
            .bind(None::<String>)
            .bind("0")
            .bind("0")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
}

/// `url` for our store; `peer_url` for the peer's table (its own SQLite file, so neither shares
/// the other's WAL and checkpoints; the same database on PostgreSQL).
fn bench_backend(c: &mut Criterion, name: &str, url: &str, peer_url: &str, raw_url: &str) {
    let rt = runtime();
    let store = rt.block_on(AuditStore::connect(url)).unwrap();
    let spool = std::env::temp_dir().join(format!("audit-bench-{name}.spool"));
    let auditor = Auditor::builder(store).spool_path(spool).build().unwrap();
    sqlx::any::install_default_drivers();
    let mut peer = rt.block_on(async {
        let mut conn = sqlx::AnyConnection::connect(peer_url).await.unwrap();
        if name == "sqlite" {
            // The same durability settings the store uses, so the comparison is like for like.
            sqlx::raw_sql("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL").execute(&mut conn).await.unwrap();
        }
        sqlx::raw_sql(PEER_TABLE).execute(&mut conn).await.unwrap();
        conn
    });
    let objects = objects();
    let mut seq = 0;

    let journal = tempfile::tempdir().unwrap();
    let journaled = Auditor::builder(rt.block_on(AuditStore::connect(url)).unwrap())
        .spool_path(std::env::temp_dir().join(format!("audit-bench-{name}-journaled.spool")))
        .journal(journal.path().join("audit.journal"))
        .build()
        .unwrap();

    // Signed checkpoints every 1 000 entries to a directory witness (feature `witness`): the
    // signing runs on a thread of its own, off the writer's path.
    #[cfg(feature = "witness")]
    let witnessed = {
        use audit_runtime::store::witness::{CheckpointSchedule, DirectoryWitness, SecretKey};
        Auditor::builder(rt.block_on(AuditStore::connect(url)).unwrap())
            .spool_path(std::env::temp_dir().join(format!("audit-bench-{name}-witnessed.spool")))
            .witness(
                SecretKey::generate().unwrap(),
                DirectoryWitness::new(journal.path().join("witness")).unwrap(),
                CheckpointSchedule::entries(1_000),
            )
            .build()
            .unwrap()
    };

    let mut group = c.benchmark_group(format!("audit_entries_{name}"));
    group.throughput(Throughput::Elements(ENTRIES));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("auditor_batched", ENTRIES), |b| {
        b.iter(|| rt.block_on(auditor_round(&auditor, black_box(&objects))));
    });
    // One thread recording: every call waits for its own fsync (no one to share it with).
    group.bench_function(BenchmarkId::new("auditor_batched_journal", ENTRIES), |b| {
        b.iter(|| rt.block_on(auditor_round(&journaled, black_box(&objects))));
    });
    #[cfg(feature = "witness")]
    group.bench_function(BenchmarkId::new("auditor_batched_witness", ENTRIES), |b| {
        b.iter(|| rt.block_on(auditor_round(&witnessed, black_box(&objects))));
    });
    group.bench_function(BenchmarkId::new("sqlx_insert_per_entry", ENTRIES), |b| {
        b.iter(|| rt.block_on(peer_round(&mut peer, black_box(&objects), &mut seq)));
    });
    // The same rows, hashed into a chain, in one transaction the fastest plain way each
    // database takes them (see `raw.rs`): the machine's limit.
    let mut bulk = rt.block_on(raw::Bulk::open(name, raw_url));
    let rows = raw::rows(&objects);
    group.bench_function(BenchmarkId::new("raw_bulk_insert", ENTRIES), |b| {
        b.iter(|| rt.block_on(bulk.insert(black_box(&rows))));
    });
    group.finish();
    drop(auditor);
    drop(journaled);
}

/// Entries per application transaction in the `in_transaction` bench.
const PER_TRANSACTION: usize = 10;

/// What a hand-written audit row in the application's transaction looks like.
const HAND_TABLE: &str = "CREATE TABLE IF NOT EXISTS hand_audit (id BIGINT, time_us BIGINT, actor_kind TEXT, \
    actor_id TEXT, action TEXT, object_type TEXT, object_id TEXT, object_repr TEXT, message TEXT, changes TEXT, \
    request_id TEXT)";
const HAND_INSERT: &str = "INSERT INTO hand_audit VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

macro_rules! hand_insert {
    ($tx:expr, $object:expr) => {
        sqlx::query(HAND_INSERT)
            .bind($object.id)
            .bind(1_700_000_000_000_000i64)
            .bind("user")
            .bind("42")
            .bind("change")
            .bind("observation")
            .bind($object.id.to_string())
            .bind(format!("observation {}", $object.id))
            .bind("value recorded")
            .bind("[]")
            .bind(None::<String>)
            .execute(&mut *$tx)
            .await
            .unwrap()
    };
}

/// A transaction of the application with ten audit entries: through `in_transaction`, and as
/// ten `INSERT`s written by hand.
macro_rules! bench_in_transaction {
    ($c:expr, $name:expr, $url:expr, $pool:ty) => {{
        let rt = runtime();
        let store = rt.block_on(AuditStore::connect($url)).unwrap();
        let auditor = Auditor::builder(store)
            .spool_path(std::env::temp_dir().join(format!("audit-bench-{}-tx.spool", $name)))
            .build()
            .unwrap();
        let pool = rt.block_on(<$pool>::connect($url)).unwrap();
        rt.block_on(sqlx::raw_sql(HAND_TABLE).execute(&pool)).unwrap();
        let objects = objects();
        let actor = Actor::user(42);
        let mut group = $c.benchmark_group(format!("in_transaction_{}", $name));
        group.throughput(Throughput::Elements(PER_TRANSACTION as u64));
        group.bench_function(BenchmarkId::new("in_transaction", PER_TRANSACTION), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut tx = pool.begin().await.unwrap();
                    for object in &objects[..PER_TRANSACTION] {
                        auditor
                            .in_transaction(&mut tx)
                            .log_action(&actor, Action::Change, object, "value recorded")
                            .await
                            .unwrap();
                    }
                    tx.commit().await.unwrap();
                })
            });
        });
        group.bench_function(BenchmarkId::new("hand_written_inserts", PER_TRANSACTION), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut tx = pool.begin().await.unwrap();
                    for object in &objects[..PER_TRANSACTION] {
                        hand_insert!(tx, object);
                    }
                    tx.commit().await.unwrap();
                })
            });
        });
        group.finish();
        rt.block_on(auditor.flush()).unwrap();
    }};
}

/// p50/p99/max of `log_action` with the journal on, paced at 10 000 calls/s from two threads
/// for two seconds, beside the same without a journal.
fn journal_latency(name: &str, url: &str) {
    let rt = runtime();
    for journaled in [false, true] {
        let store = rt.block_on(AuditStore::connect(url)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut builder = Auditor::builder(store).spool_path(dir.path().join("audit.spool"));
        if journaled {
            builder = builder.journal(dir.path().join("audit.journal"));
        }
        let auditor = builder.build().unwrap();
        let objects = objects();
        let samples = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for thread in 0..2u32 {
                let (auditor, objects, samples) = (&auditor, &objects, &samples);
                scope.spawn(move || {
                    let actor = Actor::user(42);
                    let interval = Duration::from_micros(200); // 5 000/s per thread
                    let start = Instant::now() + Duration::from_micros(100 * u64::from(thread));
                    let mut mine = Vec::with_capacity(10_000);
                    for i in 0..10_000u32 {
                        let due = start + interval * i;
                        while Instant::now() < due {
                            std::hint::spin_loop();
                        }
                        let started = Instant::now();
                        auditor.log_action(&actor, Action::Change, &objects[i as usize % objects.len()], "paced");
                        mine.push(started.elapsed());
                    }
                    samples.lock().unwrap().extend(mine);
                });
            }
        });
        rt.block_on(auditor.flush()).unwrap();
        let mut samples = samples.into_inner().unwrap();
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
        println!(
            "paced_10k_per_s_{name}_{}: {} calls: p50 {:?}, p99 {:?}, max {:?}",
            if journaled { "journal" } else { "no_journal" },
            samples.len(),
            at(0.50),
            at(0.99),
            samples.last().copied().unwrap_or(Duration::ZERO)
        );
    }
}

/// p50/p99/max of `log_action` while the writer is busy writing what came before.
fn enqueue_latency(name: &str, url: &str) {
    let rt = runtime();
    let store = rt.block_on(AuditStore::connect(url)).unwrap();
    let spool = std::env::temp_dir().join(format!("audit-bench-latency-{name}.spool"));
    let auditor = Auditor::builder(store).spool_path(spool).build().unwrap();
    let objects = objects();
    let actor = Actor::user(42);
    let mut samples = Vec::with_capacity(50 * objects.len());
    for _ in 0..50 {
        for object in &objects {
            let started = Instant::now();
            auditor.log_action(&actor, Action::Change, object, "value recorded");
            samples.push(started.elapsed());
        }
    }
    let busy = auditor.stats().queued;
    rt.block_on(auditor.flush()).unwrap();
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "enqueue_latency_{name}: {} calls, writer busy ({busy} queued at the end): p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        at(0.50),
        at(0.99),
        samples.last().copied().unwrap_or(Duration::ZERO)
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite_peer = format!("sqlite://{}?mode=rwc", dir.path().join("bench-peer.db").display());
    let sqlite_raw = format!("sqlite://{}?mode=rwc", dir.path().join("bench-raw.db").display());
    bench_backend(&mut criterion, "sqlite", &sqlite, &sqlite_peer, &sqlite_raw);
    bench_in_transaction!(criterion, "sqlite", &sqlite, sqlx::SqlitePool);
    enqueue_latency("sqlite", &sqlite);
    journal_latency("sqlite", &sqlite);

    let base = std::env::var("AUDIT_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let rt = runtime();
    let created = rt.block_on(async {
        let mut admin = sqlx::AnyConnection::connect(&base).await.ok()?;
        let _ = sqlx::raw_sql("DROP DATABASE IF EXISTS audit_bench WITH (FORCE)").execute(&mut admin).await;
        sqlx::raw_sql("CREATE DATABASE audit_bench").execute(&mut admin).await.ok()
    });
    if created.is_some() {
        let url = format!("{}/audit_bench", base.rsplit_once('/').map_or(base.as_str(), |(b, _)| b));
        bench_backend(&mut criterion, "postgres", &url, &url, &url);
        bench_in_transaction!(criterion, "postgres", &url, sqlx::PgPool);
        enqueue_latency("postgres", &url);
        journal_latency("postgres", &url);
        rt.block_on(async {
            if let Ok(mut admin) = sqlx::AnyConnection::connect(&base).await {
                let _ = sqlx::raw_sql("DROP DATABASE IF EXISTS audit_bench WITH (FORCE)").execute(&mut admin).await;
            }
        });
    } else {
        println!("PostgreSQL at {base} is not reachable: its benches were skipped");
    }
    criterion.final_summary();
}
