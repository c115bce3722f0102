//! `capture_error` sends to Sentry with the real `sentry` crate, to a local HTTP endpoint posing
//! as the Sentry ingest (a loopback DSN), with the request id, the user id and the error chain.
//! Its own test binary: the Sentry client is process-wide.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Accepts HTTP requests, keeps their bodies, answers 200.
fn fake_ingest() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let store = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut request_line, mut line) = (0usize, String::new(), String::new());
            reader.read_line(&mut request_line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            store.lock().unwrap().push(format!("{}{}", request_line, String::from_utf8_lossy(&body)));
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        }
    });
    (port, bodies)
}

#[derive(Debug)]
struct ImportFailed(std::io::Error);

impl std::fmt::Display for ImportFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("patient import failed")
    }
}

impl std::error::Error for ImportFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[tokio::test]
async fn capture_error_reaches_the_sentry_ingest_with_the_request_context() {
    let (port, bodies) = fake_ingest();
    // SAFETY: set before anything else in this test binary reads the environment.
    unsafe {
        std::env::set_var("SENTRY_DSN", format!("http://publickey@127.0.0.1:{port}/42"));
        std::env::set_var("SENTRY_ENVIRONMENT", "staging");
    }
    let guard = audit_runtime::report::init_from_env(None).unwrap();
    let capture = common::capture_json(|| {
        let _request = tracing::info_span!("request", request_id = "r-77", user_id = "alice").entered();
        audit_runtime::report::capture_error(&ImportFailed(std::io::Error::other("disk quota exceeded")));
    });
    assert_eq!(capture.only_line()["event"], "error_captured");
    drop(guard); // flushes the client

    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one event sent: {bodies:?}");
    let body = &bodies[0];
    assert!(body.starts_with("POST /api/42/envelope/"), "{body}");
    for expected in [
        "patient import failed",
        "disk quota exceeded",
        "\"environment\":\"staging\"",
        "\"request_id\":\"r-77\"",
        "\"id\":\"alice\"",
    ] {
        assert!(body.contains(expected), "{expected} missing from {body}");
    }
}
