//! [`Auditor`]: records audit entries, revisions and views from sync or async code; a
//! background thread (`writer.rs`) writes them in batches.
//!
//! Callers hand records over a bounded queue: a call returns at once while there is room and
//! waits for room when there is not; nothing is dropped. With a journal
//! ([`AuditorBuilder::journal`]) a call returns only once its record is on local disk. When the
//! database cannot take a batch, it goes to the spool file and is written, in order, when the
//! database is back (also after a restart).
//!
//! # What a crash can lose
//!
//! Without a journal, a record is only in memory between the call that made it and the
//! writer's next commit (a few milliseconds; at most the queue, 65 536 records by default):
//! a crash of the process (SIGKILL, power loss, an abort) loses those. `flush()` and a
//! revision's `commit()` return once everything before them is in the database or the spool.
//! With a journal, nothing a call has returned from is lost. Entries recorded
//! [inside the application's transaction](Auditor::in_transaction) are never lost once that
//! transaction has committed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::journal::Journal;
use super::record::{Record, RecordBody, RevisionRecord, VersionRecord};
use super::spool::Spool;
use super::url::DatabaseUrl;
use super::writer::{Command, Writer};
use super::{AuditStore, StoreError};
use crate::audit::{self, Action, Actor, AuditEntry, Audited};

/// Records in the queue before callers wait: room for bursts.
const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
/// Records written in one transaction at most.
const DEFAULT_BATCH_SIZE: usize = 2_000;
/// How long one batch may take before the database counts as stalled.
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the writer looks for entries committed inside application transactions.
const DEFAULT_OUTBOX_POLL: Duration = Duration::from_millis(200);

/// Counters of an [`Auditor`], for health checks and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AuditorStats {
    /// Records waiting in the queue.
    pub queued: u64,
    /// Records written to the database.
    pub written: u64,
    /// Records in the spool file, waiting for the database.
    pub spooled: u64,
    /// Records held in memory because neither the database nor the spool's disk took them:
    /// not durable; written as soon as either takes them.
    pub held: u64,
    /// Records lost: neither stored nor kept anywhere (each loss is logged as
    /// `audit.records_lost` with its reason, and the next `flush()` fails).
    pub lost: u64,
    /// Records the database refused for what they hold, kept in the quarantine file.
    pub quarantined: u64,
    /// Journal writes that failed (those records were still written to the database).
    pub journal_errors: u64,
    /// Batches the database refused or could not be reached for.
    pub write_errors: u64,
    /// The last write error, if any (never with a password).
    pub last_error: Option<String>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) enqueued: AtomicU64,
    pub(crate) dequeued: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) spooled: AtomicU64,
    pub(crate) held: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) quarantined: AtomicU64,
    pub(crate) journal_errors: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn set_last_error(&self, error: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error);
        }
    }
}

/// Options of an [`Auditor`]; [`Auditor::new`] takes the defaults.
pub struct AuditorBuilder {
    store: AuditStore,
    queue_capacity: usize,
    batch_size: usize,
    spool_path: Option<PathBuf>,
    journal: Option<PathBuf>,
    write_timeout: Duration,
    outbox_poll: Duration,
    #[cfg(feature = "witness")]
    witness: Option<super::witness::WitnessSetup>,
}

impl AuditorBuilder {
    /// Signs a checkpoint of the chain's end with `key` on `schedule` (and at shutdown) and
    /// hands it to `witness`, on a thread of its own: recording callers never wait for it.
    #[cfg(feature = "witness")]
    pub fn witness(
        mut self,
        key: super::witness::SecretKey,
        witness: impl super::witness::Witness,
        schedule: super::witness::CheckpointSchedule,
    ) -> Self {
        self.witness = Some(super::witness::WitnessSetup { key, witness: Box::new(witness), schedule });
        self
    }

    /// Records the queue holds before callers wait (default 65 536).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// Records written in one transaction at most (default 2 000).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// Where records go while the database is unreachable. Default: beside the SQLite file
    /// (`audit.db.spool`), or `audit-spool-<hash of the URL>.log` in the working directory for
    /// PostgreSQL. Two processes must not share a spool file.
    pub fn spool_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.spool_path = Some(path.into());
        self
    }

    /// Makes every recording call crash-safe: it returns once its record is on local disk in
    /// the journal directory `dir` (created if missing; one process per directory), fsynced
    /// together with the records of concurrent calls. On start, records an earlier run left
    /// there are written to the database (those it already has are skipped).
    pub fn journal(mut self, dir: impl Into<PathBuf>) -> Self {
        self.journal = Some(dir.into());
        self
    }

    /// How long one batch may take before the database counts as stalled (default 10 s): the
    /// connection is dropped and the batch spooled, as in an outage.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// How often the writer looks for entries committed inside application transactions
    /// (default 200 ms); `flush()` always looks.
    pub fn outbox_poll(mut self, interval: Duration) -> Self {
        self.outbox_poll = interval.max(Duration::from_millis(1));
        self
    }

    /// Starts the writer after opening the spool and the journal. Records an earlier run left
    /// in either are written first. Damaged bytes in them are moved to a file of their own
    /// (named in the `audit.damaged_records_quarantined` line); every valid record is kept.
    pub fn build(self) -> Result<Auditor, StoreError> {
        let url = self.store.database_url().clone();
        let spool = Spool::open(self.spool_path.clone().unwrap_or_else(|| default_spool_path(&url)))?;
        let journal = match &self.journal {
            Some(dir) => Some(Journal::open(dir)?),
            None => None,
        };
        Ok(self.start_with(spool, journal))
    }

    /// [`build`](Self::build), for callers that cannot handle an error: a spool or journal that
    /// cannot be opened is reported in the log (`audit.record_refused`) and by
    /// [`Auditor::stats`], and records still go to the database, without that protection.
    pub fn start(self) -> Auditor {
        let url = self.store.database_url().clone();
        let spool_path = self.spool_path.clone().unwrap_or_else(|| default_spool_path(&url));
        let spool = Spool::open(spool_path.clone()).unwrap_or_else(|error| {
            report_unusable(&error);
            Spool::empty(spool_path)
        });
        let journal =
            self.journal.as_ref().and_then(|dir| Journal::open(dir).map_err(|error| report_unusable(&error)).ok());
        self.start_with(spool, journal)
    }

    fn start_with(self, spool: Spool, journal: Option<(Journal, super::journal::Recovered)>) -> Auditor {
        let counters = Arc::new(Counters::default());
        counters.spooled.store(spool.pending(), Ordering::Relaxed);
        let (sender, receiver) = std::sync::mpsc::channel();
        let room = Arc::new(Room::new(self.queue_capacity));
        let (journal, recovered) = match journal {
            Some((journal, recovered)) => (Some(journal), recovered.records),
            None => (None, Vec::new()),
        };
        let writer = Writer::new(super::writer::Settings {
            url: self.store.database_url().clone(),
            spool,
            journal: journal.clone(),
            recovered,
            counters: counters.clone(),
            room: room.clone(),
            batch_size: self.batch_size,
            write_timeout: self.write_timeout,
            outbox_poll: self.outbox_poll,
            #[cfg(feature = "witness")]
            witness: self.witness,
        });
        let thread = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(receiver))
            .expect("the operating system refused to start the audit writer thread");
        Auditor {
            inner: Arc::new(Inner {
                sender,
                room,
                counters,
                journal,
                backend: self.store.backend(),
                thread: Mutex::new(Some(thread)),
            }),
        }
    }
}

fn report_unusable(error: &StoreError) {
    super::events::RecordRefused { reason: &format!("the auditor starts without it: {error}") }.emit();
}

/// The spool's default place: beside a SQLite file, else named after a hash of the URL (a
/// name made from the URL could show a password).
fn default_spool_path(url: &DatabaseUrl) -> PathBuf {
    match &url.sqlite_path {
        Some(path) => {
            let mut spool = path.clone().into_os_string();
            spool.push(".spool");
            PathBuf::from(spool)
        }
        None => {
            use sha2::Digest as _;
            // The URL as shown (password hidden): a hash of the password would let anyone who
            // sees the file name test guesses against it.
            let digest = sha2::Sha256::digest(url.shown.as_bytes());
            let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            PathBuf::from(format!("audit-spool-{short}.log"))
        }
    }
}

/// Records audit entries, revisions and views; a background thread writes them in batches.
/// Cheap to clone; the writer stops when the last clone is dropped (after writing everything).
///
/// ```no_run
/// # async fn demo() -> Result<(), audit_runtime::store::StoreError> {
/// use audit_runtime::store::{AuditStore, Auditor};
/// use audit_runtime::{Action, Actor, Audited};
///
/// #[derive(Audited, Clone, serde::Serialize, serde::Deserialize)]
/// struct Ward { id: i64, name: String }
///
/// let store = AuditStore::connect("sqlite://audit.db").await?;
/// let auditor = Auditor::builder(store.clone()).journal("audit.journal").build()?;
/// let ward = Ward { id: 3, name: "Cardiology".into() };
/// auditor.log_action(&Actor::user(42), Action::Create, &ward, "created"); // on disk now
/// auditor.flush().await?;                                                  // in the database
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Auditor {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    sender: Sender<Command>,
    room: Arc<Room>,
    counters: Arc<Counters>,
    journal: Option<Journal>,
    pub(crate) backend: super::Backend,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: write out the queue, then stop.
        let (done, _wait) = oneshot::channel();
        let _ = self.sender.send(Command::Shutdown(done));
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor").field("stats", &self.stats()).finish()
    }
}

impl Auditor {
    /// An auditor writing to `store`, with the default queue, batch size and spool path, and
    /// no journal (see the module docs for what a crash can lose).
    pub fn new(store: AuditStore) -> Self {
        Self::builder(store).start()
    }

    /// Options: journal, queue capacity, batch size, spool path, write timeout.
    pub fn builder(store: AuditStore) -> AuditorBuilder {
        AuditorBuilder {
            store,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            batch_size: DEFAULT_BATCH_SIZE,
            spool_path: None,
            journal: None,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            outbox_poll: DEFAULT_OUTBOX_POLL,
            #[cfg(feature = "witness")]
            witness: None,
        }
    }

    /// Records an action on an object (and logs it as `audit.action`).
    pub fn log_action<T: Audited>(&self, actor: &Actor, action: Action, object: &T, message: impl Into<String>) {
        self.record_entry(audit::log_action(actor, action, object, message));
    }

    /// Records one action over many objects of one type: one entry per object.
    pub fn log_bulk_action<'a, T: Audited + 'a>(
        &self,
        actor: &Actor,
        action: Action,
        objects: impl IntoIterator<Item = &'a T>,
        message: impl Into<String>,
    ) {
        for entry in audit::log_bulk_action(actor, action, objects, message) {
            self.record_entry(entry);
        }
    }

    /// Records the changed fields of an object (one entry; none when nothing changed) and
    /// logs it as `audit.change`. Returns whether anything changed.
    pub fn track_change<T: Audited>(&self, actor: &Actor, old: &T, new: &T) -> bool {
        match audit::track_change(actor, old, new) {
            Some(entry) => {
                self.record_entry(entry);
                true
            }
            None => false,
        }
    }

    /// Records a prepared entry (built with [`AuditEntry`]'s constructors).
    pub fn record(&self, entry: AuditEntry) {
        self.record_entry(entry);
    }

    /// Counts a view of an object for the anonymous analytics: object type, id and day only.
    pub fn log_view<T: Audited>(&self, object: &T) {
        let day = super::day_text(OffsetDateTime::now_utc().date());
        let body = RecordBody::View { object_type: T::object_type().to_owned(), object_id: object.object_id(), day };
        self.refuse_if_stopped(self.submit(body, None));
    }

    /// Starts a revision: snapshots of objects with who and why, committed together.
    pub fn create_revision(&self) -> Revision<'_> {
        Revision { auditor: self, user: None, comment: None, versions: Vec::new() }
    }

    /// Waits until everything recorded before this call is in the database (or, while the
    /// database is unreachable, in the spool), and entries committed inside application
    /// transactions are sealed into the chain. An error when any record recorded before it
    /// could not be made durable (lost, or held in memory because the disk is full too): see
    /// [`stats`](Self::stats).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.send(Command::Flush(done))?;
        wait.await.map_err(|_| StoreError::WriterStopped)?.map_err(write_failed)
    }

    /// Writes everything queued, then stops the writer. Other clones can no longer record.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        self.flush().await?;
        let (done, wait) = oneshot::channel();
        self.send(Command::Shutdown(done))?;
        let _ = wait.await;
        Ok(())
    }

    /// Queue depth, records written, spooled, held, lost and quarantined, write errors.
    pub fn stats(&self) -> AuditorStats {
        let c = &self.inner.counters;
        let enqueued = c.enqueued.load(Ordering::Relaxed);
        AuditorStats {
            queued: enqueued.saturating_sub(c.dequeued.load(Ordering::Relaxed)),
            written: c.written.load(Ordering::Relaxed),
            spooled: c.spooled.load(Ordering::Relaxed),
            held: c.held.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            quarantined: c.quarantined.load(Ordering::Relaxed),
            journal_errors: c.journal_errors.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            last_error: c.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }

    fn record_entry(&self, entry: AuditEntry) {
        self.refuse_if_stopped(self.submit(RecordBody::Entry(entry), None));
    }

    fn refuse_if_stopped(&self, result: Result<(), StoreError>) {
        if let Err(StoreError::WriterStopped) = result {
            self.inner.counters.lost.fetch_add(1, Ordering::Relaxed);
            super::events::RecordRefused { reason: "the auditor was shut down; this record was not written" }.emit();
        }
    }

    /// Hands a record to the writer: through the journal when there is one (returning once it
    /// is on disk), else straight to the queue (the writer numbers it).
    fn submit(&self, body: RecordBody, done: Option<RevisionDone>) -> Result<(), StoreError> {
        match &self.inner.journal {
            Some(journal) => {
                let mut sent = Ok(());
                let written = journal.record(body, |record| sent = self.send(Command::Record(Box::new(record), done)));
                if let Err(error) = written {
                    self.inner.counters.journal_errors.fetch_add(1, Ordering::Relaxed);
                    self.inner.counters.set_last_error(format!("journal {}: {error}", journal.dir().display()));
                }
                sent
            }
            None => {
                let record = Record { origin: String::new(), number: 0, body };
                self.send(Command::Record(Box::new(record), done))
            }
        }
    }

    fn send(&self, command: Command) -> Result<(), StoreError> {
        let counters = &self.inner.counters;
        let counted = matches!(command, Command::Record(..));
        if counted {
            // Backpressure, never a drop: wait while the records in memory (queued, or held
            // because neither the database nor the disk takes them) fill the capacity. Controls
            // (a flush, a shutdown) never wait, so they are answered even then.
            self.inner.room.take();
            counters.enqueued.fetch_add(1, Ordering::Relaxed);
        }
        let result = self.inner.sender.send(command).map_err(|_| StoreError::WriterStopped);
        if result.is_err() && counted {
            counters.enqueued.fetch_sub(1, Ordering::Relaxed);
            self.inner.room.release(1);
        }
        result
    }
}

/// Room for records in memory: taken by each recording call, given back by the writer once a
/// record is in the database or the spool.
pub(crate) struct Room {
    used: AtomicUsize,
    capacity: usize,
    lock: Mutex<()>,
    freed: Condvar,
}

impl Room {
    fn new(capacity: usize) -> Self {
        Room { used: AtomicUsize::new(0), capacity, lock: Mutex::new(()), freed: Condvar::new() }
    }

    /// Takes room for one record, waiting until there is some.
    fn take(&self) {
        loop {
            if self.used.fetch_add(1, Ordering::AcqRel) < self.capacity {
                return;
            }
            self.used.fetch_sub(1, Ordering::AcqRel);
            let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            if self.used.load(Ordering::Acquire) < self.capacity {
                continue;
            }
            // The timeout only guards against a wake-up lost to a panic elsewhere.
            let _ = self.freed.wait_timeout(guard, Duration::from_millis(100));
        }
    }

    /// Gives back room for `records`.
    pub(crate) fn release(&self, records: usize) {
        if records == 0 {
            return;
        }
        let _ = self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| Some(used.saturating_sub(records)));
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.freed.notify_all();
    }
}

/// Who waits for a record to be durable.
pub(crate) type Done = oneshot::Sender<Result<(), String>>;

/// Who waits for a revision to be durable: learns its id when it went to the database (none
/// when it waits in the spool).
pub(crate) type RevisionDone = oneshot::Sender<Result<Option<i64>, String>>;

fn write_failed(reason: String) -> StoreError {
    StoreError::NotDurable { reason }
}

/// Snapshots of objects recorded together, with who made the revision and why: the shape of
/// django-reversion's `create_revision()` block.
pub struct Revision<'a> {
    auditor: &'a Auditor,
    user: Option<Actor>,
    comment: Option<String>,
    versions: Vec<VersionRecord>,
}

impl Revision<'_> {
    /// Who made the revision.
    pub fn set_user(&mut self, user: &Actor) {
        self.user = Some(user.clone());
    }

    /// Why.
    pub fn set_comment(&mut self, comment: impl Into<String>) {
        self.comment = Some(comment.into());
    }

    /// Adds the current state of `object` (its [`Audited::snapshot`]: redacted and skipped
    /// fields are never stored).
    pub fn add<T: Audited>(&mut self, object: &T) {
        self.versions.push(version_record(object));
    }

    /// Writes the revision; returns when it is durable (in the database, or in the spool while
    /// the database is unreachable), with the revision's id when it is in the database:
    /// `None` when it waits in the spool for the database to come back (it gets its id then),
    /// or when a replay found it already stored.
    pub async fn commit(self) -> Result<Option<i64>, StoreError> {
        let record = revision_record(self.user, self.comment, self.versions);
        let (done, wait) = oneshot::channel();
        self.auditor.submit(RecordBody::Revision(record), Some(done))?;
        wait.await.map_err(|_| StoreError::WriterStopped)?.map_err(write_failed)
    }
}

pub(crate) fn version_record<T: Audited>(object: &T) -> VersionRecord {
    VersionRecord {
        object_type: T::object_type().to_owned(),
        object_id: object.object_id(),
        object_repr: object.object_repr(),
        snapshot: object.snapshot(),
    }
}

pub(crate) fn revision_record(
    user: Option<Actor>,
    comment: Option<String>,
    versions: Vec<VersionRecord>,
) -> RevisionRecord {
    RevisionRecord {
        created_us: super::chain::unix_micros(OffsetDateTime::now_utc()),
        user,
        comment,
        request_id: crate::context::current_request_id(),
        versions,
    }
}
