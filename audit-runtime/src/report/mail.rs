//! Plain-text mail over SMTP, built so that no text from an error can become a header.
//!
//! - Addresses are checked once, when configured: one `local@domain`, no spaces, no control
//!   characters, no `<>,;"` (so nothing can be smuggled into `MAIL FROM`, `RCPT TO` or `To:`).
//! - The subject has every control character (CR and LF included) replaced by a space, is cut
//!   to 150 characters, and is RFC 2047-encoded when it is not plain ASCII.
//! - The body is base64: whatever the message says, no line of it can end the headers, start a
//!   header, or end the SMTP `DATA` section.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

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

/// Where mail goes: `smtp://host:port` (plain SMTP, as a local relay or a test server speaks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpUrl {
    host: String,
    port: u16,
}

impl SmtpUrl {
    /// Parses `smtp://host[:port]` (port 25 by default).
    pub fn parse(variable: &str, text: &str) -> Result<Self, MailConfigError> {
        let invalid = |expected: &str| MailConfigError {
            variable: variable.to_owned(),
            value: text.escape_debug().to_string(),
            expected: expected.to_owned(),
        };
        let rest = text.trim().strip_prefix("smtp://").ok_or_else(|| {
            invalid("smtp://host:port (plain SMTP to a local relay; smtps:// and credentials are not supported)")
        })?;
        let authority = rest.trim_end_matches('/');
        if authority.contains(['@', '/', '?']) || authority.chars().any(char::is_control) {
            return Err(invalid("smtp://host:port without credentials or a path"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| invalid("a port from 1 to 65535"))?),
            None => (authority, 25),
        };
        if host.is_empty() {
            return Err(invalid("smtp://host:port with a host"));
        }
        Ok(SmtpUrl { host: host.to_owned(), port })
    }
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "smtp://{}:{}", self.host, self.port)
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
    /// The message in RFC 5322 form, CRLF line ends, ending before the SMTP terminator.
    pub(crate) fn render(&self) -> String {
        let date =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc2822).unwrap_or_default();
        let domain = self.from.as_str().rsplit('@').next().unwrap_or("localhost");
        let mut out = String::with_capacity(self.body.len() * 4 / 3 + 512);
        out.push_str(&format!("From: {}\r\n", self.from));
        out.push_str(&format!("To: {}\r\n", self.to));
        out.push_str(&format!("Subject: {}\r\n", encode_subject(&self.subject)));
        out.push_str(&format!("Date: {date}\r\n"));
        out.push_str(&format!("Message-ID: <{}@{domain}>\r\n", uuid::Uuid::new_v4()));
        out.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n");
        out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        let encoded = base64(self.body.as_bytes());
        for line in encoded.as_bytes().chunks(76) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push_str("\r\n");
        }
        out
    }
}

/// A subject that is one header line: controls become spaces, at most 150 characters,
/// RFC 2047 base64 when not plain ASCII.
pub(crate) fn encode_subject(subject: &str) -> String {
    let clean: String = subject.chars().map(|c| if c.is_control() { ' ' } else { c }).take(150).collect();
    if clean.is_ascii() {
        clean
    } else {
        // Encoded words of at most 45 bytes of text each, split on character boundaries.
        let mut words = Vec::new();
        let mut chunk = String::new();
        for c in clean.chars() {
            if chunk.len() + c.len_utf8() > 45 {
                words.push(format!("=?utf-8?B?{}?=", base64(chunk.as_bytes())));
                chunk.clear();
            }
            chunk.push(c);
        }
        if !chunk.is_empty() {
            words.push(format!("=?utf-8?B?{}?=", base64(chunk.as_bytes())));
        }
        words.join("\r\n ")
    }
}

pub(crate) fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(TABLE[(n >> 18) as usize & 63] as char);
        out.push(TABLE[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { TABLE[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { TABLE[n as usize & 63] as char } else { '=' });
    }
    out
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("cannot reach {server}: {source}")]
    Connect { server: String, source: std::io::Error },
    #[error("{server} broke off the conversation: {source}")]
    Io { server: String, source: std::io::Error },
    #[error("{server} refused {command}: {reply}")]
    Refused { server: String, command: &'static str, reply: String },
}

/// Sends one message: EHLO, MAIL FROM, RCPT TO, DATA, QUIT; every step has a timeout.
pub(crate) fn send(server: &SmtpUrl, mail: &Mail) -> Result<(), SendError> {
    let name = server.to_string();
    let io = |source| SendError::Io { server: name.clone(), source };
    let address = (server.host.as_str(), server.port)
        .to_socket_addrs()
        .map_err(|source| SendError::Connect { server: name.clone(), source })?
        .next()
        .ok_or_else(|| SendError::Connect { server: name.clone(), source: std::io::ErrorKind::NotFound.into() })?;
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(10))
        .map_err(|source| SendError::Connect { server: name.clone(), source })?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(io)?;
    stream.set_write_timeout(Some(Duration::from_secs(30))).map_err(io)?;
    let mut reader = BufReader::new(stream.try_clone().map_err(io)?);
    let mut writer = stream;

    let mut expect = |writer: &mut TcpStream, command: &'static str, line: Option<String>, ok: &[u16]| {
        if let Some(line) = line {
            writer.write_all(line.as_bytes()).map_err(io)?;
            writer.flush().map_err(io)?;
        }
        let reply = read_reply(&mut reader).map_err(io)?;
        if ok.iter().any(|code| reply.starts_with(&code.to_string())) {
            Ok(())
        } else {
            Err(SendError::Refused { server: name.clone(), command, reply: reply.escape_debug().to_string() })
        }
    };
    expect(&mut writer, "the connection", None, &[220])?;
    let hostname =
        std::env::var("HOSTNAME").ok().filter(|h| h.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)));
    expect(&mut writer, "EHLO", Some(format!("EHLO {}\r\n", hostname.as_deref().unwrap_or("localhost"))), &[250])?;
    expect(&mut writer, "MAIL FROM", Some(format!("MAIL FROM:<{}>\r\n", mail.from)), &[250])?;
    expect(&mut writer, "RCPT TO", Some(format!("RCPT TO:<{}>\r\n", mail.to)), &[250, 251])?;
    expect(&mut writer, "DATA", Some("DATA\r\n".to_owned()), &[354])?;
    // The rendered message has only header lines and base64 lines: none can be a lone ".".
    expect(&mut writer, "the message", Some(format!("{}.\r\n", mail.render())), &[250])?;
    let _ = expect(&mut writer, "QUIT", Some("QUIT\r\n".to_owned()), &[221]);
    Ok(())
}

/// One SMTP reply, joining continuation lines (`250-...`).
fn read_reply(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let last = line.as_bytes().get(3) != Some(&b'-');
        reply.push_str(line.trim_end());
        if last {
            return Ok(reply);
        }
        reply.push(' ');
    }
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
    fn subjects_are_one_line_and_encoded_when_not_ascii() {
        assert_eq!(encode_subject("a\r\nBcc: evil@x.org"), "a  Bcc: evil@x.org");
        let encoded = encode_subject("Ward 3 does not exist ✗");
        assert!(encoded.starts_with("=?utf-8?B?") && !encoded.contains('✗'), "{encoded}");
        assert_eq!(encode_subject(&"x".repeat(500)).len(), 150);
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn smtp_urls() {
        assert_eq!(SmtpUrl::parse("SMTP_URL", "smtp://127.0.0.1:2525").unwrap().to_string(), "smtp://127.0.0.1:2525");
        assert_eq!(SmtpUrl::parse("SMTP_URL", "smtp://mail").unwrap().port, 25);
        for bad in ["smtps://mail:465", "smtp://user:pw@mail", "mail:25", "smtp://:25", "smtp://mail:port"] {
            assert!(SmtpUrl::parse("SMTP_URL", bad).unwrap_err().to_string().starts_with("SMTP_URL="), "{bad}");
        }
    }
}
