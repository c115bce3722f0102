use audit_runtime::log_event;

/// An import failed.
#[log_event(level = "error")]
pub struct ImportFailed<'a> {
    #[event(exception)]
    pub error: &'a (dyn std::error::Error + 'static),
    #[event(exception)]
    pub cleanup_error: Option<&'a (dyn std::error::Error + 'static)>,
}

fn main() {}
