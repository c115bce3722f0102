//! Configuration errors: a stored setting (a widget's JSON, a rule, a mapping) that makes the
//! code fail. They are not bugs to send to Sentry but settings for a person to fix, so they are
//! logged always and mailed, at most once per distinct error per window, to whoever fixes them.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;

use super::events::ConfigurationErrorLogged;
use crate::audit::Audited;

/// An object that can name itself in a report: its type, its id, and how it reads to people.
/// Every [`Audited`] type is one; implement it for anything else a setting can live on.
///
/// ```
/// use std::borrow::Cow;
/// use audit_runtime::report::{ConfigurationError, NamedObject};
///
/// struct Tenant { slug: String }
///
/// impl NamedObject for Tenant {
///     fn object_type(&self) -> Cow<'static, str> { Cow::Borrowed("tenant") }
///     fn object_id(&self) -> String { self.slug.clone() }
///     fn object_repr(&self) -> String { format!("tenant {}", self.slug) }
/// }
///
/// let error = ConfigurationError::new("no mail server configured", &Tenant { slug: "north".into() });
/// assert_eq!(error.object_id(), "north");
/// ```
pub trait NamedObject {
    /// The kind of object, e.g. `widget`.
    fn object_type(&self) -> Cow<'static, str>;
    /// Its id, as text.
    fn object_id(&self) -> String;
    /// How it reads to people.
    fn object_repr(&self) -> String;
}

impl<T: Audited> NamedObject for T {
    fn object_type(&self) -> Cow<'static, str> {
        Cow::Borrowed(T::object_type())
    }

    fn object_id(&self) -> String {
        Audited::object_id(self)
    }

    fn object_repr(&self) -> String {
        Audited::object_repr(self)
    }
}

/// A setting of `object` that is wrong. Build it with what a person needs to fix it:
///
/// ```
/// use audit_runtime::report::{ConfigurationError, handle_config_error};
/// # #[derive(audit_runtime::Audited, serde::Serialize)]
/// # struct Widget { id: i64 }
/// # let widget = Widget { id: 3 };
/// let error = ConfigurationError::new("'ward_id' configuration is missing", &widget)
///     .url("/dashboard/3")
///     .config_field("ward_id");
/// handle_config_error(&error);
/// ```
pub struct ConfigurationError {
    message: String,
    object_type: Cow<'static, str>,
    object_id: String,
    object_repr: String,
    url: Option<String>,
    config_field: Option<String>,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl ConfigurationError {
    /// A clear message and the object holding the wrong setting (any [`NamedObject`], such as
    /// an [`Audited`] type).
    pub fn new<T: NamedObject + ?Sized>(message: impl Into<String>, object: &T) -> Self {
        ConfigurationError {
            message: message.into(),
            object_type: object.object_type(),
            object_id: object.object_id(),
            object_repr: object.object_repr(),
            url: None,
            config_field: None,
            source: None,
        }
    }

    /// Where it happened (the request path).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Which setting is wrong.
    pub fn config_field(mut self, field: impl Into<String>) -> Self {
        self.config_field = Some(field.into());
        self
    }

    /// The error that revealed it (its `source()`).
    pub fn caused_by(mut self, source: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The type of the object with the wrong setting.
    pub fn object_type(&self) -> &str {
        &self.object_type
    }

    /// Its id.
    pub fn object_id(&self) -> &str {
        &self.object_id
    }

    /// How it reads.
    pub fn object_repr(&self) -> &str {
        &self.object_repr
    }

    /// The URL, if given.
    pub fn url_value(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The setting, if given.
    pub fn config_field_value(&self) -> Option<&str> {
        self.config_field.as_deref()
    }

    /// What makes two errors "the same error" for the rate limit: message, object, setting.
    #[cfg(feature = "smtp")]
    pub(crate) fn rate_limit_key(&self) -> String {
        let parts =
            [self.message.as_str(), &self.object_type, &self.object_id, self.config_field.as_deref().unwrap_or("")];
        format!("config_error:{:016x}", fnv1a(&parts))
    }

    /// The mail's text.
    #[cfg(feature = "smtp")]
    pub(crate) fn report_body(&self, window_hours: f64) -> String {
        let mut body = format!("A configuration error needs fixing.\n\n{}\n\n", self.message);
        body.push_str(&format!("Object:        {} {} ({})\n", self.object_type, self.object_id, self.object_repr));
        if let Some(field) = &self.config_field {
            body.push_str(&format!("Setting:       {field}\n"));
        }
        if let Some(url) = &self.url {
            body.push_str(&format!("URL:           {url}\n"));
        }
        if let Some(request_id) = crate::context::current_request_id() {
            body.push_str(&format!("Request id:    {request_id}\n"));
        }
        let mut cause = self.source.as_deref().map(|e| e as &(dyn Error + 'static));
        while let Some(error) = cause {
            body.push_str(&format!("Caused by:     {error}\n"));
            cause = error.source();
        }
        body.push_str(&format!(
            "\nThis error is mailed at most once every {window_hours} hours \
             (CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS); every occurrence is in the logs as `configuration_error`.\n"
        ));
        body
    }
}

impl fmt::Display for ConfigurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} {}", self.message, self.object_type, self.object_id)?;
        if let Some(field) = &self.config_field {
            write!(f, ", setting {field}")?;
        }
        f.write_str(")")
    }
}

/// The message, as [`Display`](fmt::Display) writes it: what `main` prints for an error it
/// returns.
impl fmt::Debug for ConfigurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Error for ConfigurationError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Logs a `configuration_error` line (always) and, when `CONFIG_ERROR_REPORT_EMAIL` is set,
/// mails a report at most once per distinct error (message, object, setting) per
/// `CONFIG_ERROR_REPORT_RATE_LIMIT_HOURS`. Never blocks on I/O; never fails.
pub fn handle_config_error(error: &ConfigurationError) {
    ConfigurationErrorLogged {
        message: &error.message,
        object_type: &error.object_type,
        object_id: &error.object_id,
        object_repr: &error.object_repr,
        config_field: error.config_field.as_deref(),
        url: error.url.as_deref(),
        error: error.source(),
    }
    .emit();
    super::reporter::mail_config_error(error);
}

/// FNV-1a over the parts with a separator: stable across processes and versions (a std
/// `Hasher` is neither), which a limit shared through the database needs.
#[cfg(feature = "smtp")]
pub(crate) fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}
