//! The model of a `#[log_event]` item: the events it declares and their fields.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Generics, Ident, LitStr, Type};

use super::attr::{self, Errors, Options, Place};
use crate::level::Level;
use crate::names::{snake_case, unraw};

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
    pub(crate) level: Option<(Level, Span)>,
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
            None => snake_case(&unraw(&self.ident)),
        }
    }

    /// The level the event is written at.
    pub(crate) fn level(&self) -> Level {
        self.level.map_or(Level::Info, |(level, _)| level)
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
    /// `#[event(exception)]`: the line's error, under the key `exception`.
    pub(crate) exception: Option<Span>,
}

impl FieldDecl {
    /// The field's name (a raw identifier without its `r#`).
    pub(crate) fn name(&self) -> String {
        unraw(&self.ident)
    }

    /// The key in the log line: `exception` for the exception field, else the name.
    pub(crate) fn key(&self) -> String {
        if self.exception.is_some() { "exception".to_owned() } else { self.name() }
    }
}

/// Builds the model; problems go to `errors` and the model is as complete as it can be.
pub(crate) fn from_syn(input: &DeriveInput, args: TokenStream, errors: &mut Errors) -> Option<Item> {
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
                    exception: options.exception,
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
        level: own.level.or(item.level),
        group: own.group.clone().or_else(|| item.group.clone()),
        docs: attr::doc_comment(attrs),
        fields,
    }
}
