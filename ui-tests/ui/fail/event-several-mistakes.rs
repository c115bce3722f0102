// Every mistake of one item is reported at once, each at its own token.
use audit_runtime::log_event;

#[log_event(level = "loud", colour = "red")]
pub struct ObjectCreated {
    pub timestamp: u64,
}

fn main() {
    let _ = ObjectCreated { timestamp: 1 };
}
