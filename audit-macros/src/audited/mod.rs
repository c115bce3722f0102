//! `#[derive(Audited)]`: `ast::Input::from_syn` (options read by `attr`), `valid::validate`,
//! `expand::expand`.
//!
//! Every mistake found is reported at once, each at its own token. After an error the derive
//! emits the errors and an impl whose bodies never run, so that uses of the trait elsewhere in
//! the crate add no second wave of errors.

mod ast;
mod attr;
mod expand;
mod valid;

use proc_macro2::TokenStream;
use syn::DeriveInput;

pub(crate) use crate::errors::Errors;

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(e) => return e.into_compile_error(),
    };
    let mut errors = Errors::default();
    let id_index = ast::Input::from_syn(&input, &mut errors)
        .and_then(|model| valid::validate(&model, &mut errors).map(|id_index| (model, id_index)));
    match (errors.take(), id_index) {
        (None, Some((model, id_index))) => expand::expand(&model, id_index),
        (error, _) => {
            let mut out = error
                .unwrap_or_else(|| syn::Error::new(input.ident.span(), "#[derive(Audited)] failed"))
                .into_compile_error();
            out.extend(expand::fallback(&input));
            out
        }
    }
}
