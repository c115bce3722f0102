//! The model of a struct that derives `Audited`: its options and its named fields.

use syn::{Data, DeriveInput, Fields, Generics, Ident, Type};

use super::Errors;
use super::attr::{ContainerAttrs, FieldAttrs};

/// A struct with named fields and its options.
pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    pub(crate) attrs: ContainerAttrs,
    pub(crate) fields: Vec<Field<'a>>,
}

/// One named field and its options.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: FieldAttrs,
}

impl Field<'_> {
    /// The name the field is reported under: its `rename`, or its identifier (without `r#`).
    pub(crate) fn reported_name(&self) -> String {
        match &self.attrs.rename {
            Some(rename) => rename.value(),
            None => {
                let name = self.ident.to_string();
                name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
            }
        }
    }
}

impl<'a> Input<'a> {
    /// The model, or `None` when the item is not a struct with named fields (the error says so).
    /// Option errors are collected into `errors` and the model is still built.
    pub(crate) fn from_syn(input: &'a DeriveInput, errors: &mut Errors) -> Option<Self> {
        let attrs = ContainerAttrs::parse(&input.attrs, errors);
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                Fields::Unnamed(unnamed) => {
                    errors.push(syn::Error::new(
                        unnamed.paren_token.span.join(),
                        "#[derive(Audited)] needs named fields, which changes are reported by: \
                         write `struct Name { id: ..., field: ... }` instead of a tuple struct",
                    ));
                    return None;
                }
                Fields::Unit => {
                    errors.push(syn::Error::new_spanned(
                        &input.ident,
                        "#[derive(Audited)] needs a struct with named fields, one of them the id: \
                         a unit struct has nothing to track",
                    ));
                    return None;
                }
            },
            Data::Enum(data) => {
                errors.push(syn::Error::new_spanned(
                    data.enum_token,
                    "#[derive(Audited)] works on a struct with named fields, not on an enum: \
                     derive it on the struct that holds the enum as a field",
                ));
                return None;
            }
            Data::Union(data) => {
                errors.push(syn::Error::new_spanned(
                    data.union_token,
                    "#[derive(Audited)] works on a struct with named fields, not on a union: \
                     a union's active field cannot be compared safely",
                ));
                return None;
            }
        };
        let fields = named
            .named
            .iter()
            .map(|field| Field {
                ident: field.ident.as_ref().expect("named fields have identifiers"),
                ty: &field.ty,
                attrs: FieldAttrs::parse(&field.attrs, errors),
            })
            .collect();
        Some(Input { ident: &input.ident, generics: &input.generics, attrs, fields })
    }
}
