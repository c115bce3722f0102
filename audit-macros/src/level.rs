//! The one `Level` of both `#[log_event]` and `#[trace_span]`: parsed once from the literal
//! the user wrote (as `tracing-attributes` does), then only matched as an enum.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::LitStr;

/// A level as written in `level = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

/// Which macro reads the level: each has its own vocabulary.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum LevelOf {
    /// An event: the levels of the log schema.
    Event,
    /// A span: `tracing`'s levels (`warning` accepted too).
    Span,
}

impl LevelOf {
    fn accepted(self) -> &'static [(&'static str, Level)] {
        match self {
            LevelOf::Event => &[
                ("debug", Level::Debug),
                ("info", Level::Info),
                ("warning", Level::Warning),
                ("error", Level::Error),
                ("critical", Level::Critical),
            ],
            LevelOf::Span => &[
                ("trace", Level::Trace),
                ("debug", Level::Debug),
                ("info", Level::Info),
                ("warn", Level::Warning),
                ("warning", Level::Warning),
                ("error", Level::Error),
            ],
        }
    }
}

impl Level {
    /// Reads `literal`; an unknown value is an error at the literal naming what is accepted.
    pub(crate) fn parse(literal: &LitStr, of: LevelOf) -> syn::Result<(Level, Span)> {
        let value = literal.value();
        let accepted = of.accepted();
        if let Some((_, level)) = accepted.iter().find(|(name, _)| *name == value) {
            return Ok((*level, literal.span()));
        }
        let lower = value.to_ascii_lowercase();
        let hint = match (of, lower.as_str()) {
            (LevelOf::Event, "warn") => Some("warning"),
            (LevelOf::Event, "trace") => Some("debug"),
            (LevelOf::Span, "critical") => Some("error"),
            _ => accepted.iter().map(|(name, _)| *name).find(|name| *name == lower),
        };
        let names: Vec<String> = accepted.iter().map(|(name, _)| format!("`{name}`")).collect();
        let (last, rest) = names.split_last().expect("each vocabulary has levels");
        let hint = hint.map(|name| format!(" (did you mean `{name}`?)")).unwrap_or_default();
        Err(syn::Error::new(
            literal.span(),
            format!("unknown level `{value}`: expected {} or {last}{hint}", rest.join(", ")),
        ))
    }

    /// The `tracing::Level` the callsite is registered at (`critical` is an `ERROR` event that
    /// says so in its `level` field).
    pub(crate) fn tracing(self) -> TokenStream {
        let constant = match self {
            Level::Trace => quote!(TRACE),
            Level::Debug => quote!(DEBUG),
            Level::Info => quote!(INFO),
            Level::Warning => quote!(WARN),
            Level::Error | Level::Critical => quote!(ERROR),
        };
        quote!(::audit_runtime::__private::tracing::Level::#constant)
    }

    /// The catalog's `Level` (an event's `trace` is never parsed: see [`LevelOf::Event`]).
    pub(crate) fn catalog(self) -> TokenStream {
        let variant = match self {
            Level::Trace | Level::Debug => quote!(Debug),
            Level::Info => quote!(Info),
            Level::Warning => quote!(Warning),
            Level::Error => quote!(Error),
            Level::Critical => quote!(Critical),
        };
        quote!(::audit_runtime::__private::EventLevel::#variant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, of: LevelOf) -> Result<Level, String> {
        Level::parse(&LitStr::new(text, Span::call_site()), of).map(|(level, _)| level).map_err(|e| e.to_string())
    }

    #[test]
    fn each_macro_reads_its_vocabulary_once_into_one_level() {
        assert_eq!(parse("warning", LevelOf::Event), Ok(Level::Warning));
        assert_eq!(parse("critical", LevelOf::Event), Ok(Level::Critical));
        assert_eq!(parse("warn", LevelOf::Span), Ok(Level::Warning));
        assert_eq!(parse("warning", LevelOf::Span), Ok(Level::Warning));
        assert_eq!(parse("trace", LevelOf::Span), Ok(Level::Trace));
        let warn = parse("warn", LevelOf::Event).unwrap_err();
        assert!(warn.contains("did you mean `warning`?"), "{warn}");
        let upper = parse("Info", LevelOf::Span).unwrap_err();
        assert!(upper.contains("did you mean `info`?"), "{upper}");
        let critical = parse("critical", LevelOf::Span).unwrap_err();
        assert!(critical.contains("did you mean `error`?"), "{critical}");
        assert!(parse("loud", LevelOf::Event).unwrap_err().ends_with("`error` or `critical`"));
    }
}
