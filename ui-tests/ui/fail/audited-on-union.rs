use audit_runtime::Audited;

#[derive(Audited)]
union Bits {
    id: u32,
    value: f32,
}

fn main() {}
