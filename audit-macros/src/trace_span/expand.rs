//! The generated code. Only absolute paths (`::audit_runtime::__private::...`, `::core::...`)
//! so that a user's own `tracing` or `Result` never changes what it means.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::Type;

use super::ast::{self, Model, Shape};
use super::attr::{FieldArg, Sigil};
use crate::level::Level;
use crate::types::{TypeClass, classify};

pub(crate) fn expand(model: &Model) -> TokenStream {
    let item = &model.item;
    let attrs = &item.attrs;
    let vis = &item.vis;
    let sig = &item.sig;
    let block = &item.block;
    let private = quote!(::audit_runtime::__private);
    let tracing = quote!(#private::tracing);
    let level = level_tokens(model);
    let name = match model.name() {
        Some(name) => name.to_token_stream(),
        None => {
            let function = sig.ident.to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #function))
        }
    };
    let parent = match &model.options.parent {
        Some(p) => quote!(#private::Parent::explicit(#p)),
        None => quote!(#private::Parent::Contextual),
    };
    let field_names: Vec<&str> = model.fields().iter().map(|f| f.key.as_str()).collect();
    let values = model.fields().iter().enumerate().map(|(index, field)| {
        let value = value_tokens(model, field);
        quote! {
            (
                &#private::field_at(__audit_fields, #index),
                ::core::option::Option::Some(#value as &dyn #tracing::Value),
            )
        }
    });
    let value_array = if model.fields().is_empty() {
        quote!(([] as [(&#tracing::field::Field, ::core::option::Option<&dyn #tracing::Value>); 0]))
    } else {
        quote!([#(#values),*])
    };
    let follows_from = model.options.follows_from.as_ref().map(|from| {
        quote! {
            for __audit_from in #from {
                __audit_fn_span.follows_from(__audit_from);
            }
        }
    });
    // The function's callsite (its `tracing` span, made when a layer other than the exporter
    // wants it) and the exporter's probe beside it; see `audit_runtime::trace`.
    let metadata = |meta: TokenStream, callsite: TokenStream, fields: TokenStream| {
        quote! {
            static #meta: #tracing::Metadata<'static> = #tracing::Metadata::new(
                #name,
                ::core::module_path!(),
                #level,
                ::core::option::Option::Some(::core::file!()),
                ::core::option::Option::Some(::core::line!()),
                ::core::option::Option::Some(::core::module_path!()),
                #tracing::field::FieldSet::new(#fields, #tracing::callsite::Identifier(&#callsite)),
                #tracing::metadata::Kind::SPAN,
            );
        }
    };
    let span_meta = metadata(quote!(__AUDIT_SPAN_META), quote!(__AUDIT_SPAN_CALLSITE), quote!(&[#(#field_names),*]));
    let probe_meta = metadata(quote!(__AUDIT_PROBE_META), quote!(__AUDIT_PROBE_CALLSITE), quote!(&[]));
    // Evaluated only when the level is enabled: a disabled call costs one comparison (as
    // `#[tracing::instrument]`), and the fields are evaluated once, for both kinds of span.
    let fn_span = |finish: TokenStream| {
        quote! {
            if #tracing::level_enabled!(#level) {
                #span_meta
                static __AUDIT_SPAN_CALLSITE: #private::FnCallsite = #private::FnCallsite::span(&__AUDIT_SPAN_META);
                #probe_meta
                static __AUDIT_PROBE_CALLSITE: #private::FnCallsite = #private::FnCallsite::probe(&__AUDIT_PROBE_META);
                #[allow(unused_mut)]
                let mut __audit_fn_span = #private::FnSpan::new(
                    &__AUDIT_SPAN_CALLSITE,
                    &__AUDIT_PROBE_CALLSITE,
                    #parent,
                    |__audit_record| {
                        let __audit_fields = __AUDIT_SPAN_META.fields();
                        __audit_record(&__audit_fields.value_set(&#value_array))
                    },
                );
                #follows_from
                #finish
            }
        }
    };

    let result_handling = result_handling(model, &level);
    let has_handling = !result_handling.is_empty();
    // The result's type, written out when it can be: the `err` handling picks how to record
    // the error from its type, which must be known there (`Err(x.into())`, `?`).
    let annotation = ast::result_type(model).map(|ty| quote!(: #ty));
    // Assigned only when enabled: a disabled call then pays one comparison and a drop flag,
    // not the drop of an `Option`.
    let sync_span = {
        let enabled = fn_span(quote!(__audit_guard = __audit_fn_span.entered();));
        quote! {
            let __audit_guard;
            #enabled
        }
    };
    let future_span = {
        let enabled = fn_span(quote!(__audit_fn_span));
        quote! {
            #[allow(unused_mut)]
            let mut __audit_fn_span = #enabled else { #private::FnSpan::none() };
        }
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
                __audit_fn_span.instrument(#handled).await
            }
        }
        Shape::ImplFuture => {
            let handled = wrap_future(quote!(__audit_future), &result_handling, has_handling, &annotation);
            quote! {
                #future_span
                #[allow(clippy::redundant_closure_call)]
                let __audit_future = __audit_fn_span.in_scope(move || #block);
                __audit_fn_span.instrument(#handled)
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
    model.options.level.unwrap_or(Level::Info).tracing()
}

/// A field's value as a `tracing::Value` reference: `%` with `Display`, `?` with `Debug`, an
/// argument named bare as its type suggests.
fn value_tokens(model: &Model, field: &FieldArg) -> TokenStream {
    let tracing = quote!(::audit_runtime::__private::tracing);
    let (sigil, value) = match &field.value {
        Some((sigil, expr)) => (*sigil, expr.to_token_stream()),
        None => {
            let ident = &field.key_tokens[0];
            let sigil = model.argument(&field.key).map(|a| recording_of(&a.ty)).unwrap_or(Sigil::Debug);
            (sigil, ident.to_token_stream())
        }
    };
    match sigil {
        Sigil::Value => quote!(&(#value)),
        Sigil::Display => quote!(&#tracing::field::display(&(#value))),
        Sigil::Debug => quote!(&#tracing::field::debug(&(#value))),
    }
}

/// How an argument named bare is recorded: numbers and booleans as themselves, text with
/// `Display` (no quotes added), anything else with `Debug`.
fn recording_of(ty: &Type) -> Sigil {
    match classify(ty, true) {
        TypeClass::Integer | TypeClass::Unsigned | TypeClass::Float | TypeClass::Bool => Sigil::Value,
        TypeClass::Text => Sigil::Display,
        TypeClass::Time | TypeClass::Other => Sigil::Debug,
    }
}

/// What `err` and `ret` do with `__audit_result`, inside the span.
fn result_handling(model: &Model, level: &TokenStream) -> TokenStream {
    let tracing = quote!(::audit_runtime::__private::tracing);
    let private = quote!(::audit_runtime::__private);
    let err = model.options.err.is_some();
    let ret = model.options.ret.is_some();
    // An `ApiError` answering with a 4xx is a warning, and its line shares the error's
    // `exception_id` (autoref specialisation on the error's type, see `SpanErrorProbe`).
    let failed = |level: TokenStream| {
        quote! {
            #tracing::event!(
                target: ::core::module_path!(),
                #level,
                exception = (&&#private::TraceError(__audit_error)).__audit_error_value(),
                exception_id = __audit_info.exception_id_value(),
                "span_failed"
            );
        }
    };
    let (warning, error) = (failed(quote!(#tracing::Level::WARN)), failed(quote!(#tracing::Level::ERROR)));
    let record_error = quote! {
        #[allow(unused_imports)]
        use #private::{
            SpanErrorViaAnswered as _, SpanErrorViaPlain as _, TraceErrorViaDisplay as _, TraceErrorViaError as _,
        };
        let __audit_info = (&&#private::SpanErrorProbe(__audit_error)).__audit_span_error();
        if __audit_info.client_error { #warning } else { #error }
    };
    // An `Audited` value (or an `Option`, `Vec` or `Ok` of one) is recorded as its snapshot,
    // which leaves redacted fields out; anything else with `Debug`.
    let record_return = |value: TokenStream| {
        quote! {
            #[allow(unused_imports)]
            use #private::{ReturnViaDebug as _, ReturnViaSnapshot as _, ReturnViaSnapshots as _};
            #tracing::event!(
                target: ::core::module_path!(),
                #level,
                return_value = (&&&&&#private::ReturnProbe(#value)).__audit_return_value(),
                "span_returned"
            );
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
