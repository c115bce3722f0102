//! One line in `main` lets a program print the catalog of every event it can emit:
//!
//! ```text
//! cargo run -p audit-examples --example event_catalog -- --event-catalog rst
//! cargo run -p audit-examples --example event_catalog -- --event-catalog markdown
//! EVENT_CATALOG=json-schema cargo run -p audit-examples --example event_catalog
//! ```
//!
//! Without the option or the variable, the program goes on and emits a few of the events.

use audit_examples::objects::ObjectCreated;
use audit_examples::objecttypes::ObjecttypeEvent;
use uuid::Uuid;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Prints the catalog and exits when `--event-catalog FORMAT` or `EVENT_CATALOG=FORMAT`
    // asks for it (formats: rst, markdown, json-schema).
    audit_runtime::catalog::print_if_requested();

    let _logs = audit_runtime::logging::init_from_env()?;
    ObjectCreated {
        object_uuid: Uuid::new_v4(),
        objecttype_uuid: Uuid::new_v4(),
        objecttype_version: 1,
        token_identifier: "application-test",
        token_application: "Application (test)",
    }
    .emit();
    ObjecttypeEvent::DeprecatedEndpointCalled { endpoint: "/api/v1/objecttypes" }.emit();
    eprintln!(
        "(run with `--event-catalog rst|markdown|json-schema` to print the {} events of this program)",
        audit_runtime::catalog::events().len()
    );
    Ok(())
}
