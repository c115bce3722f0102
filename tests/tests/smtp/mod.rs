//! A real SMTP listener for the tests: speaks enough SMTP for one client at a time and keeps
//! every message it receives.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One message as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
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
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages: Arc<Mutex<Vec<Received>>> = Arc::default();
        let store = messages.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let store = store.clone();
                std::thread::spawn(move || serve(stream, &store));
            }
        });
        SmtpServer { port, messages }
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
    let mut current = Received { mail_from: String::new(), rcpt_to: Vec::new(), data: String::new() };
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
