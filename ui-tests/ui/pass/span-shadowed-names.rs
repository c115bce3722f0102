//! The generated code uses absolute paths: local items named like `tracing`, `Result`, `Ok`,
//! `core` or `audit_runtime`'s helpers change nothing.
#![deny(warnings)]
#![allow(dead_code)]

mod tracing {}
mod core {}

struct Result;
struct Option;

use audit_runtime::trace_span;

#[trace_span(err, ret, fields(x))]
fn checked(x: u32) -> ::std::result::Result<u32, ::std::string::String> {
    if x == 0 { Err("zero".into()) } else { Ok(x) }
}

#[trace_span(fields(n))]
async fn later(n: u32) -> u32 {
    n
}

fn main() {
    let _ = checked(1);
    let _ = later(1);
}
