//! A field type through an alias or a qualified path is logged through `Serialize`.
#![deny(warnings)]

use audit_runtime::log_event;

/// An alias is logged through `Serialize`.
pub type Count = u32;

/// Something was counted.
#[log_event]
pub struct Counted {
    /// Through the alias.
    pub count: Count,
    /// Fully qualified paths work.
    pub total: ::core::primitive::u64,
}

fn main() {
    Counted { count: 1, total: 2 }.emit();
}
