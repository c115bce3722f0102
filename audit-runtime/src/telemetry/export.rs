//! The exporter thread: a bounded queue filled by the layer and by the threads' buffers of
//! `#[trace_span]` spans, emptied in batches that are converted into the SDK's `SpanData` and
//! handed to the `SpanExporter`. The caller never waits for the network: a full queue drops
//! the span and counts it.

use std::cell::{Cell, UnsafeCell};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::config::OtlpConfig;
use super::convert;
use super::events::otlp_export_failed;
use super::exporter::BoxedExporter;
use super::fast::CHUNK_SPANS;
use super::record::{Chunk, OpenSpan};
use super::sampler::FlatSampler;
use crate::clock;

/// Ids of exporters, so that a callsite's cached answer and a thread's buffer know whose they are.
static NEXT_EXPORTER_ID: AtomicU64 = AtomicU64::new(1);
/// Emptied chunk buffers kept for the threads' next chunks.
const SPARE_CHUNKS: usize = 16;

/// At most one warning about failed exports per this interval.
const WARN_INTERVAL: Duration = Duration::from_secs(60);
/// After a failed export, batches are dropped without being encoded or sent for this long,
/// doubling at each new failure up to [`MAX_BACKOFF`]: a collector that is down costs the
/// service almost nothing.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

thread_local! {
    /// True on the exporter thread: the layer ignores spans made there, so that the
    /// exporter's own warnings never feed back into the exporter.
    pub(crate) static ON_EXPORTER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// A thread's buffer of finished spans; the exporter thread empties it at each export, so that
/// a flush gets every finished span, also those of a thread that is idle now.
///
/// Behind a spin lock rather than a `Mutex`: its thread takes it once per span and the exporter
/// once per export, each for a few instructions (an append, a swap), so it is almost never
/// contended, and taking it costs one atomic instruction instead of two.
///
/// Aligned to lines of its own: its thread writes it at every span.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct LocalSpans {
    locked: AtomicBool,
    chunk: UnsafeCell<Chunk>,
}

// SAFETY: `chunk` is only reached through `LocalGuard`, which holds the lock.
unsafe impl Sync for LocalSpans {}

impl std::fmt::Debug for LocalSpans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSpans").finish_non_exhaustive()
    }
}

impl LocalSpans {
    #[inline]
    pub(crate) fn lock(&self) -> LocalGuard<'_> {
        if self.locked.swap(true, Ordering::Acquire) {
            self.lock_contended();
        }
        LocalGuard(self)
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    // The holder was preempted: let it run.
                    std::thread::yield_now();
                }
            }
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
        }
    }
}

/// The lock of a [`LocalSpans`], held.
pub(crate) struct LocalGuard<'a>(&'a LocalSpans);

impl std::ops::Deref for LocalGuard<'_> {
    type Target = Chunk;
    fn deref(&self) -> &Chunk {
        // SAFETY: the lock is held.
        unsafe { &*self.0.chunk.get() }
    }
}

impl std::ops::DerefMut for LocalGuard<'_> {
    fn deref_mut(&mut self) -> &mut Chunk {
        // SAFETY: the lock is held, and this guard is borrowed mutably.
        unsafe { &mut *self.0.chunk.get() }
    }
}

impl Drop for LocalGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.locked.store(false, Ordering::Release);
    }
}

#[derive(Default)]
struct Queue {
    /// The spans the exporter layer closed.
    loose: Chunk,
    /// Chunks handed over by threads, and how many spans they hold.
    chunks: Vec<Chunk>,
    chunk_spans: usize,
    spare_chunks: Vec<Chunk>,
    /// Bumped by each flush request; the thread answers by setting `flushed` to it.
    flush_requested: u64,
    flushed: u64,
    shutdown: bool,
    stopped: bool,
}

/// What every span reads and nothing writes (but `closed`, once), on cache lines of its own:
/// the queue and counters beside it are written by other threads, and sharing a line with them
/// would cost the callers a cache miss per span.
#[repr(align(128))]
pub(crate) struct Hot {
    /// Unique among the exporters of the process.
    pub(crate) id: u64,
    pub(crate) sampler: FlatSampler,
    pub(crate) log_ids: bool,
    pub(crate) batch_size: usize,
    /// Set once the thread has stopped: later spans are dropped.
    pub(crate) closed: AtomicBool,
}

/// What the layer and the thread share.
pub(crate) struct Shared {
    pub(crate) hot: Hot,
    queue: Mutex<Queue>,
    /// Wakes the exporter thread.
    wake: Condvar,
    /// Wakes whoever waits for a flush.
    done: Condvar,
    max_queue_size: usize,
    pub(crate) dropped: AtomicU64,
    pub(crate) exported: AtomicU64,
    /// The buffers of the threads that record fast spans for this exporter.
    locals: Mutex<Vec<Arc<LocalSpans>>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves a queue that is still consistent.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn batch_size(&self) -> usize {
        self.hot.batch_size
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.hot.closed.load(Ordering::Relaxed)
    }

    pub(crate) fn count_dropped(&self, spans: u64) {
        self.dropped.fetch_add(spans, Ordering::Relaxed);
    }

    pub(crate) fn register_local(&self, local: Arc<LocalSpans>) {
        self.locals.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(local);
    }

    /// Hands what a thread's buffer holds to the exporter (dropped and counted when the queue
    /// is full), leaving the buffer empty. Copied into a chunk of the queue's rather than
    /// handed over as it is: the buffer stays with its thread, so the thread never writes to
    /// memory the exporter thread has just read (each such write would wait for the other core
    /// to give the cache line up); the copy is one sequential write per 64 spans.
    pub(crate) fn hand_over(&self, local: &LocalSpans) {
        if local.lock().spans.is_empty() {
            return;
        }
        let spare = self.lock().spare_chunks.pop();
        let mut chunk = spare.unwrap_or_else(|| Chunk::with_capacity(CHUNK_SPANS));
        local.lock().move_into(&mut chunk);
        let spans = chunk.spans.len();
        let mut queue = self.lock();
        let queued = queue.loose.spans.len() + queue.chunk_spans;
        if queue.stopped || queued + spans > self.max_queue_size {
            chunk.clear();
            if queue.spare_chunks.len() < SPARE_CHUNKS {
                queue.spare_chunks.push(chunk);
            }
            drop(queue);
            self.count_dropped(spans as u64);
            return;
        }
        queue.chunk_spans += spans;
        // Wake the thread once, when a batch is complete.
        let wake = queued < self.hot.batch_size && queued + spans >= self.hot.batch_size;
        queue.chunks.push(chunk);
        drop(queue);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Hands a span the layer closed to the exporter; drops it (counted) when the queue is full.
    pub(crate) fn push(&self, trace_id: u128, span_id: u64, open: &mut OpenSpan, end_unix_nano: u64) {
        let mut queue = self.lock();
        if queue.loose.spans.len() + queue.chunk_spans >= self.max_queue_size || queue.stopped {
            drop(queue);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        queue.loose.push(trace_id, span_id, open, end_unix_nano);
        // Wake the thread only when a batch is full: most spans cost no system call.
        let wake = queue.loose.spans.len() + queue.chunk_spans == self.hot.batch_size;
        drop(queue);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Asks the thread to export everything queued now, and waits at most `timeout`.
    /// True when everything queued before the call was handled (sent or dropped).
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut queue = self.lock();
        if queue.stopped {
            return queue.loose.spans.is_empty() && queue.chunks.is_empty();
        }
        queue.flush_requested += 1;
        let ticket = queue.flush_requested;
        self.wake.notify_one();
        while queue.flushed < ticket && !queue.stopped {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            queue = self.done.wait_timeout(queue, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        true
    }

    /// Stops the thread after a last export, waiting at most `timeout`.
    pub(crate) fn shutdown(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut queue = self.lock();
        queue.shutdown = true;
        self.wake.notify_one();
        while !queue.stopped {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            queue = self.done.wait_timeout(queue, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// What an exporter turned off shares: no thread, stopped from the start.
pub(crate) fn inert(config: &OtlpConfig) -> Arc<Shared> {
    let shared = shared(config);
    shared.lock().stopped = true;
    shared.hot.closed.store(true, Ordering::Relaxed);
    shared
}

/// Starts the exporter thread, which hands the spans to `exporter`.
pub(crate) fn start(config: &OtlpConfig, exporter: BoxedExporter) -> io::Result<Arc<Shared>> {
    let shared = shared(config);
    let worker = Worker {
        shared: shared.clone(),
        exporter,
        scope: convert::scope(),
        timeout: config.timeout,
        delay: config.schedule_delay,
        last_warning: None,
        failures_since_warning: 0,
        backoff: Duration::ZERO,
        retry_at: None,
    };
    std::thread::Builder::new().name("audit-otlp-export".to_owned()).spawn(move || worker.run())?;
    Ok(shared)
}

fn shared(config: &OtlpConfig) -> Arc<Shared> {
    Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        wake: Condvar::new(),
        done: Condvar::new(),
        hot: Hot {
            id: NEXT_EXPORTER_ID.fetch_add(1, Ordering::Relaxed),
            sampler: FlatSampler::new(&config.sampler),
            log_ids: config.log_ids,
            batch_size: config.max_export_batch_size.min(config.max_queue_size),
            closed: AtomicBool::new(false),
        },
        max_queue_size: config.max_queue_size,
        dropped: AtomicU64::new(0),
        exported: AtomicU64::new(0),
        locals: Mutex::new(Vec::new()),
    })
}

struct Worker {
    shared: Arc<Shared>,
    exporter: BoxedExporter,
    scope: opentelemetry::InstrumentationScope,
    timeout: Duration,
    delay: Duration,
    last_warning: Option<Instant>,
    failures_since_warning: u64,
    /// The current back-off after failures (zero while exports succeed).
    backoff: Duration,
    /// No export is tried before this instant.
    retry_at: Option<Instant>,
}

impl Worker {
    fn run(mut self) {
        ON_EXPORTER_THREAD.with(|flag| flag.set(true));
        // Here rather than on a caller's thread: the first one waits a few milliseconds.
        clock::calibrate();
        let mut next_export = Instant::now() + self.delay;
        loop {
            let mut queue = self.shared.lock();
            // Sleep until a batch is full, a flush or shutdown is asked, or the delay is over.
            loop {
                let due = Instant::now() >= next_export;
                if due
                    || queue.shutdown
                    || queue.flush_requested > queue.flushed
                    || queue.loose.spans.len() + queue.chunk_spans >= self.shared.hot.batch_size
                {
                    break;
                }
                // Woken at least once a second to keep the span clock calibrated.
                let left = next_export.saturating_duration_since(Instant::now()).min(clock::RECALIBRATE_EVERY);
                let timed_out;
                (queue, timed_out) = match self.shared.wake.wait_timeout(queue, left) {
                    Ok((queue, timeout)) => (queue, timeout.timed_out()),
                    Err(poisoned) => (poisoned.into_inner().0, false),
                };
                if timed_out {
                    drop(queue);
                    clock::calibrate();
                    queue = self.shared.lock();
                }
            }
            let ticket = queue.flush_requested;
            let shutdown = queue.shutdown;
            // The next spans go into a chunk already grown, so the layer's pushes never
            // reallocate while holding the lock.
            let loose = std::mem::replace(&mut queue.loose, Chunk::with_capacity(self.shared.hot.batch_size.min(1024)));
            let mut chunks = std::mem::take(&mut queue.chunks);
            chunks.push(loose);
            queue.chunk_spans = 0;
            drop(queue);
            self.collect_locals(&mut chunks);

            self.export_all(chunks);
            clock::calibrate();
            next_export = Instant::now() + self.delay;

            let mut queue = self.shared.lock();
            queue.flushed = ticket;
            if shutdown {
                // A span closed meanwhile is still sent.
                let mut chunks = std::mem::take(&mut queue.chunks);
                chunks.push(std::mem::take(&mut queue.loose));
                queue.chunk_spans = 0;
                queue.stopped = true;
                self.shared.hot.closed.store(true, Ordering::Relaxed);
                drop(queue);
                self.collect_locals(&mut chunks);
                self.export_all(chunks);
                self.exporter.shutdown(self.timeout);
                self.shared.done.notify_all();
                return;
            }
            drop(queue);
            self.shared.done.notify_all();
        }
    }

    /// Takes what the threads' buffers hold (a thread idle since its last spans included),
    /// and forgets the buffers of threads that are gone.
    fn collect_locals(&self, chunks: &mut Vec<Chunk>) {
        let mut locals = self.shared.locals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        locals.retain(|local| {
            let mut held = local.lock();
            if !held.spans.is_empty() {
                // Copied out: the buffer stays with its thread (see `hand_over`).
                let mut chunk = Chunk::with_capacity(CHUNK_SPANS);
                held.move_into(&mut chunk);
                chunks.push(chunk);
            }
            // Only we hold it: its thread has ended.
            Arc::strong_count(local) > 1
        });
    }

    /// Exports the chunks (of the threads and of the layer), converted, in batches of at most
    /// the batch size each.
    fn export_all(&mut self, chunks: Vec<Chunk>) {
        let batch_size = self.shared.hot.batch_size.max(1);
        let total: usize = chunks.iter().map(|chunk| chunk.spans.len()).sum();
        let mut batch = Vec::with_capacity(batch_size.min(total));
        for chunk in &chunks {
            for span in &chunk.spans {
                batch.push(convert::span_data(span, &chunk.bodies[span.body.clone()], &self.scope));
                if batch.len() == batch_size {
                    self.export(std::mem::replace(&mut batch, Vec::with_capacity(batch_size.min(total))));
                }
            }
        }
        self.export(batch);
        // The emptied chunks go back to the threads: a thread that keeps recording allocates
        // nothing.
        let mut queue = self.shared.lock();
        for mut chunk in chunks {
            if queue.spare_chunks.len() >= SPARE_CHUNKS {
                break;
            }
            chunk.clear();
            queue.spare_chunks.push(chunk);
        }
    }

    fn export(&mut self, batch: Vec<opentelemetry_sdk::trace::SpanData>) {
        let count = batch.len();
        if count == 0 {
            return;
        }
        let now = Instant::now();
        if self.retry_at.is_some_and(|at| now < at) {
            self.shared.dropped.fetch_add(count as u64, Ordering::Relaxed);
            return;
        }
        match self.exporter.export(batch) {
            Ok(()) => {
                self.shared.exported.fetch_add(count as u64, Ordering::Relaxed);
                self.backoff = Duration::ZERO;
                self.retry_at = None;
            }
            Err(error) => {
                self.shared.dropped.fetch_add(count as u64, Ordering::Relaxed);
                self.failures_since_warning += 1;
                let now = Instant::now();
                self.backoff = (self.backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
                self.retry_at = Some(now + self.backoff);
                if self.last_warning.is_none_or(|last| now.duration_since(last) >= WARN_INTERVAL) {
                    otlp_export_failed(
                        &self.exporter.describe(),
                        &error.to_string(),
                        self.failures_since_warning,
                        self.shared.dropped.load(Ordering::Relaxed),
                    );
                    self.last_warning = Some(now);
                    self.failures_since_warning = 0;
                }
            }
        }
    }
}
