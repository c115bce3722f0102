//! A catalog that evolves safely: log pipelines, dashboards and alerts key on event names,
//! levels and fields, so a renamed field breaks them without a sound. A project commits its
//! catalog (the JSON Schema of [`Format::JsonSchema`](super::Format::JsonSchema)) and a test
//! compares the current one with it:
//!
//! ```no_run
//! #[test]
//! fn the_event_catalog_stays_compatible() {
//!     audit_runtime::catalog::assert_compatible("events.schema.json");
//! }
//! ```
//!
//! A library checks only its own events (the catalog of a test binary also holds those of
//! every crate it links, and the toolkit's own depend on its Cargo features):
//!
//! ```no_run
//! use audit_runtime::catalog;
//! catalog::assert_compatible_events("events.schema.json", &catalog::crate_events("my_crate"));
//! ```
//!
//! Breaking: an event removed (or renamed), a field removed (or renamed), a field's type or
//! redaction changed, an event's level(s) changed, a new field that every line must carry.
//! Compatible: a new event, a new field that may be `null` (an `Option`), a changed description.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

use super::{EventSchema, Format, events, render_events};
use crate::logging::keys::EVERY_LINE;

/// The variable that accepts breaking changes on purpose: with `ACCEPT_CATALOG_CHANGES=1`,
/// [`assert_compatible`] writes the current catalog over the committed one instead of failing.
pub const ACCEPT_ENV: &str = "ACCEPT_CATALOG_CHANGES";

/// One difference between a committed catalog and the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogChange {
    /// The event it concerns.
    pub event: String,
    /// The field it concerns, if any.
    pub field: Option<String>,
    /// What changed, in words.
    pub what: String,
    /// Whether lines of the current catalog can break what keys on the committed one.
    pub breaking: bool,
}

impl fmt::Display for CatalogChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "`{}`, field `{field}`: {}", self.event, self.what),
            None => write!(f, "`{}`: {}", self.event, self.what),
        }
    }
}

/// Every difference between two catalogs, breaking ones first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogDiff {
    /// All changes: breaking ones first, each group in event order.
    pub changes: Vec<CatalogChange>,
}

impl CatalogDiff {
    /// The changes that break what keys on the committed catalog.
    pub fn breaking(&self) -> impl Iterator<Item = &CatalogChange> {
        self.changes.iter().filter(|change| change.breaking)
    }

    /// Whether any change is breaking.
    pub fn is_breaking(&self) -> bool {
        self.breaking().next().is_some()
    }
}

impl fmt::Display for CatalogDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            let kind = if change.breaking { "breaking" } else { "compatible" };
            writeln!(f, "- {kind}: {change}")?;
        }
        Ok(())
    }
}

/// The differences between `committed` and `current`, two JSON Schema documents as
/// [`Format::JsonSchema`](super::Format::JsonSchema) renders them.
pub fn diff(committed: &Value, current: &Value) -> CatalogDiff {
    let empty = Map::new();
    let defs = |document: &Value| document.get("$defs").and_then(Value::as_object).unwrap_or(&empty).clone();
    let (old, new) = (defs(committed), defs(current));
    let mut changes = Vec::new();
    for (name, old_event) in &old {
        match new.get(name) {
            None => {
                changes.push(change(name, None, "removed or renamed: lines of this name are no longer written", true))
            }
            Some(new_event) => compare_event(name, old_event, new_event, &mut changes),
        }
    }
    for name in new.keys().filter(|name| !old.contains_key(*name)) {
        changes.push(change(name, None, "new event", false));
    }
    changes.sort_by_key(|change| !change.breaking);
    CatalogDiff { changes }
}

fn change(event: &str, field: Option<&str>, what: impl Into<String>, breaking: bool) -> CatalogChange {
    CatalogChange { event: event.to_owned(), field: field.map(str::to_owned), what: what.into(), breaking }
}

/// The levels a schema's `level` property allows.
fn levels(event: &Value) -> Vec<String> {
    let level = &event["properties"]["level"];
    let mut levels: Vec<String> = match (&level["const"], &level["enum"]) {
        (Value::String(one), _) => vec![one.clone()],
        (_, Value::Array(many)) => many.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    levels.sort();
    levels
}

fn required(event: &Value) -> Vec<&str> {
    event["required"].as_array().map(|list| list.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// A field's schema without the words (descriptions and comments change freely).
fn shape(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| key.as_str() != "description" && key.as_str() != "$comment")
                .map(|(key, value)| (key.clone(), shape(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        other => other.clone(),
    }
}

fn compare_event(name: &str, old: &Value, new: &Value, changes: &mut Vec<CatalogChange>) {
    let (old_levels, new_levels) = (levels(old), levels(new));
    if old_levels != new_levels {
        let what = format!("level changed from {} to {}", old_levels.join("/"), new_levels.join("/"));
        changes.push(change(name, None, what, true));
    }
    let empty = Map::new();
    let fields = |event: &Value| event["properties"].as_object().unwrap_or(&empty).clone();
    let (old_fields, new_fields) = (fields(old), fields(new));
    let (old_required, new_required) = (required(old), required(new));
    for (field, old_schema) in old_fields.iter().filter(|(key, _)| !EVERY_LINE.contains(&key.as_str())) {
        let Some(new_schema) = new_fields.get(field) else {
            changes.push(change(name, Some(field), "removed or renamed", true));
            continue;
        };
        if shape(old_schema) != shape(new_schema) {
            let what = format!("type changed from {} to {}", shape(old_schema), shape(new_schema));
            changes.push(change(name, Some(field), what, true));
        }
        if old_required.contains(&field.as_str()) && !new_required.contains(&field.as_str()) {
            changes.push(change(name, Some(field), "may now be absent", true));
        }
    }
    for (field, _) in new_fields.iter().filter(|(key, _)| !old_fields.contains_key(*key)) {
        if new_required.contains(&field.as_str()) {
            let what = "new field that every line must carry: lines written before lack it (declare it as an `Option` to add it compatibly)";
            changes.push(change(name, Some(field), what, true));
        } else {
            changes.push(change(name, Some(field), "new optional field", false));
        }
    }
}

/// Fails (panics, for a test) when the program's catalog breaks the one committed at `path`,
/// listing every breaking change and how to accept them. A missing file is written and the
/// call fails once, asking to commit it; compatible changes (new events, new optional fields)
/// update the file, to be committed with the change. With `ACCEPT_CATALOG_CHANGES=1` in the
/// environment, breaking changes are accepted on purpose: the file is rewritten and the call
/// passes.
///
/// # Panics
///
/// On a breaking change (unless accepted), a file that is not a catalog, or one that cannot be
/// read or written.
#[track_caller]
pub fn assert_compatible(path: impl AsRef<Path>) {
    assert_compatible_events(path, &events());
}

/// [`assert_compatible`] for `events` only, such as one crate's ([`crate_events`](super::crate_events)).
///
/// # Panics
///
/// As [`assert_compatible`].
#[track_caller]
pub fn assert_compatible_events(path: impl AsRef<Path>, events: &[&EventSchema]) {
    let path = path.as_ref();
    let current_text = render_events(events, Format::JsonSchema);
    let committed_text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            write(path, &current_text);
            panic!(
                "no committed event catalog at {}: the current one was written there; commit it, and this check compares against it from now on",
                path.display()
            );
        }
        Err(error) => panic!("cannot read the committed event catalog {}: {error}", path.display()),
    };
    if committed_text == current_text {
        return;
    }
    let parse = |text: &str, what: &str| -> Value {
        serde_json::from_str(text)
            .unwrap_or_else(|error| panic!("the {what} event catalog {} is not JSON: {error}", path.display()))
    };
    let changes = diff(&parse(&committed_text, "committed"), &parse(&current_text, "current"));
    let accepted = std::env::var(ACCEPT_ENV).is_ok_and(|value| value == "1");
    if changes.is_breaking() && !accepted {
        let breaking: Vec<String> = changes.breaking().map(|change| format!("- {change}")).collect();
        panic!(
            "the event catalog has {} breaking change(s) against {}:\n{}\n\nLog pipelines, dashboards and alerts that key on these break. Keep the old names, fields and levels, or accept the changes on purpose: run the test again with {ACCEPT_ENV}=1 and commit the rewritten file.",
            breaking.len(),
            path.display(),
            breaking.join("\n")
        );
    }
    write(path, &current_text);
}

fn write(path: &Path, text: &str) {
    if let Err(error) = std::fs::write(path, text) {
        panic!("cannot write the event catalog to {}: {error}", path.display());
    }
}
