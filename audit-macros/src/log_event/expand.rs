//! Code generation of `#[log_event]`: the catalog entries, their registration, `emit()`.
//!
//! Generated code names everything by absolute path (`::audit_runtime::__private::...`,
//! `::core::...`) so that it never depends on the user's imports.

use proc_macro2::{TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericArgument, PathArguments, Type, TypePath};

use super::ast::{EventDecl, FieldDecl, Item};

/// How a field's value goes into `tracing`.
enum Recording {
    /// Integers, floats and `bool`: `tracing` records them as numbers and booleans.
    Native,
    /// Owned or borrowed strings: recorded as `&str`.
    Str,
    /// `time` types: ISO 8601 strings.
    Time,
    /// Anything else: nested JSON through `Serialize`.
    Json,
}

const INTEGERS: [&str; 6] = ["i8", "i16", "i32", "i64", "i128", "isize"];
const UNSIGNED: [&str; 6] = ["u8", "u16", "u32", "u64", "u128", "usize"];
const FLOATS: [&str; 2] = ["f32", "f64"];
/// Types whose last path segment names a `time` instant.
const TIME_INSTANTS: [&str; 3] = ["OffsetDateTime", "UtcDateTime", "PrimitiveDateTime"];
/// Smart pointers and wrappers that serialize as what they hold.
const TRANSPARENT: [&str; 4] = ["Box", "Arc", "Rc", "Cow"];
const SEQUENCES: [&str; 6] = ["Vec", "VecDeque", "HashSet", "BTreeSet", "LinkedList", "BinaryHeap"];
const MAPS: [&str; 2] = ["HashMap", "BTreeMap"];

/// The last segment of a plain path type and its generic arguments.
fn last_segment(ty: &Type) -> Option<(String, Vec<&Type>, &TypePath)> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let segment = path.path.segments.last()?;
    let args = match &segment.arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ty),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some((segment.ident.to_string(), args, path))
}

/// Whether `path` is `time::<name>` (or `::time::<name>`).
fn is_time_path(path: &TypePath, name: &str) -> bool {
    let segments: Vec<String> = path.path.segments.iter().map(|s| s.ident.to_string()).collect();
    segments.len() == 2 && segments[0] == "time" && segments[1] == name
}

/// The type without references, groups and parentheses.
fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Reference(reference) => peel(&reference.elem),
        Type::Group(group) => peel(&group.elem),
        Type::Paren(paren) => peel(&paren.elem),
        _ => ty,
    }
}

fn is_time(ty: &Type) -> bool {
    match last_segment(peel(ty)) {
        Some((name, _, _)) if TIME_INSTANTS.contains(&name.as_str()) => true,
        Some((_, _, path)) if is_time_path(path, "Date") || is_time_path(path, "Time") => true,
        Some((name, args, _)) if name == "Option" && args.len() == 1 => is_time(args[0]),
        _ => false,
    }
}

fn is_string(ty: &Type) -> bool {
    match last_segment(peel(ty)) {
        Some((name, _, _)) if name == "str" || name == "String" => true,
        Some((name, args, _)) if TRANSPARENT.contains(&name.as_str()) && args.len() == 1 => {
            matches!(last_segment(args[0]), Some((inner, _, _)) if inner == "str")
        }
        _ => false,
    }
}

fn recording(ty: &Type) -> Recording {
    // Only the bare type: `&u32` or an alias also work, through `Serialize`.
    if let Some((name, args, path)) = last_segment(ty) {
        let bare = path.path.segments.len() == 1 && args.is_empty();
        let name = name.as_str();
        if bare && (INTEGERS.contains(&name) || UNSIGNED.contains(&name) || FLOATS.contains(&name) || name == "bool") {
            return Recording::Native;
        }
    }
    if is_string(ty) {
        Recording::Str
    } else if is_time(ty) {
        Recording::Time
    } else {
        Recording::Json
    }
}

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
    match name {
        _ if bare && INTEGERS.contains(&name) => kind("Integer"),
        _ if bare && UNSIGNED.contains(&name) => kind("Unsigned"),
        _ if bare && FLOATS.contains(&name) => kind("Float"),
        "bool" if bare => kind("Bool"),
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

/// Whether `ty` mentions one of `params`.
fn mentions(ty: &Type, params: &[String]) -> bool {
    fn walk(tokens: TokenStream, params: &[String]) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => params.iter().any(|param| ident == param),
            TokenTree::Group(group) => walk(group.stream(), params),
            _ => false,
        })
    }
    !params.is_empty() && walk(quote!(#ty), params)
}

fn level_name(event: &EventDecl) -> String {
    event.level.as_ref().map_or_else(|| "info".to_owned(), syn::LitStr::value)
}

/// The `EventSchema` literal of one event.
fn schema(event: &EventDecl, type_params: &[String]) -> TokenStream {
    let name = event.name();
    let level = format_ident!(
        "{}",
        match level_name(event).as_str() {
            "debug" => "Debug",
            "warning" => "Warning",
            "error" => "Error",
            "critical" => "Critical",
            _ => "Info",
        }
    );
    let group = match &event.group {
        Some(group) => quote!(#group),
        None => quote!(::core::module_path!()),
    };
    let description = event.docs.clone().unwrap_or_default();
    let fields = event.fields.iter().map(|field| {
        let name = field.name();
        let type_name = type_name(&field.ty);
        let description = &field.docs;
        let redacted = field.redacted;
        let kind = value_kind(&field.ty, type_params);
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
            level: ::audit_runtime::__private::EventLevel::#level,
            group: #group,
            description: #description,
            fields: &[#(#fields),*],
            module: ::core::module_path!(),
            file: ::core::file!(),
            line: #line,
        }
    }
}

/// The `tracing` field of one context field; `value` is an expression of type `&FieldType`.
fn record(field: &FieldDecl, value: &TokenStream) -> TokenStream {
    let key = field.name();
    if field.redacted {
        // The value is never read: not formatted, not serialized.
        return quote!(#key = ::audit_runtime::__private::REDACTED);
    }
    let ty = &field.ty;
    // Spanned on the type, so an unloggable type's error points at it.
    let span = ty.span();
    match recording(ty) {
        Recording::Native => quote!(#key = #value),
        Recording::Str => quote!(#key = ::core::convert::AsRef::<::core::primitive::str>::as_ref(#value)),
        Recording::Time => quote_spanned!(span=> #key = ::audit_runtime::__private::time_field::<#ty>(#value)),
        Recording::Json => quote_spanned!(span=> #key = ::audit_runtime::__private::json_field::<#ty>(#value)),
    }
}

/// One `tracing::event!` call.
fn event_call(event: &EventDecl, values: &[TokenStream]) -> TokenStream {
    let name = event.name();
    let level_name = level_name(event);
    let level = format_ident!(
        "{}",
        match level_name.as_str() {
            "debug" => "DEBUG",
            "warning" => "WARN",
            "error" | "critical" => "ERROR",
            _ => "INFO",
        }
    );
    // `critical` is an `ERROR` event that says so; the layer writes `"level":"critical"`.
    let critical = (level_name == "critical").then(|| quote!(level = "critical",));
    let fields = event.fields.iter().zip(values).map(|(field, value)| record(field, value));
    quote! {
        ::audit_runtime::__private::tracing::event!(
            target: ::core::module_path!(),
            ::audit_runtime::__private::tracing::Level::#level,
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

pub(crate) fn generate(item: &Item) -> TokenStream {
    let ident = &item.ident;
    let params = type_params(item);
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    // `emit()` needs `Serialize` for the fields whose type involves a type parameter.
    let mut where_clause = where_clause.cloned().unwrap_or_else(|| syn::parse_quote!(where));
    for field in item.events.iter().flat_map(|event| &event.fields) {
        if !field.redacted && mentions(&field.ty, &params) {
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
