use audit_runtime::log_event;

/// A deprecated endpoint was called.
#[log_event]
pub struct DeprecatedEndpointCalled(pub String);

fn main() {
    let _ = DeprecatedEndpointCalled(String::new());
}
