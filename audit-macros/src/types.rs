//! The one classifier of field types, shared by `#[log_event]` (how a field is recorded and
//! which JSON it becomes) and `#[trace_span]` (how an argument named bare is recorded). It
//! reads the type as written: aliases and other crates' types are only known to the compiler,
//! so anything not recognised is recorded through `Serialize` or `Debug`.

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;
use syn::{GenericArgument, PathArguments, Type, TypePath};

/// What a type is, as far as its syntax tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TypeClass {
    /// A bare signed integer: `i8` ... `isize`.
    Integer,
    /// A bare unsigned integer: `u8` ... `usize`.
    Unsigned,
    /// `f32` or `f64`.
    Float,
    /// `bool`.
    Bool,
    /// Text: `str`, `String`, and `Box`/`Arc`/`Rc`/`Cow` of `str`, behind any references.
    Text,
    /// A `time` value (`OffsetDateTime`, `UtcDateTime`, `PrimitiveDateTime`, `time::Date`,
    /// `time::Time`), or an `Option` of one, behind any references.
    Time,
    /// Anything else.
    Other,
}

const INTEGERS: [&str; 6] = ["i8", "i16", "i32", "i64", "i128", "isize"];
const UNSIGNED: [&str; 6] = ["u8", "u16", "u32", "u64", "u128", "usize"];
const FLOATS: [&str; 2] = ["f32", "f64"];
/// Types whose last path segment names a `time` instant.
const TIME_INSTANTS: [&str; 3] = ["OffsetDateTime", "UtcDateTime", "PrimitiveDateTime"];
/// Smart pointers and wrappers that serialize as what they hold.
pub(crate) const TRANSPARENT: [&str; 4] = ["Box", "Arc", "Rc", "Cow"];
pub(crate) const SEQUENCES: [&str; 6] = ["Vec", "VecDeque", "HashSet", "BTreeSet", "LinkedList", "BinaryHeap"];
pub(crate) const MAPS: [&str; 2] = ["HashMap", "BTreeMap"];

/// Classifies `ty`. `peel_references` says whether `&u32` counts as `u32` (a span argument is
/// recorded through the reference; an event field of type `&u32` goes through `Serialize`).
pub(crate) fn classify(ty: &Type, peel_references: bool) -> TypeClass {
    let inner = if peel_references { peel(ty) } else { strip_groups(ty) };
    if let Some((name, args, path)) = last_segment(inner) {
        let bare = path.path.segments.len() == 1 && args.is_empty();
        let name = name.as_str();
        match name {
            _ if bare && INTEGERS.contains(&name) => return TypeClass::Integer,
            _ if bare && UNSIGNED.contains(&name) => return TypeClass::Unsigned,
            _ if bare && FLOATS.contains(&name) => return TypeClass::Float,
            "bool" if bare => return TypeClass::Bool,
            _ => {}
        }
    }
    if is_text(ty) {
        TypeClass::Text
    } else if is_time(ty) {
        TypeClass::Time
    } else {
        TypeClass::Other
    }
}

/// The last segment of a plain path type and its generic arguments.
pub(crate) fn last_segment(ty: &Type) -> Option<(String, Vec<&Type>, &TypePath)> {
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
pub(crate) fn is_time_path(path: &TypePath, name: &str) -> bool {
    let segments: Vec<String> = path.path.segments.iter().map(|s| s.ident.to_string()).collect();
    segments.len() == 2 && segments[0] == "time" && segments[1] == name
}

/// The type without references, groups and parentheses.
pub(crate) fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Reference(reference) => peel(&reference.elem),
        Type::Group(group) => peel(&group.elem),
        Type::Paren(paren) => peel(&paren.elem),
        _ => ty,
    }
}

/// The type without groups and parentheses (references kept).
fn strip_groups(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => strip_groups(&group.elem),
        Type::Paren(paren) => strip_groups(&paren.elem),
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

fn is_text(ty: &Type) -> bool {
    match last_segment(peel(ty)) {
        Some((name, args, _)) if (name == "str" || name == "String") && args.is_empty() => true,
        Some((name, args, _)) if TRANSPARENT.contains(&name.as_str()) && args.len() == 1 => {
            matches!(last_segment(peel(args[0])), Some((inner, _, _)) if inner == "str")
        }
        _ => false,
    }
}

/// Whether `ty` mentions one of the identifiers `names` (type parameters, `impl`).
pub(crate) fn mentions(ty: &impl quote::ToTokens, names: &[&str]) -> bool {
    fn walk(tokens: TokenStream, names: &[&str]) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => names.iter().any(|name| ident == name),
            TokenTree::Group(group) => walk(group.stream(), names),
            _ => false,
        })
    }
    !names.is_empty() && walk(quote!(#ty), names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str, peel: bool) -> TypeClass {
        classify(&syn::parse_str(text).unwrap(), peel)
    }

    #[test]
    fn one_classifier_for_events_and_spans() {
        assert_eq!(class("u32", false), TypeClass::Unsigned);
        assert_eq!(class("&u32", false), TypeClass::Other);
        assert_eq!(class("&u32", true), TypeClass::Unsigned);
        assert_eq!(class("&'a str", false), TypeClass::Text);
        assert_eq!(class("Cow<'a, str>", false), TypeClass::Text);
        assert_eq!(class("Option<OffsetDateTime>", false), TypeClass::Time);
        assert_eq!(class("time::Date", false), TypeClass::Time);
        assert_eq!(class("Date", false), TypeClass::Other);
        assert_eq!(class("std::primitive::u8", false), TypeClass::Other);
        assert_eq!(class("Uuid", true), TypeClass::Other);
    }

    #[test]
    fn mentions_finds_identifiers_anywhere_in_a_type() {
        let ty: Type = syn::parse_str("Vec<Option<T>>").unwrap();
        assert!(mentions(&ty, &["T"]));
        assert!(!mentions(&ty, &["U"]));
        assert!(!mentions(&ty, &[]));
    }
}
