use audit_runtime::trace_span;

#[trace_span]
const fn answer() -> u32 {
    42
}

fn main() {
    let _ = answer();
}
