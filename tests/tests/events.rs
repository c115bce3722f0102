//! `#[log_event]` events as our JSON layer writes them: keys, values and their JSON types.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use audit_examples::objects::ObjectCreated;
use audit_examples::objecttypes::ObjecttypeEvent;
use audit_runtime::event::Event;
use audit_runtime::log_event;
use common::{capture_json as capture, capture_json_at as capture_at};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

const STANDARD_KEYS: [&str; 5] = ["event", "timestamp", "logger", "level", "source"];

/// The keys of `line` other than the standard ones, sorted.
fn context_keys(line: &serde_json::Map<String, Value>) -> Vec<&str> {
    let mut keys: Vec<&str> = line.keys().map(String::as_str).filter(|key| !STANDARD_KEYS.contains(key)).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn a_struct_event_writes_its_name_level_and_typed_fields() {
    let object_uuid = Uuid::parse_str("1734afac-4628-446d-b344-f39b42f48bd9").unwrap();
    let objecttype_uuid = Uuid::parse_str("b427ef84-189d-43aa-9efd-7bb2c459e281").unwrap();
    let captured = capture(|| {
        ObjectCreated {
            object_uuid,
            objecttype_uuid,
            objecttype_version: 1,
            token_identifier: "application-test",
            token_application: "Application (test)",
        }
        .emit();
    });
    let line = captured.only_line();
    assert_eq!(line["event"], json!("object_created"));
    assert_eq!(line["level"], json!("info"));
    assert_eq!(line["logger"], json!("audit_examples::objects"), "logger is the declaring module");
    assert_eq!(line["source"], json!("app"));
    assert!(line["timestamp"].as_str().is_some_and(|t| t.len() == 27 && t.ends_with('Z')), "{line:?}");
    assert_eq!(line["object_uuid"], json!("1734afac-4628-446d-b344-f39b42f48bd9"));
    assert_eq!(line["objecttype_uuid"], json!("b427ef84-189d-43aa-9efd-7bb2c459e281"));
    // A number, not the string "1".
    assert_eq!(line["objecttype_version"], json!(1));
    assert!(line["objecttype_version"].is_u64());
    assert_eq!(line["token_identifier"], json!("application-test"));
    assert_eq!(line["token_application"], json!("Application (test)"));
    assert_eq!(
        context_keys(&line),
        ["object_uuid", "objecttype_uuid", "objecttype_version", "token_application", "token_identifier"]
    );
}

#[test]
fn each_enum_variant_is_its_own_event_at_its_own_level() {
    let uuid = Uuid::nil();
    let captured = capture(|| {
        ObjecttypeEvent::ObjecttypeDeleted { uuid, naam: "boom", token_identifier: "t", token_application: "a" }.emit();
        ObjecttypeEvent::DeprecatedEndpointCalled { endpoint: "/api/v1/objecttypes" }.emit();
    });
    let lines = captured.json_lines();
    assert_eq!(lines.len(), 2, "{}", captured.text());
    assert_eq!(lines[0]["event"], json!("objecttype_deleted"));
    assert_eq!(lines[0]["level"], json!("info"));
    assert_eq!(lines[0]["uuid"], json!("00000000-0000-0000-0000-000000000000"));
    assert_eq!(lines[0]["naam"], json!("boom"));
    assert_eq!(context_keys(&lines[0]), ["naam", "token_application", "token_identifier", "uuid"]);
    assert_eq!(lines[1]["event"], json!("deprecated_endpoint_called"));
    assert_eq!(lines[1]["level"], json!("warning"), "the variant's #[event(level)]");
    assert_eq!(lines[1]["endpoint"], json!("/api/v1/objecttypes"));
    assert_eq!(context_keys(&lines[1]), ["endpoint"]);
}

/// A nested value, written as a JSON object.
#[derive(Serialize)]
struct Problem {
    detail: String,
    fields: Vec<&'static str>,
}

/// Every kind of value an event field can hold.
#[log_event(name = "kitchen.sink", level = "debug", group = "Tests")]
struct KitchenSink<'a> {
    signed: i64,
    unsigned: u8,
    big: u128,
    ratio: f64,
    not_a_number: f32,
    flag: bool,
    text: String,
    borrowed: &'a str,
    missing: Option<u32>,
    present: Option<&'a str>,
    id: Uuid,
    at: time::OffsetDateTime,
    day: time::Date,
    maybe_at: Option<time::OffsetDateTime>,
    next_at: Option<time::OffsetDateTime>,
    local: time::PrimitiveDateTime,
    clock: time::Time,
    utc: time::UtcDateTime,
    problem: Problem,
    list: Vec<u16>,
    map: BTreeMap<String, bool>,
    letter: char,
}

#[test]
fn every_supported_type_keeps_its_json_type() {
    let captured = capture(|| {
        KitchenSink {
            signed: -42,
            unsigned: 7,
            big: u128::MAX,
            ratio: 0.25,
            not_a_number: f32::NAN,
            flag: true,
            text: "owned \"quoted\"".to_owned(),
            borrowed: "borrowed",
            missing: None,
            present: Some("here"),
            id: Uuid::from_u128(1),
            at: time::macros::datetime!(2025-05-19 14:09:20.339166 UTC),
            day: time::macros::date!(2025 - 05 - 19),
            maybe_at: None,
            next_at: Some(time::macros::datetime!(2025-05-19 16:09:20 +02:00)),
            local: time::macros::datetime!(2025-05-19 14:09:20.5),
            clock: time::macros::time!(14:09:20.339166),
            utc: time::macros::utc_datetime!(2025-05-19 14:09:20),
            problem: Problem { detail: "bad input".into(), fields: vec!["naam"] },
            list: vec![1, 2],
            map: BTreeMap::from([("on".to_owned(), true)]),
            letter: 'x',
        }
        .emit();
    });
    let line = captured.only_line();
    assert_eq!(line["event"], json!("kitchen.sink"));
    assert_eq!(line["level"], json!("debug"));
    assert_eq!(line["signed"], json!(-42));
    assert_eq!(line["unsigned"], json!(7));
    // serde_json reads an integer this large as a float: check the written text.
    assert!(
        captured.text().contains(&format!("\"big\":{},", u128::MAX)),
        "an integer, not a string: {}",
        captured.text()
    );
    assert_eq!(line["ratio"], json!(0.25));
    assert_eq!(line["not_a_number"], json!("NaN"));
    assert_eq!(line["flag"], json!(true));
    assert_eq!(line["text"], json!("owned \"quoted\""));
    assert_eq!(line["borrowed"], json!("borrowed"));
    assert_eq!(line["missing"], Value::Null, "None is null, not left out");
    assert_eq!(line["present"], json!("here"));
    assert_eq!(line["id"], json!("00000000-0000-0000-0000-000000000001"));
    assert_eq!(line["at"], json!("2025-05-19T14:09:20.339166Z"), "RFC 3339, not time's tuple");
    assert_eq!(line["day"], json!("2025-05-19"));
    assert_eq!(line["maybe_at"], Value::Null);
    assert_eq!(line["next_at"], json!("2025-05-19T16:09:20+02:00"));
    assert_eq!(line["local"], json!("2025-05-19T14:09:20.500000"));
    assert_eq!(line["clock"], json!("14:09:20.339166"));
    assert_eq!(line["utc"], json!("2025-05-19T14:09:20Z"));
    assert_eq!(line["problem"], json!({"detail": "bad input", "fields": ["naam"]}));
    assert_eq!(line["list"], json!([1, 2]));
    assert_eq!(line["map"], json!({"on": true}));
    assert_eq!(line["letter"], json!("x"));
}

/// A value that counts how often it is serialized.
struct Counted<'a>(&'a AtomicUsize);

impl Serialize for Counted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        serializer.serialize_str("counted")
    }
}

/// Logged in with a secret.
#[log_event(group = "Tests")]
struct LoggedIn<'a> {
    user: &'a str,
    #[event(redact)]
    password: &'a str,
    #[event(redact)]
    session: Counted<'a>,
}

/// Events of the session.
#[log_event(group = "Tests", level = "warning")]
enum SessionEvent<'a> {
    /// The token was refreshed.
    TokenRefreshed {
        #[event(redact)]
        token: String,
        expires_in: u32,
    },
    /// A login failed.
    #[event(level = "critical", name = "session.login_failed")]
    LoginFailed {
        #[event(redact)]
        attempted_password: &'a str,
    },
}

#[test]
fn redacted_values_never_reach_the_output() {
    const SECRET: &str = "hunter2-very-secret";
    let serialized = AtomicUsize::new(0);
    let captured = capture(|| {
        LoggedIn { user: "alice", password: SECRET, session: Counted(&serialized) }.emit();
        SessionEvent::TokenRefreshed { token: format!("Bearer {SECRET}"), expires_in: 3600 }.emit();
        SessionEvent::LoginFailed { attempted_password: SECRET }.emit();
    });
    let text = captured.text();
    assert!(!text.contains("hunter2"), "the secret leaked: {text}");
    assert_eq!(serialized.load(Ordering::SeqCst), 0, "a redacted value is never serialized");
    let lines = captured.json_lines();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0]["event"], json!("logged_in"));
    assert_eq!(lines[0]["user"], json!("alice"));
    assert_eq!(lines[0]["password"], json!("[redacted]"));
    assert_eq!(lines[0]["session"], json!("[redacted]"));
    assert_eq!(lines[1]["event"], json!("token_refreshed"));
    assert_eq!(lines[1]["level"], json!("warning"), "the enum's level");
    assert_eq!(lines[1]["token"], json!("[redacted]"));
    assert_eq!(lines[1]["expires_in"], json!(3600));
    assert_eq!(lines[2]["event"], json!("session.login_failed"));
    assert_eq!(lines[2]["level"], json!("critical"));
    assert_eq!(lines[2]["attempted_password"], json!("[redacted]"));
    assert!(!lines[2].contains_key("field.level"), "the critical marker is not a field: {text}");
}

/// Something happened to a generic payload.
#[log_event(group = "Tests")]
struct PayloadReceived<'a, T, U: Clone> {
    payload: T,
    source_ref: &'a U,
    #[event(redact)]
    raw: Vec<u8>,
}

#[test]
fn generic_events_log_their_parameters_as_json() {
    let captured = capture(|| {
        PayloadReceived { payload: vec![1, 2, 3], source_ref: &"upstream".to_owned(), raw: vec![9] }.emit();
        PayloadReceived { payload: json!({"a": null}), source_ref: &5_u8, raw: vec![] }.emit();
    });
    let lines = captured.json_lines();
    assert_eq!(lines.len(), 2, "{}", captured.text());
    assert_eq!(lines[0]["payload"], json!([1, 2, 3]));
    assert_eq!(lines[0]["source_ref"], json!("upstream"));
    assert_eq!(lines[0]["raw"], json!("[redacted]"));
    assert_eq!(lines[1]["payload"], json!({"a": null}));
    assert_eq!(lines[1]["source_ref"], json!(5));
}

#[test]
fn a_disabled_level_writes_nothing_and_serializes_nothing() {
    /// Debug detail.
    #[log_event(level = "debug", group = "Tests")]
    struct DebugDetail<'a> {
        value: Counted<'a>,
    }
    let serialized = AtomicUsize::new(0);
    let captured = capture_at(tracing::Level::INFO, || DebugDetail { value: Counted(&serialized) }.emit());
    assert_eq!(captured.text(), "");
    assert_eq!(serialized.load(Ordering::SeqCst), 0);
    let captured = capture_at(tracing::Level::DEBUG, || DebugDetail { value: Counted(&serialized) }.emit());
    assert_eq!(captured.only_line()["value"], json!("counted"));
    assert_eq!(serialized.load(Ordering::SeqCst), 1);
}

#[test]
fn the_event_trait_gives_the_schema_of_the_value() {
    let event = ObjecttypeEvent::DeprecatedEndpointCalled { endpoint: "/" };
    let schema = event.schema();
    assert_eq!(schema.name, "deprecated_endpoint_called");
    assert_eq!(schema.level, audit_runtime::logging::Level::Warning);
    assert_eq!(schema.group, "Objecttypes");
    assert_eq!(schema.module, "audit_examples::objecttypes");
    assert_eq!(schema.fields.len(), 1);
    assert_eq!(schema.fields[0].name, "endpoint");
    assert_eq!(schema.fields[0].type_name, "&str");
    // Through the trait, as generic code would.
    fn name_of(event: &impl Event) -> &'static str {
        event.schema().name
    }
    assert_eq!(name_of(&SessionEvent::LoginFailed { attempted_password: "x" }), "session.login_failed");
}
