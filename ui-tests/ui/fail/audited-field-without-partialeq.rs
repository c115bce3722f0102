use audit_runtime::Audited;

#[derive(serde::Serialize)]
struct Dosage {
    milligrams: u32,
}

#[derive(Audited, serde::Serialize)]
struct Prescription {
    id: u32,
    dosage: Dosage,
}

fn main() {}
