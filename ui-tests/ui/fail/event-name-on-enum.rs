use audit_runtime::log_event;

/// Token events.
#[log_event(name = "token_event")]
pub enum TokenEvent {
    /// The config file did not define any tokens.
    NoTokensDefined,
}

fn main() {
    let _ = TokenEvent::NoTokensDefined;
}
