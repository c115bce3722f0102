//! The model of one `#[trace_span]`: the function and its checked-as-written options.

use syn::{FnArg, Ident, ItemFn, LitStr, Pat, ReturnType, Type};

use super::attr::{FieldArg, Options};
use crate::types::mentions;

/// What the function returns, which decides how the span is wrapped around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A plain function: the span is entered for the call.
    Sync,
    /// `async fn`: the span instruments the body's future.
    Async,
    /// `fn ... -> impl Future<...>`: the span instruments the returned future.
    ImplFuture,
}

/// A name the function's arguments bind: a plain argument (`id: i64`) or a binding inside an
/// argument's pattern (`Path(id): Path<i64>`, `(a, b): (u8, u8)`).
pub(crate) struct Argument {
    pub(crate) ident: Ident,
    /// The binding's type when the pattern tells it (`_` when it does not: recorded with `Debug`).
    pub(crate) ty: Type,
}

/// Everything the checks and the expansion need.
pub(crate) struct Model {
    pub(crate) item: ItemFn,
    pub(crate) options: Options,
    pub(crate) shape: Shape,
    pub(crate) arguments: Vec<Argument>,
}

impl Model {
    pub(crate) fn from_syn(item: ItemFn, options: Options) -> Self {
        let shape = if item.sig.asyncness.is_some() {
            Shape::Async
        } else if returns_impl_future(&item.sig.output) {
            Shape::ImplFuture
        } else {
            Shape::Sync
        };
        let mut arguments = Vec::new();
        for input in &item.sig.inputs {
            if let FnArg::Typed(typed) = input {
                bindings(&typed.pat, Some(&typed.ty), &mut arguments);
            }
        }
        Model { item, options, shape, arguments }
    }

    pub(crate) fn fields(&self) -> &[FieldArg] {
        &self.options.fields
    }

    pub(crate) fn argument(&self, name: &str) -> Option<&Argument> {
        self.arguments.iter().find(|a| a.ident.unraw_eq(name))
    }

    /// The name given with `name = "..."`, if any.
    pub(crate) fn name(&self) -> Option<&LitStr> {
        self.options.name.as_ref()
    }
}

/// The names `pat` binds, with their types where `ty` (the pattern's type) tells them: a
/// one-field wrapper such as axum's `Path(id): Path<i64>` gives `id: i64`.
fn bindings(pat: &Pat, ty: Option<&Type>, out: &mut Vec<Argument>) {
    let unknown: Type = syn::parse_quote!(_);
    match pat {
        Pat::Ident(pat) => {
            out.push(Argument { ident: pat.ident.clone(), ty: ty.cloned().unwrap_or(unknown) });
            if let Some((_, sub)) = &pat.subpat {
                bindings(sub, None, out);
            }
        }
        Pat::TupleStruct(tuple) => {
            let inner = match (tuple.elems.len(), ty.and_then(|ty| crate::types::last_segment(ty))) {
                (1, Some((_, args, _))) if args.len() == 1 => Some(args[0]),
                _ => None,
            };
            tuple.elems.iter().for_each(|elem| bindings(elem, inner, out));
        }
        Pat::Tuple(tuple) => {
            let types: Option<Vec<&Type>> = match ty {
                Some(Type::Tuple(types)) if types.elems.len() == tuple.elems.len() => {
                    Some(types.elems.iter().collect())
                }
                _ => None,
            };
            for (index, elem) in tuple.elems.iter().enumerate() {
                bindings(elem, types.as_ref().map(|types| types[index]), out);
            }
        }
        Pat::Struct(pat) => pat.fields.iter().for_each(|field| bindings(&field.pat, None, out)),
        Pat::Reference(pat) => bindings(&pat.pat, None, out),
        Pat::Paren(pat) => bindings(&pat.pat, ty, out),
        Pat::Type(pat) => bindings(&pat.pat, Some(&pat.ty), out),
        _ => {}
    }
}

trait UnrawEq {
    fn unraw_eq(&self, name: &str) -> bool;
}

impl UnrawEq for Ident {
    fn unraw_eq(&self, name: &str) -> bool {
        syn::ext::IdentExt::unraw(self) == name
    }
}

/// `-> impl Future<...>` (any path ending in `Future`, with any other bounds).
fn returns_impl_future(output: &ReturnType) -> bool {
    let ReturnType::Type(_, ty) = output else { return false };
    let Type::ImplTrait(imp) = &**ty else { return false };
    imp.bounds.iter().any(|bound| match bound {
        syn::TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| s.ident == "Future"),
        _ => false,
    })
}

/// True when the function's declared result is `()` (nothing written, or `-> ()`), or a future
/// of `()`.
pub(crate) fn returns_unit(item: &ItemFn, shape: Shape) -> bool {
    let ReturnType::Type(_, ty) = &item.sig.output else { return true };
    match shape {
        Shape::ImplFuture => future_output(ty).is_some_and(is_unit),
        _ => is_unit(ty),
    }
}

fn is_unit(ty: &Type) -> bool {
    match ty {
        Type::Tuple(t) => t.elems.is_empty(),
        Type::Paren(p) => is_unit(&p.elem),
        _ => false,
    }
}

/// The `Output = T` of `impl Future<Output = T>`.
fn future_output(ty: &Type) -> Option<&Type> {
    let Type::ImplTrait(imp) = ty else { return None };
    imp.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(t) = bound else { return None };
        let last = t.path.segments.last()?;
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return None };
        args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            _ => None,
        })
    })
}

/// The type of the function's result (the future's output for the async shapes), when it can
/// be written in a `let`: not when it holds an `impl Trait`.
pub(crate) fn result_type(model: &Model) -> Option<Type> {
    let ty = match (&model.item.sig.output, model.shape) {
        (ReturnType::Default, _) => return Some(syn::parse_quote!(())),
        (ReturnType::Type(_, ty), Shape::ImplFuture) => future_output(ty)?.clone(),
        (ReturnType::Type(_, ty), _) => (**ty).clone(),
    };
    (!mentions(&ty, &["impl"])).then_some(ty)
}

/// The declared result when it is certainly not a `Result` (a number, text, a reference, a
/// tuple, an `Option`, ...). Aliases such as `io::Result<T>` are let through: only the compiler
/// knows them.
pub(crate) fn surely_not_result(item: &ItemFn, shape: Shape) -> Option<&Type> {
    let ReturnType::Type(_, ty) = &item.sig.output else { return None };
    let ty = match shape {
        Shape::ImplFuture => future_output(ty)?,
        _ => &**ty,
    };
    let not_result = match ty {
        Type::Reference(_) | Type::Array(_) | Type::Slice(_) | Type::Ptr(_) | Type::BareFn(_) => true,
        Type::Tuple(t) => !t.elems.is_empty(),
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|last| {
            matches!(
                last.ident.to_string().as_str(),
                "i8" | "i16"
                    | "i32"
                    | "i64"
                    | "i128"
                    | "isize"
                    | "u8"
                    | "u16"
                    | "u32"
                    | "u64"
                    | "u128"
                    | "usize"
                    | "f32"
                    | "f64"
                    | "bool"
                    | "char"
                    | "str"
                    | "String"
                    | "Option"
                    | "Vec"
                    | "Box"
            )
        }),
        _ => false,
    };
    not_result.then_some(ty)
}
