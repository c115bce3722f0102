//! The model of a `#[log_event]` item: the events it declares and their fields.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Generics, Ident, LitStr, Type};

use super::attr::{self, Errors, Options, Place};

/// A struct or enum with `#[log_event]`.
pub(crate) struct Item {
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    pub(crate) is_enum: bool,
    /// One for a struct, one per variant for an enum.
    pub(crate) events: Vec<EventDecl>,
}

/// One event.
pub(crate) struct EventDecl {
    /// The variant, for an enum.
    pub(crate) variant: Option<Ident>,
    /// The struct's or variant's name: errors about the event point here.
    pub(crate) ident: Ident,
    /// The name as given, or `None` for the default.
    pub(crate) name: Option<LitStr>,
    /// The level as given (variant first, then item), or `None` for `info`.
    pub(crate) level: Option<LitStr>,
    /// The group as given (variant first, then item).
    pub(crate) group: Option<LitStr>,
    pub(crate) docs: Option<String>,
    pub(crate) fields: Vec<FieldDecl>,
}

impl EventDecl {
    /// The event's name: as given, else the snake_case struct or variant name.
    pub(crate) fn name(&self) -> String {
        match &self.name {
            Some(name) => name.value(),
            None => snake_case(&self.ident.unraw_string()),
        }
    }

    /// Where errors about the name point: the literal, else the struct or variant name.
    pub(crate) fn name_span(&self) -> Span {
        self.name.as_ref().map_or_else(|| self.ident.span(), LitStr::span)
    }
}

/// One context field.
pub(crate) struct FieldDecl {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    pub(crate) docs: String,
    pub(crate) redacted: bool,
}

impl FieldDecl {
    /// The key in the log line (a raw identifier without its `r#`).
    pub(crate) fn name(&self) -> String {
        self.ident.unraw_string()
    }
}

trait Unraw {
    fn unraw_string(&self) -> String;
}

impl Unraw for Ident {
    fn unraw_string(&self) -> String {
        let text = self.to_string();
        text.strip_prefix("r#").map(str::to_owned).unwrap_or(text)
    }
}

/// `ObjectCreated` → `object_created`, `HTTPRequestFailed` → `http_request_failed`.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let previous = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let starts_word = previous.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || (previous.is_some_and(char::is_uppercase) && next.is_some_and(|n| n.is_lowercase()));
            if starts_word && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Builds the model; problems go to `errors` and the model is as complete as it can be.
pub(crate) fn build(input: &DeriveInput, args: TokenStream, errors: &mut Errors) -> Option<Item> {
    let (is_enum, place) = match &input.data {
        Data::Struct(_) => (false, Place::Struct),
        Data::Enum(_) => (true, Place::Enum),
        Data::Union(data) => {
            errors.spanning(
                data.union_token,
                "#[log_event] goes on a struct (one event) or an enum (one event per variant), not a union",
            );
            return None;
        }
    };
    let options = attr::parse_args(args, place, errors);
    for attr in input.attrs.iter().filter(|attr| attr.path().is_ident(attr::EVENT_ATTR)) {
        errors.spanning(attr, "options of the whole item go in #[log_event(...)], not #[event(...)]");
    }
    let events = match &input.data {
        Data::Struct(data) => {
            vec![event(input.ident.clone(), None, &input.attrs, &data.fields, &options, &Options::default(), errors)]
        }
        Data::Enum(data) => {
            if data.variants.is_empty() {
                errors.spanning(
                    &input.ident,
                    "an enum with #[log_event] declares one event per variant, and this one has no variants: add one",
                );
            }
            data.variants
                .iter()
                .map(|variant| {
                    let own = attr::parse_event_attrs(&variant.attrs, Place::Variant, errors);
                    event(
                        variant.ident.clone(),
                        Some(variant.ident.clone()),
                        &variant.attrs,
                        &variant.fields,
                        &options,
                        &own,
                        errors,
                    )
                })
                .collect()
        }
        Data::Union(_) => unreachable!("rejected above"),
    };
    Some(Item { ident: input.ident.clone(), generics: input.generics.clone(), is_enum, events })
}

fn event(
    ident: Ident,
    variant: Option<Ident>,
    attrs: &[syn::Attribute],
    fields: &Fields,
    item: &Options,
    own: &Options,
    errors: &mut Errors,
) -> EventDecl {
    let fields = match fields {
        Fields::Named(named) => named
            .named
            .iter()
            .map(|field| {
                let options = attr::parse_event_attrs(&field.attrs, Place::Field, errors);
                FieldDecl {
                    ident: field.ident.clone().expect("named fields have names"),
                    ty: field.ty.clone(),
                    docs: attr::doc_comment(&field.attrs).unwrap_or_default(),
                    redacted: options.redact,
                }
            })
            .collect(),
        Fields::Unnamed(unnamed) => {
            let unit = if variant.is_some() { "variant" } else { "struct" };
            errors.push(syn::Error::new(
                unnamed.span(),
                format!(
                    "the fields of an event need names, which become the keys of its log line: write this {unit} with braces, e.g. `{ident} {{ object_uuid: Uuid }}`"
                ),
            ));
            Vec::new()
        }
        Fields::Unit => Vec::new(),
    };
    EventDecl {
        variant,
        ident,
        name: own.name.clone().or_else(|| item.name.clone()),
        level: own.level.clone().or_else(|| item.level.clone()),
        group: own.group.clone().or_else(|| item.group.clone()),
        docs: attr::doc_comment(attrs),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn type_names_become_snake_case() {
        assert_eq!(snake_case("ObjectCreated"), "object_created");
        assert_eq!(snake_case("HTTPRequestFailed"), "http_request_failed");
        assert_eq!(snake_case("Token2Configured"), "token2_configured");
        assert_eq!(snake_case("Created"), "created");
    }
}
