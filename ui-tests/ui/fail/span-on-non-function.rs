use audit_runtime::trace_span;

#[trace_span]
struct Loader {
    id: u32,
}

fn main() {
    let _ = Loader { id: 1 }.id;
}
