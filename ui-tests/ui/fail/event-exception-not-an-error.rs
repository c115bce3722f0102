use audit_runtime::log_event;

/// An import failed.
#[log_event(level = "error")]
pub struct ImportFailed {
    #[event(exception)]
    pub code: u32,
}

fn main() {
    ImportFailed { code: 3 }.emit();
}
