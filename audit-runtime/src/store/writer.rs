//! The [`Auditor`](super::Auditor)'s background writer: batches records into transactions,
//! spools them while the database is away, seals entries committed inside application
//! transactions (the outbox), and keeps each record's identity so that nothing is stored twice.
//!
//! The writer owns a thread, a small tokio runtime and its own connection (native to the
//! backend: see `conn.rs`), so it never competes with (or depends on) the caller's runtime.
//!
//! Where a record can be, in order of preference: the database; the spool (the database is
//! unreachable or stalled); held in memory (the spool's disk is full too: written as soon as
//! either takes it; `flush()` fails meanwhile); the quarantine file (the database refuses what
//! it holds). It is lost only when the writer stops while holding it, and that is counted and
//! logged.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use sqlx::AnyPool;
use tokio::sync::oneshot;

use super::auditor::{Counters, Done, RevisionDone, Room};
use super::chain::{EntryRow, storable};
use super::conn::WriteConn;
use super::dialect::{self, RecentHeads};
use super::journal::Journal;
use super::record::{Record, RecordBody, new_origin};
use super::spool::{Spool, quarantine_records};
use super::url::{Backend, DatabaseUrl};
use super::{StoreError, events};

/// How long the writer waits before trying an unreachable database again, at most.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long the writer waits for more records before writing a partial batch: the bound on how
/// long a record waits when nobody flushes.
const LINGER: Duration = Duration::from_millis(2);
/// SQLite: records between the writer's own WAL checkpoints (a few megabytes of WAL).
const CHECKPOINT_EVERY: usize = 4_000;

pub(crate) enum Command {
    /// A record, and who waits for it to be durable (a revision's `commit`). Boxed: the queue
    /// holds many commands, most of them small controls would otherwise be entry-sized.
    Record(Box<Record>, Option<RevisionDone>),
    Flush(Done),
    Shutdown(oneshot::Sender<()>),
}

impl Command {
    /// Whether someone waits for this command to be handled.
    fn is_awaited(&self) -> bool {
        matches!(self, Command::Record(_, Some(_)) | Command::Flush(_) | Command::Shutdown(_))
    }
}

pub(crate) struct Settings {
    pub(crate) url: DatabaseUrl,
    pub(crate) spool: Spool,
    pub(crate) journal: Option<Journal>,
    pub(crate) recovered: Vec<Record>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) room: Arc<Room>,
    pub(crate) batch_size: usize,
    pub(crate) write_timeout: Duration,
    pub(crate) outbox_poll: Duration,
    #[cfg(feature = "witness")]
    pub(crate) witness: Option<super::witness::WitnessSetup>,
}

/// The background writer.
pub(crate) struct Writer {
    settings: Settings,
    runtime: Option<tokio::runtime::Runtime>,
    /// The connection that writes; `None` until needed, and after a failure (it may be broken
    /// or stalled).
    conn: Option<WriteConn>,
    /// SQLite: the second connection, for the writer's own WAL checkpoints.
    checkpoints: Option<AnyPool>,
    /// Numbers the records that come without a journal.
    origin: String,
    next_number: u64,
    /// Neither the database nor the spool took these (oldest first).
    held: Vec<Record>,
    /// Records taken from the queue whose room is not given back yet.
    in_memory: usize,
    /// A loss the next flush must report.
    unreported_loss: Option<String>,
    quarantine: PathBuf,
    retry_delay: Duration,
    retry_at: Instant,
    /// The last attempt failed: the next success is logged as a recovery.
    failing: bool,
    /// What this writer knows of the objects' newest entries.
    recent_heads: RecentHeads,
    /// SQLite: the checkpoint started last, and records written since.
    checkpoint: Option<tokio::task::JoinHandle<()>>,
    since_checkpoint: usize,
    /// When to look into the outbox next.
    outbox_at: Instant,
    /// Signs and witnesses the chain's end on its own thread.
    #[cfg(feature = "witness")]
    witness: Option<super::witness::WitnessHook>,
    /// The ids of the revisions written by the current batch, by record identity: what their
    /// `commit()` returns.
    revision_ids: BTreeMap<(String, u64), i64>,
}

impl Writer {
    pub(crate) fn new(settings: Settings) -> Self {
        #[cfg(feature = "witness")]
        let (settings, witness) = {
            let mut settings = settings;
            let witness = settings.witness.take().map(super::witness::WitnessHook::start);
            (settings, witness)
        };
        let mut quarantine = settings.spool.path().as_os_str().to_owned();
        quarantine.push(".quarantine");
        Writer {
            settings,
            runtime: None,
            conn: None,
            checkpoints: None,
            origin: new_origin(),
            next_number: 1,
            held: Vec::new(),
            in_memory: 0,
            unreported_loss: None,
            quarantine: PathBuf::from(quarantine),
            retry_delay: FIRST_RETRY_DELAY,
            retry_at: Instant::now(),
            failing: false,
            recent_heads: RecentHeads::default(),
            checkpoint: None,
            since_checkpoint: 0,
            outbox_at: Instant::now(),
            #[cfg(feature = "witness")]
            witness,
            revision_ids: BTreeMap::new(),
        }
    }

    fn spool_path(&self) -> String {
        self.settings.spool.path().display().to_string()
    }

    fn backlog(&self) -> bool {
        self.settings.spool.pending() > 0 || !self.held.is_empty()
    }

    pub(crate) fn run(mut self, receiver: Receiver<Command>) {
        if self.settings.spool.pending() > 0 {
            events::SpoolFound { records: self.settings.spool.pending(), spool: &self.spool_path() }.emit();
            self.drain_spool();
        }
        let recovered = std::mem::take(&mut self.settings.recovered);
        if let Some(journal) = self.settings.journal.clone() {
            if !recovered.is_empty() {
                let dir = journal.dir().display().to_string();
                events::JournalRecovered { records: recovered.len() as u64, journal: &dir }.emit();
            }
            let stored = recovered.chunks(self.settings.batch_size).all(|chunk| self.store(chunk.to_vec()).is_ok());
            if stored {
                journal.recovered_done();
            }
        }
        loop {
            let now = Instant::now();
            let mut wake = self.outbox_at;
            if self.backlog() {
                wake = wake.min(self.retry_at);
            }
            let first = match receiver.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => {
                    if self.backlog() && Instant::now() >= self.retry_at {
                        self.retry_backlog();
                    }
                    if Instant::now() >= self.outbox_at {
                        self.seal_outbox();
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            // Gather a burst into one transaction: every commit rewrites each index page it
            // touched, so ten small commits cost far more than one large one. Someone waiting
            // (a flush, a revision, a shutdown) ends the wait at once.
            let linger_until = Instant::now() + LINGER;
            while batch.len() < self.settings.batch_size && !batch.last().is_some_and(Command::is_awaited) {
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
        self.stop();
    }

    /// Handles one batch; true when asked to stop.
    fn process(&mut self, batch: Vec<Command>) -> bool {
        let mut records = Vec::with_capacity(batch.len());
        let mut waiting = Vec::new();
        let mut stop = None;
        let mut flushes = Vec::new();
        for command in batch {
            match command {
                Command::Record(mut record, done) => {
                    if record.number == 0 {
                        record.origin.clone_from(&self.origin);
                        record.number = self.next_number;
                        self.next_number += 1;
                    }
                    if let Some(done) = done {
                        waiting.push(((record.origin.clone(), record.number), done));
                    }
                    records.push(*record);
                }
                Command::Flush(done) => flushes.push(done),
                Command::Shutdown(done) => stop = Some(done),
            }
        }
        let asked = !flushes.is_empty() || stop.is_some();
        self.settings.counters.dequeued.fetch_add(records.len() as u64, Ordering::Relaxed);
        self.in_memory += records.len();
        if self.backlog() && (asked || Instant::now() >= self.retry_at) {
            self.retry_backlog();
        }
        let last = records.last().map(|r| (r.origin.clone(), r.number));
        let outcome = self.store(records);
        self.journal_done(last);
        self.settle();
        if asked || Instant::now() >= self.outbox_at {
            self.seal_outbox();
        }
        for (identity, done) in waiting {
            let _ = done.send(outcome.clone().map(|()| self.revision_ids.get(&identity).copied()));
        }
        self.revision_ids.clear();
        if !flushes.is_empty() {
            let answer = self.flush_answer(outcome);
            for done in flushes {
                let _ = done.send(answer.clone());
            }
        }
        match stop {
            Some(done) => {
                let _ = done.send(());
                true
            }
            None => false,
        }
    }

    /// Gives back the room of every record that left memory (stored, spooled, quarantined):
    /// only held records keep theirs.
    fn settle(&mut self) {
        let keep = self.held.len().min(self.in_memory);
        self.settings.room.release(self.in_memory - keep);
        self.in_memory = keep;
        self.settings.counters.held.store(self.held.len() as u64, Ordering::Relaxed);
    }

    /// What a flush learns: a loss since the last flush, records still held, or this batch's fate.
    fn flush_answer(&mut self, outcome: Result<(), String>) -> Result<(), String> {
        if let Some(loss) = self.unreported_loss.take() {
            return Err(loss);
        }
        if !self.held.is_empty() {
            return Err(format!(
                "{} records are held in memory: the database is unreachable and the spool {} cannot be written",
                self.held.len(),
                self.spool_path()
            ));
        }
        outcome
    }

    /// Makes `records` durable: the database, else the spool, else memory. Order is kept:
    /// while older records wait in the spool or in memory, new ones queue behind them.
    fn store(&mut self, records: Vec<Record>) -> Result<(), String> {
        if records.is_empty() {
            return Ok(());
        }
        if !self.backlog() {
            match self.write_or_quarantine(&records) {
                Ok(()) => return Ok(()),
                Err(error) => self.note_failure(&error, records.len()),
            }
        }
        self.spool_or_hold(records)
    }

    fn spool_or_hold(&mut self, records: Vec<Record>) -> Result<(), String> {
        if !self.held.is_empty() {
            self.held.extend(records);
            self.settings.counters.held.store(self.held.len() as u64, Ordering::Relaxed);
            return Err(format!("{} records are held in memory, not durable", self.held.len()));
        }
        match self.settings.spool.append(&records) {
            Ok(()) => {
                self.settings.counters.spooled.store(self.settings.spool.pending(), Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                let reason = error.to_string();
                events::RecordsHeld { records: records.len() as u64, reason: &reason }.emit();
                self.settings.counters.set_last_error(reason.clone());
                self.held = records;
                // Try again later, not at every wake-up.
                self.back_off();
                self.settings.counters.held.store(self.held.len() as u64, Ordering::Relaxed);
                Err(format!("records are not durable: the database and the spool refused them: {reason}"))
            }
        }
    }

    /// Spooled records first (they are older), then held ones.
    fn retry_backlog(&mut self) {
        self.drain_spool();
        if self.held.is_empty() {
            return;
        }
        // `stats().held` keeps its value while they are tried; `settle` updates it.
        let held = std::mem::take(&mut self.held);
        let last = held.last().map(|r| (r.origin.clone(), r.number));
        let _ = self.store(held);
        self.settle();
        self.journal_done(last);
    }

    /// Tells the journal how far its records are durable elsewhere: through `last` (the last
    /// record just stored), unless records are still held in memory.
    fn journal_done(&self, last: Option<(String, u64)>) {
        if let (Some(journal), Some((origin, number)), true) = (&self.settings.journal, last, self.held.is_empty()) {
            if origin == journal.origin() {
                journal.done_through(number);
            }
        }
    }

    /// Waits longer before the next attempt: 100 ms, doubling to 5 s.
    fn back_off(&mut self) {
        self.retry_at = Instant::now() + self.retry_delay;
        self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY_DELAY);
    }

    fn note_failure(&mut self, error: &StoreError, records: usize) {
        self.settings.counters.write_errors.fetch_add(1, Ordering::Relaxed);
        let reason = error.to_string();
        self.settings.counters.set_last_error(reason.clone());
        if !self.failing {
            events::WriteFailed { records: records as u64, spool: &self.spool_path(), reason: &reason }.emit();
        }
        self.failing = true;
        // The connections may be broken or stalled: start afresh next time.
        self.conn = None;
        self.checkpoints = None;
        self.back_off();
    }

    /// Writes spooled records to the database in order, batch by batch.
    fn drain_spool(&mut self) {
        if self.settings.spool.pending() == 0 {
            return;
        }
        let pending = match self.settings.spool.read_pending() {
            Ok(pending) => pending,
            Err(error) => {
                self.settings.counters.set_last_error(error.to_string());
                self.retry_at = Instant::now() + MAX_RETRY_DELAY;
                return;
            }
        };
        let total = pending.len();
        let mut done = 0;
        for chunk in pending.chunks(self.settings.batch_size) {
            let records: Vec<Record> = chunk.iter().map(|(record, _)| record.clone()).collect();
            if let Err(error) = self.write_or_quarantine(&records) {
                self.note_failure(&error, chunk.len());
                return;
            }
            done += chunk.len();
            if let Err(error) = self.settings.spool.advance(chunk[chunk.len() - 1].1, chunk.len() as u64, done == total)
            {
                self.settings.counters.set_last_error(error.to_string());
                return;
            }
            self.settings.counters.spooled.store(self.settings.spool.pending(), Ordering::Relaxed);
        }
        if total > 0 {
            events::SpoolDrained { records: total as u64 }.emit();
        }
    }

    /// Writes `records`; a batch the database refuses for what it holds is split until the
    /// refused records are found, and those go to the quarantine file.
    fn write_or_quarantine(&mut self, records: &[Record]) -> Result<(), StoreError> {
        match self.write(records) {
            Err(error) if is_data_error(&error, self.settings.url.backend) => {
                if let [record] = records {
                    self.quarantine_record(record, &error);
                    return Ok(());
                }
                let (left, right) = records.split_at(records.len() / 2);
                self.write_or_quarantine(left)?;
                self.write_or_quarantine(right)
            }
            other => other,
        }
    }

    fn quarantine_record(&mut self, record: &Record, error: &StoreError) {
        let identity = record.identity();
        let reason = error.to_string();
        match quarantine_records(&self.quarantine, std::slice::from_ref(record)) {
            Ok(()) => {
                self.settings.counters.quarantined.fetch_add(1, Ordering::Relaxed);
                let quarantine = self.quarantine.display().to_string();
                events::RecordQuarantined { record: &identity, quarantine: &quarantine, reason: &reason }.emit();
            }
            Err(io) => self.lose(
                1,
                &format!("record {identity} was refused by the database ({reason}) and could not be quarantined: {io}"),
            ),
        }
    }

    fn lose(&mut self, records: u64, reason: &str) {
        self.settings.counters.lost.fetch_add(records, Ordering::Relaxed);
        events::RecordsLost { records, reason }.emit();
        self.unreported_loss = Some(format!("{records} records were lost: {reason}"));
    }

    fn stop(&mut self) {
        if self.backlog() {
            self.retry_backlog();
        }
        self.seal_outbox();
        if !self.held.is_empty() {
            let held = self.held.len() as u64;
            self.lose(held, "the auditor stopped while neither the database nor the spool's disk took them");
        }
        if self.settings.spool.pending() > 0 {
            events::SpoolLeft { records: self.settings.spool.pending(), spool: &self.spool_path() }.emit();
        }
    }

    /// SQLite: copies the WAL into the database file every few thousand records, on the second
    /// connection and off the writer's path. The task starts when the writer's runtime next
    /// runs (the next batch) and the checkpoint itself runs on that connection's own thread,
    /// beside the batch; a `PASSIVE` checkpoint never blocks the writer.
    fn checkpoint_after(&mut self, records: usize) {
        self.since_checkpoint += records;
        let idle = self.checkpoint.as_ref().is_none_or(tokio::task::JoinHandle::is_finished);
        let own = dialect::of(self.settings.url.backend).own_checkpoints;
        if !own || self.since_checkpoint < CHECKPOINT_EVERY || !idle {
            return;
        }
        let Some(runtime) = &self.runtime else { return };
        if self.checkpoints.is_none() {
            // A pool may start its maintenance task: inside the writer's runtime.
            let _inside = runtime.enter();
            match super::open_pool(&self.settings.url, 1, Duration::from_secs(2)) {
                Ok(pool) => self.checkpoints = Some(pool),
                Err(error) => {
                    events::CheckpointFailed { reason: &error.to_string() }.emit();
                    return;
                }
            }
        }
        let Some(pool) = &self.checkpoints else { return };
        self.since_checkpoint = 0;
        let pool = pool.clone();
        self.checkpoint = Some(runtime.spawn(async move {
            use sqlx::Executor as _;
            if let Err(error) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                events::CheckpointFailed { reason: &error.to_string() }.emit();
            }
        }));
    }

    /// Runs `work` in one exclusive transaction on the writer's connection, within the write
    /// timeout: a stalled database is an outage, not a hang.
    fn transaction<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut WriteConn, &mut RecentHeads) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.on_connection(true, work)
    }

    /// Runs `work` on the writer's connection within the write timeout, in an exclusive
    /// transaction when `exclusive`.
    fn on_connection<T>(
        &mut self,
        exclusive: bool,
        work: impl AsyncFnOnce(&mut WriteConn, &mut RecentHeads) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.runtime.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| StoreError::Spool { path: "(writer runtime)".into(), source })?;
            self.runtime = Some(runtime);
        }
        let Some(runtime) = &self.runtime else { return Err(StoreError::WriterStopped) };
        let url = &self.settings.url;
        let slot = &mut self.conn;
        let recent_heads = &mut self.recent_heads;
        let timeout = self.settings.write_timeout;
        runtime.block_on(async {
            // The connection moves into the attempt: one that times out is dropped with it.
            let held = slot.take();
            let attempt = async {
                let mut conn = match held {
                    Some(conn) => conn,
                    None => super::open_writer(url).await?,
                };
                let result = if exclusive {
                    match super::begin_exclusive(&mut conn, url.backend).await {
                        Ok(()) => {
                            let result = work(&mut conn, recent_heads).await;
                            super::finish(&mut conn, result, "committing audit records").await
                        }
                        Err(error) => Err(error),
                    }
                } else {
                    work(&mut conn, recent_heads).await
                };
                Ok::<_, StoreError>((conn, result))
            };
            match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok((conn, result))) => {
                    *slot = Some(conn);
                    result
                }
                Ok(Err(error)) => Err(error),
                // The connection is dropped with the future: the server rolls back (or, when
                // the COMMIT got through, the records' identities keep a replay from storing
                // them twice).
                Err(_) => Err(StoreError::Timeout { what: "writing audit records", after: timeout }),
            }
        })
    }

    /// Writes records in one transaction, skipping those the database already has.
    fn write(&mut self, records: &[Record]) -> Result<(), StoreError> {
        let backend = self.settings.url.backend;
        let (written, end, revisions) = self.transaction(async |conn, recent_heads| {
            let fresh = super::marks::not_yet_stored(conn, records).await?;
            let (end, revision_ids) = append_bodies(conn, backend, fresh.iter().map(|r| &r.body), recent_heads).await?;
            super::marks::mark_stored(conn, records).await?;
            // Revision ids come in the order of the revisions among the fresh records.
            let revisions: Vec<((String, u64), i64)> = fresh
                .iter()
                .filter(|r| matches!(r.body, RecordBody::Revision(_)))
                .map(|r| (r.origin.clone(), r.number))
                .zip(revision_ids)
                .collect();
            Ok((fresh.len(), end, revisions))
        })?;
        self.revision_ids.extend(revisions);
        self.committed(end);
        let skipped = records.len() - written;
        if skipped > 0 {
            tracing::debug!(skipped, "audit.duplicates_skipped");
        }
        self.settings.counters.written.fetch_add(written as u64, Ordering::Relaxed);
        self.checkpoint_after(records.len());
        self.recovered();
        Ok(())
    }

    /// The chain now ends at `end`: the witness, if any, learns of it.
    #[cfg_attr(not(feature = "witness"), allow(unused_variables))]
    fn committed(&self, end: Option<(i64, String)>) {
        #[cfg(feature = "witness")]
        if let (Some(witness), Some((seq, hash))) = (&self.witness, end) {
            witness.committed(seq, &hash);
        }
    }

    fn recovered(&mut self) {
        if self.failing {
            events::StoreRecovered { url: &self.settings.url.shown }.emit();
            self.failing = false;
        }
        self.retry_delay = FIRST_RETRY_DELAY;
    }

    /// Moves entries committed inside application transactions into the chain: each round
    /// reads the oldest outbox rows, appends them, and deletes exactly those rows, in one
    /// transaction, so each is sealed once.
    fn seal_outbox(&mut self) {
        self.outbox_at = Instant::now() + self.settings.outbox_poll;
        if self.failing && Instant::now() < self.retry_at {
            return;
        }
        let backend = self.settings.url.backend;
        let batch = self.settings.batch_size as i64;
        // A look without the chain's lock first: most polls find nothing, and many replicas poll.
        match self.on_connection(false, async |conn, _| super::outbox::is_empty(conn).await) {
            Ok(true) => return,
            Ok(false) => {}
            Err(error) => {
                self.note_failure(&error, 0);
                return;
            }
        }
        loop {
            let quarantine = self.quarantine.clone();
            let sealed = self.transaction(async |conn, recent_heads| {
                let rows = super::outbox::oldest(conn, batch).await?;
                let mut bodies = Vec::with_capacity(rows.len());
                let mut damaged = Vec::new();
                for (id, text) in &rows {
                    match serde_json::from_str::<RecordBody>(text) {
                        Ok(body) => bodies.push(body),
                        Err(_) => damaged.push((*id as u64, text.as_bytes().to_vec())),
                    }
                }
                // Not something this toolkit wrote: kept aside, out of the way of the rest.
                super::record_log::quarantine(&quarantine, &damaged);
                let (end, _) = append_bodies(conn, backend, bodies.iter(), recent_heads).await?;
                let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
                super::outbox::delete(conn, &ids).await?;
                Ok((rows.len(), end))
            });
            match sealed {
                Ok((count, end)) => {
                    self.committed(end);
                    self.settings.counters.written.fetch_add(count as u64, Ordering::Relaxed);
                    if count > 0 {
                        self.recovered();
                    }
                    if (count as i64) < batch {
                        return;
                    }
                }
                Err(error) => {
                    // The rows stay in the outbox, durable; the next poll tries again.
                    self.note_failure(&error, 0);
                    return;
                }
            }
        }
    }
}

/// Appends entries, revisions and views inside the caller's exclusive transaction; returns the
/// chain's new end, when anything was appended, and the ids of the revisions, in order.
pub(crate) async fn append_bodies<'b>(
    conn: &mut WriteConn,
    backend: Backend,
    bodies: impl Iterator<Item = &'b RecordBody>,
    recent_heads: &mut RecentHeads,
) -> Result<(Option<(i64, String)>, Vec<i64>), StoreError> {
    let mut rows = Vec::new();
    let mut revisions = Vec::new();
    let mut views = super::attest::ViewCounts::new();
    for body in bodies {
        match body {
            RecordBody::Entry(entry) => rows.push(EntryRow::from_entry(entry)?),
            RecordBody::View { object_type, object_id, day } => {
                // As stored, so that the attestation names what the table holds.
                *views.entry((storable(object_type), storable(object_id), storable(day))).or_default() += 1;
            }
            RecordBody::Revision(revision) => revisions.push(revision),
        }
    }
    // Revisions and view counts are attested by entries of the chain, after the batch's own.
    let mut attestations = Vec::new();
    let mut revision_ids = Vec::with_capacity(revisions.len());
    for revision in revisions {
        let (revision_id, attestation) = super::append_revision(conn, revision).await?;
        revision_ids.push(revision_id);
        attestations.push(EntryRow::from_entry(&attestation)?);
    }
    if !views.is_empty() {
        super::add_views(conn, &views).await?;
        attestations.push(EntryRow::from_entry(&super::attest::views_entry(&views))?);
    }
    rows.extend(attestations);
    super::append::append_entries(conn, backend, &mut rows, recent_heads).await?;
    Ok((rows.last().map(|row| (row.seq, row.hash.clone())), revision_ids))
}

/// Whether the database refused a statement for the data it carried (not for an outage), as
/// the backend's dialect reads the error code. Such a record would fail every retry, so it is
/// quarantined instead.
fn is_data_error(error: &StoreError, backend: Backend) -> bool {
    match error {
        StoreError::Serialize(_) => true,
        StoreError::Database { source: sqlx::Error::Database(db), .. } => {
            db.code().is_some_and(|code| (dialect::of(backend).refuses_data)(&code))
        }
        _ => false,
    }
}
