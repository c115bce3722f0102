//! A crate that forbids unsafe code can declare events.
#![forbid(unsafe_code)]

use audit_runtime::log_event;

/// The service started.
#[log_event]
pub struct ServiceStarted;

fn main() {
    ServiceStarted.emit();
}
