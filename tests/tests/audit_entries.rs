//! Audit entries (`log_action`, `log_bulk_action`, `track_change`) and their JSON log lines,
//! through the real JSON layer.

mod common;

use audit_runtime::audit::{self, ACTION_EVENT, CHANGE_EVENT};
use audit_runtime::{Action, Actor, AuditEntry, Audited};
use serde::Serialize;
use serde_json::{Value, json};

const SECRET: &str = "SECRET-123-45-6789";

#[derive(Audited, Clone, Debug, Serialize)]
#[audited(object_type = "observation")]
struct Observation {
    id: i64,
    value: f64,
    note: Option<String>,
    #[audited(redact)]
    patient_ssn: String,
}

fn observation(id: i64) -> Observation {
    Observation { id, value: 1.5, note: None, patient_ssn: SECRET.into() }
}

/// Runs `f` under a subscriber with our JSON layer; returns its result and every line written.
fn capture<R>(f: impl FnOnce() -> R) -> (R, String) {
    let mut result = None;
    let captured = common::capture_json(|| result = Some(f()));
    (result.expect("the closure ran"), captured.text())
}

fn lines(output: &str) -> Vec<Value> {
    output.lines().map(|line| serde_json::from_str(line).expect("each line is one JSON object")).collect()
}

#[test]
fn log_action_builds_the_entry_and_writes_an_action_line() {
    let obs = observation(17);
    let (entry, output) = capture(|| audit::log_action(&Actor::user(42), Action::Create, &obs, "created"));
    assert_eq!(entry.actor, Actor::user("42"));
    assert_eq!(entry.action, Action::Create);
    assert_eq!((entry.object_type.as_str(), entry.object_id.as_str()), ("observation", "17"));
    assert_eq!(entry.object_repr, "observation 17");
    assert_eq!(entry.message, "created");
    assert!(entry.changes.is_empty());
    assert_eq!(entry.request_id, None);

    let lines = lines(&output);
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert_eq!(line["event"], ACTION_EVENT);
    assert_eq!(line["action"], "create");
    assert_eq!(line["actor"], json!({"kind": "user", "id": "42"}));
    assert_eq!(line["object_type"], "observation");
    assert_eq!(line["object_id"], "17");
    assert_eq!(line["message"], "created");
    assert_eq!(line["level"], "info");
    assert!(line.get("changes").is_none());
    assert!(line.get("request_id").is_none());
}

#[test]
fn track_change_writes_old_and_new_of_each_changed_field() {
    let old = observation(17);
    let new = Observation { value: 2.5, note: Some("recheck".into()), ..old.clone() };
    let (entry, output) = capture(|| audit::track_change(&Actor::system("importer"), &old, &new));
    let entry = entry.expect("two fields changed");
    assert_eq!(entry.action, Action::Change);
    assert_eq!(entry.message, "changed value, note");
    let line = &lines(&output)[0];
    assert_eq!(line["event"], CHANGE_EVENT);
    assert_eq!(line["actor"], json!({"kind": "system", "name": "importer"}));
    assert_eq!(
        line["changes"],
        json!([
            {"field": "value", "old": 1.5, "new": 2.5},
            {"field": "note", "old": null, "new": "recheck"},
        ])
    );
}

#[test]
fn no_change_gives_no_entry_and_no_line() {
    let old = observation(17);
    let (entry, output) = capture(|| audit::track_change(&Actor::user(1), &old, &old.clone()));
    assert!(entry.is_none());
    assert_eq!(output, "");
    // Only a skipped-or-equal difference: still nothing.
    assert!(AuditEntry::change(&Actor::user(1), &old, &old.clone()).is_none());
}

#[test]
fn redaction_holds_in_changes_snapshots_entries_and_log_lines() {
    let old = observation(17);
    let new = Observation { patient_ssn: format!("{SECRET}-new"), value: 3.0, ..old.clone() };
    let ((changes, snapshot, entries), output) = capture(|| {
        let changes = old.changes_to(&new);
        let snapshot = new.snapshot();
        let entries = vec![
            audit::track_change(&Actor::user(1), &old, &new).expect("changed"),
            audit::log_action(&Actor::user(1), Action::View, &new, "viewed"),
        ];
        entries.iter().for_each(AuditEntry::emit);
        (changes, snapshot, entries)
    });
    let redacted = changes.iter().find(|c| c.field == "patient_ssn").expect("the ssn change is reported");
    assert_eq!(
        serde_json::to_value(redacted).unwrap(),
        json!({"field": "patient_ssn", "old": "[redacted]", "new": "[redacted]"})
    );

    let everything = format!(
        "{output}\n{changes:?}\n{}\n{snapshot}\n{entries:?}\n{}",
        serde_json::to_string(&changes).unwrap(),
        serde_json::to_string(&entries).unwrap()
    );
    assert!(!everything.contains(SECRET), "the secret leaked:\n{everything}");
    assert!(output.contains("\"[redacted]\""), "the line reports the redacted change: {output}");
    assert_eq!(lines(&output).len(), 4);
}

#[test]
fn request_id_is_taken_from_the_bound_scope() {
    let obs = observation(17);
    let (entries, output) = capture(|| {
        let _request = tracing::info_span!("request", request_id = "2f9e9a5b").entered();
        let action = audit::log_action(&Actor::user(1), Action::View, &obs, "viewed");
        let change =
            audit::track_change(&Actor::user(1), &obs, &Observation { value: 9.0, ..obs.clone() }).expect("changed");
        let bulk = audit::log_bulk_action(&Actor::user(1), Action::Delete, [&obs], "purged");
        (action, change, bulk)
    });
    let (action, change, bulk) = entries;
    assert_eq!(action.request_id.as_deref(), Some("2f9e9a5b"));
    assert_eq!(change.request_id.as_deref(), Some("2f9e9a5b"));
    assert_eq!(bulk[0].request_id.as_deref(), Some("2f9e9a5b"));
    for line in lines(&output) {
        assert_eq!(line["request_id"], "2f9e9a5b", "{line}");
    }
    // Outside the scope, none.
    let (entry, _) = capture(|| audit::log_action(&Actor::user(1), Action::View, &obs, "viewed"));
    assert_eq!(entry.request_id, None);
}

#[test]
fn bulk_action_over_10000_objects_gives_one_entry_and_line_per_object() {
    let objects: Vec<Observation> = (0..10_000).map(observation).collect();
    let (entries, output) = capture(|| {
        let _request = tracing::info_span!("request", request_id = "bulk-1").entered();
        audit::log_bulk_action(&Actor::system("retention"), Action::Delete, &objects, "purged after 10 years")
    });
    assert_eq!(entries.len(), 10_000);
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry.object_id, i.to_string());
        assert_eq!(entry.action, Action::Delete);
        assert_eq!(entry.message, "purged after 10 years");
        assert_eq!(entry.request_id.as_deref(), Some("bulk-1"));
        // Built in one pass: one time for the whole act.
        assert_eq!(entry.time, entries[0].time);
    }
    let lines = lines(&output);
    assert_eq!(lines.len(), 10_000);
    assert!(
        lines
            .iter()
            .zip(&entries)
            .all(|(line, entry)| line["object_id"] == entry.object_id && line["event"] == ACTION_EVENT)
    );
    assert!(!output.contains(SECRET));

    // The builder without logging gives the same entries.
    let (built, output) =
        capture(|| AuditEntry::bulk_action(&Actor::system("retention"), Action::Delete, &objects, "x"));
    assert_eq!(built.len(), 10_000);
    assert_eq!(output, "");
}

#[test]
fn entry_round_trips_through_json_with_an_rfc3339_time() {
    let old = observation(17);
    let new = Observation { value: 2.0, patient_ssn: "other".into(), ..old.clone() };
    let entry = AuditEntry::change(&Actor::user("u-1"), &old, &new).expect("changed");
    let json = serde_json::to_value(&entry).unwrap();
    let time = json["time"].as_str().expect("time is a string");
    assert!(time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).is_ok(), "{time}");
    assert_eq!(json["action"], "change");
    assert_eq!(json["changes"][1], json!({"field": "patient_ssn", "old": "[redacted]", "new": "[redacted]"}));
    let back: AuditEntry = serde_json::from_value(json).unwrap();
    assert_eq!(back, entry);
}

#[test]
fn actors_and_actions_have_stable_names() {
    assert_eq!(Actor::user(42).user_id(), Some("42"));
    assert_eq!(Actor::system("cron").user_id(), None);
    assert_eq!(Actor::system("cron").to_string(), "system cron");
    let names: Vec<&str> = [Action::Create, Action::Change, Action::Delete, Action::View].map(Action::as_str).to_vec();
    assert_eq!(names, ["create", "change", "delete", "view"]);
    assert_eq!(serde_json::to_value(Action::View).unwrap(), "view");
}

/// The quickstart's story: an object is created, changed twice and deleted; the log lines show
/// the field diffs.
#[test]
fn create_change_twice_delete_leaves_four_lines_with_the_diffs() {
    let actor = Actor::user(42);
    let ((), output) = capture(|| {
        let _request = tracing::info_span!("request", request_id = "req-1").entered();
        let created = observation(17);
        audit::log_action(&actor, Action::Create, &created, "created");
        let first = Observation { value: 2.5, ..created.clone() };
        audit::track_change(&actor, &created, &first);
        let second = Observation { note: Some("recheck".into()), patient_ssn: "new".into(), ..first.clone() };
        audit::track_change(&actor, &first, &second);
        audit::log_action(&actor, Action::Delete, &second, "deleted");
    });
    let lines = lines(&output);
    let events: Vec<(&str, &str)> =
        lines.iter().map(|line| (line["event"].as_str().unwrap(), line["action"].as_str().unwrap())).collect();
    assert_eq!(
        events,
        [(ACTION_EVENT, "create"), (CHANGE_EVENT, "change"), (CHANGE_EVENT, "change"), (ACTION_EVENT, "delete")]
    );
    assert_eq!(lines[1]["changes"], json!([{"field": "value", "old": 1.5, "new": 2.5}]));
    assert_eq!(
        lines[2]["changes"],
        json!([
            {"field": "note", "old": null, "new": "recheck"},
            {"field": "patient_ssn", "old": "[redacted]", "new": "[redacted]"},
        ])
    );
    assert!(lines.iter().all(|line| line["request_id"] == "req-1"));
    assert!(!output.contains(SECRET));
}
