//! An enabled event through our JSON layer allocates nothing once the per-thread buffers have
//! grown: the line is built in a reused buffer and written with one call. Nor does a
//! `#[trace_span]` call: its fields go into a buffer the thread reuses. The allocator counts
//! the allocations of the current thread only: the test harness's own threads may allocate at
//! any time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use audit_runtime::logging::{JsonLayer, LogFilter};
use audit_runtime::trace_span;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

struct CountingAllocator;

thread_local! {
    // Const-initialized: reading it never allocates, so the allocator may use it.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// One test at a time: `tracing` caches a callsite's interest across all live subscribers, and
/// a subscriber being built on another thread can leave it stale for a moment (a registry span
/// made, and allocating, where none is wanted).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn emit(i: u64) {
    tracing::info!(
        object_uuid = "1734afac-4c63-4b8c-9e1a-9f1f1b2c3d4e",
        token_identifier = "app \"frontend\"\n",
        objecttype_version = i,
        record_index = -17i64,
        published = true,
        "object_created"
    );
}

#[test]
fn an_enabled_event_does_not_allocate_after_warm_up() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // The counter counts: an allocation of our own is seen.
    let before = allocations();
    drop(std::hint::black_box(vec![0u8; 64]));
    assert!(allocations() > before);

    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(std::io::sink));
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("request", request_id = "2f9e9a5b", user_id = 42);
        let _entered = request.enter();
        for i in 0..10 {
            emit(i);
        }
        let before = allocations();
        for i in 0..1000 {
            emit(i);
        }
        let allocations = allocations() - before;
        assert_eq!(allocations, 0, "1000 events inside a span allocated {allocations} times");
    });
}

#[trace_span(fields(order_id, region = "eu-west"))]
fn handle(order_id: u64, log: bool) -> u64 {
    if log {
        tracing::info!(attempt = 1, "order_handled");
    }
    order_id
}

#[test]
fn a_function_span_does_not_allocate_after_warm_up() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let layer = JsonLayer::new(std::io::sink).with_filter(LogFilter::level(LevelFilter::INFO));
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("request", request_id = "2f9e9a5b");
        let _entered = request.enter();
        for i in 0..10 {
            handle(i, true);
            handle(i, false);
        }
        for log in [false, true] {
            let before = allocations();
            for i in 0..1000 {
                std::hint::black_box(handle(i, log));
            }
            let allocations = allocations() - before;
            assert_eq!(allocations, 0, "1000 spans (event inside: {log}) allocated {allocations} times");
        }
    });
}
