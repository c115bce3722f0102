//! Code generation of `#[log_event]`: the catalog entries, their registration, `emit()`.
//!
//! Generated code names everything by absolute path (`::audit_runtime::__private::...`,
//! `::core::...`) so that it never depends on the user's imports.

use proc_macro2::{TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::Type;
use syn::spanned::Spanned;

use super::ast::{EventDecl, FieldDecl, Item};
use crate::level::Level;
use crate::types::{MAPS, SEQUENCES, TRANSPARENT, TypeClass, classify, is_time_path, last_segment, mentions, peel};

/// The `ValueKind` expression of a type, as far as its syntax tells.
fn value_kind(ty: &Type, type_params: &[String]) -> TokenStream {
    let kind = |variant: &str| {
        let variant = format_ident!("{}", variant);
        quote!(::audit_runtime::__private::EventValueKind::#variant)
    };
    if let Type::Array(_) | Type::Slice(_) | Type::Tuple(_) = peel(ty) {
        return match peel(ty) {
            Type::Tuple(tuple) if tuple.elems.is_empty() => kind("Any"),
            _ => kind("Array"),
        };
    }
    let Some((name, args, path)) = last_segment(peel(ty)) else { return kind("Any") };
    let bare = path.path.segments.len() == 1;
    let name = name.as_str();
    if bare && type_params.iter().any(|param| param == name) {
        return kind("Any");
    }
    match classify(ty, true) {
        TypeClass::Integer => return kind("Integer"),
        TypeClass::Unsigned => return kind("Unsigned"),
        TypeClass::Float => return kind("Float"),
        TypeClass::Bool => return kind("Bool"),
        TypeClass::Text => return kind("String"),
        TypeClass::Time | TypeClass::Other => {}
    }
    match name {
        "char" | "str" | "String" => kind("String"),
        "Uuid" => kind("Uuid"),
        "OffsetDateTime" | "UtcDateTime" => kind("DateTime"),
        "PrimitiveDateTime" => kind("LocalDateTime"),
        "Date" if is_time_path(path, "Date") => kind("Date"),
        "Time" if is_time_path(path, "Time") => kind("Time"),
        "Option" if args.len() == 1 => {
            let inner = value_kind(args[0], type_params);
            quote!(::audit_runtime::__private::EventValueKind::Nullable(&#inner))
        }
        _ if TRANSPARENT.contains(&name) && args.len() == 1 => value_kind(args[0], type_params),
        _ if SEQUENCES.contains(&name) => kind("Array"),
        _ if MAPS.contains(&name) => kind("Object"),
        _ => kind("Any"),
    }
}

/// The type as a reader would write it: no lifetimes, no spaces around `<`, `>`, `::`, `&`.
fn type_name(ty: &Type) -> String {
    let mut out = String::new();
    let mut tokens = quote!(#ty).into_iter().peekable();
    while let Some(token) = tokens.next() {
        match &token {
            // A lifetime is `'` followed by an identifier: drop both, and a comma after it.
            TokenTree::Punct(punct) if punct.as_char() == '\'' => {
                tokens.next();
                if matches!(tokens.peek(), Some(TokenTree::Punct(p)) if p.as_char() == ',') {
                    tokens.next();
                }
            }
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    proc_macro2::Delimiter::Parenthesis => ("(", ")"),
                    proc_macro2::Delimiter::Bracket => ("[", "]"),
                    proc_macro2::Delimiter::Brace => ("{", "}"),
                    proc_macro2::Delimiter::None => ("", ""),
                };
                let inner: Type = syn::parse2(group.stream()).unwrap_or(Type::Verbatim(group.stream()));
                out.push_str(open);
                out.push_str(&type_name(&inner));
                out.push_str(close);
            }
            other => {
                let text = other.to_string();
                let needs_space = out.ends_with(|c: char| c.is_alphanumeric() || c == '_')
                    && text.starts_with(|c: char| c.is_alphanumeric() || c == '_');
                if needs_space || out.ends_with(',') || out.ends_with(';') {
                    out.push(' ');
                }
                out.push_str(&text);
            }
        }
    }
    // `Option<&str,>` can be left behind by a dropped lifetime: tidy up, and drop empty `<>`.
    out.replace(", >", ">").replace(",>", ">").replace("<>", "")
}

/// The type parameters of the item, by name.
fn type_params(item: &Item) -> Vec<String> {
    item.generics.type_params().map(|param| param.ident.to_string()).collect()
}

/// The `EventSchema` literal of one event.
fn schema(event: &EventDecl, type_params: &[String]) -> TokenStream {
    let name = event.name();
    let level = event.level().catalog();
    let group = match &event.group {
        Some(group) => quote!(#group),
        None => quote!(::core::module_path!()),
    };
    let description = event.docs.clone().unwrap_or_default();
    let fields = event.fields.iter().map(|field| {
        let name = field.key();
        let type_name = type_name(&field.ty);
        let description = &field.docs;
        let redacted = field.redacted;
        let kind = match field.exception {
            Some(_) => exception_kind(&field.ty),
            None => value_kind(&field.ty, type_params),
        };
        quote! {
            ::audit_runtime::__private::FieldSchema {
                name: #name,
                type_name: #type_name,
                description: #description,
                redacted: #redacted,
                kind: #kind,
            }
        }
    });
    // `line!()` spanned on the struct or variant name gives that name's line.
    let line = quote_spanned!(event.ident.span()=> ::core::line!());
    quote! {
        ::audit_runtime::__private::EventSchema {
            name: #name,
            level: #level,
            group: #group,
            description: #description,
            fields: &[#(#fields),*],
            module: ::core::module_path!(),
            file: ::audit_runtime::__private::crate_relative_path(
                ::core::file!(),
                ::core::env!("CARGO_MANIFEST_DIR"),
            ),
            line: #line,
        }
    }
}

/// The kind of an `#[event(exception)]` field: text, `null` when an `Option` is `None`.
fn exception_kind(ty: &Type) -> TokenStream {
    let exception = quote!(::audit_runtime::__private::EventValueKind::Exception);
    match last_segment(peel(ty)) {
        Some((name, args, _)) if name == "Option" && args.len() == 1 => {
            quote!(::audit_runtime::__private::EventValueKind::Nullable(&#exception))
        }
        _ => exception,
    }
}

/// The `tracing` field of one context field; `value` is an expression of type `&FieldType`.
fn record(field: &FieldDecl, value: &TokenStream) -> TokenStream {
    let key = field.key();
    if field.redacted {
        // The value is never read: not formatted, not serialized.
        return quote!(#key = ::audit_runtime::__private::REDACTED);
    }
    let ty = &field.ty;
    // Spanned on the type, so an unloggable type's error points at it.
    let span = ty.span();
    if field.exception.is_some() {
        return quote_spanned!(span=> #key = ::audit_runtime::__private::exception_field::<#ty>(#value));
    }
    match classify(ty, false) {
        TypeClass::Integer | TypeClass::Unsigned | TypeClass::Float | TypeClass::Bool => quote!(#key = #value),
        TypeClass::Text => quote!(#key = ::core::convert::AsRef::<::core::primitive::str>::as_ref(#value)),
        TypeClass::Time => quote_spanned!(span=> #key = ::audit_runtime::__private::time_field::<#ty>(#value)),
        TypeClass::Other => quote_spanned!(span=> #key = ::audit_runtime::__private::json_field::<#ty>(#value)),
    }
}

/// One `tracing::event!` call.
fn event_call(event: &EventDecl, values: &[TokenStream]) -> TokenStream {
    let name = event.name();
    let level = event.level().tracing();
    // `critical` is an `ERROR` event that says so; the layer writes `"level":"critical"`.
    let critical = (event.level() == Level::Critical).then(|| quote!(level = "critical",));
    let fields = event.fields.iter().zip(values).map(|(field, value)| record(field, value));
    quote! {
        ::audit_runtime::__private::tracing::event!(
            target: ::core::module_path!(),
            #level,
            event = #name,
            #critical
            #(#fields,)*
        )
    }
}

/// Takes a reference to each redacted field and drops it: the value is not read, but the
/// field counts as used, so `dead_code` does not warn about a field that only the log has.
fn redacted_uses(event: &EventDecl, place: impl Fn(&FieldDecl) -> TokenStream) -> TokenStream {
    let places = event.fields.iter().filter(|field| field.redacted).map(place);
    quote!(#(let _ = &#places;)*)
}

pub(crate) fn expand(item: &Item) -> TokenStream {
    let ident = &item.ident;
    let params = type_params(item);
    let param_names: Vec<&str> = params.iter().map(String::as_str).collect();
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    // `emit()` needs `Serialize` for the fields whose type involves a type parameter.
    let mut where_clause = where_clause.cloned().unwrap_or_else(|| syn::parse_quote!(where));
    for field in item.events.iter().flat_map(|event| &event.fields) {
        if !field.redacted && field.exception.is_none() && mentions(&field.ty, &param_names) {
            let ty = &field.ty;
            where_clause.predicates.push(syn::parse_quote!(#ty: ::audit_runtime::__private::serde::Serialize));
        }
    }
    let count = item.events.len();
    let schemas = item.events.iter().map(|event| schema(event, &params));

    let (emit_body, schema_body) = if item.is_enum {
        let arms = item.events.iter().enumerate().map(|(index, event)| {
            let variant = event.variant.as_ref().expect("enum events have variants");
            let idents = event.fields.iter().map(|field| &field.ident);
            let bindings: Vec<_> = event.fields.iter().map(|field| format_ident!("__audit_{}", field.name())).collect();
            let redacted = redacted_uses(event, |field| {
                let binding = format_ident!("__audit_{}", field.name());
                quote!(#binding)
            });
            let values: Vec<TokenStream> = event
                .fields
                .iter()
                .map(|field| match field.redacted {
                    true => quote!(()),
                    false => {
                        let binding = format_ident!("__audit_{}", field.name());
                        quote!(#binding)
                    }
                })
                .collect();
            let call = event_call(event, &values);
            let emit_arm = quote! {
                Self::#variant { #(#idents: #bindings,)* .. } => { #redacted #call; }
            };
            let schema_arm = quote!(Self::#variant { .. } => &__AUDIT_EVENTS[#index],);
            (emit_arm, schema_arm)
        });
        let (emit_arms, schema_arms): (Vec<_>, Vec<_>) = arms.unzip();
        (quote!(match self { #(#emit_arms)* }), quote!(match self { #(#schema_arms)* }))
    } else {
        let event = &item.events[0];
        let values: Vec<TokenStream> = event
            .fields
            .iter()
            .map(|field| {
                let ident = &field.ident;
                quote!(&self.#ident)
            })
            .collect();
        let call = event_call(event, &values);
        let redacted = redacted_uses(event, |field| {
            let ident = &field.ident;
            quote!(self.#ident)
        });
        (quote!(#redacted #call;), quote!(&__AUDIT_EVENTS[0]))
    };

    quote! {
        // An anonymous const keeps the catalog static and the impls out of the user's namespace.
        const _: () = {
            static __AUDIT_EVENTS: [::audit_runtime::__private::EventSchema; #count] = [#(#schemas),*];

            ::audit_runtime::__private::inventory::submit! {
                ::audit_runtime::__private::EventRegistration(&__AUDIT_EVENTS)
            }

            #[automatically_derived]
            impl #impl_generics #ident #ty_generics #where_clause {
                /// Writes this event through `tracing`, at its level, as declared with
                /// `#[log_event]`.
                #[inline]
                pub fn emit(&self) {
                    #emit_body
                }
            }

            #[automatically_derived]
            impl #impl_generics ::audit_runtime::__private::Event for #ident #ty_generics #where_clause {
                fn schema(&self) -> &'static ::audit_runtime::__private::EventSchema {
                    #schema_body
                }

                #[inline]
                fn emit(&self) {
                    #ident::emit(self)
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::type_name;

    fn name_of(text: &str) -> String {
        type_name(&syn::parse_str(text).unwrap())
    }

    #[test]
    fn type_names_read_as_written_without_lifetimes() {
        assert_eq!(name_of("&'a str"), "&str");
        assert_eq!(name_of("Option<Uuid>"), "Option<Uuid>");
        assert_eq!(
            name_of("std::collections::BTreeMap<String, Vec<u32>>"),
            "std::collections::BTreeMap<String, Vec<u32>>"
        );
        assert_eq!(name_of("Cow<'a, str>"), "Cow<str>");
        assert_eq!(name_of("&'a [u8]"), "&[u8]");
        assert_eq!(name_of("[u8; 4]"), "[u8; 4]");
    }
}
