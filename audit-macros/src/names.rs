//! Names derived from Rust identifiers, shared by the macros.

use syn::Ident;

/// `ObjectCreated` → `object_created`, `HTTPRequestFailed` → `http_request_failed`,
/// `Ward2Bed` → `ward2_bed`; a name in snake_case already stays as it is.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let previous = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let starts_word = previous.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || (previous.is_some_and(char::is_uppercase) && next.is_some_and(|n| n.is_lowercase()));
            if starts_word && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An identifier's text without the `r#` of a raw identifier.
pub(crate) fn unraw(ident: &Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn type_names_become_snake_case() {
        assert_eq!(snake_case("ObjectCreated"), "object_created");
        assert_eq!(snake_case("HTTPRequestFailed"), "http_request_failed");
        assert_eq!(snake_case("Token2Configured"), "token2_configured");
        assert_eq!(snake_case("PatientRecord"), "patient_record");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("Created"), "created");
    }
}
