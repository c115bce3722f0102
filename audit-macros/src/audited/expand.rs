//! The `impl ::audit_runtime::Audited` of a checked model.
//!
//! Per field, the runtime picks how to compare it (a nested `Audited` type, an `Option`/`Vec` of
//! one, or a plain `PartialEq + Serialize` value) by autoref specialization on
//! `__private::FieldProbe`; the calls are spanned on the field's type so that a type missing
//! `PartialEq` or `Serialize` is reported at the field.

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use super::ast::{Field, Input};
use crate::names::snake_case;
use crate::types::mentions;

/// The impl for a valid model whose id is field `id_index`.
pub(crate) fn expand(input: &Input, id_index: usize) -> TokenStream {
    let ident = input.ident;
    let private = quote!(::audit_runtime::__private::audited);
    let object_type = match &input.attrs.object_type {
        Some(lit) => lit.value(),
        None => snake_case(&ident.to_string()),
    };

    let generics = with_field_bounds(input);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let id_field = &input.fields[id_index];
    let id_member = member_of(id_field);
    let object_id = quote_spanned! {id_field.ty.span()=>
        ::audit_runtime::__private::audited::id_string(&self.#id_member)
    };

    let object_repr = match &input.attrs.repr {
        Some(path) => quote_spanned! {path.span()=> #path(self) },
        None => quote! {
            #[allow(unused_imports)]
            use #private::{DefaultRepr as _, DisplayRepr as _};
            match (&&#private::FieldProbe(self)).audit_repr() {
                ::core::option::Option::Some(repr) => repr,
                ::core::option::Option::None => #private::default_repr(
                    <Self as #private::Audited>::object_type(),
                    &#private::Audited::object_id(self),
                ),
            }
        },
    };

    let tracked: Vec<&Field> = input.fields.iter().filter(|field| field.attrs.skip.is_none()).collect();
    let compare = tracked.iter().map(|field| {
        let member = member_of(field);
        let name = field.reported_name();
        let old = field_of(field);
        if field.attrs.redact.is_some() {
            quote_spanned! {field.ty.span()=>
                if #old.differs(&new.#member) {
                    ::audit_runtime::__private::audited::push_redacted(#name, &mut changes);
                }
            }
        } else {
            quote_spanned! {field.ty.span()=>
                #old.push_changes(#name, &new.#member, &mut changes);
            }
        }
    });
    let snapshot = tracked.iter().filter(|field| field.attrs.redact.is_none()).map(|field| {
        let name = field.reported_name();
        let old = field_of(field);
        quote_spanned! {field.ty.span()=>
            ::audit_runtime::__private::audited::snapshot_insert(&mut map, #name, #old.snapshot());
        }
    });
    let probes = quote! {
        #[allow(unused_imports)]
        use #private::{NestedProbe as _, OptionNestedProbe as _, ValueProbe as _, VecNestedProbe as _};
    };

    quote! {
        #[automatically_derived]
        impl #impl_generics #private::Audited for #ident #ty_generics #where_clause {
            fn object_type() -> &'static str {
                #object_type
            }

            fn object_id(&self) -> #private::String {
                #object_id
            }

            fn object_repr(&self) -> #private::String {
                #object_repr
            }

            fn changes_to(&self, new: &Self) -> #private::Vec<#private::FieldChange> {
                #probes
                let mut changes = #private::Vec::new();
                #(#compare)*
                changes
            }

            fn snapshot(&self) -> #private::Value {
                #probes
                let mut map = #private::snapshot_map();
                #(#snapshot)*
                #private::snapshot_finish(map)
            }
        }
    }
}

/// After an error: an impl whose bodies never run, so that uses of the trait elsewhere do not
/// add errors to the one that matters.
pub(crate) fn fallback(input: &DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let private = quote!(::audit_runtime::__private::audited);
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let message = "#[derive(Audited)] failed: see the error above";
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::Audited for #ident #ty_generics #where_clause {
            fn object_type() -> &'static str { ::core::unreachable!(#message) }
            fn object_id(&self) -> #private::String { ::core::unreachable!(#message) }
            fn object_repr(&self) -> #private::String { ::core::unreachable!(#message) }
            fn changes_to(&self, _: &Self) -> #private::Vec<#private::FieldChange> { ::core::unreachable!(#message) }
            fn snapshot(&self) -> #private::Value { ::core::unreachable!(#message) }
        }
    }
}

/// `self.<field>` wrapped for comparison: the kind is selected, then its `field` call checks
/// the type's bounds. Spanned on the field's type so that a missing bound is reported there.
fn field_of(field: &Field) -> TokenStream {
    let member = member_of(field);
    quote_spanned! {field.ty.span()=>
        (&&&&::audit_runtime::__private::audited::FieldProbe(&self.#member)).audit_kind().field(&self.#member)
    }
}

/// The field's identifier, spanned on its type so that an error covers the type alone.
fn member_of(field: &Field) -> Ident {
    let mut member = field.ident.clone();
    member.set_span(field.ty.span());
    member
}

/// The generics with `T: PartialEq + Serialize` for each type parameter that a tracked field's
/// type mentions: inside a generic impl such a field is compared as a plain value.
fn with_field_bounds(input: &Input) -> syn::Generics {
    let mut generics = input.generics.clone();
    let used: Vec<Ident> = generics
        .type_params()
        .map(|param| param.ident.clone())
        .filter(|param| {
            input
                .fields
                .iter()
                .filter(|field| field.attrs.skip.is_none())
                .any(|field| mentions(field.ty, &[param.to_string().as_str()]))
        })
        .collect();
    if !used.is_empty() {
        let where_clause = generics.make_where_clause();
        for param in used {
            where_clause.predicates.push(syn::parse_quote! {
                #param: ::core::cmp::PartialEq + ::audit_runtime::__private::serde::Serialize
            });
        }
    }
    generics
}
