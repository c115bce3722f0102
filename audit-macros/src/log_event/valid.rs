//! Checks of a modelled `#[log_event]` item. Every problem is reported at the offending token.

use std::collections::BTreeMap;

use super::ast::{EventDecl, Item};
use super::attr::{Errors, LEVELS};

/// Keys every log line has, or that the request context binds: a field of that name would
/// clash with them.
pub(crate) const STANDARD_KEYS: [&str; 10] =
    ["event", "level", "timestamp", "logger", "source", "request_id", "user_id", "exception", "trace_id", "span_id"];

pub(crate) fn check(item: &Item, errors: &mut Errors) {
    let mut names: BTreeMap<String, &EventDecl> = BTreeMap::new();
    for event in &item.events {
        check_event(event, errors);
        let name = event.name();
        match names.get(&name) {
            Some(first) if item.is_enum => errors.at(
                event.name_span(),
                format!(
                    "event name `{name}` is already used by variant `{}` of this enum: give one of them another name with #[event(name = \"...\")]",
                    first.ident
                ),
            ),
            _ => {
                names.insert(name, event);
            }
        }
    }
}

fn check_event(event: &EventDecl, errors: &mut Errors) {
    if event.docs.is_none() {
        let what = if event.variant.is_some() { "variant" } else { "struct" };
        errors.at(
            event.ident.span(),
            format!(
                "event `{}` has no doc comment: add a `///` line above the {what} that says what happened, e.g. `/// Configured a token.`; the catalog uses it as the event's description",
                event.name()
            ),
        );
    }
    let name = event.name();
    if let Err(problem) = check_name(&name) {
        let fix = if event.name.is_some() {
            "write it as lowercase snake_case words, optionally dotted, e.g. `object_created` or `api.handled_exception`"
        } else {
            "set one with name = \"...\" (lowercase snake_case words, optionally dotted)"
        };
        errors.at(event.name_span(), format!("malformed event name `{name}`: {problem}; {fix}"));
    }
    if let Some(level) = &event.level {
        let value = level.value();
        if !LEVELS.contains(&value.as_str()) {
            let hint = match value.to_ascii_lowercase().as_str() {
                "warn" => " (did you mean `warning`?)".to_owned(),
                "trace" => " (did you mean `debug`?)".to_owned(),
                lower if LEVELS.contains(&lower) => format!(" (did you mean `{lower}`?)"),
                _ => String::new(),
            };
            errors.at(
                level.span(),
                format!("unknown level `{value}`: expected `debug`, `info`, `warning`, `error` or `critical`{hint}"),
            );
        }
    }
    if let Some(group) = &event.group {
        if group.value().trim().is_empty() {
            errors.at(group.span(), "`group` is the catalog's section heading and cannot be empty");
        }
    }
    for field in &event.fields {
        let name = field.name();
        if STANDARD_KEYS.contains(&name.as_str()) {
            errors.at(
                field.ident.span(),
                format!(
                    "field `{name}` is named like the standard key `{name}` of every log line and would clash with it: rename the field, e.g. `{}_{name}`",
                    event.name().rsplit('.').next().unwrap_or("event").split('_').next().unwrap_or("event")
                ),
            );
        }
    }
}

/// Lowercase ASCII snake_case segments separated by single dots.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".to_owned());
    }
    for segment in name.split('.') {
        let mut chars = segment.chars();
        match chars.next() {
            None => return Err("it has an empty segment between dots".to_owned()),
            Some(first) if !first.is_ascii_lowercase() => {
                return Err(format!("`{segment}` does not start with a lowercase letter"));
            }
            Some(_) => {}
        }
        if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
            return Err(format!("`{bad}` is not allowed (only `a`-`z`, `0`-`9`, `_` and `.`)"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_are_dotted_snake_case() {
        assert!(check_name("object_created").is_ok());
        assert!(check_name("api.handled_exception").is_ok());
        assert!(check_name("v2.token_configured").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("api..handled").is_err());
        assert!(check_name("Object Created").is_err());
        assert!(check_name("object-created").is_err());
        assert!(check_name("_private").is_err());
    }
}
