use audit_runtime::trace_span;

#[trace_span(fields(user_id_typo))]
fn login(user: u64, password: &str) -> bool {
    password.len() > user as usize
}

fn main() {
    // The function is still emitted: calling it type-checks.
    let _ = login(1, "pw");
}
