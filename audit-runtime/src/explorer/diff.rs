//! The difference between two versions, field by field; long text word by word (`similar`).

use serde::Serialize;
use serde_json::{Map, Value};
use similar::{ChangeTag, TextDiff};

/// Text at least this long, or with a line break, is compared word by word.
const LONG_TEXT: usize = 40;

/// One field of two versions.
#[derive(Debug, Serialize)]
pub(super) struct FieldDiff {
    /// Dotted for nested objects (`address.city`).
    pub(super) field: String,
    /// Absent when the older version has no such field.
    pub(super) old: Option<Value>,
    /// Absent when the newer version has no such field.
    pub(super) new: Option<Value>,
    pub(super) changed: bool,
    /// Long text that changed: the words kept, removed and added, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) words: Option<Vec<Word>>,
}

/// A run of text in a word diff.
#[derive(Debug, Serialize)]
pub(super) struct Word {
    /// `equal`, `delete` (only in the older text) or `insert` (only in the newer).
    pub(super) op: &'static str,
    pub(super) text: String,
}

/// Every field of `old` and `new` (snapshots), in `new`'s order (its keys' order as
/// serde_json keeps it) and then the fields only `old` has.
pub(super) fn fields(old: &Value, new: &Value) -> Vec<FieldDiff> {
    let mut old_fields = Vec::new();
    flatten("", old, &mut old_fields);
    let mut new_fields = Vec::new();
    flatten("", new, &mut new_fields);
    let mut diffs = Vec::with_capacity(new_fields.len());
    for (field, new_value) in &new_fields {
        let old_value = old_fields.iter().find(|(name, _)| name == field).map(|(_, v)| (*v).clone());
        diffs.push(field_diff(field.clone(), old_value, Some((*new_value).clone())));
    }
    for (field, old_value) in &old_fields {
        if !new_fields.iter().any(|(name, _)| name == field) {
            diffs.push(field_diff(field.clone(), Some((*old_value).clone()), None));
        }
    }
    diffs
}

fn field_diff(field: String, old: Option<Value>, new: Option<Value>) -> FieldDiff {
    let changed = old != new;
    let words = match (&old, &new) {
        (Some(Value::String(old)), Some(Value::String(new))) if changed && is_long(old, new) => Some(words(old, new)),
        _ => None,
    };
    FieldDiff { field, old, new, changed, words }
}

fn is_long(old: &str, new: &str) -> bool {
    old.len().max(new.len()) >= LONG_TEXT || old.contains('\n') || new.contains('\n')
}

/// The word-level diff of two texts, adjacent runs of one kind merged.
pub(super) fn words(old: &str, new: &str) -> Vec<Word> {
    let diff = TextDiff::from_words(old, new);
    let mut runs: Vec<Word> = Vec::new();
    for change in diff.iter_all_changes() {
        let op = match change.tag() {
            ChangeTag::Equal => "equal",
            ChangeTag::Delete => "delete",
            ChangeTag::Insert => "insert",
        };
        match runs.last_mut() {
            Some(last) if last.op == op => last.text.push_str(change.value()),
            _ => runs.push(Word { op, text: change.value().to_owned() }),
        }
    }
    runs
}

fn flatten<'v>(prefix: &str, value: &'v Value, out: &mut Vec<(String, &'v Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => flatten_map(prefix, map, out),
        _ if prefix.is_empty() => out.push(("(value)".to_owned(), value)),
        _ => out.push((prefix.to_owned(), value)),
    }
}

fn flatten_map<'v>(prefix: &str, map: &'v Map<String, Value>, out: &mut Vec<(String, &'v Value)>) {
    for (key, value) in map {
        let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            Value::Object(inner) if !inner.is_empty() => flatten_map(&name, inner, out),
            _ => out.push((name, value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_compared_one_by_one_and_nested_ones_dotted() {
        let old = json!({"value": 36.6, "address": {"city": "Utrecht"}, "gone": 1});
        let new = json!({"value": 38.2, "address": {"city": "Utrecht"}});
        let diffs = fields(&old, &new);
        let mut summary: Vec<(&str, bool)> = diffs.iter().map(|d| (d.field.as_str(), d.changed)).collect();
        assert_eq!(summary.pop(), Some(("gone", true)), "the fields only the older version has come last");
        summary.sort();
        assert_eq!(summary, [("address.city", false), ("value", true)]);
        assert_eq!(diffs[2].new, None);
    }

    #[test]
    fn long_text_is_diffed_word_by_word() {
        let old = "The patient reported a mild fever in the morning.";
        let new = "The patient reported a high fever in the evening.";
        let diffs = fields(&json!({"note": old}), &json!({"note": new}));
        let words = diffs[0].words.as_ref().expect("a word diff");
        let deleted: Vec<&str> = words.iter().filter(|w| w.op == "delete").map(|w| w.text.as_str()).collect();
        let inserted: Vec<&str> = words.iter().filter(|w| w.op == "insert").map(|w| w.text.as_str()).collect();
        assert_eq!(deleted, ["mild", "morning."]);
        assert_eq!(inserted, ["high", "evening."]);
    }
}
