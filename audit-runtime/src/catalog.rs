//! The catalog of every event a program can emit.
//!
//! Each `#[log_event]` registers an [`EventSchema`] per event (through `inventory`, at link
//! time), so the catalog of a binary lists the events of every crate it links. [`events`]
//! lists them, [`validate`] finds names declared twice, and [`render`] writes the catalog as
//! reStructuredText (in the style of the existing docs), Markdown, or a JSON Schema that
//! validates the log lines.
//!
//! One line in `main` lets a binary print its own catalog (see [`print_if_requested`]):
//!
//! ```no_run
//! // First thing in `main`: `my-service --event-catalog markdown` or
//! // `EVENT_CATALOG=rst my-service` print the catalog and exit; otherwise this returns.
//! audit_runtime::catalog::print_if_requested();
//! ```

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde_json::{Map, Value, json};

use crate::logging::{Level, REDACTED, keys};

mod compat;

pub use compat::{ACCEPT_ENV, CatalogChange, CatalogDiff, assert_compatible, assert_compatible_events, diff};

/// One event of the catalog, as declared with `#[log_event]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSchema {
    /// The `event` key of its log lines, e.g. `object_created`.
    pub name: &'static str,
    /// The level it is emitted at.
    pub level: Level,
    /// The catalog section it is listed under (the declaring module's path when not given).
    pub group: &'static str,
    /// The doc comment of the struct or variant, one leading space per line removed.
    pub description: &'static str,
    /// Its context fields, in declaration order.
    pub fields: &'static [FieldSchema],
    /// The module path of the declaration, e.g. `audit_examples::objects`.
    pub module: &'static str,
    /// The source file of the declaration, relative to its crate's directory (e.g.
    /// `src/objects.rs`), the same wherever the crate was built.
    pub file: &'static str,
    /// The line of the struct's or variant's name.
    pub line: u32,
}

impl EventSchema {
    /// The crate that declares the event: the first segment of [`module`](Self::module).
    pub fn crate_name(&self) -> &'static str {
        self.module.split("::").next().unwrap_or(self.module)
    }

    /// Whether `other` describes the same log lines: same name, level and fields (name, type,
    /// redaction). Group, description and place may differ.
    pub fn same_lines_as(&self, other: &EventSchema) -> bool {
        self.level == other.level && self.same_fields_as(other)
    }

    /// Whether `other` has the same name and fields (name, type, redaction): the same event,
    /// perhaps written at another level (an enum's variants may declare one event at two
    /// levels, such as `api.handled_exception` at `warning` for a 4xx and `error` for a 5xx).
    pub fn same_fields_as(&self, other: &EventSchema) -> bool {
        self.name == other.name
            && self.fields.len() == other.fields.len()
            && self
                .fields
                .iter()
                .zip(other.fields)
                .all(|(a, b)| a.name == b.name && a.type_name == b.type_name && a.redacted == b.redacted)
    }
}

/// A context field of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSchema {
    /// The key in the log line.
    pub name: &'static str,
    /// The Rust type as written in the declaration, lifetimes left out (e.g. `&str`,
    /// `Option<Uuid>`).
    pub type_name: &'static str,
    /// The field's doc comment; empty when it has none.
    pub description: &'static str,
    /// Whether the value is replaced by `"[redacted]"`.
    pub redacted: bool,
    /// The JSON the value is written as.
    pub kind: ValueKind,
}

/// The JSON a field's value is written as, as far as the declaration tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueKind {
    /// A signed integer.
    Integer,
    /// An unsigned integer.
    Unsigned,
    /// A float: a number, or `"NaN"`, `"inf"`, `"-inf"`.
    Float,
    /// `true` or `false`.
    Bool,
    /// A string.
    String,
    /// A hyphenated UUID string.
    Uuid,
    /// An RFC 3339 date and time (`time::OffsetDateTime`, `time::UtcDateTime`).
    DateTime,
    /// An ISO 8601 date and time without offset (`time::PrimitiveDateTime`).
    LocalDateTime,
    /// An ISO 8601 date (`time::Date`).
    Date,
    /// An ISO 8601 time of day (`time::Time`).
    Time,
    /// A JSON array (`Vec`, slices, arrays, sets).
    Array,
    /// A JSON object with string keys (`HashMap`, `BTreeMap`).
    Object,
    /// `null` or the inner kind (`Option<T>`).
    Nullable(&'static ValueKind),
    /// Whatever the type's `Serialize` writes (structs, enums, type parameters).
    Any,
    /// The line's error (an `#[event(exception)]` field, written under `exception`): free text,
    /// its message and `source()` chain, and a backtrace when one was captured.
    Exception,
}

impl ValueKind {
    /// The JSON Schema of a value of this kind.
    pub fn json_schema(&self) -> Value {
        match self {
            ValueKind::Integer => json!({"type": "integer"}),
            ValueKind::Unsigned => json!({"type": "integer", "minimum": 0}),
            ValueKind::Float => json!({"anyOf": [{"type": "number"}, {"enum": ["NaN", "inf", "-inf"]}]}),
            ValueKind::Bool => json!({"type": "boolean"}),
            ValueKind::String => json!({"type": "string"}),
            ValueKind::Uuid => json!({
                "type": "string",
                "format": "uuid",
                "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
            }),
            ValueKind::DateTime => json!({"type": "string", "format": "date-time"}),
            ValueKind::LocalDateTime => {
                json!({"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}"})
            }
            ValueKind::Date => json!({"type": "string", "format": "date"}),
            ValueKind::Time => json!({"type": "string", "pattern": "^\\d{2}:\\d{2}:\\d{2}"}),
            ValueKind::Array => json!({"type": "array"}),
            ValueKind::Object => json!({"type": "object"}),
            ValueKind::Nullable(inner) => json!({"anyOf": [{"type": "null"}, inner.json_schema()]}),
            // Present, any JSON value: the declaration does not tell more.
            ValueKind::Any => json!({"$comment": "any JSON value: the field's type decides its shape at run time"}),
            ValueKind::Exception => json!({
                "type": "string",
                "$comment": "free text: the error's message, its source chain and, when captured, a backtrace"
            }),
        }
    }
}

/// Every registered event, in a stable order: by module path, then file and line of the
/// declaration (so the events of one module keep their source order), then name.
pub fn events() -> Vec<&'static EventSchema> {
    let mut all: Vec<&'static EventSchema> = inventory::iter::<crate::event::__private::EventRegistration>
        .into_iter()
        .flat_map(|registration| registration.0.iter())
        .collect();
    all.sort_by(|a, b| (a.module, a.file, a.line, a.name).cmp(&(b.module, b.file, b.line, b.name)));
    all
}

/// The events declared in the crate named `crate_name` (as in its module paths, e.g.
/// `audit_examples`), in catalog order.
pub fn crate_events(crate_name: &str) -> Vec<&'static EventSchema> {
    events().into_iter().filter(|event| event.crate_name() == crate_name).collect()
}

/// Checks the whole catalog: see [`validate_events`].
pub fn validate() -> Result<(), CatalogError> {
    validate_events(&events())
}

/// Reports every event name declared more than once, unless all its declarations are in the
/// same crate and have the same fields (the same event listed under two groups, as the
/// Objects and Objecttypes sections do with `deprecated_endpoint_called`, or one event written
/// at two levels). Two crates using one name are always reported: the name no longer tells
/// which code wrote a line.
pub fn validate_events(events: &[&'static EventSchema]) -> Result<(), CatalogError> {
    let mut by_name: BTreeMap<&str, Vec<&'static EventSchema>> = BTreeMap::new();
    for event in events {
        by_name.entry(event.name).or_default().push(event);
    }
    let duplicates: Vec<DuplicateEvent> = by_name
        .into_iter()
        .filter(|(_, declarations)| {
            let first = declarations[0];
            declarations[1..]
                .iter()
                .any(|other| other.crate_name() != first.crate_name() || !other.same_fields_as(first))
        })
        .map(|(_, declarations)| DuplicateEvent { name: declarations[0].name, declarations })
        .collect();
    if duplicates.is_empty() { Ok(()) } else { Err(CatalogError { duplicates }) }
}

/// What [`validate`] found wrong with the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    /// Every name declared more than once, by name.
    pub duplicates: Vec<DuplicateEvent>,
}

/// One event name and all its declarations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateEvent {
    /// The name declared more than once.
    pub name: &'static str,
    /// Every declaration of it, in catalog order.
    pub declarations: Vec<&'static EventSchema>,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the event catalog declares {} name(s) more than once:", self.duplicates.len())?;
        for duplicate in &self.duplicates {
            write!(f, "\n- `{}` is declared by", duplicate.name)?;
            for event in &duplicate.declarations {
                write!(f, "\n    {} ({}:{}, crate `{}`)", event.module, event.file, event.line, event.crate_name())?;
            }
        }
        write!(
            f,
            "\nrename all but one of them with #[log_event(name = \"...\")] (or #[event(name = \"...\")] on a variant)"
        )
    }
}

impl std::error::Error for CatalogError {}

/// An output format of [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// reStructuredText in the style of the existing docs: a heading per group and
    /// ``* ``name``: summary. Additional context: ``a``, ``b``.`` per event, the summary being
    /// the first paragraph of the description.
    Rst,
    /// Markdown: a section per group, a subsection per event with its level and a field table.
    Markdown,
    /// A JSON Schema (draft 2020-12) document: one schema per event under `$defs`, keyed by
    /// event name, and an `anyOf` of them at the top that accepts any of the events' lines.
    JsonSchema,
}

impl Format {
    /// The names [`Format::from_str`] accepts, for messages.
    pub const ACCEPTED: &'static str = "`rst`, `markdown` (or `md`), `json-schema` (or `jsonschema`, `json`)";
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Rst => "rst",
            Format::Markdown => "markdown",
            Format::JsonSchema => "json-schema",
        })
    }
}

/// A format name that [`Format::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFormat(pub String);

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown event catalog format {:?}: expected {}", self.0, Format::ACCEPTED)
    }
}

impl std::error::Error for UnknownFormat {}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "rst" | "rest" => Ok(Format::Rst),
            "markdown" | "md" => Ok(Format::Markdown),
            "json-schema" | "jsonschema" | "json" => Ok(Format::JsonSchema),
            _ => Err(UnknownFormat(name.to_owned())),
        }
    }
}

/// The whole catalog ([`events`]) in `format`.
pub fn render(format: Format) -> String {
    render_events(&events(), format)
}

/// `events` (for instance the events of one crate) in `format`, in the order given. Groups
/// are written in the order of their first event.
pub fn render_events(events: &[&EventSchema], format: Format) -> String {
    match format {
        Format::Rst => render_rst(events),
        Format::Markdown => render_markdown(events),
        Format::JsonSchema => {
            let mut text = serde_json::to_string_pretty(&json_schema(events)).unwrap_or_default();
            text.push('\n');
            text
        }
    }
}

/// The events by group, groups in order of first appearance.
fn grouped<'e>(events: &[&'e EventSchema]) -> Vec<(&'static str, Vec<&'e EventSchema>)> {
    let mut groups: Vec<(&'static str, Vec<&'e EventSchema>)> = Vec::new();
    for event in events {
        match groups.iter_mut().find(|(group, _)| *group == event.group) {
            Some((_, members)) => members.push(event),
            None => groups.push((event.group, vec![event])),
        }
    }
    groups
}

fn render_rst(events: &[&EventSchema]) -> String {
    let mut out = String::new();
    for (index, (group, members)) in grouped(events).into_iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{group}\n{}\n", "~".repeat(group.chars().count()));
        for event in members {
            let _ = write!(out, "* ``{}``: {}", event.name, rst_sentence(summary(event.description)));
            if !event.fields.is_empty() {
                out.push_str(" Additional context: ");
                for (i, field) in event.fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "``{}``", field.name);
                    if field.redacted {
                        out.push_str(" (redacted)");
                    }
                }
                out.push('.');
            }
            out.push('\n');
        }
    }
    out
}

/// The first paragraph of a description.
fn summary(description: &str) -> &str {
    description.trim().split("\n\n").next().unwrap_or_default()
}

/// A description as the rest of a reST bullet: one line, inline code doubled
/// (`` `x` `` becomes ``` ``x`` ```), first letter lower-cased unless it starts an acronym,
/// ending with a period.
fn rst_sentence(description: &str) -> String {
    let flat = description.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(flat.len() + 8);
    let mut rest = flat.as_str();
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let ticks = after.len() - after.trim_start_matches('`').len();
        if ticks == 1 {
            if let Some(end) = after[1..].find('`') {
                let _ = write!(out, "``{}``", &after[1..1 + end]);
                rest = &after[end + 2..];
                continue;
            }
        }
        out.push_str(&after[..ticks]);
        rest = &after[ticks..];
    }
    out.push_str(rest);
    let mut chars = out.chars();
    let lowered = match (chars.next(), chars.next()) {
        (Some(first), second) if first.is_uppercase() && !second.is_some_and(char::is_uppercase) => {
            first.to_lowercase().chain(out.chars().skip(1)).collect()
        }
        _ => out,
    };
    let mut sentence = lowered;
    if !sentence.ends_with(['.', '!', '?']) {
        sentence.push('.');
    }
    sentence
}

fn render_markdown(events: &[&EventSchema]) -> String {
    let mut out = String::from("# Event catalog\n");
    for (group, members) in grouped(events) {
        let _ = writeln!(out, "\n## {group}");
        for event in members {
            let _ = writeln!(out, "\n### `{}`\n", event.name);
            let description = event.description.trim();
            if !description.is_empty() {
                let _ = writeln!(out, "{description}\n");
            }
            let _ = writeln!(out, "- Level: `{}`", event.level);
            let _ = writeln!(out, "- Declared in: `{}` (`{}`)", event.module, event.file);
            if event.fields.is_empty() {
                out.push_str("- Context: none\n");
                continue;
            }
            out.push_str("\n| Field | Type | Description |\n|---|---|---|\n");
            for field in event.fields {
                let mut description = field.description.split_whitespace().collect::<Vec<_>>().join(" ");
                if field.redacted {
                    if !description.is_empty() {
                        description.push(' ');
                    }
                    let _ = write!(description, "Redacted: always `\"{REDACTED}\"`.");
                }
                let _ =
                    writeln!(out, "| `{}` | `{}` | {} |", field.name, field.type_name, description.replace('|', "\\|"));
            }
        }
    }
    out
}

/// The standard keys every line has, with their schemas; `levels` are the levels the event is
/// declared at (one, or one per variant that shares its name).
fn standard_properties(event: &EventSchema, levels: &[Level]) -> Map<String, Value> {
    let mut properties = Map::new();
    properties.insert(keys::EVENT.into(), json!({"const": event.name}));
    let level = match levels {
        [one] => json!({"const": one.to_string()}),
        many => json!({"enum": many.iter().map(ToString::to_string).collect::<Vec<_>>()}),
    };
    properties.insert(keys::LEVEL.into(), level);
    properties.insert(
        keys::TIMESTAMP.into(),
        json!({"type": "string", "format": "date-time", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{6}Z$"}),
    );
    properties.insert(keys::LOGGER.into(), json!({"type": "string"}));
    properties.insert(keys::SOURCE.into(), json!({"type": "string"}));
    properties
}

/// The schema of one event's lines.
fn event_schema(event: &EventSchema, levels: &[Level]) -> Value {
    let mut properties = standard_properties(event, levels);
    let mut required: Vec<&str> = keys::EVERY_LINE.to_vec();
    for field in event.fields {
        let mut schema = if field.redacted { json!({"const": REDACTED}) } else { field.kind.json_schema() };
        if let Value::Object(map) = &mut schema {
            if !field.description.is_empty() {
                map.insert("description".into(), Value::String(field.description.trim().to_owned()));
            }
        }
        properties.insert(field.name.into(), schema);
        // A field that may be `null` may as well be absent: lines written before it was
        // declared validate too, which makes adding such a field a compatible change.
        if !matches!(field.kind, ValueKind::Nullable(_)) {
            required.push(field.name);
        }
    }
    json!({
        "title": event.name,
        "description": event.description.trim(),
        "type": "object",
        "properties": properties,
        "required": required,
    })
}

/// The JSON Schema document of `events` (see [`Format::JsonSchema`]); a name listed twice
/// gets the fields of its first declaration and the levels of all declarations with those
/// fields.
pub fn json_schema(events: &[&EventSchema]) -> Value {
    let mut defs = Map::new();
    let mut any_of = Vec::new();
    for event in events {
        if defs.contains_key(event.name) {
            continue;
        }
        let mut levels: Vec<Level> = Vec::new();
        for other in events.iter().filter(|other| other.same_fields_as(event)) {
            if !levels.contains(&other.level) {
                levels.push(other.level);
            }
        }
        levels.sort();
        defs.insert(event.name.to_owned(), event_schema(event, &levels));
        any_of.push(json!({"$ref": format!("#/$defs/{}", json_pointer_escape(event.name))}));
    }
    let mut document = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Event catalog",
        "description": "A log line of one of the catalog's events; each event's own schema is under $defs, keyed by its name.",
        "$defs": defs,
    });
    // An empty `anyOf` is not valid JSON Schema; a catalog without events accepts no line.
    document["anyOf"] = if any_of.is_empty() { json!([false]) } else { Value::Array(any_of) };
    document
}

/// Escapes `~` and `/` in a JSON Pointer token.
fn json_pointer_escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The environment variable [`print_if_requested`] reads: a [`Format`] name.
pub const CATALOG_ENV: &str = "EVENT_CATALOG";
/// The command-line option [`print_if_requested`] reads: `--event-catalog FORMAT` or
/// `--event-catalog=FORMAT`.
pub const CATALOG_ARG: &str = "--event-catalog";

/// Prints the catalog to stdout and exits when the command line has `--event-catalog FORMAT`
/// or the environment has `EVENT_CATALOG=FORMAT` (the argument wins); otherwise returns and
/// the program goes on. An unknown format prints what is accepted to stderr and exits with
/// status 2. Call it first thing in `main`.
pub fn print_if_requested() {
    let args = std::env::args_os().skip(1).map(|arg| arg.to_string_lossy().into_owned());
    let env = std::env::var_os(CATALOG_ENV).map(|value| value.to_string_lossy().into_owned());
    match requested_format(args, env) {
        None => {}
        Some(Ok(format)) => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            let written = stdout.write_all(render(format).as_bytes()).and_then(|()| stdout.flush());
            std::process::exit(if written.is_ok() { 0 } else { 1 });
        }
        Some(Err(error)) => {
            // The program was asked for something it cannot do: say so where a person looks.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr().lock(), "{error}");
            std::process::exit(2);
        }
    }
}

/// The format asked for by `args` (without the program name) or by the value of
/// [`CATALOG_ENV`]; `None` when neither asks.
fn requested_format(
    mut args: impl Iterator<Item = String>,
    env: Option<String>,
) -> Option<Result<Format, UnknownFormat>> {
    let inline_prefix = format!("{CATALOG_ARG}=");
    while let Some(arg) = args.next() {
        if arg == CATALOG_ARG {
            return Some(args.next().unwrap_or_default().parse());
        }
        if let Some(value) = arg.strip_prefix(&inline_prefix) {
            return Some(value.parse());
        }
    }
    env.filter(|value| !value.is_empty()).map(|value| value.parse())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn the_argument_or_the_variable_asks_for_a_format() {
        assert_eq!(requested_format(args(&["--event-catalog", "md"]), None), Some(Ok(Format::Markdown)));
        assert_eq!(requested_format(args(&["-v", "--event-catalog=rst"]), None), Some(Ok(Format::Rst)));
        assert_eq!(requested_format(args(&[]), Some("json-schema".into())), Some(Ok(Format::JsonSchema)));
        // The argument wins over the variable.
        assert_eq!(requested_format(args(&["--event-catalog", "rst"]), Some("md".into())), Some(Ok(Format::Rst)));
        assert_eq!(requested_format(args(&["serve"]), None), None);
        assert_eq!(requested_format(args(&[]), Some(String::new())), None);
    }

    #[test]
    fn an_unknown_or_missing_format_is_an_error_naming_the_accepted_ones() {
        let error = requested_format(args(&["--event-catalog", "yaml"]), None).unwrap().unwrap_err();
        assert_eq!(error, UnknownFormat("yaml".into()));
        assert!(error.to_string().contains("`rst`, `markdown`"), "{error}");
        assert!(requested_format(args(&["--event-catalog"]), None).unwrap().is_err());
    }

    #[test]
    fn rst_sentences_follow_the_docs_style() {
        assert_eq!(rst_sentence("Created an `Object` via the API."), "created an ``Object`` via the API.");
        assert_eq!(rst_sentence("UUID of\n the object"), "UUID of the object.");
        assert_eq!(rst_sentence("Uses ``double`` already."), "uses ``double`` already.");
        assert_eq!(rst_sentence("An unclosed ` tick"), "an unclosed ` tick.");
    }
}
