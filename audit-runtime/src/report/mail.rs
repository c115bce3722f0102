//! Plain-text mail through lettre's SMTP client (STARTTLS, implicit TLS, AUTH, timeouts; TLS
//! by rustls with the system's CA certificates), built so that no text from an error can become
//! a header.
//!
//! - Addresses are checked once, when configured: one `local@domain`, no spaces, no control
//!   characters, no `<>,;"` (so nothing can be smuggled into `MAIL FROM`, `RCPT TO` or `To:`).
//! - The subject has every control character (CR and LF included) replaced by a space and is
//!   cut to 150 characters before lettre encodes it (RFC 2047 when it is not plain ASCII).
//! - The body is base64: whatever the message says, no line of it can end the headers, start a
//!   header, or end the SMTP `DATA` section.

use std::fmt;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{Message, SmtpTransport, Transport as _};

/// How long connecting, and each step of the conversation, may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A mail address that is safe to put in an SMTP command and a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    /// Checks `text` (named `variable` in the error) as one address.
    pub fn parse(variable: &str, text: &str) -> Result<Self, MailConfigError> {
        let text = text.trim();
        let invalid = |reason: &str| MailConfigError {
            variable: variable.to_owned(),
            value: text.escape_debug().to_string(),
            expected: format!("one address such as ops@example.org ({reason})"),
        };
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("no spaces or control characters"));
        }
        if text.contains(['<', '>', ',', ';', '"', '(', ')', '\\']) {
            return Err(invalid("no <>,;\"()\\: a single bare address"));
        }
        match text.split_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => {
                Ok(Address(text.to_owned()))
            }
            _ => Err(invalid("local-part@domain")),
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mail setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{variable}={value:?} is not valid: expected {expected}")]
pub struct MailConfigError {
    /// The variable, such as `CONFIG_ERROR_REPORT_EMAIL`.
    pub variable: String,
    /// The value given (escaped).
    pub value: String,
    /// What is accepted.
    pub expected: String,
}

/// Where mail goes, with how: an SMTP URL as lettre reads it.
///
/// - `smtp://host[:port]`: plain SMTP (port 25), for a relay on the same host or network;
/// - `smtp://user:password@host:587?tls=required`: STARTTLS, required, then AUTH (Office 365,
///   Gmail, SES);
/// - `smtps://user:password@host[:465]`: implicit TLS, then AUTH;
/// - `?tls=opportunistic`: STARTTLS when the server offers it.
///
/// User and password are percent-encoded in the URL; the password is never shown (the URL is
/// displayed with `***` in its place).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    url: String,
    shown: String,
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SmtpUrl").field(&self.shown).finish()
    }
}

const ACCEPTED_URLS: &str = "smtp://host:port (plain), smtp://user:password@host:587?tls=required (STARTTLS) or smtps://user:password@host:465 (implicit TLS)";

impl SmtpUrl {
    /// Checks `text` (named `variable` in the error) as an SMTP URL.
    pub fn parse(variable: &str, text: &str) -> Result<Self, MailConfigError> {
        let text = text.trim();
        let shown = redact_password(text);
        let invalid = |expected: String| MailConfigError {
            variable: variable.to_owned(),
            value: shown.escape_debug().to_string(),
            expected,
        };
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid(format!("{ACCEPTED_URLS}, without spaces or control characters")));
        }
        if !(text.starts_with("smtp://") || text.starts_with("smtps://")) {
            return Err(invalid(ACCEPTED_URLS.to_owned()));
        }
        let authority = text.split_once("://").map_or("", |(_, rest)| rest.split(['/', '?']).next().unwrap_or(""));
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        if host_port.is_empty() || host_port.starts_with(':') {
            return Err(invalid(format!("{ACCEPTED_URLS}, with a host")));
        }
        if let Some((_, port)) = host_port.rsplit_once(':').filter(|_| !host_port.ends_with(']')) {
            if !port.parse::<u16>().is_ok_and(|p| p != 0) {
                return Err(invalid("a port from 1 to 65535".to_owned()));
            }
        }
        let query = text.split_once('?').map_or("", |(_, query)| query);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair {
                "tls=required" | "tls=opportunistic" | "tls=wrapper" => {}
                _ => {
                    return Err(invalid(format!(
                        "{ACCEPTED_URLS}; the only parameter is tls=required or tls=opportunistic"
                    )));
                }
            }
        }
        // lettre reads it: what it refuses is refused here, once, not at each mail.
        SmtpTransport::from_url(text).map_err(|error| invalid(format!("{ACCEPTED_URLS} ({error})")))?;
        Ok(SmtpUrl { url: text.to_owned(), shown })
    }
}

impl fmt::Display for SmtpUrl {
    /// The URL with its password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// `scheme://user:***@host...`: the URL without its password.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// A message ready to send.
pub(crate) struct Mail {
    pub(crate) from: Address,
    pub(crate) to: Address,
    pub(crate) subject: String,
    pub(crate) body: String,
}

impl Mail {
    /// The message as lettre sends it: a one-line subject, a base64 body.
    fn message(&self) -> Result<Message, SendError> {
        let mailbox = |address: &Address| {
            address.as_str().parse::<Mailbox>().map_err(|error| SendError::Message(format!("{address}: {error}")))
        };
        Message::builder()
            .from(mailbox(&self.from)?)
            .to(mailbox(&self.to)?)
            .subject(one_line_subject(&self.subject))
            .header(ContentType::TEXT_PLAIN)
            .body(
                Body::new_with_encoding(self.body.clone(), ContentTransferEncoding::Base64)
                    .map_err(|_| SendError::Message("the body could not be base64-encoded".to_owned()))?,
            )
            .map_err(|error| SendError::Message(error.to_string()))
    }
}

/// A subject that is one header line: controls become spaces, at most 150 characters.
pub(crate) fn one_line_subject(subject: &str) -> String {
    subject.chars().map(|c| if c.is_control() { ' ' } else { c }).take(150).collect()
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("the mail could not be built: {0}")]
    Message(String),
    #[error("{server}: {source}")]
    Smtp {
        server: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

/// Sends one message; connecting and every step of the conversation have a timeout.
pub(crate) fn send(server: &SmtpUrl, mail: &Mail) -> Result<(), SendError> {
    let smtp = |source| SendError::Smtp { server: server.to_string(), source };
    let transport = SmtpTransport::from_url(&server.url).map_err(smtp)?.timeout(Some(TIMEOUT)).build();
    transport.send(&mail.message()?).map_err(smtp)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_cannot_carry_extra_headers_or_commands() {
        assert!(Address::parse("E", "ops@example.org").is_ok());
        for bad in
            ["ops@example.org\r\nBcc: x@evil.org", "a@b>\r\nRCPT TO:<c@d", "a, b@c", "no-at-sign", "@x", "x@", "a b@c"]
        {
            let error = Address::parse("CONFIG_ERROR_REPORT_EMAIL", bad).unwrap_err().to_string();
            assert!(error.starts_with("CONFIG_ERROR_REPORT_EMAIL="), "{error}");
            assert!(!error.contains('\n'), "the error itself is one line: {error:?}");
        }
    }

    #[test]
    fn subjects_are_one_line() {
        assert_eq!(one_line_subject("a\r\nBcc: evil@x.org"), "a  Bcc: evil@x.org");
        assert_eq!(one_line_subject(&"x".repeat(500)).len(), 150);
    }

    #[test]
    fn smtp_urls() {
        assert_eq!(SmtpUrl::parse("SMTP_URL", "smtp://127.0.0.1:2525").unwrap().to_string(), "smtp://127.0.0.1:2525");
        let secure = SmtpUrl::parse("SMTP_URL", "smtp://ops%40example.org:s3cret@mail:587?tls=required").unwrap();
        assert_eq!(secure.to_string(), "smtp://ops%40example.org:***@mail:587?tls=required");
        assert!(!format!("{secure:?}").contains("s3cret"));
        assert!(SmtpUrl::parse("SMTP_URL", "smtps://u:p@mail").is_ok());
        for bad in
            ["http://mail:25", "mail:25", "smtp://:25", "smtp://mail:port", "smtp://mail?tls=maybe", "smtp://m ail"]
        {
            let error = SmtpUrl::parse("SMTP_URL", bad).unwrap_err().to_string();
            assert!(error.starts_with("SMTP_URL="), "{bad}: {error}");
        }
        let error = SmtpUrl::parse("SMTP_URL", "smtp://u:hunter2@mail:0").unwrap_err().to_string();
        assert!(!error.contains("hunter2"), "{error}");
    }
}
