use audit_runtime::Audited;

#[derive(PartialEq)]
struct Dosage {
    milligrams: u32,
}

#[derive(Audited)]
struct Prescription {
    id: u32,
    dosage: Dosage,
}

fn main() {}
