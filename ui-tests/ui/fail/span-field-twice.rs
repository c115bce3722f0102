use audit_runtime::trace_span;

#[trace_span(fields(id, id = id + 1))]
fn load(id: u32) -> u32 {
    id
}

fn main() {
    let _ = load(1);
}
