//! The `#[audited(...)]` options, on the struct and on its fields, parsed into plain values with
//! the span of every token an error may have to point at.

use proc_macro2::Span;
use syn::parse::ParseStream;
use syn::{Attribute, ExprPath, LitStr, Token};

use super::Errors;

/// The helper attribute.
pub(crate) const ATTR: &str = "audited";
/// Struct option: the object type (`object_type = "observation"`).
pub(crate) const OBJECT_TYPE: &str = "object_type";
/// Struct option: a function `fn(&Self) -> String` giving the repr (`repr = Self::label`).
pub(crate) const REPR: &str = "repr";
/// Field option: this field is the object's id.
pub(crate) const ID: &str = "id";
/// Field option: compared, reported as changed, values never shown.
pub(crate) const REDACT: &str = "redact";
/// Field option: not compared, not in snapshots.
pub(crate) const SKIP: &str = "skip";
/// Field option: the name reported for the field (`rename = "ssn"`).
pub(crate) const RENAME: &str = "rename";

const STRUCT_OPTIONS: &str = "`object_type = \"...\"` or `repr = path::to::fn`";
const FIELD_OPTIONS: &str = "`id`, `redact`, `skip` or `rename = \"...\"`";

/// A flag option as written: where, and in which position among the field's options (to point
/// at the later of two conflicting ones).
#[derive(Clone, Copy)]
pub(crate) struct Flag {
    pub(crate) span: Span,
    pub(crate) order: usize,
}

/// Options of the struct.
#[derive(Default)]
pub(crate) struct ContainerAttrs {
    pub(crate) object_type: Option<LitStr>,
    pub(crate) repr: Option<ExprPath>,
}

/// Options of one field.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub(crate) id: Option<Flag>,
    pub(crate) redact: Option<Flag>,
    pub(crate) skip: Option<Flag>,
    pub(crate) rename: Option<LitStr>,
}

impl ContainerAttrs {
    pub(crate) fn parse(attrs: &[Attribute], errors: &mut Errors) -> Self {
        let mut out = ContainerAttrs::default();
        for attr in attrs.iter().filter(|attr| attr.path().is_ident(ATTR)) {
            let result = attr.parse_nested_meta(|meta| {
                let path = &meta.path;
                if path.is_ident(OBJECT_TYPE) {
                    let value: LitStr = meta.value()?.parse()?;
                    set_once(&mut out.object_type, value, path, errors);
                } else if path.is_ident(REPR) {
                    let value = parse_repr(meta.value()?)?;
                    set_once(&mut out.repr, value, path, errors);
                } else if [ID, REDACT, SKIP, RENAME].iter().any(|name| path.is_ident(name)) {
                    errors.push(meta.error(format_args!(
                        "`{}` is a field option: put `#[audited({})]` on a field, not on the struct",
                        path_text(path),
                        path_text(path)
                    )));
                    skip_value(meta.input)?;
                } else {
                    errors.push(meta.error(format_args!(
                        "unknown #[audited] option `{}` on a struct; expected {STRUCT_OPTIONS}",
                        path_text(path)
                    )));
                    skip_value(meta.input)?;
                }
                Ok(())
            });
            if let Err(e) = result {
                errors.push(e);
            }
        }
        out
    }
}

impl FieldAttrs {
    pub(crate) fn parse(attrs: &[Attribute], errors: &mut Errors) -> Self {
        let mut out = FieldAttrs::default();
        let mut order = 0;
        for attr in attrs.iter().filter(|attr| attr.path().is_ident(ATTR)) {
            let result = attr.parse_nested_meta(|meta| {
                order += 1;
                let path = &meta.path;
                let flag = Flag { span: syn::spanned::Spanned::span(path), order };
                if path.is_ident(ID) {
                    set_once(&mut out.id, flag, path, errors);
                } else if path.is_ident(REDACT) {
                    set_once(&mut out.redact, flag, path, errors);
                } else if path.is_ident(SKIP) {
                    set_once(&mut out.skip, flag, path, errors);
                } else if path.is_ident(RENAME) {
                    let value: LitStr = meta.value()?.parse()?;
                    set_once(&mut out.rename, value, path, errors);
                } else if [OBJECT_TYPE, REPR].iter().any(|name| path.is_ident(name)) {
                    errors.push(meta.error(format_args!(
                        "`{}` is a struct option: put it in `#[audited(...)]` above the struct, not on a field",
                        path_text(path)
                    )));
                    skip_value(meta.input)?;
                } else {
                    errors.push(meta.error(format_args!(
                        "unknown #[audited] option `{}` on a field; expected {FIELD_OPTIONS}",
                        path_text(path)
                    )));
                    skip_value(meta.input)?;
                }
                Ok(())
            });
            if let Err(e) = result {
                errors.push(e);
            }
        }
        out
    }
}

/// `repr = path::to::fn`, or the serde-style `repr = "path::to::fn"`.
fn parse_repr(input: ParseStream) -> syn::Result<ExprPath> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        lit.parse().map_err(|_| syn::Error::new(lit.span(), "expected the path of a function `fn(&Self) -> String`"))
    } else {
        input.parse()
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, path: &syn::Path, errors: &mut Errors) {
    if slot.is_some() {
        errors.push(syn::Error::new_spanned(path, format_args!("`{}` is given twice: remove one", path_text(path))));
    } else {
        *slot = Some(value);
    }
}

/// Consumes `= value` or `(...)` after an unknown option, so that parsing goes on and every
/// mistake in the attribute is reported at once.
fn skip_value(input: ParseStream) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        input.parse::<syn::Expr>()?;
    } else if input.peek(syn::token::Paren) {
        let _group: proc_macro2::Group = input.parse()?;
    }
    Ok(())
}

fn path_text(path: &syn::Path) -> String {
    path.segments.iter().map(|segment| segment.ident.to_string()).collect::<Vec<_>>().join("::")
}
