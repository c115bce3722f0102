use audit_runtime::log_event;

/// A user signed in.
#[log_event]
pub struct UserSignedIn {
    pub username: String,
    #[event(skip)]
    pub password: String,
}

fn main() {
    let _ = UserSignedIn { username: String::new(), password: String::new() };
}
