//! Checks of the model that parsing alone cannot make: which field is the id, options that
//! exclude each other, names that would collide in the reported changes.

use std::collections::HashSet;

use super::Errors;
use super::ast::Input;
use super::attr::{ID, REDACT, SKIP};

/// Checks `input`; returns the index of the id field when one was found.
pub(crate) fn validate(input: &Input, errors: &mut Errors) -> Option<usize> {
    if let Some(object_type) = &input.attrs.object_type
        && object_type.value().trim().is_empty()
    {
        errors.push(syn::Error::new(
            object_type.span(),
            "`object_type` is empty: give the kind of object, e.g. \"observation\"",
        ));
    }

    for field in &input.fields {
        let attrs = &field.attrs;
        if let (Some(redact), Some(skip)) = (attrs.redact, attrs.skip) {
            let later = if skip.order > redact.order { skip } else { redact };
            errors.push(syn::Error::new(
                later.span,
                format_args!(
                    "`{REDACT}` and `{SKIP}` exclude each other: `{REDACT}` compares the field and hides its values, \
                     `{SKIP}` leaves it out of tracking; keep one of them"
                ),
            ));
        }
        if let (Some(_), Some(redact)) = (attrs.id, attrs.redact) {
            errors.push(syn::Error::new(
                redact.span,
                "the id field cannot be redacted: the id names the object in every entry; remove `redact`",
            ));
        }
        if let Some(rename) = &attrs.rename {
            let name = rename.value();
            if name.is_empty() {
                errors
                    .push(syn::Error::new(rename.span(), "`rename` is empty: give the name to report the field under"));
            } else if name.contains('.') {
                errors.push(syn::Error::new(
                    rename.span(),
                    "`rename` cannot contain `.`: dots separate the parts of a nested field's path",
                ));
            }
        }
    }

    // Two tracked fields reported under one name would make their changes indistinguishable.
    let mut seen = HashSet::new();
    for field in input.fields.iter().filter(|field| field.attrs.skip.is_none()) {
        let name = field.reported_name();
        if !seen.insert(name.clone()) {
            let span = field.attrs.rename.as_ref().map_or_else(|| field.ident.span(), |rename| rename.span());
            errors.push(syn::Error::new(
                span,
                format_args!("two fields are reported as `{name}`: give one of them another `rename = \"...\"`"),
            ));
        }
    }

    find_id(input, errors)
}

/// The field marked `#[audited(id)]`, else the field named `id`.
fn find_id(input: &Input, errors: &mut Errors) -> Option<usize> {
    let mut marked = input.fields.iter().enumerate().filter_map(|(i, field)| field.attrs.id.map(|flag| (i, flag.span)));
    if let Some((first, _)) = marked.next() {
        for (_, span) in marked {
            errors.push(syn::Error::new(
                span,
                format_args!(
                    "a second `#[audited({ID})]` field: an object has one id (`{}` is already it); remove this one",
                    input.fields[first].ident
                ),
            ));
        }
        return Some(first);
    }
    if let Some(index) = input.fields.iter().position(|field| field.ident == ID) {
        return Some(index);
    }
    errors.push(syn::Error::new(
        input.ident.span(),
        format_args!(
            "`{}` has no id field: name a field `{ID}`, or mark the field that identifies the object with `#[audited({ID})]`",
            input.ident
        ),
    ));
    None
}
