//! Checks of a modelled `#[log_event]` item. Every problem is reported at the offending token.

use std::collections::BTreeMap;

use super::ast::{EventDecl, Item};
use super::attr::Errors;
use crate::keys::STANDARD_KEYS;

pub(crate) fn validate(item: &Item, errors: &mut Errors) {
    let mut names: BTreeMap<String, &EventDecl> = BTreeMap::new();
    for event in &item.events {
        check_event(event, errors);
        let name = event.name();
        match names.get(&name) {
            // One event written at two levels (a client error and a server error, say): the
            // variants share the name and the fields, and the catalog lists both levels.
            Some(first) if item.is_enum && same_fields(first, event) && first.level() != event.level() => {}
            Some(first) if item.is_enum => errors.at(
                event.name_span(),
                format!(
                    "event name `{name}` is already used by variant `{}` of this enum: give one of them another name with #[event(name = \"...\")] (variants may share a name only to write one event at two levels: same fields, different `level`)",
                    first.ident
                ),
            ),
            _ => {
                names.insert(name, event);
            }
        }
    }
}

/// Same field keys and types, in the same order.
fn same_fields(a: &EventDecl, b: &EventDecl) -> bool {
    let shape = |event: &EventDecl| -> Vec<(String, String, bool)> {
        event
            .fields
            .iter()
            .map(|field| {
                let ty = &field.ty;
                (field.key(), quote::quote!(#ty).to_string(), field.redacted)
            })
            .collect()
    };
    shape(a) == shape(b)
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
    if let Some(group) = &event.group {
        if group.value().trim().is_empty() {
            errors.at(group.span(), "`group` is the catalog's section heading and cannot be empty");
        }
    }
    let mut exception_fields = event.fields.iter().filter_map(|field| field.exception.map(|span| (field, span)));
    if let Some((first, _)) = exception_fields.next() {
        for (_, span) in exception_fields {
            errors.at(
                span,
                format!(
                    "a line has one `exception`, and field `{}` is it already: keep #[event(exception)] on one field",
                    first.name()
                ),
            );
        }
    }
    for field in &event.fields {
        if let Some(span) = field.exception {
            if field.redacted {
                errors.at(
                    span,
                    "a field is either #[event(exception)] (the line's error) or #[event(redact)] (never written), not both",
                );
            }
            continue;
        }
        let name = field.name();
        if STANDARD_KEYS.contains(&name.as_str()) {
            errors.at(
                field.ident.span(),
                format!(
                    "field `{name}` is named like the standard key `{name}` of every log line and would clash with it: rename the field, e.g. `{}_{name}`{}",
                    event.name().rsplit('.').next().unwrap_or("event").split('_').next().unwrap_or("event"),
                    if name == "exception" {
                        " (or mark an error field #[event(exception)] to write it as the line's `exception`)"
                    } else {
                        ""
                    },
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
