//! A real SMTP listener for the tests: speaks enough SMTP for one client at a time and keeps
//! every message it receives. The secure one demands TLS (STARTTLS, or implicit TLS from the
//! first byte) and `AUTH PLAIN` before it takes a message, as Office 365 or Gmail do.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One message as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
    /// The message came over TLS.
    pub over_tls: bool,
    /// The user that authenticated, if any.
    pub user: Option<String>,
}

/// What the secure server demands.
#[derive(Clone)]
pub struct Security {
    pub tls: Arc<rustls::ServerConfig>,
    /// TLS from the first byte (`smtps://`) rather than after `STARTTLS`.
    pub implicit: bool,
    pub user: String,
    pub password: String,
}

impl Received {
    /// The header block, unfolded lines.
    pub fn headers(&self) -> Vec<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut headers: Vec<String> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(last) = headers.last_mut() {
                    last.push_str(line);
                }
            } else {
                headers.push(line.to_owned());
            }
        }
        headers
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.headers()
            .into_iter()
            .find(|h| h.to_ascii_lowercase().starts_with(&prefix))
            .map(|h| h[prefix.len()..].trim().to_owned())
    }

    /// The body, base64-decoded.
    pub fn body(&self) -> String {
        let encoded: String = self.data.split("\r\n\r\n").nth(1).unwrap_or("").split("\r\n").collect();
        String::from_utf8(decode_base64(&encoded)).expect("UTF-8 body")
    }
}

pub fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = text.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, c)| n | (u32::from(value(*c)) << (18 - 6 * i)));
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}

/// The server: `url()` for `SMTP_URL`, `messages()` for what arrived.
pub struct SmtpServer {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
    /// Conversations the secure server ended for want of TLS or authentication.
    pub refusals: Arc<Mutex<Vec<String>>>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        Self::start_with(None)
    }

    /// A server that demands TLS and `AUTH PLAIN` with the given user and password.
    pub fn start_secure(security: Security) -> SmtpServer {
        Self::start_with(Some(security))
    }

    fn start_with(security: Option<Security>) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages: Arc<Mutex<Vec<Received>>> = Arc::default();
        let refusals: Arc<Mutex<Vec<String>>> = Arc::default();
        let store = messages.clone();
        let refused = refusals.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let store = store.clone();
                let refused = refused.clone();
                let security = security.clone();
                std::thread::spawn(move || match security {
                    None => serve(stream, &store),
                    Some(security) => serve_secure(stream, &store, &security, &refused),
                });
            }
        });
        SmtpServer { port, messages, refusals }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }
}

fn serve(stream: std::net::TcpStream, store: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut reply = |text: &str| writer.write_all(text.as_bytes());
    if reply("220 test.local ESMTP ready\r\n").is_err() {
        return;
    }
    let mut current =
        Received { mail_from: String::new(), rcpt_to: Vec::new(), data: String::new(), over_tls: false, user: None };
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250-test.local\r\n250 8BITMIME\r\n".to_owned()
        } else if let Some(from) = upper.strip_prefix("MAIL FROM:") {
            current.mail_from = command[command.len() - from.len()..].to_owned();
            "250 ok\r\n".to_owned()
        } else if let Some(to) = upper.strip_prefix("RCPT TO:") {
            current.rcpt_to.push(command[command.len() - to.len()..].to_owned());
            "250 ok\r\n".to_owned()
        } else if upper == "DATA" {
            let _ = reply("354 go ahead\r\n");
            let mut data = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            current.data = data;
            store.lock().unwrap().push(current.clone());
            "250 queued\r\n".to_owned()
        } else if upper == "QUIT" {
            let _ = reply("221 bye\r\n");
            return;
        } else {
            "502 unknown\r\n".to_owned()
        };
        if reply(&answer).is_err() {
            return;
        }
    }
}

/// A stream the secure session runs on: plain TCP before `STARTTLS`, TLS after.
trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// Reads one line; `None` when the client is gone.
fn read_line(reader: &mut BufReader<Box<dyn Stream>>) -> Option<String> {
    let mut line = String::new();
    (reader.read_line(&mut line).ok()? > 0).then_some(line)
}

fn reply(reader: &mut BufReader<Box<dyn Stream>>, text: &str) -> bool {
    let stream = reader.get_mut();
    stream.write_all(text.as_bytes()).is_ok() && stream.flush().is_ok()
}

fn wrap_tls(tcp: TcpStream, config: &Arc<rustls::ServerConfig>) -> Box<dyn Stream> {
    let connection = rustls::ServerConnection::new(config.clone()).unwrap();
    Box::new(rustls::StreamOwned::new(connection, tcp))
}

fn serve_secure(stream: TcpStream, store: &Mutex<Vec<Received>>, security: &Security, refused: &Mutex<Vec<String>>) {
    let refuse = |why: &str| refused.lock().unwrap().push(why.to_owned());
    let tcp_for_tls = stream.try_clone().unwrap();
    let mut reader: BufReader<Box<dyn Stream>> = if security.implicit {
        BufReader::new(wrap_tls(stream, &security.tls))
    } else {
        BufReader::new(Box::new(stream))
    };
    let mut over_tls = security.implicit;
    let mut tcp_for_tls = Some(tcp_for_tls);
    let mut user: Option<String> = None;
    let mut current =
        Received { mail_from: String::new(), rcpt_to: Vec::new(), data: String::new(), over_tls, user: None };
    if !reply(&mut reader, "220 secure.test ESMTP ready\r\n") {
        return;
    }
    while let Some(line) = read_line(&mut reader) {
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let answer: String = if upper.starts_with("EHLO") {
            if over_tls {
                "250-secure.test\r\n250 AUTH PLAIN\r\n".into()
            } else {
                "250-secure.test\r\n250 STARTTLS\r\n".into()
            }
        } else if upper == "STARTTLS" && !over_tls {
            if !reply(&mut reader, "220 go ahead\r\n") {
                return;
            }
            // Nothing the client sent before the handshake may be kept (RFC 3207).
            let Some(tcp) = tcp_for_tls.take() else { return };
            reader = BufReader::new(wrap_tls(tcp, &security.tls));
            over_tls = true;
            continue;
        } else if let Some(rest) = upper.strip_prefix("AUTH PLAIN") {
            if !over_tls {
                refuse("AUTH before TLS");
                "530 5.7.0 Must issue a STARTTLS command first\r\n".into()
            } else {
                let encoded = if rest.trim().is_empty() {
                    if !reply(&mut reader, "334 \r\n") {
                        return;
                    }
                    match read_line(&mut reader) {
                        Some(line) => line.trim().to_owned(),
                        None => return,
                    }
                } else {
                    command["AUTH PLAIN".len()..].trim().to_owned()
                };
                let decoded = String::from_utf8(decode_base64(&encoded)).unwrap_or_default();
                let parts: Vec<&str> = decoded.split('\0').collect();
                if parts.len() == 3 && parts[1] == security.user && parts[2] == security.password {
                    user = Some(parts[1].to_owned());
                    "235 2.7.0 Authentication successful\r\n".into()
                } else {
                    refuse("wrong credentials");
                    "535 5.7.8 Authentication credentials invalid\r\n".into()
                }
            }
        } else if let Some(from) = upper.strip_prefix("MAIL FROM:") {
            if !over_tls {
                refuse("MAIL before TLS");
                "530 5.7.0 Must issue a STARTTLS command first\r\n".into()
            } else if user.is_none() {
                refuse("MAIL before AUTH");
                "530 5.7.0 Authentication required\r\n".into()
            } else {
                current.mail_from = command[command.len() - from.len()..].to_owned();
                "250 ok\r\n".into()
            }
        } else if let Some(to) = upper.strip_prefix("RCPT TO:") {
            current.rcpt_to.push(command[command.len() - to.len()..].to_owned());
            "250 ok\r\n".into()
        } else if upper == "DATA" && user.is_some() {
            if !reply(&mut reader, "354 go ahead\r\n") {
                return;
            }
            let mut data = String::new();
            loop {
                let Some(line) = read_line(&mut reader) else { return };
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            current.data = data;
            current.over_tls = over_tls;
            current.user = user.clone();
            store.lock().unwrap().push(current.clone());
            "250 queued\r\n".into()
        } else if upper == "QUIT" {
            let _ = reply(&mut reader, "221 bye\r\n");
            return;
        } else {
            "502 unknown\r\n".into()
        };
        if !reply(&mut reader, &answer) {
            return;
        }
    }
}
