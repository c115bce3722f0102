//! The JSON line schema, checked on real output of a real subscriber.

mod common;

use std::error::Error;
use std::fmt;

use audit_runtime::logging::{ConsoleLayer, JsonLayer, JsonValue};
use common::{Capture, capture_json};
use serde_json::{Value, json};
use tracing_subscriber::prelude::*;

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, checked character by character.
fn assert_timestamp_shape(ts: &str) {
    assert_eq!(ts.len(), 27, "timestamp {ts:?} is not fixed width");
    for (i, c) in ts.chars().enumerate() {
        let ok = match i {
            4 | 7 => c == '-',
            10 => c == 'T',
            13 | 16 => c == ':',
            19 => c == '.',
            26 => c == 'Z',
            _ => c.is_ascii_digit(),
        };
        assert!(ok, "timestamp {ts:?}: unexpected {c:?} at {i}");
    }
}

#[test]
fn a_line_has_the_standard_keys_and_typed_values() {
    let capture = capture_json(|| {
        tracing::info!(
            object_uuid = "1734afac-4c63-4b8c-9e1a-9f1f1b2c3d4e",
            objecttype_version = 1,
            negative = -5,
            ratio = 0.25,
            active = true,
            "object_created"
        );
    });
    let line = capture.only_line();
    assert_eq!(line["event"], json!("object_created"));
    assert_eq!(line["object_uuid"], json!("1734afac-4c63-4b8c-9e1a-9f1f1b2c3d4e"));
    assert_eq!(line["objecttype_version"], json!(1), "integers stay numbers");
    assert_eq!(line["negative"], json!(-5));
    assert_eq!(line["ratio"], json!(0.25));
    assert_eq!(line["active"], json!(true), "booleans stay booleans");
    assert_eq!(line["level"], json!("info"));
    assert_eq!(line["logger"], json!("logging_schema"), "logger is the module path of the call site");
    assert_eq!(line["source"], json!("app"));
    assert_timestamp_shape(line["timestamp"].as_str().unwrap());
    // The timestamp is now, in UTC.
    let year: i32 = line["timestamp"].as_str().unwrap()[..4].parse().unwrap();
    assert!(year >= 2025);
}

#[test]
fn keys_come_in_the_seeds_order() {
    let capture = capture_json(|| {
        let _request = tracing::info_span!("request", request_id = "2f9e9a5b").entered();
        tracing::info!(id = 1, naam = "test", "product_created");
    });
    let text = capture.text();
    let order =
        ["\"id\"", "\"naam\"", "\"event\"", "\"request_id\"", "\"timestamp\"", "\"logger\"", "\"level\"", "\"source\""];
    let positions: Vec<usize> =
        order.iter().map(|key| text.find(key).unwrap_or_else(|| panic!("{key} missing"))).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "keys out of order: {text}");
}

#[test]
fn every_level_has_its_schema_name() {
    let capture = capture_json(|| {
        tracing::trace!("a_trace");
        tracing::debug!("a_debug");
        tracing::info!("an_info");
        tracing::warn!("a_warning");
        tracing::error!("an_error");
        tracing::error!(level = "critical", "a_critical");
    });
    let levels: Vec<(String, String)> = capture
        .json_lines()
        .into_iter()
        .map(|l| (l["event"].as_str().unwrap().to_owned(), l["level"].as_str().unwrap().to_owned()))
        .collect();
    let expected = [
        ("a_trace", "debug"),
        ("a_debug", "debug"),
        ("an_info", "info"),
        ("a_warning", "warning"),
        ("an_error", "error"),
        ("a_critical", "critical"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(e, l)| (e.to_string(), l.to_string())).collect();
    assert_eq!(levels, expected);
    assert!(!capture.text().contains("field.level"), "the critical marker is consumed, not written");
}

#[test]
fn span_fields_are_flattened_innermost_first_and_never_twice() {
    let capture = capture_json(|| {
        let _request = tracing::info_span!("request", request_id = "outer-req", user_id = 1, tenant = "acme").entered();
        let _task = tracing::info_span!("task", user_id = 2, step = "import").entered();
        tracing::info!(step = "event-wins", "progress");
    });
    let text = capture.text();
    let line = capture.only_line();
    assert_eq!(line["user_id"], json!(2), "the inner span shadows the outer one");
    assert_eq!(line["step"], json!("event-wins"), "the event's own field shadows every span");
    assert_eq!(line["request_id"], json!("outer-req"));
    assert_eq!(line["tenant"], json!("acme"));
    for key in ["\"user_id\"", "\"step\"", "\"request_id\"", "\"event\"", "\"level\""] {
        assert_eq!(text.matches(key).count(), 1, "{key} written more than once: {text}");
    }
}

#[test]
fn a_value_recorded_later_on_a_span_is_used() {
    let capture = capture_json(|| {
        let request = tracing::info_span!("request", request_id = "r-1", user_id = tracing::field::Empty);
        let _entered = request.enter();
        tracing::info!("before_login");
        request.record("user_id", "u-42");
        tracing::info!("after_login");
    });
    let lines = capture.json_lines();
    assert!(!lines[0].contains_key("user_id"), "an empty field is not written");
    assert_eq!(lines[1]["user_id"], json!("u-42"));
}

#[derive(Debug)]
struct Layered {
    message: &'static str,
    source: Option<Box<Layered>>,
}

impl fmt::Display for Layered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl Error for Layered {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

#[test]
fn an_error_is_written_as_exception_with_its_source_chain() {
    let error = Layered {
        message: "could not load the configuration",
        source: Some(Box::new(Layered {
            message: "could not read /etc/app.toml",
            source: Some(Box::new(Layered { message: "permission denied", source: None })),
        })),
    };
    let capture = capture_json(|| {
        tracing::error!(error = &error as &dyn Error, "startup_failed");
    });
    let line = capture.only_line();
    assert_eq!(
        line["exception"],
        json!(
            "could not load the configuration\n\nCaused by:\n    0: could not read /etc/app.toml\n    1: permission denied"
        )
    );
    assert_eq!(line["level"], json!("error"));
    assert!(!line.contains_key("error"));
}

#[test]
fn the_event_field_names_the_line_and_the_message_is_kept() {
    let capture = capture_json(|| {
        tracing::info!(event = "object_updated", "updated {} fields", 3);
        tracing::info!("plain message {}", "text");
    });
    let lines = capture.json_lines();
    assert_eq!(lines[0]["event"], json!("object_updated"));
    assert_eq!(lines[0]["message"], json!("updated 3 fields"));
    assert_eq!(lines[1]["event"], json!("plain message text"));
    assert!(!lines[1].contains_key("message"));
}

#[test]
fn fields_named_like_standard_keys_are_kept_under_field_prefix() {
    let capture = capture_json(|| {
        let _span = tracing::info_span!("s", source = "span-source").entered();
        tracing::info!(timestamp = 5, logger = "mine", level = "loud", event = 7, "named");
    });
    let text = capture.text();
    let line = capture.only_line();
    assert_eq!(line["field.timestamp"], json!(5));
    assert_eq!(line["field.logger"], json!("mine"));
    assert_eq!(line["field.level"], json!("loud"));
    assert_eq!(line["field.event"], json!(7));
    assert_eq!(line["field.source"], json!("span-source"));
    assert_eq!(line["level"], json!("info"));
    assert_eq!(line["source"], json!("app"));
    assert_eq!(line["event"], json!("named"));
    assert_eq!(text.matches("\"level\"").count(), 1);
}

#[test]
fn json_values_are_nested_and_debug_values_are_strings() {
    #[derive(Debug)]
    struct Wrapper<'a>(#[allow(dead_code)] JsonValue<'a, Vec<u8>>); // read through `Debug`
    let attributes = json!({"zaaktype": "https://example.org/1", "count": 2, "tags": ["a", "b"]});
    let bytes = vec![1u8, 2];
    let none: Option<u32> = None;
    let capture = capture_json(|| {
        tracing::info!(
            additional_attributes = ?JsonValue(&attributes),
            missing = ?JsonValue(&none),
            plain_debug = ?vec![1, 2],
            nested_in_debug = ?Wrapper(JsonValue(&bytes)),
            "notification_received"
        );
    });
    let line = capture.only_line();
    assert_eq!(line["additional_attributes"], attributes);
    assert_eq!(line["missing"], Value::Null);
    assert_eq!(line["plain_debug"], json!("[1, 2]"));
    assert_eq!(line["nested_in_debug"], json!("Wrapper([1,2])"), "JSON inside other Debug text stays a string");
}

#[test]
fn non_finite_floats_and_big_integers_keep_the_line_valid() {
    let capture = capture_json(|| {
        tracing::info!(nan = f64::NAN, inf = f64::INFINITY, big = u64::MAX, wide = i128::MIN, "numbers");
    });
    let line = capture.only_line();
    assert_eq!(line["nan"], json!("NaN"));
    assert_eq!(line["inf"], json!("inf"));
    assert_eq!(line["big"], json!(u64::MAX));
    // serde_json reads a 128-bit integer back as a float; the line itself holds every digit.
    assert!(line["wide"].is_number());
    assert!(capture.text().contains(&format!("\"wide\":{}", i128::MIN)), "{}", capture.text());
}

#[test]
fn hostile_strings_are_escaped() {
    let hostile = "quote\" backslash\\ newline\n nul\u{0} escape\u{1b}[31m bell\u{7} del\u{7f} sep\u{2028}";
    let capture = capture_json(|| {
        let _span = tracing::info_span!("s", span_value = hostile).entered();
        tracing::info!(value = hostile, "{hostile}");
    });
    let text = capture.text();
    assert_eq!(text.lines().count(), 1, "one line, whatever the input");
    assert!(!text.trim_end().bytes().any(|b| b < 0x20 || b == 0x7f), "no raw control byte in {text:?}");
    let line = capture.only_line();
    assert_eq!(line["value"], json!(hostile));
    assert_eq!(line["span_value"], json!(hostile));
    assert_eq!(line["event"], json!(hostile));
}

#[test]
fn source_is_configurable() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(capture.clone()).with_source("worker"));
    tracing::subscriber::with_default(subscriber, || tracing::info!("tick"));
    assert_eq!(capture.only_line()["source"], json!("worker"));
}

#[test]
fn the_console_format_is_one_readable_line_and_colours_only_when_asked() {
    for ansi in [false, true] {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(ConsoleLayer::new(capture.clone(), ansi));
        tracing::subscriber::with_default(subscriber, || {
            let _request = tracing::info_span!("request", request_id = "2f9e").entered();
            tracing::warn!(object_id = 17, note = "two words", "object_stale");
        });
        let text = capture.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert_eq!(text.contains('\u{1b}'), ansi, "colours present iff asked: {text:?}");
        let plain = strip_ansi(&text);
        assert!(
            plain.contains(" warning  object_stale object_id=17 note=\"two words\" request_id=2f9e [logging_schema]"),
            "{plain}"
        );
        assert_eq!(plain.find('T'), Some(10), "starts with the timestamp: {plain}");
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn context_reads_the_innermost_bound_ids() {
    let capture = capture_json(|| {
        assert_eq!(audit_runtime::context::current_request_id(), None);
        let _request = tracing::info_span!("request", request_id = "req-1", user_id = 42).entered();
        let _inner = tracing::info_span!("inner", request_id = "req-2").entered();
        assert_eq!(audit_runtime::context::current_request_id().as_deref(), Some("req-2"));
        assert_eq!(audit_runtime::context::current_user_id().as_deref(), Some("42"));
        assert_eq!(audit_runtime::context::current_field("user_id"), Some(json!(42)));
    });
    assert_eq!(capture.text(), "");
}
