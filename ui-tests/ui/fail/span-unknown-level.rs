use audit_runtime::trace_span;

#[trace_span(level = "verbose")]
fn load(id: u32) -> u32 {
    id
}

fn main() {
    let _ = load(1);
}
