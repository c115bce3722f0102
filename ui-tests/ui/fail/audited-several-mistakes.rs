use audit_runtime::Audited;

// Every mistake of the item is reported at once, each at its own token.
#[derive(Audited, serde::Serialize)]
#[audited(object_type = "")]
struct Patient {
    id: u32,
    #[audited(secret)]
    ssn: String,
    #[audited(skip, redact)]
    cache: Vec<u8>,
}

fn main() {}
