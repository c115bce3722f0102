use audit_runtime::Audited;

#[derive(Audited, serde::Serialize)]
#[audited(table = "notes")]
struct Note {
    id: u32,
    text: String,
}

fn main() {}
