use audit_runtime::Audited;

#[derive(PartialEq, serde::Serialize)]
struct BedKey {
    ward: u32,
    bed: u32,
}

#[derive(Audited, serde::Serialize)]
struct Bed {
    id: BedKey,
    label: String,
}

fn main() {}
