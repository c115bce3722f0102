//! `catalog::validate()` reports an event name declared in two crates. In a binary of its own
//! so that the other test binaries keep a valid catalog.

use audit_runtime::catalog;
use audit_runtime::log_event;

// Links `audit_examples`, whose `object_created` this crate declares again. Naming an item
// makes sure the crate (and with it its catalog entries) is linked.
use audit_examples::objects::ObjectCreated as ExamplesObjectCreated;

/// Created an object in the legacy importer (same name as the examples' event: a mistake).
#[log_event(name = "object_created", group = "Importer")]
pub struct ImporterObjectCreated {
    /// Row of the import file.
    pub row: u64,
}

#[test]
fn validate_reports_a_name_declared_in_two_crates() {
    let _ = std::mem::size_of::<ExamplesObjectCreated<'static>>();
    let error = catalog::validate().expect_err("object_created is declared by two crates");
    assert_eq!(error.duplicates.len(), 1, "{error}");
    let duplicate = &error.duplicates[0];
    assert_eq!(duplicate.name, "object_created");
    let modules: Vec<&str> = duplicate.declarations.iter().map(|event| event.module).collect();
    assert_eq!(modules, ["audit_examples::objects", "catalog_duplicates"]);
    let message = error.to_string();
    assert!(message.contains("`object_created` is declared by"), "{message}");
    // Files relative to each declaring crate, with the crate named.
    assert!(message.contains("(src/objects.rs:8, crate `audit_examples`)"), "{message}");
    assert!(message.contains("(tests/catalog_duplicates.rs:13, crate `catalog_duplicates`)"), "{message}");
    assert!(message.contains("rename all but one"), "{message}");
}

#[test]
fn a_cross_crate_repeat_is_reported_even_when_declared_alike() {
    // `deprecated_endpoint_called` is declared alike twice in `audit_examples` (allowed); a
    // third, alike declaration in another crate is still a clash.
    static ALIKE: catalog::EventSchema = catalog::EventSchema {
        name: "deprecated_endpoint_called",
        level: audit_runtime::logging::Level::Warning,
        group: "Importer",
        description: "A deprecated endpoint was called.",
        fields: &[catalog::FieldSchema {
            name: "endpoint",
            type_name: "&str",
            description: "",
            redacted: false,
            kind: catalog::ValueKind::String,
        }],
        module: "importer::api",
        file: "src/api.rs",
        line: 1,
    };
    let mut events = catalog::events();
    let examples: Vec<_> = events.iter().filter(|e| e.name == ALIKE.name).copied().collect();
    assert_eq!(examples.len(), 2);
    assert!(examples.iter().all(|e| e.same_lines_as(&ALIKE)), "declared alike");
    events.push(&ALIKE);
    let error = catalog::validate_events(&events).unwrap_err();
    let names: Vec<&str> = error.duplicates.iter().map(|d| d.name).collect();
    assert_eq!(names, ["deprecated_endpoint_called", "object_created"]);
}
