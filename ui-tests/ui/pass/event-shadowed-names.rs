//! The expansion uses absolute paths only: local items named like the ones it uses change
//! nothing.
#![deny(warnings)]
#![allow(dead_code, non_camel_case_types)]

mod core {}
mod tracing {}
mod serde {}
mod inventory {}
struct str;
struct Some;
struct None;
trait Event {}
trait AsRef {}
type Result = ();

use audit_runtime::log_event;

/// Shadowing does not matter.
#[log_event(level = "critical")]
pub struct Shadowed<'a> {
    /// A string.
    pub text: &'a ::core::primitive::str,
    /// An option.
    pub maybe: Option<u8>,
    /// Redacted.
    #[event(redact)]
    pub secret: u8,
}

fn main() {
    Shadowed { text: "t", maybe: Option::None, secret: 1 }.emit();
}
