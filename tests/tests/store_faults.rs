//! Faults between the auditor and PostgreSQL, and under its spool: a stall that holds a
//! `COMMIT` (and delivers it late), a lost `COMMIT` acknowledgement, a full disk that later
//! frees space, and a torn and damaged spool file. Every entry is stored exactly once, in
//! order, and the chain verifies. (Cutting the connection is in `store_outage.rs`.)

mod db;
mod proxy;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use audit_runtime::store::{AuditStore, Auditor, EntryQuery};
use audit_runtime::{Action, Actor};
use db::{Observation, TestDb};
use proxy::postgres_behind_proxy;

/// The writer only looks into the outbox when flushed: its periodic (empty) transactions would
/// otherwise take the `COMMIT` a fault is armed for.
const NO_OUTBOX_POLL: Duration = Duration::from_secs(3600);

async fn log_range(auditor: &Auditor, range: std::ops::Range<i64>) -> Duration {
    let mut slowest = Duration::ZERO;
    for id in range {
        let started = Instant::now();
        auditor.log_action(&Actor::user(7), Action::Change, &Observation::new(id, 0.0), format!("entry {id}"));
        slowest = slowest.max(started.elapsed());
    }
    slowest
}

fn messages(ids: impl IntoIterator<Item = i64>) -> Vec<String> {
    ids.into_iter().map(|id| format!("entry {id}")).collect()
}

/// Every stored message, oldest first, read directly (not through the proxy).
async fn stored_messages(db: &TestDb) -> Vec<String> {
    let direct = AuditStore::connect(&db.url).await.unwrap();
    let entries = direct.entries(&EntryQuery::new()).await.unwrap();
    entries.iter().rev().map(|stored| stored.entry.message.clone()).collect()
}

async fn assert_intact(db: &TestDb) {
    let direct = AuditStore::connect(&db.url).await.unwrap();
    let report = direct.verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
}

/// Flushes until nothing is spooled or held any more.
async fn drain(auditor: &Auditor) {
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

async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

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

/// A small tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (with a message) where mounting is not allowed and this is not CI.
    fn mount(size: &str, test: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let output = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        let failure = match output {
            Ok(output) if output.status.success() => return Some(Tmpfs { dir }),
            Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            Err(error) => error.to_string(),
        };
        if std::env::var_os("CI").is_some() {
            panic!("{test} needs a tmpfs (run as root) but mounting one failed: {failure}");
        }
        eprintln!("SKIPPED {test}: cannot mount a tmpfs ({failure})");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem of `dir` with a file, leaving about `free` bytes.
fn fill_leaving(dir: &Path, free: u64) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0xA5u8; 64 * 1024];
    loop {
        match file.write_all(&block) {
            Ok(()) => {}
            Err(error) if error.raw_os_error() == Some(28) => break, // ENOSPC
            Err(error) => panic!("filling {}: {error}", path.display()),
        }
    }
    let length = file.metadata().unwrap().len();
    file.set_len(length.saturating_sub(free)).unwrap();
    path
}

fn damaged_files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().unwrap().to_string_lossy().contains(".damaged-"))
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_holds_records_in_memory_until_space_is_freed() {
    let Some(tmpfs) = Tmpfs::mount("1m", "a_full_disk_holds_records_in_memory_until_space_is_freed") else { return };
    let Some((db, proxy)) = postgres_behind_proxy("fulldisk").await else { return };
    let store = AuditStore::connect(&proxy.url_for(&db)).await.unwrap();
    proxy.cut();
    let spool = tmpfs.path().join("audit.spool");
    let build = |store: AuditStore| {
        Auditor::builder(store).spool_path(&spool).write_timeout(Duration::from_secs(1)).build().unwrap()
    };
    let auditor = build(store.clone());
    let filler = fill_leaving(tmpfs.path(), 48 * 1024);

    // Records go to the spool, a few at a time, until the disk is full; then they are held in
    // memory.
    let mut recorded = 0;
    while auditor.stats().held == 0 {
        assert!(recorded < 5_000, "the spool never filled the disk: {:?}", auditor.stats());
        log_range(&auditor, recorded..recorded + 10).await;
        recorded += 10;
        wait_until("the writer has spooled or held them", || {
            let stats = auditor.stats();
            stats.spooled + stats.held == recorded as u64
        })
        .await;
    }
    log_range(&auditor, recorded..recorded + 10).await;
    recorded += 10;
    let flushed = auditor.flush().await;
    assert!(flushed.is_err(), "flush must fail while records are held in memory: {:?}", auditor.stats());
    let stats = auditor.stats();
    assert!(stats.held > 0 && stats.spooled > 0, "{stats:?}");
    assert_eq!(stats.lost, 0, "{stats:?}");
    assert_eq!(stats.spooled + stats.held, recorded as u64, "{stats:?}");

    // Space is freed: the held records go to the spool, after the ones already there.
    std::fs::remove_file(&filler).unwrap();
    auditor.flush().await.expect("flush succeeds once the spool takes the held records");
    let stats = auditor.stats();
    assert_eq!((stats.held, stats.spooled, stats.lost), (0, recorded as u64, 0), "{stats:?}");
    auditor.shutdown().await.unwrap();

    // The spool re-opens cleanly: no torn frame, nothing damaged.
    let auditor = build(store);
    assert_eq!(auditor.stats().spooled, recorded as u64);
    assert_eq!(damaged_files(tmpfs.path()), Vec::<PathBuf>::new());

    proxy.restore().await;
    drain(&auditor).await;
    assert_eq!(stored_messages(&db).await, messages(0..recorded), "every entry once, in order");
    assert_intact(&db).await;
    assert_eq!(auditor.stats().lost, 0);
    drop(auditor);
    db.cleanup().await;
}

/// The spool's frame marker (see the spool format in `record_log.rs`): each record starts with it.
const FRAME_MAGIC: &[u8] = b"\xA7AR1";

fn frame_starts(bytes: &[u8]) -> Vec<usize> {
    bytes.windows(FRAME_MAGIC.len()).enumerate().filter(|(_, w)| *w == FRAME_MAGIC).map(|(at, _)| at).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_and_damaged_spool_keeps_every_valid_record() {
    const RECORDS: usize = 40;
    const DAMAGED: usize = RECORDS / 2;
    let Some((db, proxy)) = postgres_behind_proxy("tornspool").await else { return };
    let store = AuditStore::connect(&proxy.url_for(&db)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("audit.spool");
    let build = || Auditor::builder(store.clone()).spool_path(&spool).write_timeout(Duration::from_secs(1)).build();

    proxy.cut();
    let auditor = build().unwrap();
    log_range(&auditor, 0..RECORDS as i64).await;
    auditor.shutdown().await.unwrap();

    // One record in the middle gets flipped bytes; half a record is appended (a torn write).
    let mut bytes = std::fs::read(&spool).unwrap();
    let starts = frame_starts(&bytes);
    assert_eq!(starts.len(), RECORDS, "one frame per record");
    let (damaged_start, damaged_end) = (starts[DAMAGED], starts[DAMAGED + 1]);
    bytes[damaged_start + 30] ^= 0x55;
    bytes[damaged_start + 31] ^= 0x55;
    let damaged = bytes[damaged_start..damaged_end].to_vec();
    let first = bytes[starts[0]..starts[1]].to_vec();
    bytes.extend_from_slice(&first[..first.len() / 2]);
    std::fs::write(&spool, &bytes).unwrap();

    proxy.restore().await;
    let auditor = build().expect("a damaged spool still opens");
    assert_eq!(auditor.stats().spooled, RECORDS as u64 - 1);
    drain(&auditor).await;
    let expected = messages((0..RECORDS as i64).filter(|id| *id != DAMAGED as i64));
    assert_eq!(stored_messages(&db).await, expected, "every valid record once, in order");
    assert_intact(&db).await;
    let quarantined = damaged_files(dir.path());
    assert_eq!(quarantined.len(), 1, "one file holds the damaged bytes: {quarantined:?}");
    let kept = std::fs::read(&quarantined[0]).unwrap();
    assert!(kept.windows(damaged.len()).any(|w| w == damaged), "the damaged record's bytes are kept");
    auditor.shutdown().await.unwrap();

    // A second restart finds nothing left to write.
    let auditor = build().unwrap();
    assert_eq!(auditor.stats().spooled, 0);
    auditor.flush().await.unwrap();
    auditor.shutdown().await.unwrap();
    assert_eq!(stored_messages(&db).await, expected);

    // Replaying the same damaged spool again stores nothing twice.
    std::fs::write(&spool, &bytes).unwrap();
    let _ = std::fs::remove_file(dir.path().join("audit.spool.offset"));
    let auditor = build().unwrap();
    assert_eq!(auditor.stats().spooled, RECORDS as u64 - 1);
    drain(&auditor).await;
    assert_eq!(stored_messages(&db).await, expected, "a replayed spool stores nothing twice");
    assert_intact(&db).await;
    drop(auditor);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_length_hides_no_record_after_it() {
    const RECORDS: usize = 20;
    const DAMAGED: usize = 5;
    let Some((db, proxy)) = postgres_behind_proxy("damagedlength").await else { return };
    let store = AuditStore::connect(&proxy.url_for(&db)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("audit.spool");
    let build = || Auditor::builder(store.clone()).spool_path(&spool).write_timeout(Duration::from_secs(1)).build();

    proxy.cut();
    let auditor = build().unwrap();
    log_range(&auditor, 0..RECORDS as i64).await;
    auditor.shutdown().await.unwrap();

    // A record's length now says 1 MiB: more than the rest of the file, as if it were the
    // last record, cut short by a crash. It is not the last: the records after it are whole.
    let mut bytes = std::fs::read(&spool).unwrap();
    let starts = frame_starts(&bytes);
    assert_eq!(starts.len(), RECORDS, "one frame per record");
    bytes[starts[DAMAGED] + 4..starts[DAMAGED] + 8].copy_from_slice(&(1u32 << 20).to_le_bytes());
    std::fs::write(&spool, &bytes).unwrap();

    proxy.restore().await;
    let auditor = build().expect("a damaged spool still opens");
    drain(&auditor).await;
    let expected = messages((0..RECORDS as i64).filter(|id| *id != DAMAGED as i64));
    assert_eq!(stored_messages(&db).await, expected, "every valid record, in order");
    assert_eq!(damaged_files(dir.path()).len(), 1, "the damaged record is kept aside");
    drop(auditor);
    db.cleanup().await;
}
