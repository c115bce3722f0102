//! Lifetime and type parameters, bounds, where clauses; `emit()` needs `Serialize` only for
//! the parameters that are logged.
#![deny(warnings)]

use std::fmt::Debug;

use audit_runtime::log_event;
use serde::Serialize;

/// A payload was received.
#[log_event(group = "Payloads")]
pub struct PayloadReceived<'a, 'b: 'a, T, U: Debug>
where
    T: Clone,
{
    /// The payload.
    pub payload: T,
    /// Where it came from.
    pub origin: &'a U,
    /// Also borrowed.
    pub note: &'b str,
    /// Not logged, so it needs no `Serialize`.
    #[event(redact)]
    pub raw: Box<dyn Fn() + 'a>,
}

/// Generic enums work too.
#[log_event(group = "Payloads")]
pub enum Forwarded<T> {
    /// Forwarded a payload.
    Forwarded {
        /// The payload.
        payload: Option<T>,
    },
    /// Dropped a payload.
    Dropped,
}

#[derive(Clone, Serialize)]
struct Item {
    id: u32,
}

fn main() {
    let origin = String::from("upstream");
    PayloadReceived { payload: Item { id: 1 }, origin: &origin, note: "n", raw: Box::new(|| {}) }.emit();
    Forwarded::Forwarded { payload: Some(vec![1, 2]) }.emit();
    Forwarded::<()>::Dropped.emit();
}
