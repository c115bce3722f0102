use audit_runtime::log_event;

/// Outcomes of an import.
#[log_event(group = "Imports")]
pub enum Import {
    /// An import was refused.
    #[event(name = "import.failed", level = "warning")]
    Refused { rows: u32 },
    /// An import broke.
    #[event(name = "import.failed", level = "warning")]
    Broke { rows: u32 },
}

fn main() {}
