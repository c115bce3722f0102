//! Parsing the options of `#[trace_span(...)]`. Option names are constants so that the parser,
//! the checks and the error messages agree.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Token};

use crate::level::{Level, LevelOf};

pub(crate) const NAME: &str = "name";
pub(crate) const LEVEL: &str = "level";
pub(crate) const FIELDS: &str = "fields";
pub(crate) const ERR: &str = "err";
pub(crate) const RET: &str = "ret";
pub(crate) const PARENT: &str = "parent";
pub(crate) const FOLLOWS_FROM: &str = "follows_from";
/// Every option, in the order the error message lists them.
pub(crate) const OPTIONS: [&str; 7] = [NAME, LEVEL, FIELDS, ERR, RET, PARENT, FOLLOWS_FROM];

pub(crate) use crate::errors::Errors;

/// How a field's value is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sigil {
    /// `key = expr`: as a `tracing::Value`.
    Value,
    /// `key = %expr`: with `Display`.
    Display,
    /// `key = ?expr`: with `Debug`.
    Debug,
}

/// One item of `fields(...)`.
pub(crate) struct FieldArg {
    /// The key, dotted parts joined by `.`.
    pub(crate) key: String,
    /// The tokens of the key, for error spans and for re-emitting it.
    pub(crate) key_tokens: Punctuated<Ident, Token![.]>,
    /// `None` for a bare argument name.
    pub(crate) value: Option<(Sigil, Expr)>,
}

impl Parse for FieldArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key_tokens = Punctuated::<Ident, Token![.]>::parse_separated_nonempty_with(input, Ident::parse_any)?;
        let key = key_tokens.iter().map(|i| i.unraw().to_string()).collect::<Vec<_>>().join(".");
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            let sigil = if input.peek(Token![%]) {
                input.parse::<Token![%]>()?;
                Sigil::Display
            } else if input.peek(Token![?]) {
                input.parse::<Token![?]>()?;
                Sigil::Debug
            } else {
                Sigil::Value
            };
            Some((sigil, input.parse()?))
        } else {
            None
        };
        Ok(FieldArg { key, key_tokens, value })
    }
}

/// The options as written, before any check.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) name: Option<LitStr>,
    /// Parsed where it is read (an unknown level is reported at its literal).
    pub(crate) level: Option<Level>,
    pub(crate) fields: Vec<FieldArg>,
    pub(crate) err: Option<Ident>,
    pub(crate) ret: Option<Ident>,
    pub(crate) parent: Option<Expr>,
    pub(crate) follows_from: Option<Expr>,
}

/// Parses the attribute's arguments; every unknown or repeated option is reported.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let parser = |input: ParseStream<'_>| -> syn::Result<()> {
        let mut seen: Vec<String> = Vec::new();
        while !input.is_empty() {
            let ident = Ident::parse_any(input)?;
            let name = ident.to_string();
            if seen.contains(&name) {
                errors.at(ident.span(), format!("option `{name}` is given twice; keep one"));
            }
            seen.push(name.clone());
            match name.as_str() {
                NAME => options.name = Some(string_value(input, &ident)?),
                LEVEL => match Level::parse(&string_value(input, &ident)?, LevelOf::Span) {
                    Ok((level, _)) => options.level = Some(level),
                    Err(error) => errors.push(error),
                },
                FIELDS => {
                    let content;
                    syn::parenthesized!(content in input);
                    let items = Punctuated::<FieldArg, Token![,]>::parse_terminated(&content)?;
                    options.fields.extend(items);
                }
                ERR => options.err = Some(ident),
                RET => options.ret = Some(ident),
                PARENT => {
                    input.parse::<Token![=]>()?;
                    options.parent = Some(input.parse()?);
                }
                FOLLOWS_FROM => {
                    input.parse::<Token![=]>()?;
                    options.follows_from = Some(input.parse()?);
                }
                _ => {
                    errors
                        .at(ident.span(), format!("unknown option `{name}`; expected one of: {}", OPTIONS.join(", ")));
                    // Skip its value so that the options after it are still read.
                    skip_value(input)?;
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    };
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    }
    options
}

/// `= "text"` after an option name.
fn string_value(input: ParseStream<'_>, option: &Ident) -> syn::Result<LitStr> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(option.span(), format!("option `{option}` needs a value: `{option} = \"...\"`")));
    }
    input.parse::<Token![=]>()?;
    let expr: Expr = input.parse()?;
    match expr {
        Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(lit), .. }) => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            format!("option `{option}` takes a string literal: `{option} = \"...\"`"),
        )),
    }
}

/// Skips `= expr` or `(...)` after an unknown option.
fn skip_value(input: ParseStream<'_>) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        input.parse::<Expr>()?;
    } else if input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in input);
        let _: TokenStream = _content.parse()?;
    }
    Ok(())
}
