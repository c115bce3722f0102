use audit_runtime::Audited;

#[derive(Audited, serde::Serialize)]
struct Pair(u32, String);

fn main() {}
