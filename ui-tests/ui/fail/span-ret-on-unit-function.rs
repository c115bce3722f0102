use audit_runtime::trace_span;

#[trace_span(ret)]
fn flush(count: u32) {
    let _ = count;
}

fn main() {
    flush(1);
}
