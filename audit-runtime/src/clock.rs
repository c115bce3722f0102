//! The time of log lines and of the spans `#[trace_span]` records: the CPU's time-stamp counter,
//! converted to Unix nanoseconds, instead of an OS clock read each (about 35 ns on a VM, a third
//! of what a span cost and a tenth of a log line; `rdtsc` costs about 10 ns).
//!
//! The TSC is used only on x86-64 Linux when the kernel itself keeps time with it (its
//! clocksource is `tsc`: the counter is invariant and synchronised between cores, which the
//! kernel checks). Elsewhere, and until it is calibrated, spans read the OS clock.
//!
//! Calibration runs on the exporter threads and on a small thread of its own that the log
//! layers start ([`keep_calibrated`], when the first is made), never on a caller's: a first one over a few milliseconds,
//! then at most once a second. Each re-reads the OS
//! clocks beside the counter: the rate (nanoseconds per tick) is measured against the monotonic
//! clock from the first calibration on, so it grows more precise with time; the Unix time of a
//! tick is re-anchored to the wall clock each time, so NTP corrections and steps reach span
//! timestamps within a second. A span's start is the conversion of its first tick; its end is
//! the start plus the ticks in between at the rate read at its start, so a duration is never
//! negative nor bent by a re-anchoring.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The conversion, published as a sequence lock (odd sequence: being written).
static SEQUENCE: AtomicU64 = AtomicU64::new(0);
static BASE_TICKS: AtomicU64 = AtomicU64::new(0);
static BASE_UNIX_NANO: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per tick, fixed point with [`SHIFT`] fractional bits; zero: use the OS clock.
static RATE: AtomicU64 = AtomicU64::new(0);
const SHIFT: u32 = 32;

/// The writers' side (several exporters may run at once).
static CALIBRATION: Mutex<Calibration> = Mutex::new(Calibration { usable: None, origin: None, last: None });

/// How long the first calibration measures the rate.
const FIRST_CALIBRATION: Duration = Duration::from_millis(5);
/// At most one re-calibration per this interval.
pub(crate) const RECALIBRATE_EVERY: Duration = Duration::from_secs(1);
/// A measured rate further than this from the one in use (a VM moved to another host, say)
/// puts spans back on the OS clock until the next calibration measures it afresh.
const MAX_RATE_CHANGE: f64 = 0.001;

struct Calibration {
    /// Whether the TSC can be used here; asked once.
    usable: Option<bool>,
    /// The first reading: the rate is measured from it.
    origin: Option<Reading>,
    /// The time of the last calibration.
    last: Option<Instant>,
}

/// The counter read beside the OS clocks.
#[derive(Clone, Copy)]
struct Reading {
    ticks: u64,
    monotonic: Instant,
    unix_nano: u64,
}

/// When a span started.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) struct Start {
    pub(crate) unix_nano: u64,
    ticks: u64,
    /// The rate at the start; zero when the OS clock was read.
    rate: u64,
}

fn os_unix_nano() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline]
fn ticks() -> u64 {
    // SAFETY: `rdtsc` exists on every x86-64 CPU and has no preconditions.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
#[inline]
fn ticks() -> u64 {
    0
}

/// `ticks` at `rate`, in nanoseconds.
#[inline]
fn to_nanos(ticks: u64, rate: u64) -> u64 {
    ((u128::from(ticks) * u128::from(rate)) >> SHIFT) as u64
}

/// The conversion in use: `(base ticks, their Unix time, rate)`.
#[inline]
fn conversion() -> (u64, u64, u64) {
    loop {
        let before = SEQUENCE.load(Ordering::Acquire);
        let base_ticks = BASE_TICKS.load(Ordering::Relaxed);
        let base_unix = BASE_UNIX_NANO.load(Ordering::Relaxed);
        let rate = RATE.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if before & 1 == 0 && SEQUENCE.load(Ordering::Relaxed) == before {
            return (base_ticks, base_unix, rate);
        }
        std::hint::spin_loop();
    }
}

fn publish(base: &Reading, rate: u64) {
    // Writers hold `CALIBRATION`: one at a time.
    let sequence = SEQUENCE.load(Ordering::Relaxed);
    SEQUENCE.store(sequence + 1, Ordering::Relaxed);
    fence(Ordering::Release);
    BASE_TICKS.store(base.ticks, Ordering::Relaxed);
    BASE_UNIX_NANO.store(base.unix_nano, Ordering::Relaxed);
    RATE.store(rate, Ordering::Relaxed);
    SEQUENCE.store(sequence + 2, Ordering::Release);
}

/// Now, in nanoseconds since the Unix epoch.
#[inline]
pub(crate) fn unix_nano() -> u64 {
    start().unix_nano
}

/// Starts the thread that keeps the conversion calibrated for the log layers (once per
/// process; nothing when the TSC cannot be used).
pub(crate) fn keep_calibrated() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new().name("audit-clock".into()).spawn(|| {
            loop {
                calibrate();
                if RATE.load(Ordering::Relaxed) == 0 && !is_usable() {
                    return;
                }
                std::thread::sleep(RECALIBRATE_EVERY);
            }
        });
        // Without the thread, lines read the OS clock, as before calibration.
        drop(spawned);
    });
}

/// Whether the TSC can be used here (asked once).
fn is_usable() -> bool {
    let mut calibration = CALIBRATION.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *calibration.usable.get_or_insert_with(tsc_usable)
}

/// Now, as a span's start.
#[inline]
pub(crate) fn start() -> Start {
    let (base_ticks, base_unix, rate) = conversion();
    if rate == 0 {
        return Start { unix_nano: os_unix_nano(), ticks: 0, rate: 0 };
    }
    let now = ticks();
    // The base was read before the counter, so it is not later (cores are synchronised);
    // saturating all the same.
    let unix_nano = base_unix.saturating_add(to_nanos(now.saturating_sub(base_ticks), rate));
    Start { unix_nano, ticks: now, rate }
}

/// Now, as the end of the span that started at `start` (never before it).
#[inline]
#[cfg(any(test, feature = "otlp"))]
pub(crate) fn end(start: &Start) -> u64 {
    if start.rate == 0 {
        return os_unix_nano().max(start.unix_nano);
    }
    start.unix_nano.saturating_add(to_nanos(ticks().saturating_sub(start.ticks), start.rate))
}

/// Whether spans read the TSC now (tests).
#[cfg(test)]
pub(crate) fn uses_tsc() -> bool {
    conversion().2 != 0
}

/// Whether the kernel keeps time with the TSC: then it is invariant and synchronised.
fn tsc_usable() -> bool {
    cfg!(all(target_arch = "x86_64", target_os = "linux"))
        && std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .is_ok_and(|source| source.trim() == "tsc")
}

/// The counter and the OS clocks read together: the tightest of a few tries, the counter taken
/// halfway.
fn read() -> Reading {
    let mut best: Option<(u64, Reading)> = None;
    for _ in 0..5 {
        let before = ticks();
        let monotonic = Instant::now();
        let unix_nano = os_unix_nano();
        let after = ticks();
        let spread = after.wrapping_sub(before);
        if best.as_ref().is_none_or(|(s, _)| spread < *s) {
            let reading = Reading { ticks: before + spread / 2, monotonic, unix_nano };
            best = Some((spread, reading));
        }
    }
    match best {
        Some((_, reading)) => reading,
        None => unreachable!("five tries"),
    }
}

/// The rate between two readings, or `None` when the counter did not move forward.
fn rate_between(from: &Reading, to: &Reading) -> Option<u64> {
    let ticks = to.ticks.checked_sub(from.ticks).filter(|&t| t > 0)?;
    let nanos = to.monotonic.checked_duration_since(from.monotonic)?.as_nanos();
    let rate = (nanos << SHIFT) / u128::from(ticks);
    u64::try_from(rate).ok().filter(|&r| r > 0)
}

/// Calibrates when due: at an exporter's start or the clock thread's (waiting a few
/// milliseconds the first time in the process, on that thread) and then at most once a second.
pub(crate) fn calibrate() {
    let mut calibration = CALIBRATION.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !*calibration.usable.get_or_insert_with(tsc_usable) {
        return;
    }
    if calibration.last.is_some_and(|last| last.elapsed() < RECALIBRATE_EVERY) {
        return;
    }
    let origin = match calibration.origin {
        Some(origin) => origin,
        None => {
            let origin = read();
            std::thread::sleep(FIRST_CALIBRATION);
            calibration.origin = Some(origin);
            origin
        }
    };
    let now = read();
    calibration.last = Some(now.monotonic);
    let current = RATE.load(Ordering::Relaxed);
    match rate_between(&origin, &now) {
        Some(rate) if current == 0 || (rate as f64 / current as f64 - 1.0).abs() <= MAX_RATE_CHANGE => {
            publish(&now, rate);
        }
        _ => {
            // Measure afresh from here; the OS clock meanwhile.
            calibration.origin = Some(now);
            publish(&now, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_follow_the_wall_clock_and_durations_the_monotonic_one() {
        calibrate();
        if !tsc_usable() {
            assert!(!uses_tsc());
            return;
        }
        assert!(uses_tsc());
        for _ in 0..3 {
            let (before, outer_start) = (os_unix_nano(), Instant::now());
            let start = start();
            let (after, inner_start) = (os_unix_nano(), Instant::now());
            // Within a millisecond of the wall clock (a few microseconds in practice).
            assert!(start.unix_nano + 1_000_000 >= before && start.unix_nano <= after + 1_000_000);
            std::thread::sleep(Duration::from_millis(20));
            let inner = inner_start.elapsed().as_nanos() as u64;
            let end = end(&start);
            let outer = outer_start.elapsed().as_nanos() as u64;
            // Between the monotonic time measured inside and around it (a preemption in between
            // cannot fail the test), give or take the rate's error: the first calibration
            // measures it over 5 ms, within 0.1 % or so.
            let measured = end - start.unix_nano;
            assert!(
                measured + inner / 100 + 100_000 >= inner && measured <= outer + outer / 100 + 100_000,
                "measured {measured} ns, between {inner} and {outer} ns"
            );
        }
    }

    #[test]
    fn an_end_is_never_before_its_start() {
        calibrate();
        for _ in 0..1000 {
            let start = start();
            assert!(end(&start) >= start.unix_nano);
        }
    }

    #[test]
    fn the_rate_is_measured_between_readings() {
        let from = Reading { ticks: 1_000, monotonic: Instant::now(), unix_nano: 0 };
        let to = Reading { ticks: 3_000, monotonic: from.monotonic + Duration::from_nanos(1_000), unix_nano: 0 };
        assert_eq!(rate_between(&from, &to), Some(1 << (SHIFT - 1)));
        assert_eq!(to_nanos(4_000, 1 << (SHIFT - 1)), 2_000);
        assert_eq!(rate_between(&to, &from), None);
    }
}
