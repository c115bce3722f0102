use audit_runtime::log_event;

#[log_event(group = "Objects")]
pub struct ObjectCreated {
    pub objecttype_version: u32,
}

fn main() {
    // The struct is still emitted: only the missing doc comment is reported.
    let _ = ObjectCreated { objecttype_version: 1 };
}
