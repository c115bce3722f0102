//! A panic inside a request is one JSON line and nothing else: Rust's panic message and
//! backtrace reach stderr only when asked for. Checked on a real process (this test binary run
//! again as a child), whose stdout and stderr are read whole.

use std::process::Command;

use audit_runtime::http::{RequestLogLayer, print_panics_to_stderr};
use audit_runtime::logging::JsonLayer;
use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::prelude::*;

/// Set in the child: what it is to do.
const CHILD: &str = "AUDIT_PANIC_OUTPUT_CHILD";

async fn boom() -> String {
    let ward: Option<&str> = std::hint::black_box(None);
    ward.expect("a ward").to_owned()
}

/// In the child: serves one panicking request with JSON lines on stdout.
fn serve_one_panic(to_stderr: bool) {
    print_panics_to_stderr(to_stderr);
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(std::io::stdout));
    let _default = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let app = Router::new().route("/boom", get(boom)).layer(RequestLogLayer::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /boom HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await.unwrap();
        assert!(reply.starts_with(b"HTTP/1.1 500"), "{}", String::from_utf8_lossy(&reply));
    });
}

/// Runs this test binary again as a child serving one panicking request; (stdout, stderr).
fn child(mode: &str) -> (String, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_panic_in_a_request_is_one_json_line_and_nothing_on_stderr",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, mode)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the child runs");
    assert!(output.status.success(), "the child failed: {output:?}");
    (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
}

#[test]
fn a_panic_in_a_request_is_one_json_line_and_nothing_on_stderr() {
    match std::env::var(CHILD).as_deref() {
        Ok("quiet") => return serve_one_panic(false),
        Ok("stderr") => return serve_one_panic(true),
        _ => {}
    }
    let (stdout, stderr) = child("quiet");
    assert_eq!(stderr, "", "nothing on stderr by default");
    let panic_lines: Vec<&str> = stdout.lines().filter(|line| line.contains("a ward")).collect();
    assert_eq!(panic_lines.len(), 1, "the panic is in one line:\n{stdout}");
    let line: serde_json::Value = serde_json::from_str(panic_lines[0]).expect("that line is JSON");
    assert_eq!(line["event"], "api.uncaught_exception");
    assert!(line["exception"].as_str().unwrap().contains("stack backtrace:"), "{line}");

    let (_, stderr) = child("stderr");
    assert!(
        stderr.contains("panicked at") && stderr.contains("a ward"),
        "asked for, Rust's message is printed: {stderr}"
    );
}
