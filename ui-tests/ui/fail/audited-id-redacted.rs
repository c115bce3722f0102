use audit_runtime::Audited;

#[derive(Audited, serde::Serialize)]
struct Patient {
    #[audited(id, redact)]
    ssn: String,
    name: String,
}

fn main() {}
