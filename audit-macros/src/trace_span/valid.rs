//! The checks: each mistake is reported at its own token, with the fix in the message.

use super::ast::{self, Model};
use super::attr::{self, Errors};
use crate::keys::STANDARD_KEYS;

pub(crate) fn validate(model: &Model, errors: &mut Errors) {
    let options = &model.options;
    if let Some(name) = &options.name {
        if name.value().trim().is_empty() {
            errors
                .at(name.span(), "the span name is empty; give a name such as `name = \"load\"` or remove the option");
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for field in model.fields() {
        let span = field.key_tokens.first().map(|i| i.span()).unwrap_or_else(proc_macro2::Span::call_site);
        if seen.contains(&field.key.as_str()) {
            errors.at(span, format!("field `{}` is recorded twice; remove one of them", field.key));
        }
        seen.push(&field.key);
        if STANDARD_KEYS.contains(&field.key.as_str()) {
            errors.at(
                span,
                format!(
                    "field `{}` is named like a standard key of every log line ({}); rename it, for example `{}_{} = {}`",
                    field.key,
                    STANDARD_KEYS.join(", "),
                    model.item.sig.ident,
                    field.key,
                    field.value.as_ref().map_or_else(|| field.key.clone(), |(_, expr)| quote::ToTokens::to_token_stream(expr).to_string()),
                ),
            );
        }
        if field.value.is_none() {
            if field.key_tokens.len() > 1 {
                errors.at(
                    span,
                    format!("`{}` is not an argument name; record an expression with `key = expr`", field.key),
                );
            } else if model.argument(&field.key).is_none() {
                let names: Vec<String> = model.arguments.iter().map(|a| a.ident.to_string()).collect();
                let accepted = if names.is_empty() {
                    "it takes none".to_owned()
                } else {
                    format!("it takes: {}", names.join(", "))
                };
                errors.at(
                    span,
                    format!(
                        "`{}` is not an argument of `{}` ({accepted}); name an argument, or record an expression with `{} = expr`",
                        field.key, model.item.sig.ident, field.key
                    ),
                );
            }
        }
    }
    if let Some(ret) = &options.ret {
        if ast::returns_unit(&model.item, model.shape) {
            errors.at(
                ret.span(),
                format!(
                    "`{}` records the return value, but `{}` returns `()`; remove `{}`",
                    attr::RET,
                    model.item.sig.ident,
                    attr::RET
                ),
            );
        }
    }
    if let Some(constness) = &model.item.sig.constness {
        errors.at(
            constness.span,
            "a `const fn` cannot open a span (spans are made at run time); remove `const` or #[trace_span]",
        );
    }
    if let Some(err) = &options.err {
        if let Some(ty) = ast::surely_not_result(&model.item, model.shape) {
            errors.at(
                err.span(),
                format!(
                    "`{}` records an `Err`, but `{}` returns `{}`, which is not a `Result`; return a `Result` or remove `{}`",
                    attr::ERR,
                    model.item.sig.ident,
                    quote::ToTokens::to_token_stream(ty),
                    attr::ERR
                ),
            );
        } else if ast::returns_unit(&model.item, model.shape) {
            errors.at(
                err.span(),
                format!(
                    "`{}` records an `Err`, but `{}` returns `()`; return a `Result` or remove `{}`",
                    attr::ERR,
                    model.item.sig.ident,
                    attr::ERR
                ),
            );
        }
    }
}
