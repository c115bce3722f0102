use audit_runtime::trace_span;

#[trace_span(err)]
fn count(items: &[u32]) -> usize {
    items.len()
}

fn main() {
    let _ = count(&[1, 2]);
}
