//! No options: the name is the snake_case type name, the level `info`, the group the module
//! path. Unit structs are events without context. Declared inside a function, too.
#![deny(warnings)]

use audit_runtime::log_event;
use audit_runtime::logging::Level;

/// The service started.
#[log_event]
pub struct ServiceStarted;

/// HTTP requests of the API.
#[log_event]
pub struct HTTPRequestFinished {
    /// Status code.
    pub status: u16,
}

fn main() {
    /// A local event.
    #[log_event(level = "debug")]
    struct LocalThing {
        count: u64,
    }
    ServiceStarted.emit();
    HTTPRequestFinished { status: 200 }.emit();
    LocalThing { count: 3 }.emit();
    let events = audit_runtime::catalog::events();
    let started = events.iter().find(|e| e.name == "service_started").unwrap();
    assert_eq!((started.level, started.group, started.fields.len()), (Level::Info, module_path!(), 0));
    assert!(events.iter().any(|e| e.name == "http_request_finished"));
    assert!(events.iter().any(|e| e.name == "local_thing" && e.level == Level::Debug));
}
