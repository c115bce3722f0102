//! When the auditor signs, and the thread that signs and writes off the writer's path.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::{SecretKey, Witness};
use crate::store::Anchor;

/// After a failed write, how long the witness waits before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// When the auditor signs a checkpoint: after a number of new entries, after a time with new
/// entries, or both (whichever comes first); and always at shutdown when entries are new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointSchedule {
    entries: Option<u64>,
    interval: Option<Duration>,
}

impl CheckpointSchedule {
    /// Every `count` entries (at least 1).
    pub fn entries(count: u64) -> Self {
        CheckpointSchedule { entries: Some(count.max(1)), interval: None }
    }

    /// Every `interval` while entries are written.
    pub fn interval(interval: Duration) -> Self {
        CheckpointSchedule { entries: None, interval: Some(interval) }
    }

    /// Also every `count` entries.
    pub fn with_entries(mut self, count: u64) -> Self {
        self.entries = Some(count.max(1));
        self
    }

    /// Also every `interval`.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }
}

/// The auditor's side: the writer hands over the chain's end after each commit (a lock and a
/// store, nothing more); a thread of its own signs and writes on the schedule.
pub(crate) struct WitnessHook {
    shared: Arc<(Mutex<Pending>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Pending {
    end: Option<(i64, String)>,
    stop: bool,
}

/// What the builder keeps until the writer starts.
pub(crate) struct WitnessSetup {
    pub(crate) key: SecretKey,
    pub(crate) witness: Box<dyn Witness>,
    pub(crate) schedule: CheckpointSchedule,
}

impl WitnessHook {
    pub(crate) fn start(setup: WitnessSetup) -> Self {
        let shared = Arc::new((Mutex::new(Pending::default()), Condvar::new()));
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("audit-witness".into())
            .spawn(move || run(setup, &theirs))
            .map_err(|error| tracing::error!(event = "audit.witness_not_started", error = %error))
            .ok();
        WitnessHook { shared, thread }
    }

    /// The chain ends at `seq` with `hash` after a commit.
    pub(crate) fn committed(&self, seq: i64, hash: &str) {
        let (lock, wake) = &*self.shared;
        if let Ok(mut pending) = lock.lock() {
            pending.end = Some((seq, hash.to_owned()));
            wake.notify_one();
        }
    }
}

impl Drop for WitnessHook {
    /// Signs the last end if it is new, then stops.
    fn drop(&mut self) {
        let (lock, wake) = &*self.shared;
        if let Ok(mut pending) = lock.lock() {
            pending.stop = true;
            wake.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(mut setup: WitnessSetup, shared: &(Mutex<Pending>, Condvar)) {
    let (lock, wake) = shared;
    let schedule = setup.schedule;
    let mut signed_seq = 0_i64;
    let mut last_signed = Instant::now();
    let mut retry_at: Option<Instant> = None;
    loop {
        let Ok(mut pending) = lock.lock() else { return };
        let (end, stop) = loop {
            let now = Instant::now();
            let new = pending.end.as_ref().map_or(0, |(seq, _)| seq - signed_seq).max(0) as u64;
            let retry_due = retry_at.is_none_or(|at| now >= at);
            let by_count = schedule.entries.is_some_and(|n| new >= n);
            let by_time = schedule.interval.is_some_and(|t| new > 0 && now.duration_since(last_signed) >= t);
            if pending.stop || (retry_due && (by_count || by_time)) {
                break (pending.end.clone().filter(|_| new > 0), pending.stop);
            }
            // Asleep until a commit, the interval's end (with new entries), or the retry time.
            let wait = match retry_at.filter(|at| *at > now) {
                Some(at) => Some(at - now),
                None if new > 0 => schedule.interval.map(|t| (last_signed + t).saturating_duration_since(now)),
                None => None,
            };
            pending = match wait {
                Some(wait) => match wake.wait_timeout(pending, wait.max(Duration::from_millis(1))) {
                    Ok((guard, _)) => guard,
                    Err(_) => return,
                },
                None => match wake.wait(pending) {
                    Ok(guard) => guard,
                    Err(_) => return,
                },
            };
        };
        drop(pending);
        if let Some((seq, hash)) = end {
            let checkpoint = setup.key.sign(&Anchor { seq, hash }, OffsetDateTime::now_utc());
            match setup.witness.record(&checkpoint) {
                Ok(()) => {
                    signed_seq = seq;
                    last_signed = Instant::now();
                    retry_at = None;
                    tracing::debug!(event = "audit.checkpoint_witnessed", seq);
                }
                Err(error) => {
                    tracing::error!(event = "audit.witness_failed", seq, error = &error as &dyn std::error::Error);
                    retry_at = Some(Instant::now() + RETRY_AFTER);
                }
            }
        }
        if stop {
            return;
        }
    }
}
