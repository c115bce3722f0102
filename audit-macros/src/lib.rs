//! Procedural macros of the audit toolkit. Use them through `audit-runtime`, which re-exports
//! them and holds everything the generated code calls.
//!
//! Each macro runs one pipeline: `from_syn` (`ast.rs`, with `attr.rs` reading the options),
//! `validate` (`valid.rs`), `expand` (`expand.rs`); the pieces they share live once:
//! `level.rs` (the typed `Level`), `types.rs` (the field-type classifier), `names.rs`,
//! `errors.rs`; errors carry the span of the offending token and the item is still emitted so
//! that one mistake gives one error.

mod audited;
mod errors;
mod keys;
mod level;
mod log_event;
mod names;
mod trace_span;
mod types;

use proc_macro::TokenStream;

/// Declares a typed log event; see `audit_runtime::event`.
#[proc_macro_attribute]
pub fn log_event(args: TokenStream, input: TokenStream) -> TokenStream {
    log_event::expand(args.into(), input.into()).into()
}

/// Field-level change tracking; see `audit_runtime::Audited`.
#[proc_macro_derive(Audited, attributes(audited))]
pub fn derive_audited(input: TokenStream) -> TokenStream {
    audited::derive(input.into()).into()
}

/// Wraps a function (sync or async) in a `tracing` span; see `audit_runtime::trace`.
#[proc_macro_attribute]
pub fn trace_span(args: TokenStream, input: TokenStream) -> TokenStream {
    trace_span::expand(args.into(), input.into()).into()
}
