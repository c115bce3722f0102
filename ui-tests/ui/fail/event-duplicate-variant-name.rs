use audit_runtime::log_event;

/// Objecttype events.
#[log_event(group = "Objecttypes")]
pub enum ObjecttypeEvent {
    /// Created an `Objecttype` via the API.
    ObjecttypeCreated { naam: String },
    /// Created an `Objecttype` via the import.
    #[event(name = "objecttype_created")]
    ObjecttypeImported { naam: String },
}

fn main() {
    let _ = ObjecttypeEvent::ObjecttypeImported { naam: String::new() };
}
