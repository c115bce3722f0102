//! [`Auditor`]: records audit entries, revisions and views from sync or async code without
//! waiting for I/O; a background thread writes them in batches.
//!
//! The writer owns a thread, a small tokio runtime and its own connection pool, so it never
//! competes with (or depends on) the caller's runtime. Callers hand records over a bounded
//! queue: a call returns at once while there is room and waits for room when there is not;
//! nothing is dropped. When the database cannot take a batch, it goes to the spool file and is
//! written, in order, when the database is back (also after a restart).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sqlx::AnyPool;
use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::append::RecentHeads;
use super::chain::{EntryRow, unix_micros};
use super::spool::{Record, Spool};
use super::url::{Backend, DatabaseUrl};
use super::{AuditStore, RevisionRecord, StoreError, VersionRecord};
use crate::audit::{self, Action, Actor, AuditEntry, Audited};

/// Records in the queue before callers wait: room for bursts.
const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
/// Records written in one transaction at most.
const DEFAULT_BATCH_SIZE: usize = 2_000;
/// How long the writer waits before trying an unreachable database again, at most.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long the writer waits for more records before writing a partial batch: the bound on how
/// long a record waits when nobody flushes.
const LINGER: Duration = Duration::from_millis(2);
/// SQLite: records between the writer's own WAL checkpoints (a few megabytes of WAL).
const CHECKPOINT_EVERY: usize = 4_000;

enum Command {
    /// A record, and who waits for it to be durable (a revision's `commit`). Boxed: the queue
    /// holds many commands, most of them small controls would otherwise be entry-sized.
    Record(Box<Record>, Option<oneshot::Sender<Result<(), String>>>),
    Flush(oneshot::Sender<Result<(), String>>),
    Shutdown(oneshot::Sender<()>),
}

impl Command {
    /// Whether someone waits for this command to be handled.
    fn is_awaited(&self) -> bool {
        !matches!(self, Command::Record(_, None))
    }
}

/// Counters of an [`Auditor`], for health checks and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuditorStats {
    /// Records waiting in the queue.
    pub queued: u64,
    /// Records written to the database.
    pub written: u64,
    /// Records in the spool file, waiting for the database.
    pub spooled: u64,
    /// Batches the database refused or could not be reached for.
    pub write_errors: u64,
    /// The last write error, if any.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Counters {
    enqueued: AtomicU64,
    dequeued: AtomicU64,
    written: AtomicU64,
    spooled: AtomicU64,
    write_errors: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// Options of an [`Auditor`]; [`Auditor::new`] takes the defaults.
pub struct AuditorBuilder {
    store: AuditStore,
    queue_capacity: usize,
    batch_size: usize,
    spool_path: Option<PathBuf>,
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
    /// (`audit.db.spool`), or `audit-spool-<host>-<database>.jsonl` in the working directory
    /// for PostgreSQL. Two processes must not share a spool file.
    pub fn spool_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.spool_path = Some(path.into());
        self
    }

    /// Starts the writer after checking that the spool can be read. Records an earlier run left
    /// in the spool are written first.
    pub fn build(self) -> Result<Auditor, StoreError> {
        let url = self.store.database_url().clone();
        let spool = Spool::open(self.spool_path.clone().unwrap_or_else(|| default_spool_path(&url)))?;
        Ok(self.start_with(spool))
    }

    /// Starts the writer; a spool that cannot be read is reported in the log and by
    /// [`Auditor::stats`], and records are still written to the database.
    pub fn start(self) -> Auditor {
        let url = self.store.database_url().clone();
        let path = self.spool_path.clone().unwrap_or_else(|| default_spool_path(&url));
        let spool = Spool::open(path.clone()).unwrap_or_else(|error| {
            tracing::error!(event = "audit.spool_unreadable", error = &error as &dyn std::error::Error);
            Spool::unreadable(path)
        });
        self.start_with(spool)
    }

    fn start_with(self, spool: Spool) -> Auditor {
        let url = self.store.database_url().clone();
        let counters = Arc::new(Counters::default());
        counters.spooled.store(spool.pending(), Ordering::Relaxed);
        let (sender, receiver) = std::sync::mpsc::sync_channel(self.queue_capacity);
        let writer = Writer {
            url,
            runtime: None,
            pool: None,
            spool,
            counters: counters.clone(),
            batch_size: self.batch_size,
            retry_delay: FIRST_RETRY_DELAY,
            retry_at: Instant::now(),
            failing: false,
            recent_heads: RecentHeads::default(),
            checkpoint: None,
            since_checkpoint: 0,
            #[cfg(feature = "witness")]
            witness: self.witness.map(super::witness::WitnessHook::start),
        };
        let thread = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(receiver))
            .expect("the operating system refused to start the audit writer thread");
        Auditor { inner: Arc::new(Inner { sender, counters, thread: Mutex::new(Some(thread)) }) }
    }
}

fn default_spool_path(url: &DatabaseUrl) -> PathBuf {
    match (&url.sqlite_path, url.backend) {
        (Some(path), _) => {
            let mut spool = path.clone().into_os_string();
            spool.push(".spool");
            PathBuf::from(spool)
        }
        (None, Backend::Sqlite | Backend::Postgres) => {
            let tail = url.shown.rsplit('@').next().unwrap_or(&url.shown);
            let name: String =
                tail.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
            PathBuf::from(format!("audit-spool-{}.jsonl", name.trim_matches('-')))
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
/// let auditor = Auditor::new(store.clone());
/// let ward = Ward { id: 3, name: "Cardiology".into() };
/// auditor.log_action(&Actor::user(42), Action::Create, &ward, "created");
/// auditor.flush().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Auditor {
    inner: Arc<Inner>,
}

struct Inner {
    sender: SyncSender<Command>,
    counters: Arc<Counters>,
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
    /// An auditor writing to `store`, with the default queue, batch size and spool path.
    pub fn new(store: AuditStore) -> Self {
        Self::builder(store).start()
    }

    /// Options: queue capacity, batch size, spool path.
    pub fn builder(store: AuditStore) -> AuditorBuilder {
        AuditorBuilder {
            store,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            batch_size: DEFAULT_BATCH_SIZE,
            spool_path: None,
            #[cfg(feature = "witness")]
            witness: None,
        }
    }

    /// Records an action on an object (and logs it as `audit.action`).
    pub fn log_action<T: Audited>(&self, actor: &Actor, action: Action, object: &T, message: impl Into<String>) {
        self.enqueue_entry(audit::log_action(actor, action, object, message));
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
            self.enqueue_entry(entry);
        }
    }

    /// Records the changed fields of an object (one entry; none when nothing changed) and
    /// logs it as `audit.change`. Returns whether anything changed.
    pub fn track_change<T: Audited>(&self, actor: &Actor, old: &T, new: &T) -> bool {
        match audit::track_change(actor, old, new) {
            Some(entry) => {
                self.enqueue_entry(entry);
                true
            }
            None => false,
        }
    }

    /// Records a prepared entry (built with [`AuditEntry`]'s constructors).
    pub fn record(&self, entry: AuditEntry) {
        self.enqueue_entry(entry);
    }

    /// Counts a view of an object for the anonymous analytics: object type, id and day only.
    pub fn log_view<T: Audited>(&self, object: &T) {
        let day = super::day_text(OffsetDateTime::now_utc().date());
        self.enqueue(Command::Record(
            Box::new(Record::View { object_type: T::object_type().to_owned(), object_id: object.object_id(), day }),
            None,
        ));
    }

    /// Starts a revision: snapshots of objects with who and why, committed together.
    pub fn create_revision(&self) -> Revision<'_> {
        Revision { auditor: self, user: None, comment: None, versions: Vec::new() }
    }

    /// Waits until everything recorded before this call is in the database, or in the spool
    /// when the database is unreachable (see [`stats`](Self::stats)).
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

    /// Queue depth, records written and spooled, write errors.
    pub fn stats(&self) -> AuditorStats {
        let c = &self.inner.counters;
        let enqueued = c.enqueued.load(Ordering::Relaxed);
        AuditorStats {
            queued: enqueued.saturating_sub(c.dequeued.load(Ordering::Relaxed)),
            written: c.written.load(Ordering::Relaxed),
            spooled: c.spooled.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            last_error: c.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }

    fn enqueue_entry(&self, entry: AuditEntry) {
        self.enqueue(Command::Record(Box::new(Record::Entry(entry)), None));
    }

    fn enqueue(&self, command: Command) {
        if let Err(StoreError::WriterStopped) = self.send(command) {
            tracing::error!(
                event = "audit.record_refused",
                reason = "the auditor was shut down; this record was not written"
            );
        }
    }

    fn send(&self, command: Command) -> Result<(), StoreError> {
        let counters = &self.inner.counters;
        let counted = matches!(command, Command::Record(..));
        if counted {
            counters.enqueued.fetch_add(1, Ordering::Relaxed);
        }
        // Fast path: room in the queue. Otherwise wait for room (backpressure, never a drop).
        let result = match self.inner.sender.try_send(command) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(command)) => self.inner.sender.send(command).map_err(|_| StoreError::WriterStopped),
            Err(TrySendError::Disconnected(_)) => Err(StoreError::WriterStopped),
        };
        if result.is_err() && counted {
            counters.enqueued.fetch_sub(1, Ordering::Relaxed);
        }
        result
    }
}

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
        self.versions.push(VersionRecord {
            object_type: T::object_type().to_owned(),
            object_id: object.object_id(),
            object_repr: object.object_repr(),
            snapshot: object.snapshot(),
        });
    }

    /// Writes the revision; returns when it is durable (in the database, or in the spool while
    /// the database is unreachable).
    pub async fn commit(self) -> Result<(), StoreError> {
        let record = RevisionRecord {
            created_us: unix_micros(OffsetDateTime::now_utc()),
            user: self.user,
            comment: self.comment,
            request_id: crate::context::current_request_id(),
            versions: self.versions,
        };
        let (done, wait) = oneshot::channel();
        self.auditor.send(Command::Record(Box::new(Record::Revision(record)), Some(done)))?;
        wait.await.map_err(|_| StoreError::WriterStopped)?.map_err(write_failed)
    }
}

/// The background writer.
struct Writer {
    url: DatabaseUrl,
    runtime: Option<tokio::runtime::Runtime>,
    pool: Option<AnyPool>,
    spool: Spool,
    counters: Arc<Counters>,
    batch_size: usize,
    retry_delay: Duration,
    retry_at: Instant,
    /// The last attempt failed: the next success is logged as a recovery.
    failing: bool,
    /// What this writer knows of the objects' newest entries.
    recent_heads: RecentHeads,
    /// SQLite: the checkpoint started last, and records written since.
    checkpoint: Option<tokio::task::JoinHandle<()>>,
    since_checkpoint: usize,
    /// Signs and witnesses the chain's end on its own thread.
    #[cfg(feature = "witness")]
    witness: Option<super::witness::WitnessHook>,
}

impl Writer {
    fn run(mut self, receiver: Receiver<Command>) {
        if self.spool.pending() > 0 {
            tracing::info!(
                event = "audit.spool_found",
                records = self.spool.pending(),
                spool = %self.spool.path().display()
            );
            self.drain_spool();
        }
        loop {
            let first = if self.spool.pending() > 0 {
                let wait = self.retry_at.saturating_duration_since(Instant::now());
                match receiver.recv_timeout(wait) {
                    Ok(command) => command,
                    Err(RecvTimeoutError::Timeout) => {
                        self.drain_spool();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match receiver.recv() {
                    Ok(command) => command,
                    Err(_) => break,
                }
            };
            let mut batch = vec![first];
            // Gather a burst into one transaction: every commit rewrites each index page it
            // touched, so ten small commits cost far more than one large one. Someone waiting
            // (a flush, a revision, a shutdown) ends the wait at once.
            let linger_until = Instant::now() + LINGER;
            while batch.len() < self.batch_size && !batch.last().is_some_and(Command::is_awaited) {
                let command = match receiver.try_recv() {
                    Ok(command) => command,
                    Err(_) => match receiver.recv_timeout(linger_until.saturating_duration_since(Instant::now())) {
                        Ok(command) => command,
                        Err(_) => break,
                    },
                };
                batch.push(command);
            }
            if self.process(batch) {
                break;
            }
        }
        if self.spool.pending() > 0 {
            tracing::warn!(
                event = "audit.spool_left",
                records = self.spool.pending(),
                spool = %self.spool.path().display(),
                reason = "the database was unreachable at shutdown; the next Auditor on this spool writes them"
            );
        }
    }

    /// Handles one batch; true when asked to stop.
    fn process(&mut self, batch: Vec<Command>) -> bool {
        let mut records = Vec::with_capacity(batch.len());
        let mut waiting = Vec::new();
        let mut stop = None;
        let mut flushes = Vec::new();
        for command in batch {
            match command {
                Command::Record(record, done) => {
                    records.push(*record);
                    waiting.extend(done);
                }
                Command::Flush(done) => flushes.push(done),
                Command::Shutdown(done) => stop = Some(done),
            }
        }
        self.counters.dequeued.fetch_add(records.len() as u64, Ordering::Relaxed);
        if self.spool.pending() > 0 && (!flushes.is_empty() || stop.is_some() || Instant::now() >= self.retry_at) {
            self.drain_spool();
        }
        let outcome = if records.is_empty() {
            Ok(())
        } else if self.spool.pending() == 0 {
            match self.write(&records) {
                Ok(()) => Ok(()),
                Err(error) => {
                    self.note_failure(&error, records.len());
                    self.spool_records(&records)
                }
            }
        } else {
            // Keep the order: while older records wait in the spool, new ones join them.
            self.spool_records(&records)
        };
        for done in waiting.into_iter().chain(flushes) {
            let _ = done.send(outcome.clone());
        }
        match stop {
            Some(done) => {
                let _ = done.send(());
                true
            }
            None => false,
        }
    }

    fn spool_records(&mut self, records: &[Record]) -> Result<(), String> {
        match self.spool.append(records) {
            Ok(()) => {
                self.counters.spooled.store(self.spool.pending(), Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                // Neither the database nor the disk took them: say so as loudly as we can.
                tracing::error!(
                    event = "audit.records_lost",
                    records = records.len(),
                    error = &error as &dyn std::error::Error
                );
                Err(error.to_string())
            }
        }
    }

    fn note_failure(&mut self, error: &StoreError, records: usize) {
        self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.counters.last_error.lock() {
            *last = Some(error.to_string());
        }
        if !self.failing {
            tracing::warn!(
                event = "audit.write_failed",
                records,
                spool = %self.spool.path().display(),
                error = error as &dyn std::error::Error
            );
        }
        self.failing = true;
        // The pool may hold broken connections: start afresh next time.
        self.pool = None;
        self.retry_at = Instant::now() + self.retry_delay;
        self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY_DELAY);
    }

    /// Writes spooled records to the database in order, batch by batch.
    fn drain_spool(&mut self) {
        let (records, ends) = match self.spool.read_pending() {
            Ok(pending) => pending,
            Err(error) => {
                tracing::error!(event = "audit.spool_unreadable", error = &error as &dyn std::error::Error);
                self.retry_at = Instant::now() + MAX_RETRY_DELAY;
                return;
            }
        };
        let total = records.len();
        let mut done = 0;
        for chunk in records.chunks(self.batch_size) {
            if let Err(error) = self.write(chunk) {
                self.note_failure(&error, chunk.len());
                return;
            }
            done += chunk.len();
            if let Err(error) = self.spool.advance(ends[done - 1], chunk.len() as u64, done == total) {
                tracing::error!(event = "audit.spool_unwritable", error = &error as &dyn std::error::Error);
                return;
            }
            self.counters.spooled.store(self.spool.pending(), Ordering::Relaxed);
        }
        if total > 0 {
            tracing::info!(event = "audit.spool_drained", records = total);
        }
    }

    /// SQLite: copies the WAL into the database file every few thousand records, on the second
    /// connection and off the writer's path. The task starts when the writer's runtime next
    /// runs (the next batch) and the checkpoint itself runs on that connection's own thread,
    /// beside the batch; a `PASSIVE` checkpoint never blocks the writer.
    fn checkpoint_after(&mut self, records: usize) {
        self.since_checkpoint += records;
        let idle = self.checkpoint.as_ref().is_none_or(tokio::task::JoinHandle::is_finished);
        if self.url.backend != Backend::Sqlite || self.since_checkpoint < CHECKPOINT_EVERY || !idle {
            return;
        }
        let (Some(runtime), Some(pool)) = (&self.runtime, &self.pool) else { return };
        self.since_checkpoint = 0;
        let pool = pool.clone();
        self.checkpoint = Some(runtime.spawn(async move {
            use sqlx::Executor as _;
            if let Err(error) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::debug!(event = "audit.checkpoint_failed", error = &error as &dyn std::error::Error);
            }
        }));
    }

    /// Writes records in one transaction.
    fn write(&mut self, records: &[Record]) -> Result<(), StoreError> {
        let mut rows = Vec::new();
        let mut revisions = Vec::new();
        let mut views: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        for record in records {
            match record {
                Record::Entry(entry) => rows.push(EntryRow::from_entry(entry)?),
                Record::View { object_type, object_id, day } => {
                    *views.entry((object_type.clone(), object_id.clone(), day.clone())).or_default() += 1;
                }
                Record::Revision(revision) => revisions.push(revision),
            }
        }
        if self.runtime.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| StoreError::Spool { path: "(writer runtime)".into(), source })?;
            self.runtime = Some(runtime);
        }
        let Some(runtime) = &self.runtime else { return Err(StoreError::WriterStopped) };
        let url = &self.url;
        let pool = &mut self.pool;
        let recent_heads = &mut self.recent_heads;
        runtime.block_on(async {
            if pool.is_none() {
                *pool = Some(super::open_writer_pool(url)?);
            }
            let Some(pool) = pool.as_ref() else { return Err(StoreError::WriterStopped) };
            let mut conn =
                pool.acquire().await.map_err(|source| StoreError::Connect { url: url.shown.clone(), source })?;
            super::begin_exclusive(&mut conn, url.backend).await?;
            let result = async {
                super::append::append_entries(&mut conn, url.backend, &mut rows, recent_heads).await?;
                for revision in &revisions {
                    super::append_revision(&mut conn, revision).await?;
                }
                super::add_views(&mut conn, &views).await
            }
            .await;
            super::finish(&mut conn, result, "committing audit records").await
        })?;
        self.counters.written.fetch_add(records.len() as u64, Ordering::Relaxed);
        #[cfg(feature = "witness")]
        if let (Some(witness), Some(end)) = (&self.witness, rows.last()) {
            witness.committed(end.seq, &end.hash);
        }
        self.checkpoint_after(records.len());
        if self.failing {
            tracing::info!(event = "audit.store_recovered", url = %self.url.shown);
            self.failing = false;
        }
        self.retry_delay = FIRST_RETRY_DELAY;
        Ok(())
    }
}
