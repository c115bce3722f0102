//! Errors collected while reading and checking an item, reported together, each at the span
//! of the token at fault, so a user sees every mistake in one build.

use proc_macro2::Span;

#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// An error at one token.
    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// An error spanning all of `tokens` (for a multi-token offender, such as a type).
    pub(crate) fn spanning(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Everything collected, as one error; `None` when all was well.
    pub(crate) fn finish(self) -> Option<syn::Error> {
        self.0
    }

    /// Like [`finish`](Self::finish), leaving the collector empty.
    pub(crate) fn take(&mut self) -> Option<syn::Error> {
        self.0.take()
    }
}
