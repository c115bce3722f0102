use audit_runtime::log_event;

/// Not an event: a function.
#[log_event]
pub fn object_created() {}

fn main() {
    object_created();
}
