//! The journal: with it, a recording call returns only once its record is on local disk, so a
//! crash of the process loses nothing that was acknowledged.
//!
//! Records are appended as checksummed frames (`record_log.rs`) to segment files in one
//! directory. Callers share each `fdatasync` (group commit): the first caller that finds no sync
//! under way writes everything buffered so far and syncs it, and every caller whose record it
//! covered returns. The writer tells the journal how far records are durable elsewhere (in the
//! database or the spool); segments wholly behind that are deleted. On start, the segments an
//! earlier run left are read back and their records written again; what the database already
//! has is skipped by the records' identities.
//!
//! A lock on `<dir>/LOCK` keeps two processes from sharing a journal.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::StoreError;
use super::record::{Record, RecordBody, new_origin};
use super::record_log;

/// A segment is closed (and becomes deletable) once it holds this much.
const SEGMENT_BYTES: u64 = 1 << 20;

/// A journal directory, shared by the callers and the writer.
#[derive(Clone)]
pub(crate) struct Journal {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    origin: String,
    state: Mutex<State>,
    synced: Condvar,
    segments: Mutex<Segments>,
    /// Records numbered up to this one are durable elsewhere.
    done_through: AtomicU64,
    /// Held for the journal's lifetime: the directory's lock.
    _lock: File,
}

struct State {
    next_number: u64,
    buffer: Vec<u8>,
    buffered_through: u64,
    synced_through: u64,
    syncing: bool,
    current: Arc<File>,
    current_size: u64,
    next_index: u64,
    /// The last sync failed for records up to this number (they still go to the database).
    failed_through: u64,
}

#[derive(Default)]
struct Segments {
    /// Closed segments and the last record number each holds.
    closed: VecDeque<(PathBuf, u64)>,
    /// Segments of an earlier run, deleted once their records are durable.
    recovered: Vec<PathBuf>,
}

/// What an earlier run left.
pub(crate) struct Recovered {
    pub(crate) records: Vec<Record>,
}

impl Journal {
    /// Opens (creating) the journal directory, locks it, and reads what an earlier run left.
    pub(crate) fn open(dir: &Path) -> Result<(Journal, Recovered), StoreError> {
        let error = |source: std::io::Error| StoreError::Journal { path: dir.display().to_string(), source };
        std::fs::create_dir_all(dir).map_err(error)?;
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("LOCK")).map_err(error)?;
        lock_exclusively(&lock).map_err(error)?;
        let mut old: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
            .map_err(error)?
            .filter_map(Result::ok)
            .filter_map(|entry| segment_index(&entry.file_name().to_string_lossy()).map(|i| (i, entry.path())))
            .collect();
        old.sort();
        let mut records = Vec::new();
        for (_, path) in &old {
            let bytes = record_log::read_from(path, 0).map_err(error)?;
            let decoded = record_log::decode(&bytes, 0);
            record_log::quarantine(path, &decoded.damaged);
            records.extend(decoded.records.into_iter().map(|(record, _)| record));
        }
        let next_index = old.last().map_or(1, |(i, _)| i + 1);
        let current_path = dir.join(segment_name(next_index));
        let current = OpenOptions::new().create(true).append(true).open(&current_path).map_err(error)?;
        sync_dir(dir);
        let journal = Journal {
            shared: Arc::new(Shared {
                dir: dir.to_owned(),
                origin: new_origin(),
                state: Mutex::new(State {
                    next_number: 1,
                    buffer: Vec::new(),
                    buffered_through: 0,
                    synced_through: 0,
                    syncing: false,
                    current: Arc::new(current),
                    current_size: 0,
                    next_index: next_index + 1,
                    failed_through: 0,
                }),
                synced: Condvar::new(),
                segments: Mutex::new(Segments {
                    closed: VecDeque::new(),
                    recovered: old.into_iter().map(|(_, path)| path).collect(),
                }),
                done_through: AtomicU64::new(0),
                _lock: lock,
            }),
        };
        Ok((journal, Recovered { records }))
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Numbers `body`, hands the record to `enqueue` (in number order: the journal's lock is
    /// held), and returns once it is on disk. `Err` when the disk refused it: the record is
    /// queued all the same, but not crash-safe until the writer has stored it.
    pub(crate) fn record(&self, body: RecordBody, enqueue: impl FnOnce(Record)) -> Result<(), std::io::Error> {
        let mut state = self.lock_state();
        let number = state.next_number;
        state.next_number += 1;
        let record = Record { origin: self.shared.origin.clone(), number, body };
        if let Err(error) = record_log::encode(&record, &mut state.buffer) {
            enqueue(record);
            return Err(std::io::Error::other(error));
        }
        state.buffered_through = number;
        enqueue(record);
        self.wait_durable(state, number)
    }

    /// Group commit: sync what is buffered, or wait for the sync under way to cover `number`.
    fn wait_durable<'s>(&'s self, mut state: MutexGuard<'s, State>, number: u64) -> Result<(), std::io::Error> {
        loop {
            if state.synced_through >= number {
                return if state.failed_through >= number {
                    Err(std::io::Error::other("the journal could not be written"))
                } else {
                    Ok(())
                };
            }
            if state.syncing {
                state = self.shared.synced.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.syncing = true;
            let bytes = std::mem::take(&mut state.buffer);
            let through = state.buffered_through;
            let file = state.current.clone();
            drop(state);
            let result = record_log::append_durably(&file, &bytes);
            state = self.lock_state();
            state.syncing = false;
            state.synced_through = through;
            match &result {
                Ok(()) => {
                    state.current_size += bytes.len() as u64;
                    if state.current_size >= SEGMENT_BYTES {
                        self.rotate(&mut state);
                    }
                }
                Err(error) => {
                    state.failed_through = through;
                    super::events::JournalWriteFailed {
                        journal: &self.shared.dir.display().to_string(),
                        reason: &error.to_string(),
                    }
                    .emit();
                }
            }
            self.shared.synced.notify_all();
        }
    }

    /// Closes the current segment (last record: everything synced) and starts the next.
    fn rotate(&self, state: &mut State) {
        let path = self.shared.dir.join(segment_name(state.next_index));
        let Ok(file) = OpenOptions::new().create(true).append(true).open(&path) else { return };
        sync_dir(&self.shared.dir);
        let closed = self.shared.dir.join(segment_name(state.next_index - 1));
        state.next_index += 1;
        state.current = Arc::new(file);
        state.current_size = 0;
        let last = state.synced_through;
        self.lock_segments().closed.push_back((closed, last));
        self.trim();
    }

    /// The writer's word: records of this journal up to `number` are in the database or the
    /// spool. Closed segments behind it are deleted.
    pub(crate) fn done_through(&self, number: u64) {
        self.shared.done_through.fetch_max(number, Ordering::AcqRel);
        self.trim();
    }

    /// The records of an earlier run are durable elsewhere: their segments go.
    pub(crate) fn recovered_done(&self) {
        let recovered = std::mem::take(&mut self.lock_segments().recovered);
        for path in recovered {
            let _ = std::fs::remove_file(path);
        }
        sync_dir(&self.shared.dir);
    }

    pub(crate) fn origin(&self) -> &str {
        &self.shared.origin
    }

    fn trim(&self) {
        let done = self.shared.done_through.load(Ordering::Acquire);
        let mut segments = self.lock_segments();
        let mut removed = false;
        while segments.closed.front().is_some_and(|(_, last)| *last <= done) {
            if let Some((path, _)) = segments.closed.pop_front() {
                let _ = std::fs::remove_file(path);
                removed = true;
            }
        }
        if removed {
            sync_dir(&self.shared.dir);
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_segments(&self) -> MutexGuard<'_, Segments> {
        self.shared.segments.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Takes the directory's lock, or says another process has it. (An advisory `flock`: released
/// by the kernel when the process dies, so a crash never leaves the journal locked.)
#[cfg(unix)]
fn lock_exclusively(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `flock` on a file descriptor this function borrows; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(());
    }
    let error = std::io::Error::last_os_error();
    if error.kind() == std::io::ErrorKind::WouldBlock {
        return Err(std::io::Error::other(
            "another process holds this journal: give each process a journal directory of its own",
        ));
    }
    Err(error)
}

/// Elsewhere the directory is not locked: one process per journal is the user's to keep.
#[cfg(not(unix))]
fn lock_exclusively(_file: &File) -> std::io::Result<()> {
    Ok(())
}

fn segment_name(index: u64) -> String {
    format!("segment-{index:012}.log")
}

fn segment_index(name: &str) -> Option<u64> {
    name.strip_prefix("segment-")?.strip_suffix(".log")?.parse().ok()
}

/// Makes a created or removed file's name durable.
fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: u64) -> RecordBody {
        RecordBody::View { object_type: "t".into(), object_id: id.to_string(), day: "2026-01-01".into() }
    }

    #[test]
    fn records_survive_a_reopen_and_a_second_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (journal, recovered) = Journal::open(&path).unwrap();
        assert!(recovered.records.is_empty());
        let mut queued = Vec::new();
        for id in 0..5 {
            journal.record(view(id), |r| queued.push(r.number)).unwrap();
        }
        assert_eq!(queued, [1, 2, 3, 4, 5]);
        assert!(Journal::open(&path).is_err(), "the lock must refuse a second opener");
        drop(journal);
        let (_again, recovered) = Journal::open(&path).unwrap();
        let numbers: Vec<u64> = recovered.records.iter().map(|r| r.number).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn concurrent_callers_share_syncs_and_keep_number_order_in_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(&dir.path().join("j")).unwrap();
        let queue = Arc::new(Mutex::new(Vec::new()));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let journal = journal.clone();
                let queue = queue.clone();
                scope.spawn(move || {
                    for id in 0..200 {
                        journal.record(view(id), |r| queue.lock().unwrap().push(r.number)).unwrap();
                    }
                });
            }
        });
        let queue = queue.lock().unwrap();
        assert_eq!(*queue, (1..=800).collect::<Vec<u64>>());
    }
}
