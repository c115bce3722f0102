//! A catalog that evolves safely: `catalog::diff` sorts changes into breaking and compatible,
//! and `catalog::assert_compatible_events` guards a committed catalog file, with a way to
//! accept breaking changes on purpose.

use audit_runtime::catalog::{self, ACCEPT_ENV, EventSchema, FieldSchema, ValueKind};
use audit_runtime::logging::Level;
use serde_json::Value;

const JOB: FieldSchema = FieldSchema {
    name: "job",
    type_name: "u32",
    description: "Job number.",
    redacted: false,
    kind: ValueKind::Unsigned,
};
const OWNER: FieldSchema =
    FieldSchema { name: "owner", type_name: "&str", description: "", redacted: false, kind: ValueKind::String };
const NOTE: FieldSchema = FieldSchema {
    name: "note",
    type_name: "Option<&str>",
    description: "",
    redacted: false,
    kind: ValueKind::Nullable(&ValueKind::String),
};

static DONE: EventSchema = EventSchema {
    name: "job_done",
    level: Level::Info,
    group: "Jobs",
    description: "A job is done.",
    fields: &[JOB, OWNER],
    module: "app::jobs",
    file: "src/jobs.rs",
    line: 3,
};
static STARTED: EventSchema = EventSchema { name: "job_started", line: 9, ..DONE };

fn schema(events: &[&EventSchema]) -> Value {
    catalog::json_schema(events)
}

/// The changes of going from `old` to `new`, as `(breaking, text)`.
fn changes(old: &[&EventSchema], new: &[&EventSchema]) -> Vec<(bool, String)> {
    catalog::diff(&schema(old), &schema(new)).changes.iter().map(|c| (c.breaking, c.to_string())).collect()
}

#[test]
fn the_same_catalog_has_no_changes() {
    assert!(changes(&[&DONE, &STARTED], &[&DONE, &STARTED]).is_empty());
    // Descriptions and groups are words, not contract.
    static REWORDED: EventSchema = EventSchema { description: "Finished a job.", group: "Work", ..DONE };
    assert!(changes(&[&DONE], &[&REWORDED]).is_empty());
}

#[test]
fn removed_renamed_or_retyped_fields_and_events_and_changed_levels_are_breaking() {
    static RENAMED_FIELD: EventSchema =
        EventSchema { fields: &[FieldSchema { name: "job_number", ..JOB }, OWNER], ..DONE };
    static RETYPED: EventSchema =
        EventSchema { fields: &[FieldSchema { kind: ValueKind::String, type_name: "String", ..JOB }, OWNER], ..DONE };
    static WARNING: EventSchema = EventSchema { level: Level::Warning, ..DONE };
    static REDACTED: EventSchema = EventSchema { fields: &[JOB, FieldSchema { redacted: true, ..OWNER }], ..DONE };

    let removed = changes(&[&DONE, &STARTED], &[&DONE]);
    assert_eq!(removed, [(true, "`job_started`: removed or renamed: lines of this name are no longer written".into())]);

    let renamed = changes(&[&DONE], &[&RENAMED_FIELD]);
    assert!(renamed.contains(&(true, "`job_done`, field `job`: removed or renamed".into())), "{renamed:?}");

    let retyped = changes(&[&DONE], &[&RETYPED]);
    assert_eq!(retyped.len(), 1, "{retyped:?}");
    assert!(retyped[0].0 && retyped[0].1.starts_with("`job_done`, field `job`: type changed from"), "{retyped:?}");

    assert_eq!(changes(&[&DONE], &[&WARNING]), [(true, "`job_done`: level changed from info to warning".into())]);
    let redacted = changes(&[&DONE], &[&REDACTED]);
    assert!(redacted.iter().all(|(breaking, _)| *breaking) && redacted.len() == 1, "{redacted:?}");
}

#[test]
fn new_events_and_new_optional_fields_are_compatible_a_new_required_field_is_not() {
    static WITH_NOTE: EventSchema = EventSchema { fields: &[JOB, OWNER, NOTE], ..DONE };
    static WITH_PRIORITY: EventSchema =
        EventSchema { fields: &[JOB, OWNER, FieldSchema { name: "priority", ..JOB }], ..DONE };

    assert_eq!(changes(&[&DONE], &[&DONE, &STARTED]), [(false, "`job_started`: new event".into())]);
    assert_eq!(changes(&[&DONE], &[&WITH_NOTE]), [(false, "`job_done`, field `note`: new optional field".into())]);
    let required = changes(&[&DONE], &[&WITH_PRIORITY]);
    assert_eq!(required.len(), 1);
    assert!(required[0].0, "{required:?}");
    assert!(required[0].1.contains("declare it as an `Option`"), "{required:?}");
    // Breaking changes come first.
    let mixed = catalog::diff(&schema(&[&DONE]), &schema(&[&WITH_PRIORITY, &STARTED]));
    assert!(mixed.is_breaking());
    assert!(mixed.changes[0].breaking && !mixed.changes[1].breaking, "{mixed}");
}

/// Runs `check`, returning its panic message (or `None` when it passed).
fn panic_of(check: impl FnOnce() + std::panic::UnwindSafe) -> Option<String> {
    std::panic::catch_unwind(check)
        .err()
        .map(|payload| payload.downcast_ref::<String>().cloned().unwrap_or_else(|| "a non-text panic".to_owned()))
}

// One test: it sets `ACCEPT_CATALOG_CHANGES`, which no other test of this binary reads.
#[test]
fn a_committed_catalog_is_written_guarded_updated_and_replaced_on_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.schema.json");

    // No file yet: it is written, and the check fails once, asking to commit it.
    let message = panic_of(|| catalog::assert_compatible_events(&path, &[&DONE])).expect("a first run fails");
    assert!(message.contains("commit it"), "{message}");
    let committed = std::fs::read_to_string(&path).unwrap();
    assert_eq!(committed, catalog::render_events(&[&DONE], catalog::Format::JsonSchema));

    // The same catalog passes; a compatible change passes and updates the file.
    assert_eq!(panic_of(|| catalog::assert_compatible_events(&path, &[&DONE])), None);
    assert_eq!(panic_of(|| catalog::assert_compatible_events(&path, &[&DONE, &STARTED])), None);
    let with_started = std::fs::read_to_string(&path).unwrap();
    assert!(with_started.contains("\"job_started\""), "a new event is added to the committed file");

    // A breaking change fails with the list of what breaks and how to accept it.
    let message = panic_of(|| catalog::assert_compatible_events(&path, &[&DONE])).expect("removing an event fails");
    assert!(message.contains("1 breaking change(s)"), "{message}");
    assert!(message.contains("- `job_started`: removed or renamed"), "{message}");
    assert!(message.contains("ACCEPT_CATALOG_CHANGES=1"), "{message}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), with_started, "a failed check leaves the file alone");

    // Accepted on purpose: the file is replaced and the check passes.
    // SAFETY: no other test of this binary reads or writes the environment.
    unsafe { std::env::set_var(ACCEPT_ENV, "1") };
    let accepted = panic_of(|| catalog::assert_compatible_events(&path, &[&DONE]));
    unsafe { std::env::remove_var(ACCEPT_ENV) };
    assert_eq!(accepted, None);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), committed);

    // A file that is not a catalog is an error naming it.
    std::fs::write(&path, "not json").unwrap();
    let message = panic_of(|| catalog::assert_compatible_events(&path, &[&DONE])).unwrap();
    assert!(message.contains("is not JSON") && message.contains("events.schema.json"), "{message}");
}
