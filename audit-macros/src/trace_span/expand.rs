//! The generated code. Only absolute paths (`::audit_runtime::__private::...`, `::core::...`)
//! so that a user's own `tracing` or `Result` never changes what it means.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::Type;

use super::ast::{self, Model, Shape};
use super::attr::{FieldArg, Sigil};

pub(crate) fn generate(model: &Model) -> TokenStream {
    let item = &model.item;
    let attrs = &item.attrs;
    let vis = &item.vis;
    let sig = &item.sig;
    let block = &item.block;
    let tracing = quote!(::audit_runtime::__private::tracing);
    let level = level_tokens(model);
    let name = match model.name() {
        Some(name) => name.to_token_stream(),
        None => {
            let function = sig.ident.to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #function))
        }
    };
    let parent = model.options.parent.as_ref().map(|p| quote!(parent: #p,));
    let fields = model.fields().iter().map(|f| field_tokens(model, f));
    let follows_from = model.options.follows_from.as_ref().map(|from| {
        quote! {
            for __audit_from in #from {
                __audit_span.follows_from(__audit_from);
            }
        }
    });

    let result_handling = result_handling(model, &level);
    let has_handling = !result_handling.is_empty();
    // The result's type, written out when it can be: the `err` handling picks how to record
    // the error from its type, which must be known there (`Err(x.into())`, `?`).
    let annotation = ast::result_type(model).map(|ty| quote!(: #ty));
    let span = quote! {
        #tracing::span!(
            target: ::core::module_path!(),
            #parent
            #level,
            #name
            #(, #fields)*
        )
    };
    // A sync function makes its span only when the level is enabled: a disabled call then costs
    // one comparison, no dummy span or guard (as `#[tracing::instrument]` does).
    let sync_span = quote! {
        let __audit_span;
        let __audit_guard;
        if #tracing::level_enabled!(#level) {
            __audit_span = #span;
            #follows_from
            __audit_guard = __audit_span.enter();
        }
    };
    let future_span = quote! {
        let __audit_span = #span;
        #follows_from
    };
    let body = match model.shape {
        Shape::Sync if !has_handling => quote! {
            #sync_span
            #block
        },
        Shape::Sync => quote! {
            #sync_span
            #[allow(clippy::redundant_closure_call)]
            let __audit_result #annotation = (move || #block)();
            #result_handling
            __audit_result
        },
        Shape::Async => {
            let handled = wrap_future(quote!(async move #block), &result_handling, has_handling, &annotation);
            quote! {
                #future_span
                #tracing::Instrument::instrument(#handled, __audit_span).await
            }
        }
        Shape::ImplFuture => {
            let handled = wrap_future(quote!(__audit_future), &result_handling, has_handling, &annotation);
            quote! {
                #future_span
                #[allow(clippy::redundant_closure_call)]
                let __audit_future = {
                    let __audit_guard = __audit_span.enter();
                    (move || #block)()
                };
                #tracing::Instrument::instrument(#handled, __audit_span)
            }
        }
    };

    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}

/// A future that awaits `inner` and then handles its result, when there is anything to do.
fn wrap_future(
    inner: TokenStream,
    handling: &TokenStream,
    has_handling: bool,
    annotation: &Option<TokenStream>,
) -> TokenStream {
    if !has_handling {
        return inner;
    }
    quote! {
        async move {
            let __audit_result #annotation = #inner.await;
            #handling
            __audit_result
        }
    }
}

fn level_tokens(model: &Model) -> TokenStream {
    let name = model.options.level.as_ref().map(|l| l.value()).unwrap_or_else(|| "info".to_owned());
    let constant = match name.as_str() {
        "trace" => quote!(TRACE),
        "debug" => quote!(DEBUG),
        "warn" => quote!(WARN),
        "error" => quote!(ERROR),
        _ => quote!(INFO),
    };
    quote!(::audit_runtime::__private::tracing::Level::#constant)
}

/// `key = value` as `tracing::span!` takes it.
fn field_tokens(model: &Model, field: &FieldArg) -> TokenStream {
    let key = &field.key_tokens;
    match &field.value {
        Some((Sigil::Value, expr)) => quote!(#key = #expr),
        Some((Sigil::Display, expr)) => quote!(#key = %#expr),
        Some((Sigil::Debug, expr)) => quote!(#key = ?#expr),
        None => {
            let ident = &field.key_tokens[0];
            match model.argument(&field.key).map(|a| recording_of(&a.ty)) {
                Some(Sigil::Value) => quote!(#key = #ident),
                Some(Sigil::Display) => quote!(#key = %#ident),
                _ => quote!(#key = ?#ident),
            }
        }
    }
}

/// How an argument named bare is recorded: numbers and booleans as themselves, text with
/// `Display` (no quotes added), anything else with `Debug`.
fn recording_of(ty: &Type) -> Sigil {
    match ty {
        Type::Reference(r) => recording_of(&r.elem),
        Type::Paren(p) => recording_of(&p.elem),
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else { return Sigil::Debug };
            if !last.arguments.is_empty() {
                return Sigil::Debug;
            }
            match last.ident.to_string().as_str() {
                "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize"
                | "f32" | "f64" | "bool" => Sigil::Value,
                "str" | "String" => Sigil::Display,
                _ => Sigil::Debug,
            }
        }
        _ => Sigil::Debug,
    }
}

/// What `err` and `ret` do with `__audit_result`, inside the span.
fn result_handling(model: &Model, level: &TokenStream) -> TokenStream {
    let tracing = quote!(::audit_runtime::__private::tracing);
    let private = quote!(::audit_runtime::__private);
    let err = model.options.err.is_some();
    let ret = model.options.ret.is_some();
    let record_error = quote! {
        #[allow(unused_imports)]
        use #private::{TraceErrorViaDisplay as _, TraceErrorViaError as _};
        #tracing::event!(
            target: ::core::module_path!(),
            #tracing::Level::ERROR,
            error = (&&#private::TraceError(__audit_error)).__audit_error_value(),
            "span_failed"
        );
    };
    let record_return = |value: TokenStream| {
        quote! {
            #tracing::event!(target: ::core::module_path!(), #level, return_value = ?#value, "span_returned");
        }
    };
    match (err, ret) {
        (false, false) => TokenStream::new(),
        (true, false) => quote! {
            if let ::core::result::Result::Err(__audit_error) = &__audit_result {
                #record_error
            }
        },
        (false, true) => record_return(quote!(&__audit_result)),
        (true, true) => {
            let record_ok = record_return(quote!(__audit_value));
            quote! {
                match &__audit_result {
                    ::core::result::Result::Ok(__audit_value) => { #record_ok }
                    ::core::result::Result::Err(__audit_error) => { #record_error }
                }
            }
        }
    }
}
