use audit_runtime::Audited;

#[derive(Audited)]
enum Status {
    Open,
    Closed,
}

fn main() {}
