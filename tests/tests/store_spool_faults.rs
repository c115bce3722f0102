//! Faults of the disk under the spool, with the database cut by a proxy: a full disk that
//! later frees space, a torn and damaged spool file, a damaged record length. Every valid
//! record is stored exactly once, in order; damaged bytes are kept aside in a file of their own.

mod db;
mod proxy;
mod trail;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use audit_runtime::store::{AuditStore, Auditor};
use audit_runtime::{Action, Actor};
use db::Observation;
use proxy::postgres_behind_proxy;
use trail::{assert_intact, drain, log_range, messages, stored_messages, wait_until};

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

/// At most `queue_capacity` records are held in memory; beyond that the writer takes nothing
/// more from the queue and callers wait. A flush must still answer (with an error), and the
/// stats must keep showing the held records while the writer retries them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_reports_held_records_even_when_the_memory_for_them_is_full() {
    let test = "flush_reports_held_records_even_when_the_memory_for_them_is_full";
    let Some(tmpfs) = Tmpfs::mount("256k", test) else { return };
    let Some((db, proxy)) = postgres_behind_proxy("holdcapacity").await else { return };
    let store = AuditStore::connect(&proxy.url_for(&db)).await.unwrap();
    proxy.cut();
    let filler = fill_leaving(tmpfs.path(), 0);
    let auditor = Auditor::builder(store)
        .spool_path(tmpfs.path().join("audit.spool"))
        .queue_capacity(20)
        .write_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    // More records than the queue and the memory hold: the last callers wait (backpressure).
    let recording = {
        let auditor = auditor.clone();
        tokio::task::spawn_blocking(move || {
            for id in 0..60 {
                auditor.log_action(&Actor::user(7), Action::Change, &Observation::new(id, 0.0), format!("entry {id}"));
            }
        })
    };
    // Nothing below may panic before space and the database are back: dropping an auditor
    // that holds records it cannot store waits until it can.
    let deadline = Instant::now() + Duration::from_secs(20);
    while auditor.stats().held < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let at_capacity = auditor.stats();
    let mut samples_without_held = 0;
    for _ in 0..20 {
        if auditor.stats().held == 0 {
            samples_without_held += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // On a thread of its own: a flush that waits for room in the queue blocks its thread.
    let (answer, answered) = std::sync::mpsc::channel();
    let flusher = auditor.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _ = answer.send(runtime.block_on(flusher.flush()).map_err(|error| error.to_string()));
    });
    let flushed = tokio::task::spawn_blocking(move || answered.recv_timeout(Duration::from_secs(5))).await.unwrap();
    let stats = auditor.stats();

    // Space and the database come back: everything is written, whatever the answers above.
    std::fs::remove_file(&filler).unwrap();
    proxy.restore().await;
    recording.await.unwrap();
    drain(&auditor).await;
    assert_eq!(stored_messages(&db).await, messages(0..60));
    drop(auditor);
    db.cleanup().await;

    assert!(at_capacity.held >= 20, "the writer never held 20 records: {at_capacity:?}");
    let flushed =
        flushed.unwrap_or_else(|_| panic!("flush() did not return within 5 s while records were held: {stats:?}"));
    assert!(flushed.is_err(), "flush() must fail while records are held: {stats:?}");
    assert_eq!(
        samples_without_held, 0,
        "stats().held read 0 in {samples_without_held} of 20 samples while records were held"
    );
}
