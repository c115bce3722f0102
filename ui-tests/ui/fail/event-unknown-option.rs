use audit_runtime::log_event;

/// Created an `Object` via the API.
#[log_event(name = "object_created", severity = "info")]
pub struct ObjectCreated {
    pub objecttype_version: u32,
}

fn main() {
    let _ = ObjectCreated { objecttype_version: 1 };
}
