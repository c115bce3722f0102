use audit_runtime::trace_span;

#[trace_span(name = "load", skip(password))]
fn load(id: u32, password: &str) -> u32 {
    id + password.len() as u32
}

fn main() {
    let _ = load(1, "pw");
}
