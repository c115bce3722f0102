use audit_runtime::Audited;

#[derive(Audited, serde::Serialize)]
struct Patient {
    id: u32,
    #[audited(redact, skip)]
    ssn: String,
}

fn main() {}
