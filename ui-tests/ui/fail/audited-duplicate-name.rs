use audit_runtime::Audited;

#[derive(Audited, serde::Serialize)]
struct Patient {
    id: u32,
    name: String,
    #[audited(rename = "name")]
    full_name: String,
}

fn main() {}
