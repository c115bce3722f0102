//! `#[log_event]`: typed log events, registered in the catalog.
//!
//! The pipeline of all three macros: `ast::from_syn` models the item (`attr.rs` reads the
//! options and doc comments), `valid::validate` checks it, `expand::expand` writes the code. All problems are reported together, each at
//! its offending token, and the item itself is always emitted (without our helper attributes)
//! so that a mistake in the macro's input gives that one error rather than a cascade of
//! "type not found" errors wherever the item is used.

mod ast;
mod attr;
mod expand;
mod valid;

use proc_macro2::TokenStream;
use quote::ToTokens;

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item: syn::DeriveInput = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(_) => {
            let mut out = syn::Error::new(
                proc_macro2::Span::call_site(),
                "#[log_event] goes on a struct (one event) or an enum (one event per variant)",
            )
            .into_compile_error();
            out.extend(input);
            return out;
        }
    };
    let mut errors = attr::Errors::default();
    let model = ast::from_syn(&item, args, &mut errors);
    if let Some(model) = &model {
        valid::validate(model, &mut errors);
    }
    strip_helper_attributes(&mut item);
    let mut out = match (errors.finish(), &model) {
        (None, Some(model)) => expand::expand(model),
        (Some(error), _) => error.into_compile_error(),
        (None, None) => TokenStream::new(),
    };
    item.to_tokens(&mut out);
    out
}

/// Removes `#[event(...)]` from variants and fields.
fn strip_helper_attributes(item: &mut syn::DeriveInput) {
    attr::strip_event_attrs(&mut item.attrs);
    let fields: Box<dyn Iterator<Item = &mut syn::Field>> = match &mut item.data {
        syn::Data::Struct(data) => Box::new(data.fields.iter_mut()),
        syn::Data::Enum(data) => Box::new(data.variants.iter_mut().flat_map(|variant| {
            attr::strip_event_attrs(&mut variant.attrs);
            variant.fields.iter_mut()
        })),
        syn::Data::Union(data) => Box::new(data.fields.named.iter_mut()),
    };
    fields.for_each(|field| attr::strip_event_attrs(&mut field.attrs));
}
