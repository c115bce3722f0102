use audit_runtime::log_event;

/// A token was configured.
#[log_event]
pub struct TokenConfigured {
    pub token_identifier: String,
    pub level: u8,
}

fn main() {
    let _ = TokenConfigured { token_identifier: String::new(), level: 1 };
}
