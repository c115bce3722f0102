use audit_runtime::Audited;

#[derive(Audited, serde::Serialize)]
struct Note {
    id: u32,
    #[audited(hide)]
    text: String,
}

fn main() {}
