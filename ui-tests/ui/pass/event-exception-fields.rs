use audit_runtime::catalog::{self, ValueKind};
use audit_runtime::log_event;

/// Outcomes of an import, one event written at two levels.
#[log_event(group = "Imports")]
pub enum ImportFailed<'a> {
    /// An import was refused: the file was at fault.
    #[event(name = "import.failed", level = "warning")]
    Refused {
        /// Rows read before.
        rows: u32,
        /// Why.
        #[event(exception)]
        error: &'a (dyn std::error::Error + 'static),
    },
    /// An import broke: the service was at fault.
    #[event(name = "import.failed", level = "error")]
    Broke {
        /// Rows read before.
        rows: u32,
        /// Why.
        #[event(exception)]
        error: &'a (dyn std::error::Error + 'static),
    },
}

/// A panic was caught in a worker.
#[log_event(level = "error")]
pub struct WorkerPanicked<'a> {
    /// The panic's text.
    #[event(exception)]
    pub panic: &'a str,
}

fn main() {
    let io = std::io::Error::other("disk full");
    ImportFailed::Refused { rows: 3, error: &io }.emit();
    ImportFailed::Broke { rows: 3, error: &io }.emit();
    WorkerPanicked { panic: "index out of bounds" }.emit();
    let failed: Vec<_> = catalog::events().into_iter().filter(|e| e.name == "import.failed").collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].fields[1].name, "exception");
    assert_eq!(failed[0].fields[1].kind, ValueKind::Exception);
    assert_eq!(catalog::validate(), Ok(()));
}
