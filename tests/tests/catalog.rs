//! The event catalog: what it lists, in which order, `validate()`, and each render format
//! (the JSON Schema checked against real lines with a JSON Schema validator).

mod common;

use audit_examples::objects::{DeprecatedEndpointCalled, ObjectCreated};
use audit_examples::objecttypes::ObjecttypeEvent;
use audit_runtime::catalog::{self, EventSchema, FieldSchema, Format, ValueKind};
use audit_runtime::log_event;
use audit_runtime::logging::Level;
use common::capture_json as capture;
use serde_json::{Value, json};
use uuid::Uuid;

/// A user signed in to the portal.
#[log_event(group = "Portal")]
pub struct UserSignedIn<'a> {
    /// Login name.
    pub username: &'a str,
    /// Seconds since the previous sign-in, when there was one.
    pub since_last: Option<u64>,
    /// The session cookie.
    #[event(redact)]
    pub session_cookie: &'a str,
}

/// Events of the portal's batch jobs.
#[log_event(group = "Portal", level = "error")]
pub enum BatchEvent {
    /// A batch job gave up.
    #[event(level = "critical", name = "portal.batch_aborted")]
    BatchAborted {
        /// Job number.
        job: u32,
        /// Share of the items done, from 0 to 1.
        progress: f64,
    },
    /// A batch job finished.
    #[event(level = "info")]
    BatchFinished,
}

/// A job was scheduled.
#[log_event(group = "Portal")]
pub struct JobScheduled {
    /// Job id.
    pub job: Uuid,
    /// When it runs.
    pub at: time::OffsetDateTime,
    /// When it ran last, if ever.
    pub last_run: Option<time::OffsetDateTime>,
    /// The day it belongs to.
    pub day: time::Date,
}

fn find(name: &str) -> Vec<&'static EventSchema> {
    catalog::events().into_iter().filter(|event| event.name == name).collect()
}

#[test]
fn the_catalog_lists_events_of_two_crates() {
    let events = catalog::events();
    let object_created = find("object_created");
    assert_eq!(object_created.len(), 1);
    assert_eq!(object_created[0].crate_name(), "audit_examples");
    assert_eq!(object_created[0].module, "audit_examples::objects");
    // Relative to the declaring crate's directory, wherever it was built.
    assert_eq!(object_created[0].file, "src/objects.rs");
    assert_eq!(object_created[0].group, "Objects");
    assert_eq!(object_created[0].description, "Created an `Object` via the API.");

    // This test binary is a crate of its own.
    let signed_in = find("user_signed_in");
    assert_eq!(signed_in.len(), 1);
    assert_eq!(signed_in[0].module, module_path!());
    assert_eq!(signed_in[0].crate_name(), "catalog");
    let fields: Vec<(&str, &str, bool, ValueKind)> =
        signed_in[0].fields.iter().map(|f| (f.name, f.type_name, f.redacted, f.kind)).collect();
    assert_eq!(
        fields,
        [
            ("username", "&str", false, ValueKind::String),
            ("since_last", "Option<u64>", false, ValueKind::Nullable(&ValueKind::Unsigned)),
            ("session_cookie", "&str", true, ValueKind::String),
        ]
    );
    assert_eq!(signed_in[0].fields[1].description, "Seconds since the previous sign-in, when there was one.");

    let crates: std::collections::BTreeSet<&str> = events.iter().map(|event| event.crate_name()).collect();
    assert!(crates.contains("audit_examples") && crates.contains("catalog"), "{crates:?}");
}

#[test]
fn the_order_is_stable_and_follows_the_declarations() {
    let names: Vec<&str> = catalog::events().iter().map(|event| event.name).collect();
    assert_eq!(names, catalog::events().iter().map(|event| event.name).collect::<Vec<_>>());
    let objects: Vec<&str> = catalog::events()
        .iter()
        .filter(|event| event.module == "audit_examples::objects")
        .map(|event| event.name)
        .collect();
    assert_eq!(objects, ["object_created", "object_updated", "deprecated_endpoint_called"]);
    // Variants keep their order too: each has its own line.
    let variants: Vec<&str> = catalog::events()
        .iter()
        .filter(|event| event.module == "audit_examples::objecttypes")
        .map(|event| event.name)
        .collect();
    assert_eq!(
        variants,
        [
            "objecttype_created",
            "objecttype_updated",
            "objecttype_deleted",
            "object_version_created",
            "object_version_updated",
            "object_version_deleted",
            "deprecated_endpoint_called",
        ]
    );
}

#[test]
fn validate_accepts_one_event_listed_in_two_groups_of_one_crate() {
    // `deprecated_endpoint_called` is declared under "Objects" and "Objecttypes", alike.
    assert_eq!(find("deprecated_endpoint_called").len(), 2);
    assert_eq!(catalog::validate(), Ok(()));
}

#[test]
fn validate_reports_a_name_repeated_with_other_fields() {
    static A: EventSchema = EventSchema {
        name: "job_done",
        level: Level::Info,
        group: "Jobs",
        description: "A job is done.",
        fields: &[],
        module: "app::jobs",
        file: "src/jobs.rs",
        line: 3,
    };
    static B: EventSchema = EventSchema {
        fields: &[FieldSchema {
            name: "job",
            type_name: "u32",
            description: "",
            redacted: false,
            kind: ValueKind::Unsigned,
        }],
        line: 9,
        ..A
    };
    let error = catalog::validate_events(&[&A, &B]).unwrap_err();
    assert_eq!(error.duplicates.len(), 1);
    assert_eq!(error.duplicates[0].name, "job_done");
    assert_eq!(error.duplicates[0].declarations, [&A, &B]);
    assert!(error.to_string().contains("src/jobs.rs:3"), "{error}");
    assert_eq!(catalog::validate_events(&[&A, &A]), Ok(()), "the same declaration twice is one event");
}

/// The seed's Objects and Objecttypes lists (Open Object, manual/logging.rst).
const SEED_OBJECTS_RST: &str = "\
Objects
~~~~~~~
* ``object_created``: created an ``Object`` via the API. Additional context: ``object_uuid``, ``objecttype_uuid``, ``objecttype_version``, ``token_identifier``, ``token_application``.
* ``object_updated``: updated an ``Object`` via the API. Additional context: ``object_uuid``, ``objecttype_uuid``, ``objecttype_version``, ``token_identifier``, ``token_application``.
* ``deprecated_endpoint_called``: a deprecated endpoint was called. Additional context: ``endpoint``.
Objecttypes
~~~~~~~~~~~
* ``objecttype_created``: created an ``Objecttype`` via the API. Additional context: ``uuid``, ``naam``, ``token_identifier``, ``token_application``.
* ``objecttype_updated``: updated an ``Objecttype`` via the API. Additional context: ``uuid``, ``naam``, ``token_identifier``, ``token_application``.
* ``objecttype_deleted``: deleted an ``Objecttype`` via the API. Additional context: ``uuid``, ``naam``, ``token_identifier``, ``token_application``.
* ``object_version_created``: created an ``Object_version`` via the API. Additional context: ``version``, ``objecttype_uuid``, ``token_identifier``, ``token_application``.
* ``object_version_updated``: updated an ``Object_version`` via the API. Additional context: ``version``, ``objecttype_uuid``, ``token_identifier``, ``token_application``.
* ``object_version_deleted``: deleted an ``Object_version`` via the API. Additional context: ``version``, ``objecttype_uuid``, ``token_identifier``, ``token_application``.
* ``deprecated_endpoint_called``: a deprecated endpoint was called. Additional context: ``endpoint``.
";

#[test]
fn rst_reproduces_the_seed_lists() {
    let ported: Vec<&EventSchema> = catalog::events()
        .into_iter()
        .filter(|event| event.group == "Objects" || event.group == "Objecttypes")
        .collect();
    let rst = catalog::render_events(&ported, Format::Rst);
    // The seed lost its blank lines; reST needs them after a heading. Compare the rest.
    let non_blank: Vec<&str> = rst.lines().filter(|line| !line.is_empty()).collect();
    assert_eq!(non_blank, SEED_OBJECTS_RST.lines().collect::<Vec<_>>(), "rendered:\n{rst}");
    assert!(rst.contains("~~~~~~~~~~~\n\n* ``objecttype_created``"), "a blank line after each heading:\n{rst}");
}

#[test]
fn rst_marks_redacted_fields_and_leaves_out_an_empty_context() {
    let rst = catalog::render(Format::Rst);
    assert!(rst.contains(
        "* ``user_signed_in``: a user signed in to the portal. Additional context: ``username``, ``since_last``, ``session_cookie`` (redacted).\n"
    ), "{rst}");
    assert!(rst.contains("* ``batch_finished``: a batch job finished.\n"), "{rst}");
    assert!(rst.contains("Portal\n~~~~~~\n"), "{rst}");
}

#[test]
fn markdown_has_a_section_per_group_and_a_field_table_per_event() {
    let markdown = catalog::render(Format::Markdown);
    assert!(markdown.starts_with("# Event catalog\n"), "{markdown}");
    let portal = &markdown[markdown.find("\n## Portal\n").expect("a Portal section")..];
    assert!(portal.contains(
        "### `user_signed_in`\n\nA user signed in to the portal.\n\n- Level: `info`\n- Declared in: `catalog` (`tests/catalog.rs`)\n"
    ), "{portal}");
    assert!(portal.contains("| `username` | `&str` | Login name. |\n"), "{portal}");
    assert!(
        portal.contains("| `session_cookie` | `&str` | The session cookie. Redacted: always `\"[redacted]\"`. |\n"),
        "{portal}"
    );
    assert!(portal.contains("### `portal.batch_aborted`\n\nA batch job gave up.\n\n- Level: `critical`\n"), "{portal}");
    assert!(portal.contains("### `batch_finished`\n\nA batch job finished.\n\n- Level: `info`\n- Declared in: `catalog` (`tests/catalog.rs`)\n- Context: none\n"), "{portal}");
    let objects = markdown.find("\n## Objects\n").expect("an Objects section");
    let objecttypes = markdown.find("\n## Objecttypes\n").expect("an Objecttypes section");
    assert!(objects < objecttypes, "groups in catalog order");
}

/// Emits one line of each kind of event and returns them, parsed.
fn real_lines() -> Vec<Value> {
    let data = json!({"detail": "Authentication credentials were not provided."});
    let captured = capture(|| {
        ObjectCreated {
            object_uuid: Uuid::from_u128(7),
            objecttype_uuid: Uuid::from_u128(8),
            objecttype_version: 1,
            token_identifier: "application-test",
            token_application: "Application (test)",
        }
        .emit();
        DeprecatedEndpointCalled { endpoint: "/api/v1/objects" }.emit();
        ObjecttypeEvent::ObjectVersionDeleted {
            version: 3,
            objecttype_uuid: Uuid::nil(),
            token_identifier: "t",
            token_application: "a",
        }
        .emit();
        audit_runtime::http::ApiError::not_authenticated().with_data(data.clone()).log();
        UserSignedIn { username: "alice", since_last: None, session_cookie: "c00kie" }.emit();
        UserSignedIn { username: "bob", since_last: Some(86_400), session_cookie: "c00kie" }.emit();
        BatchEvent::BatchAborted { job: 12, progress: 0.5 }.emit();
        BatchEvent::BatchFinished.emit();
    });
    let text = captured.text();
    let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 8, "{text}");
    lines
}

fn schema_document() -> Value {
    let text = catalog::render(Format::JsonSchema);
    serde_json::from_str(&text).expect("the JSON Schema render is JSON")
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options().should_validate_formats(true).build(schema).expect("a valid JSON Schema")
}

#[test]
fn the_json_schema_accepts_real_lines_of_every_event() {
    let document = schema_document();
    assert_eq!(document["$schema"], json!("https://json-schema.org/draft/2020-12/schema"));
    let whole = validator(&document);
    for line in real_lines() {
        let name = line["event"].as_str().unwrap().to_owned();
        let errors: Vec<String> = whole.iter_errors(&line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{line} rejected: {errors:?}");
        // The event's own schema accepts it too.
        let own = validator(&document["$defs"][name.as_str()]);
        assert!(own.is_valid(&line), "{line} rejected by the schema of {name}");
    }
}

/// `line` with `edit` applied.
fn edited(line: &Value, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut line = line.clone();
    edit(line.as_object_mut().unwrap());
    line
}

#[test]
fn the_json_schema_rejects_a_missing_field_or_a_wrong_type() {
    let document = schema_document();
    let whole = validator(&document);
    let object_created = validator(&document["$defs"]["object_created"]);
    let lines = real_lines();
    let created = &lines[0];
    assert!(object_created.is_valid(created));

    let broken = [
        ("a context field missing", edited(created, |l| drop(l.remove("objecttype_uuid")))),
        ("a standard key missing", edited(created, |l| drop(l.remove("timestamp")))),
        ("a number as a string", edited(created, |l| drop(l.insert("objecttype_version".into(), json!("1"))))),
        ("a negative unsigned", edited(created, |l| drop(l.insert("objecttype_version".into(), json!(-1))))),
        ("not a UUID", edited(created, |l| drop(l.insert("object_uuid".into(), json!("seven"))))),
        ("another level", edited(created, |l| drop(l.insert("level".into(), json!("error"))))),
        ("a bad timestamp", edited(created, |l| drop(l.insert("timestamp".into(), json!("yesterday"))))),
    ];
    for (what, line) in &broken {
        assert!(!object_created.is_valid(line), "{what}: accepted {line}");
        assert!(!whole.is_valid(line), "{what}: accepted by the whole catalog {line}");
    }

    let signed_in = validator(&document["$defs"]["user_signed_in"]);
    let alice = &lines[4];
    assert_eq!(alice["since_last"], Value::Null);
    assert!(signed_in.is_valid(alice));
    assert!(signed_in.is_valid(&lines[5]), "Some(n) is a number: {}", lines[5]);
    assert!(!signed_in.is_valid(&edited(alice, |l| drop(l.insert("since_last".into(), json!("soon"))))));
    let leaked = edited(alice, |l| drop(l.insert("session_cookie".into(), json!("c00kie"))));
    assert!(!signed_in.is_valid(&leaked), "a redacted field must read \"[redacted]\"");

    let aborted = validator(&document["$defs"]["portal.batch_aborted"]);
    assert_eq!(lines[6]["level"], json!("critical"));
    assert!(aborted.is_valid(&lines[6]));
    assert!(!aborted.is_valid(&edited(&lines[6], |l| drop(l.insert("progress".into(), json!(true))))));

    let unknown = json!({"event": "not_in_the_catalog", "timestamp": "2025-05-19T14:09:20.339166Z",
        "logger": "x", "level": "info", "source": "app"});
    assert!(!whole.is_valid(&unknown), "the whole catalog accepts only its own events");
}

#[test]
fn the_json_schema_checks_uuids_and_timestamps() {
    let document = schema_document();
    let scheduled = validator(&document["$defs"]["job_scheduled"]);
    let captured = capture(|| {
        JobScheduled {
            job: Uuid::from_u128(42),
            at: time::macros::datetime!(2025-05-19 14:09:20.339166 UTC),
            last_run: None,
            day: time::macros::date!(2025 - 05 - 19),
        }
        .emit();
        JobScheduled {
            job: Uuid::from_u128(43),
            at: time::macros::datetime!(2025-05-19 16:09:20 +02:00),
            last_run: Some(time::macros::datetime!(2025-05-18 14:00:00 UTC)),
            day: time::macros::date!(2025 - 05 - 19),
        }
        .emit();
    });
    let lines: Vec<Value> = captured.text().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let errors: Vec<String> = scheduled.iter_errors(line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{line} rejected: {errors:?}");
    }
    let first = &lines[0];
    assert!(!scheduled.is_valid(&edited(first, |l| drop(l.insert("at".into(), json!("19 May 2025"))))));
    assert!(!scheduled.is_valid(&edited(first, |l| drop(l.insert("at".into(), json!([2025, 139]))))));
    assert!(!scheduled.is_valid(&edited(first, |l| drop(l.insert("day".into(), json!("2025-13-45"))))));
    assert!(!scheduled.is_valid(&edited(first, |l| drop(l.insert("job".into(), json!(42))))));
    assert_eq!(first["last_run"], Value::Null, "null is written, not left out");
    // The schema lets it be absent too: lines written before it was declared still validate.
    assert!(scheduled.is_valid(&edited(first, |l| drop(l.remove("last_run")))));
    assert!(!scheduled.is_valid(&edited(first, |l| drop(l.remove("at")))), "a field without `Option` is required");
}
