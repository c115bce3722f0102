use audit_runtime::log_event;

/// Token events.
#[log_event(group = "Setup configuration")]
pub enum TokenEvent {
    /// Attempting to configure a token.
    ConfiguringToken {
        token_identifier: String,
    },
    NoTokensDefined,
}

fn main() {
    let _ = TokenEvent::NoTokensDefined;
}
