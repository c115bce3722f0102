//! Typed events declared with `#[log_event]`.
//!
//! A struct declares one event, an enum one event per variant. The doc comment is the event's
//! description in the [catalog](crate::catalog), the fields are its context, written at the top
//! level of the JSON line with their JSON types:
//!
//! ```
//! use audit_runtime::log_event;
//!
//! /// Created an `Object` via the API.
//! #[log_event(name = "object_created", level = "info", group = "Objects")]
//! pub struct ObjectCreated<'a> {
//!     /// Version of the object type.
//!     pub objecttype_version: u32,
//!     pub token_identifier: &'a str,
//!     /// Never written: the line carries `"[redacted]"`.
//!     #[event(redact)]
//!     pub token: &'a str,
//! }
//!
//! /// Events of the token configuration step.
//! #[log_event(group = "Setup configuration")]
//! pub enum TokenSetup<'a> {
//!     /// Attempting to configure a token.
//!     ConfiguringToken { token_identifier: &'a str },
//!     /// The config file did not define any tokens.
//!     #[event(level = "warning")]
//!     NoTokensDefined,
//! }
//!
//! ObjectCreated { objecttype_version: 1, token_identifier: "app", token: "s3cr3t" }.emit();
//! TokenSetup::NoTokensDefined.emit();
//! ```
//!
//! Options of `#[log_event(...)]`: `name` (default: the snake_case type name; dotted names
//! such as `api.handled_exception` are allowed), `level` (`debug`, `info` (default),
//! `warning`, `error`, `critical`), `group` (the catalog's section; default: the module path).
//! On an enum, `level` and `group` apply to every variant, and a variant takes
//! `#[event(name = "...", level = "...")]`. A field takes `#[event(redact)]`.
//!
//! Field values: integers, floats, `bool` and strings are written as JSON numbers, booleans
//! and strings; `Option<T>` as `null` when `None`; `time` types as ISO 8601 / RFC 3339
//! strings (recognised by name: `OffsetDateTime`, `UtcDateTime`, `PrimitiveDateTime`,
//! `time::Date`, `time::Time`, and `Option`s of them); anything else that is
//! `serde::Serialize` (`Uuid`, structs, maps, `Vec`) as its nested JSON. A type that is not
//! `Serialize` is a compile error pointing at the field's type, unless the field is redacted:
//! a redacted field's value is never read.
//!
//! `emit()` builds a `tracing` event at the call site of the declaring module, so a disabled
//! level costs what a disabled `tracing::info!` costs, and `logger` is that module's path.

use crate::catalog::EventSchema;

pub mod spans;

/// A type declared with `#[log_event]`. The macro implements it, together with an inherent
/// `emit()` so that no import is needed to emit.
pub trait Event {
    /// The catalog entry of this event (for an enum, of this value's variant).
    fn schema(&self) -> &'static EventSchema;

    /// Writes this event through `tracing` at its level.
    fn emit(&self);
}

/// Items the `#[log_event]` expansion uses.
#[doc(hidden)]
pub mod __private {
    use std::fmt;

    use serde::{Serialize, Serializer};

    use crate::logging::JsonValue;

    pub use super::Event;
    pub use super::spans::__private::*;
    // Prefixed: `audit_runtime::__private` also re-exports the other macros' items.
    pub use crate::catalog::{EventSchema, FieldSchema, ValueKind as EventValueKind};
    pub use crate::logging::Level as EventLevel;

    /// `file` (as `file!()` gives it: relative to the workspace, or absolute for a crate built
    /// from a registry) relative to `manifest_dir` (the crate's `CARGO_MANIFEST_DIR`), so the
    /// catalog shows `src/objects.rs` wherever the crate was built. Unchanged when no trailing
    /// part of `manifest_dir` starts `file`.
    pub const fn crate_relative_path(file: &'static str, manifest_dir: &'static str) -> &'static str {
        let (file_bytes, dir) = (file.as_bytes(), manifest_dir.as_bytes());
        let mut start = 0;
        // Longest trailing part of the directory first: the whole of it, then from each `/`.
        while start < dir.len() {
            let at_component = start == 0 || dir[start - 1] == b'/' || dir[start - 1] == b'\\';
            let len = dir.len() - start;
            if at_component && file_bytes.len() > len + 1 {
                let mut i = 0;
                while i < len && file_bytes[i] == dir[start + i] {
                    i += 1;
                }
                if i == len && (file_bytes[len] == b'/' || file_bytes[len] == b'\\') {
                    let (_, rest) = file_bytes.split_at(len + 1);
                    return match std::str::from_utf8(rest) {
                        Ok(rest) => rest,
                        Err(_) => file,
                    };
                }
            }
            start += 1;
        }
        file
    }

    /// What `inventory` collects: the events of one `#[log_event]` item.
    pub struct EventRegistration(pub &'static [EventSchema]);

    ::inventory::collect!(EventRegistration);

    /// Implemented by every type an event field can hold (every `Serialize`). The generated
    /// conversion of each field asks for it, spanned on the field's type, so that a type that
    /// cannot be logged gets this message, pointing at the type.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be logged as an event field",
        label = "this type does not implement `serde::Serialize`",
        note = "derive or implement `serde::Serialize` for `{Self}`, log a field of it instead, or mark the field `#[event(redact)]` (a redacted value is never read)"
    )]
    pub trait Loggable: Serialize {}

    impl<T: ?Sized + Serialize> Loggable for T {}

    /// A field value as nested JSON (objects, arrays, `Uuid`, `Option` as `null` when `None`).
    ///
    /// The result's type does not mention `T`, so a `T` that cannot be logged gives one error
    /// (on this call's bound) instead of a second one inside `tracing`'s macro.
    #[inline(always)]
    pub fn json_field<T: Loggable>(value: &T) -> tracing::field::DebugValue<ErasedJson<'_>> {
        tracing::field::debug(ErasedJson(value))
    }

    /// The line's error (an `#[event(exception)]` field): its message and `source()` chain as
    /// one string, or `null` for a `None`.
    #[inline(always)]
    pub fn exception_field<T: LogException>(value: &T) -> tracing::field::DebugValue<ErasedException<'_>> {
        tracing::field::debug(ErasedException(value))
    }

    /// What an `#[event(exception)]` field can hold: an error (`&dyn Error`, `Box<dyn Error>`),
    /// text (a panic's message), or an `Option` of one.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be the `exception` of an event",
        label = "an #[event(exception)] field holds an error or its text",
        note = "declare the field as `&'a (dyn std::error::Error + 'static)` (an `Option` of it when there may be none) and pass `&error`, or as `&'a str` holding the error's text"
    )]
    pub trait LogException {
        /// The text written under `exception`; `None` writes `null`.
        fn exception_text(&self) -> Option<std::borrow::Cow<'_, str>>;
    }

    impl LogException for str {
        fn exception_text(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(std::borrow::Cow::Borrowed(self))
        }
    }

    impl LogException for String {
        fn exception_text(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(std::borrow::Cow::Borrowed(self))
        }
    }

    macro_rules! error_exception {
        ($($ty:ty),*) => {$(
            impl LogException for $ty {
                fn exception_text(&self) -> Option<std::borrow::Cow<'_, str>> {
                    Some(std::borrow::Cow::Owned(crate::logging::layer::ErrorChain(self).to_string()))
                }
            }
        )*};
    }
    error_exception!(
        dyn std::error::Error + 'static,
        dyn std::error::Error + Send + 'static,
        dyn std::error::Error + Send + Sync + 'static
    );

    impl<T: LogException + ?Sized> LogException for &T {
        fn exception_text(&self) -> Option<std::borrow::Cow<'_, str>> {
            (**self).exception_text()
        }
    }

    impl<T: LogException + ?Sized> LogException for Box<T> {
        fn exception_text(&self) -> Option<std::borrow::Cow<'_, str>> {
            (**self).exception_text()
        }
    }

    impl<T: LogException + ?Sized> LogException for std::sync::Arc<T> {
        fn exception_text(&self) -> Option<std::borrow::Cow<'_, str>> {
            (**self).exception_text()
        }
    }

    impl<T: LogException> LogException for Option<T> {
        fn exception_text(&self) -> Option<std::borrow::Cow<'_, str>> {
            self.as_ref().and_then(LogException::exception_text)
        }
    }

    /// A [`LogException`] whose `Debug` is its JSON: the text as a string, or `null`.
    pub struct ErasedException<'a>(&'a dyn LogException);

    impl fmt::Debug for ErasedException<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(&JsonValue(&self.0.exception_text()), f)
        }
    }

    /// A `time` value (or an `Option` of one) as an ISO 8601 string, or `null`.
    #[inline(always)]
    pub fn time_field<T: LogTime>(value: &T) -> tracing::field::DebugValue<ErasedTime<'_>> {
        tracing::field::debug(ErasedTime(value))
    }

    /// Writes a value's JSON through [`JsonValue`]; object-safe, for [`ErasedJson`].
    pub trait FmtJson {
        /// Formats `self` as `JsonValue(self)` does.
        fn fmt_json(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
    }

    impl<T: Serialize> FmtJson for T {
        fn fmt_json(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(&JsonValue(self), f)
        }
    }

    /// A `Serialize` value whose `Debug` is its JSON (see [`json_field`]).
    pub struct ErasedJson<'a>(&'a dyn FmtJson);

    impl fmt::Debug for ErasedJson<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt_json(f)
        }
    }

    /// Writes a [`LogTime`] value as JSON; object-safe, for [`ErasedTime`].
    pub trait FmtTime {
        /// Formats `self` as a JSON string (or `null`), marked as JSON for our layer.
        fn fmt_time(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
    }

    impl<T: LogTime> FmtTime for T {
        fn fmt_time(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            struct AsSerialize<'a, T>(&'a T);
            impl<T: LogTime> Serialize for AsSerialize<'_, T> {
                fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                    self.0.serialize_time(serializer)
                }
            }
            // Through `JsonValue`, so our layer writes the string (or null) as JSON.
            fmt::Debug::fmt(&JsonValue(&AsSerialize(self)), f)
        }
    }

    /// A [`LogTime`] value whose `Debug` is its JSON (see [`time_field`]).
    pub struct ErasedTime<'a>(&'a dyn FmtTime);

    impl fmt::Debug for ErasedTime<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt_time(f)
        }
    }

    /// Dates and times, written as ISO 8601 strings (RFC 3339 for instants) instead of the
    /// tuple `time`'s `Serialize` gives without its `serde-human-readable` feature. The macro
    /// picks it by the type's name: `OffsetDateTime`, `UtcDateTime`, `PrimitiveDateTime`,
    /// `time::Date`, `time::Time`, and `Option`s of them.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is named like a `time` type but is not one",
        label = "event fields named `OffsetDateTime`, `UtcDateTime` or `PrimitiveDateTime` are logged as ISO 8601 strings",
        note = "use the `time` crate's type, or write the field's type with another name"
    )]
    pub trait LogTime {
        /// Serializes `self` as a string (or `null` for a `None`).
        fn serialize_time<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;
    }

    /// Serializes a formatted value, or the formatting error's text.
    fn serialize_formatted<S: Serializer>(
        text: Result<String, time::error::Format>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match text {
            Ok(text) => serializer.serialize_str(&text),
            Err(error) => serializer.serialize_str(&format!("<unformattable: {error}>")),
        }
    }

    impl LogTime for time::OffsetDateTime {
        fn serialize_time<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serialize_formatted(self.format(&time::format_description::well_known::Rfc3339), serializer)
        }
    }

    impl LogTime for time::UtcDateTime {
        fn serialize_time<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serialize_formatted(self.format(&time::format_description::well_known::Rfc3339), serializer)
        }
    }

    impl LogTime for time::PrimitiveDateTime {
        fn serialize_time<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            const DATE_TIME: &[time::format_description::BorrowedFormatItem<'_>] =
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]");
            serialize_formatted(self.format(DATE_TIME), serializer)
        }
    }

    impl LogTime for time::Date {
        fn serialize_time<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            const DATE: &[time::format_description::BorrowedFormatItem<'_>] =
                time::macros::format_description!("[year]-[month]-[day]");
            serialize_formatted(self.format(DATE), serializer)
        }
    }

    impl LogTime for time::Time {
        fn serialize_time<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            const TIME: &[time::format_description::BorrowedFormatItem<'_>] =
                time::macros::format_description!("[hour]:[minute]:[second].[subsecond digits:6]");
            serialize_formatted(self.format(TIME), serializer)
        }
    }

    impl<T: LogTime> LogTime for Option<T> {
        fn serialize_time<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            match self {
                Some(value) => value.serialize_time(serializer),
                None => serializer.serialize_none(),
            }
        }
    }

    impl<T: LogTime + ?Sized> LogTime for &T {
        fn serialize_time<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            (**self).serialize_time(serializer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::__private::crate_relative_path;

    #[test]
    fn declaring_files_are_relative_to_their_crate() {
        // A workspace member: `file!()` is relative to the workspace root.
        assert_eq!(crate_relative_path("examples/src/objects.rs", "/work/app/examples"), "src/objects.rs");
        assert_eq!(crate_relative_path("tests/tests/catalog.rs", "/work/app/tests"), "tests/catalog.rs");
        // A crate from a registry: `file!()` is absolute.
        assert_eq!(
            crate_relative_path(
                "/home/ci/.cargo/registry/src/index/audit-runtime-0.1.0/src/http/events.rs",
                "/home/ci/.cargo/registry/src/index/audit-runtime-0.1.0"
            ),
            "src/http/events.rs"
        );
        // A lone crate: `file!()` is relative to it already.
        assert_eq!(crate_relative_path("src/lib.rs", "/work/app"), "src/lib.rs");
        // Only whole path components match.
        assert_eq!(crate_relative_path("xamples/src/a.rs", "/work/app/examples"), "xamples/src/a.rs");
    }
}
