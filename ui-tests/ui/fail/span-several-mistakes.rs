use audit_runtime::trace_span;

// Every mistake is reported at once, each at its own token.
#[trace_span(fields(nope, level = 1), ret, colour = "red")]
fn flush(count: u32) {
    let _ = count;
}

fn main() {
    flush(1);
}
