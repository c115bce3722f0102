//! `#[trace_span]`: wraps a function (sync, `async fn`, or one returning `impl Future`) in a
//! `tracing` span.
//!
//! The options are read (`attr.rs`), `ast::Model::from_syn` models them with the function,
//! `valid::validate` checks it and `expand::expand` writes the code. Every mistake is reported at its own token, and on
//! error the function is emitted unchanged beside the errors so that the rest of the crate still
//! type-checks.

mod ast;
mod attr;
mod expand;
mod valid;

use proc_macro2::TokenStream;

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: syn::ItemFn = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(_) => {
            let mut out = syn::Error::new(
                first_token_span(&input),
                "#[trace_span] goes on a function with a body (a free fn, a method, a trait impl method, an `async fn` or a fn returning `impl Future`)",
            )
            .into_compile_error();
            out.extend(input);
            return out;
        }
    };
    let mut errors = attr::Errors::default();
    let options = attr::parse(args, &mut errors);
    let model = ast::Model::from_syn(item, options);
    valid::validate(&model, &mut errors);
    match errors.finish() {
        None => expand::expand(&model),
        Some(error) => {
            let mut out = error.into_compile_error();
            out.extend(input);
            out
        }
    }
}

/// The span of the item's first token after its attributes (`struct`, `enum`, ...) so that the
/// error points at what the attribute was put on.
fn first_token_span(input: &TokenStream) -> proc_macro2::Span {
    let mut tokens = input.clone().into_iter().peekable();
    while let Some(token) = tokens.next() {
        match &token {
            // `#` of an outer attribute: skip it and its `[...]`.
            proc_macro2::TokenTree::Punct(p) if p.as_char() == '#' => {
                tokens.next();
            }
            proc_macro2::TokenTree::Ident(i) if i == "pub" => {
                // `pub(crate)`: skip the group too.
                if let Some(proc_macro2::TokenTree::Group(_)) = tokens.peek() {
                    tokens.next();
                }
            }
            _ => return token.span(),
        }
    }
    proc_macro2::Span::call_site()
}
