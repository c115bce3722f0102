use audit_runtime::log_event;

/// An import failed.
#[log_event(level = "error")]
pub struct ImportFailed<'a> {
    #[event(exception, redact)]
    pub error: &'a (dyn std::error::Error + 'static),
}

fn main() {}
