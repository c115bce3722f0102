use audit_runtime::log_event;

/// A deprecated endpoint was called.
#[log_event(level = warning)]
pub struct DeprecatedEndpointCalled {
    pub endpoint: String,
}

fn main() {
    let _ = DeprecatedEndpointCalled { endpoint: String::new() };
}
