//! Links that work under any nest path: every href is the nest path (what the application
//! nested the explorer under) plus the explorer's own path, its segments percent-encoded.

use axum::extract::OriginalUri;
use http::request::Parts;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The path the explorer is nested under (`/audit`), empty when it is not nested.
pub(super) fn nest_path(parts: &Parts) -> String {
    let inner = parts.uri.path();
    let Some(OriginalUri(original)) = parts.extensions.get::<OriginalUri>() else { return String::new() };
    let original = original.path();
    let prefix = original.strip_suffix(inner).unwrap_or_else(|| original.trim_end_matches('/'));
    // A nest at "/audit" answers "/audit" with an inner path of "/": the prefix has no slash at
    // its end either way.
    prefix.trim_end_matches('/').to_owned()
}

/// Everything but RFC 3986's unreserved characters.
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes `text` for a path segment or a query value.
pub(super) fn encode(text: &str) -> String {
    utf8_percent_encode(text, RESERVED).to_string()
}

/// Builds hrefs below the nest path.
#[derive(Clone, Debug)]
pub(super) struct Links {
    base: String,
}

impl Links {
    pub(super) fn new(base: String) -> Self {
        Links { base }
    }

    /// The search page (the explorer's root), with `query` (already encoded) when not empty.
    /// Nested at `/audit`, the root is `/audit` (axum's nest does not answer `/audit/`).
    pub(super) fn search(&self, query: &str) -> String {
        let root = if self.base.is_empty() { "/" } else { &self.base };
        if query.is_empty() { root.to_owned() } else { format!("{root}?{query}") }
    }

    /// A page of one object: `tail` is `""`, `"/versions"`, `"/views"`, `"/diff?..."`, ...
    pub(super) fn object(&self, object_type: &str, object_id: &str, tail: &str) -> String {
        format!("{}/objects/{}/{}{tail}", self.base, encode(object_type), encode(object_id))
    }

    /// The views chart of an object type.
    pub(super) fn type_views(&self, object_type: &str) -> String {
        format!("{}/views/{}", self.base, encode(object_type))
    }

    /// The chain's status.
    pub(super) fn verify(&self) -> String {
        format!("{}/verify", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(encode("a-b_c.d~9"), "a-b_c.d~9");
        assert_eq!(encode("a/b c\"<é"), "a%2Fb%20c%22%3C%C3%A9");
    }
}
