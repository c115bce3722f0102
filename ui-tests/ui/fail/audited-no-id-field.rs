use audit_runtime::Audited;

#[derive(Audited, serde::Serialize)]
struct Note {
    text: String,
    author: String,
}

fn main() {}
