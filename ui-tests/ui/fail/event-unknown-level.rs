use audit_runtime::log_event;

/// A deprecated endpoint was called.
#[log_event(level = "warn")]
pub struct DeprecatedEndpointCalled {
    pub endpoint: String,
}

fn main() {
    let _ = DeprecatedEndpointCalled { endpoint: String::new() };
}
