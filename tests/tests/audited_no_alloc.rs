//! `changes_to` with nothing changed allocates nothing: counted by a global allocator that
//! counts the allocations of the current thread. Its own test binary, since the allocator is
//! process-wide.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use audit_runtime::Audited;
use serde::Serialize;

struct CountingAllocator;

thread_local! {
    // Const-initialized: reading it never allocates, so the allocator may use it.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
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
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations made on this thread by `f`.
fn allocations_in<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    (result, ALLOCATIONS.with(Cell::get) - before)
}

#[derive(Audited, Clone, Serialize)]
struct Address {
    id: u32,
    city: String,
    #[audited(redact)]
    door_code: String,
}

#[derive(Audited, Clone, Serialize)]
struct Patient {
    id: i64,
    name: String,
    weight_kg: f64,
    note: Option<String>,
    tags: Vec<String>,
    scores: BTreeMap<String, i32>,
    address: Address,
    previous: Option<Address>,
    contacts: Vec<Address>,
    #[audited(redact)]
    ssn: String,
    #[audited(rename = "nan_reading")]
    reading: f32,
    #[audited(skip)]
    cache: Vec<u8>,
}

fn patient() -> Patient {
    let address = Address { id: 1, city: "Utrecht".into(), door_code: "4711".into() };
    Patient {
        id: 17,
        name: "Jane".into(),
        weight_kg: 71.5,
        note: Some("n".into()),
        tags: vec!["a".into(), "b".into()],
        scores: BTreeMap::from([("x".into(), 1)]),
        address: address.clone(),
        previous: Some(address.clone()),
        contacts: vec![address],
        ssn: "123".into(),
        reading: f32::NAN,
        cache: vec![1],
    }
}

#[test]
fn nothing_changed_allocates_nothing() {
    let old = patient();
    let mut new = old.clone();
    new.cache = vec![2; 10]; // skipped: not a change
    let (changes, allocations) = allocations_in(|| old.changes_to(&new));
    assert!(changes.is_empty());
    assert_eq!(allocations, 0, "changes_to allocated with nothing changed");
}

#[test]
fn the_counter_sees_a_change_allocate() {
    // Guards the test above: a real change must be counted, or the counter counts nothing.
    let old = patient();
    let mut new = old.clone();
    new.name = "Janet".into();
    let (changes, allocations) = allocations_in(|| old.changes_to(&new));
    assert_eq!(changes.len(), 1);
    assert!(allocations > 0);
}
