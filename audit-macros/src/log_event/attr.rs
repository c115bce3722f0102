//! The options of `#[log_event(...)]` and of the `#[event(...)]` helper attribute.

use proc_macro2::Span;
use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Meta, Token};

use crate::level::{Level, LevelOf};

/// The event's name.
pub(crate) const NAME: &str = "name";
/// The event's level.
pub(crate) const LEVEL: &str = "level";
/// The catalog section.
pub(crate) const GROUP: &str = "group";
/// On a field: log `"[redacted]"` instead of the value.
pub(crate) const REDACT: &str = "redact";
/// On a field: the line's error, written under the standard key `exception`.
pub(crate) const EXCEPTION: &str = "exception";
/// The helper attribute on variants and fields.
pub(crate) const EVENT_ATTR: &str = "event";

pub(crate) use crate::errors::Errors;

/// Where options are written; each place accepts its own set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// `#[log_event(...)]` on a struct.
    Struct,
    /// `#[log_event(...)]` on an enum.
    Enum,
    /// `#[event(...)]` on a variant.
    Variant,
    /// `#[event(...)]` on a field.
    Field,
}

impl Place {
    fn accepted(self) -> &'static [&'static str] {
        match self {
            Place::Struct => &[NAME, LEVEL, GROUP],
            Place::Enum => &[LEVEL, GROUP],
            Place::Variant => &[NAME, LEVEL, GROUP],
            Place::Field => &[REDACT, EXCEPTION],
        }
    }

    fn attribute(self) -> &'static str {
        match self {
            Place::Struct | Place::Enum => "#[log_event(...)]",
            Place::Variant | Place::Field => "#[event(...)]",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Place::Struct => "on a struct",
            Place::Enum => "on an enum",
            Place::Variant => "on a variant",
            Place::Field => "on a field",
        }
    }
}

/// Options as written; values are checked in `valid.rs`.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) name: Option<LitStr>,
    /// Parsed where it is read: an unknown level is reported once, at its literal.
    pub(crate) level: Option<(Level, Span)>,
    pub(crate) group: Option<LitStr>,
    pub(crate) redact: bool,
    /// Where `exception` was written, when it was.
    pub(crate) exception: Option<Span>,
}

/// `a`, `b` and `c` for messages.
fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Reads the arguments of `#[log_event(...)]`.
pub(crate) fn parse_args(args: TokenStream, place: Place, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas.iter().for_each(|meta| read_meta(meta, place, &mut options, errors)),
        Err(error) => errors.push(error),
    }
    options
}

/// Reads every `#[event(...)]` among `attrs`.
pub(crate) fn parse_event_attrs(attrs: &[Attribute], place: Place, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(EVENT_ATTR)) {
        match &attr.meta {
            Meta::List(_) => match attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
                Ok(metas) => metas.iter().for_each(|meta| read_meta(meta, place, &mut options, errors)),
                Err(error) => errors.push(error),
            },
            _ => errors.spanning(
                attr,
                format!(
                    "#[event] needs options {}: {} accepted here",
                    place.what(),
                    list(place.accepted()) + if place.accepted().len() == 1 { " is" } else { " are" }
                ),
            ),
        }
    }
    options
}

fn read_meta(meta: &Meta, place: Place, options: &mut Options, errors: &mut Errors) {
    let path = meta.path();
    let key = path.get_ident().map(ToString::to_string).unwrap_or_default();
    if !place.accepted().contains(&key.as_str()) {
        let hint = match (place, key.as_str()) {
            (Place::Enum, NAME) => {
                "; an enum declares one event per variant: name each with #[event(name = \"...\")] on the variant"
                    .to_owned()
            }
            (Place::Field, NAME | LEVEL | GROUP) => format!("; `{key}` belongs on the event, not on one of its fields"),
            (Place::Struct | Place::Enum, REDACT) => "; put #[event(redact)] on the field to redact".to_owned(),
            _ => String::new(),
        };
        errors.spanning(
            path,
            format!(
                "unknown option `{}` in {} {}: expected {}{hint}",
                quote::quote!(#path).to_string().replace(' ', ""),
                place.attribute(),
                place.what(),
                list(place.accepted()),
            ),
        );
        return;
    }
    if key == REDACT || key == EXCEPTION {
        let usage = if key == REDACT {
            "write #[event(redact)] to log the field as \"[redacted]\""
        } else {
            "write #[event(exception)] to log the field as the line's `exception`"
        };
        let given = if key == REDACT { options.redact } else { options.exception.is_some() };
        match meta {
            Meta::Path(_) if given => errors.spanning(path, format!("`{key}` is given twice")),
            Meta::Path(_) if key == REDACT => options.redact = true,
            Meta::Path(_) => options.exception = Some(path.span()),
            Meta::NameValue(name_value) => {
                errors.spanning(&name_value.value, format!("`{key}` takes no value: {usage}"))
            }
            Meta::List(list) => errors.spanning(&list.tokens, format!("`{key}` takes no value: {usage}")),
        }
        return;
    }
    let example = match key.as_str() {
        NAME => "name = \"object_created\"",
        LEVEL => "level = \"warning\"",
        _ => "group = \"Objects\"",
    };
    let value = match meta {
        Meta::NameValue(name_value) => match &name_value.value {
            Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) => text.clone(),
            other => {
                errors.spanning(other, format!("`{key}` takes a string literal, e.g. {example}"));
                return;
            }
        },
        _ => {
            errors.spanning(meta, format!("`{key}` needs a value, e.g. {example}"));
            return;
        }
    };
    if key == LEVEL {
        if options.level.is_some() {
            errors.spanning(path, format!("`{key}` is given twice; keep one"));
        }
        match Level::parse(&value, LevelOf::Event) {
            Ok(level) if options.level.is_none() => options.level = Some(level),
            Ok(_) => {}
            Err(error) => errors.push(error),
        }
        return;
    }
    let slot = if key == NAME { &mut options.name } else { &mut options.group };
    if slot.is_some() {
        errors.spanning(path, format!("`{key}` is given twice; keep one"));
    } else {
        *slot = Some(value);
    }
}

/// The doc comment in `attrs`: one leading space per line removed, blank edges trimmed;
/// `None` when there is none or it is blank.
pub(crate) fn doc_comment(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            Meta::NameValue(name_value) => match &name_value.value {
                Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) => Some(text.value()),
                _ => None,
            },
            _ => None,
        })
        .flat_map(|text| {
            text.lines().map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned()).collect::<Vec<_>>()
        })
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Removes our helper attribute, which the compiler does not know (an attribute macro has no
/// registered helpers).
pub(crate) fn strip_event_attrs(attrs: &mut Vec<Attribute>) {
    attrs.retain(|attr| !attr.path().is_ident(EVENT_ATTR));
}
