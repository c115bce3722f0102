use audit_runtime::Audited;

#[derive(Audited, serde::Serialize)]
struct Bed {
    #[audited(id)]
    number: u32,
    #[audited(id)]
    ward: String,
}

fn main() {}
