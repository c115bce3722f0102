//! The exporter thread: a bounded queue filled by the layer, emptied in batches that are
//! encoded and posted over plain HTTP/1.1. The caller never waits for the network: a full
//! queue drops the span and counts it.

use std::cell::{Cell, UnsafeCell};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing_core::Metadata;

use super::clock;
use super::config::{Endpoint, OtlpConfig};
use super::fast::{CHUNK_SPANS, Rare};
use super::proto;
use super::record::{Resource, SpanRecord};
use super::sampler::FlatSampler;

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

/// A span of the fast path of `#[trace_span]`, finished: a fixed-size record, encoded as a
/// protobuf `Span` on the exporter thread rather than on the caller's.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) parent_span_id: u64,
    pub(crate) start_unix_nano: u64,
    pub(crate) end_unix_nano: u64,
    pub(crate) meta: &'static Metadata<'static>,
    /// Where its encoded fields, events and links are in the chunk's `bodies`.
    pub(crate) body: Range<usize>,
    pub(crate) rare: Option<Box<Rare>>,
}

impl Finished {
    pub(crate) fn name(&self) -> &str {
        self.rare.as_ref().and_then(|rare| rare.name_override.as_deref()).unwrap_or(self.meta.name())
    }

    pub(crate) fn status(&self) -> Option<&str> {
        self.rare.as_ref().and_then(|rare| rare.status.as_deref())
    }
}

/// Finished spans of one thread, handed over together.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub(crate) spans: Vec<Finished>,
    /// The spans' encoded fields, one after the other.
    pub(crate) bodies: Vec<u8>,
}

impl Chunk {
    fn with_capacity() -> Self {
        Chunk { spans: Vec::with_capacity(CHUNK_SPANS), bodies: Vec::with_capacity(CHUNK_SPANS * 32) }
    }

    fn clear(&mut self) {
        self.spans.clear();
        self.bodies.clear();
    }

    /// Moves the spans into `to` (empty), leaving this one empty with its capacity.
    pub(crate) fn move_into(&mut self, to: &mut Chunk) {
        to.spans.append(&mut self.spans);
        to.bodies.extend_from_slice(&self.bodies);
        self.bodies.clear();
    }
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
    spans: Vec<SpanRecord>,
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
        let mut chunk = spare.unwrap_or_else(Chunk::with_capacity);
        local.lock().move_into(&mut chunk);
        let spans = chunk.spans.len();
        let mut queue = self.lock();
        let queued = queue.spans.len() + queue.chunk_spans;
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

    /// Hands a finished span to the exporter; drops it (counted) when the queue is full.
    pub(crate) fn push(&self, span: SpanRecord) {
        let mut queue = self.lock();
        if queue.spans.len() + queue.chunk_spans >= self.max_queue_size || queue.stopped {
            drop(queue);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        queue.spans.push(span);
        // Wake the thread only when a batch is full: most spans cost no system call.
        let wake = queue.spans.len() + queue.chunk_spans == self.hot.batch_size;
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
            return queue.spans.is_empty() && queue.chunks.is_empty();
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

/// Starts the exporter thread.
pub(crate) fn start(config: &OtlpConfig) -> io::Result<Arc<Shared>> {
    let shared = shared(config);
    let worker = Worker {
        shared: shared.clone(),
        client: Client { endpoint: config.endpoint.clone(), headers: config.headers.clone(), timeout: config.timeout },
        resource: config.resource(),
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
    client: Client,
    resource: Resource,
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
                    || queue.spans.len() + queue.chunk_spans >= self.shared.hot.batch_size
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
            // The next spans go into a vector already grown, so the callers' pushes never
            // reallocate while holding the lock.
            let spans = std::mem::replace(&mut queue.spans, Vec::with_capacity(self.shared.hot.batch_size));
            let mut chunks = std::mem::take(&mut queue.chunks);
            queue.chunk_spans = 0;
            drop(queue);
            self.collect_locals(&mut chunks);

            self.export_all(&spans, chunks);
            clock::calibrate();
            next_export = Instant::now() + self.delay;

            let mut queue = self.shared.lock();
            queue.flushed = ticket;
            if shutdown {
                // A span closed meanwhile is still sent.
                let rest = std::mem::take(&mut queue.spans);
                let mut chunks = std::mem::take(&mut queue.chunks);
                queue.chunk_spans = 0;
                queue.stopped = true;
                self.shared.hot.closed.store(true, Ordering::Relaxed);
                drop(queue);
                self.collect_locals(&mut chunks);
                self.export_all(&rest, chunks);
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
                let mut chunk = Chunk::with_capacity();
                held.move_into(&mut chunk);
                chunks.push(chunk);
            }
            // Only we hold it: its thread has ended.
            Arc::strong_count(local) > 1
        });
    }

    /// Exports the spans recorded by the layer and the chunks handed over by threads, in
    /// requests of at most a batch each.
    fn export_all(&mut self, spans: &[SpanRecord], chunks: Vec<Chunk>) {
        let batch_size = self.shared.hot.batch_size.max(1);
        for batch in spans.chunks(batch_size) {
            self.export(batch, &[]);
        }
        let (mut start, mut count) = (0, 0);
        for (i, chunk) in chunks.iter().enumerate() {
            if count > 0 && count + chunk.spans.len() > batch_size {
                self.export(&[], &chunks[start..i]);
                (start, count) = (i, 0);
            }
            count += chunk.spans.len();
        }
        if count > 0 {
            self.export(&[], &chunks[start..]);
        }
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

    fn export(&mut self, batch: &[SpanRecord], encoded: &[Chunk]) {
        let count = batch.len() + encoded.iter().map(|chunk| chunk.spans.len()).sum::<usize>();
        if count == 0 {
            return;
        }
        let now = Instant::now();
        if self.retry_at.is_some_and(|at| now < at) {
            self.shared.dropped.fetch_add(count as u64, Ordering::Relaxed);
            return;
        }
        let body = proto::export_request(&self.resource, batch, encoded);
        match self.client.post(&body) {
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
                    tracing::warn!(
                        endpoint = %self.client.url(),
                        error = %error,
                        failed_exports = self.failures_since_warning,
                        dropped_spans_total = self.shared.dropped.load(Ordering::Relaxed),
                        "otlp_export_failed"
                    );
                    self.last_warning = Some(now);
                    self.failures_since_warning = 0;
                }
            }
        }
    }
}

/// A minimal HTTP/1.1 client: one connection per export, `Connection: close`.
struct Client {
    endpoint: Endpoint,
    headers: Vec<(String, String)>,
    timeout: Duration,
}

impl Client {
    fn url(&self) -> String {
        format!("http://{}{}", self.endpoint.host_header(), self.endpoint.path)
    }

    fn post(&self, body: &[u8]) -> io::Result<()> {
        let deadline = Instant::now() + self.timeout;
        let addresses = (self.endpoint.host.as_str(), self.endpoint.port).to_socket_addrs()?;
        let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host name resolved to no address");
        let mut stream = None;
        for address in addresses {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            match TcpStream::connect_timeout(&address, left) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = e,
            }
        }
        let mut stream = stream.ok_or(last_error)?;
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        stream.set_write_timeout(Some(left))?;
        stream.set_read_timeout(Some(left))?;
        stream.set_nodelay(true)?;

        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: audit-runtime/{}\r\n",
            self.endpoint.path,
            self.endpoint.host_header(),
            body.len(),
            env!("CARGO_PKG_VERSION"),
        );
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()?;

        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line)?;
        let status: u16 =
            status_line.split_whitespace().nth(1).and_then(|code| code.parse().ok()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("not an HTTP answer: {status_line:?}"))
            })?;
        if (200..300).contains(&status) {
            return Ok(());
        }
        // Keep a little of the body: collectors say what was wrong there.
        let mut rest = Vec::new();
        let _ = reader.take(4096).read_to_end(&mut rest);
        let text = String::from_utf8_lossy(&rest);
        let reason = text.split("\r\n\r\n").nth(1).unwrap_or("").trim();
        Err(io::Error::other(format!("the collector answered {}: {reason}", status_line.trim())))
    }
}
