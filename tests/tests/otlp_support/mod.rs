//! A real OTLP/HTTP receiver on a loopback socket, plain or over TLS with a certificate made for
//! the test: it reads each request, decodes the body with the standard OTLP protobuf types, and
//! answers 200 (401 when a required header is missing).
#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    pub request: ExportTraceServiceRequest,
}

#[derive(Clone)]
pub struct Receiver {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    failing: Arc<AtomicBool>,
    /// Requests refused for want of the required header.
    pub refused: Arc<std::sync::atomic::AtomicUsize>,
    tls: bool,
}

/// A self-signed certificate for `localhost`, made for one test.
pub struct TestCertificate {
    pub pem: String,
    pub der: rustls::pki_types::CertificateDer<'static>,
    pub key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl TestCertificate {
    pub fn for_localhost() -> TestCertificate {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        TestCertificate {
            pem: certified.cert.pem(),
            der: certified.cert.der().clone(),
            key: rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into()),
        }
    }

    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.der.clone()], self.key.clone_key())
            .unwrap();
        Arc::new(config)
    }
}

impl Receiver {
    /// Starts listening on `127.0.0.1:0`.
    pub fn start() -> Receiver {
        Self::start_on(0)
    }

    /// Starts listening on `127.0.0.1:port` (0: any free port).
    pub fn start_on(port: u16) -> Receiver {
        Self::start_with(port, None, None)
    }

    /// Starts an HTTPS receiver with `certificate`, answering 401 to a request without the
    /// header `required` (name in lower case, value).
    pub fn start_tls(certificate: &TestCertificate, required: Option<(&str, &str)>) -> Receiver {
        let required = required.map(|(name, value)| (name.to_owned(), value.to_owned()));
        Self::start_with(0, Some(certificate.server_config()), required)
    }

    fn start_with(port: u16, tls: Option<Arc<rustls::ServerConfig>>, required: Option<(String, String)>) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        let failing = Arc::new(AtomicBool::new(false));
        let fail = failing.clone();
        let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let refusals = refused.clone();
        let is_tls = tls.is_some();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let fail = fail.load(Ordering::SeqCst);
                let request = match &tls {
                    None => read_request(stream, fail, required.as_ref(), &refusals),
                    Some(config) => {
                        let Ok(connection) = rustls::ServerConnection::new(config.clone()) else { continue };
                        let tls_stream = rustls::StreamOwned::new(connection, stream);
                        read_request(tls_stream, fail, required.as_ref(), &refusals)
                    }
                };
                if let Some(request) = request {
                    sink.lock().unwrap().push(request);
                }
            }
        });
        Receiver { port, received, failing, refused, tls: is_tls }
    }

    /// From now on, answer `503 Service Unavailable` (and keep nothing).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The base URL: `http://127.0.0.1:port`, or `https://localhost:port` over TLS (the name
    /// the certificate is for).
    pub fn endpoint(&self) -> String {
        if self.tls { format!("https://localhost:{}", self.port) } else { format!("http://127.0.0.1:{}", self.port) }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Every span received so far, with the resource it came with.
    pub fn spans(&self) -> Vec<(Resource, Span)> {
        let mut out = Vec::new();
        for received in self.requests() {
            for rs in received.request.resource_spans {
                let resource = rs.resource.unwrap_or_default();
                for ss in rs.scope_spans {
                    for span in ss.spans {
                        out.push((resource.clone(), span));
                    }
                }
            }
        }
        out
    }

    /// Waits until `count` spans have arrived (at most 10 s).
    pub fn wait_for_spans(&self, count: usize) -> Vec<(Resource, Span)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let spans = self.spans();
            if spans.len() >= count || Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn read_request<S: Read + Write>(
    mut stream: S,
    fail: bool,
    required: Option<&(String, String)>,
    refused: &std::sync::atomic::AtomicUsize,
) -> Option<Received> {
    let mut reader = BufReader::new(&mut stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0usize;
    let mut content_type = None;
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "content-type" => content_type = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let request = ExportTraceServiceRequest::decode(&body[..]).expect("the body is a valid ExportTraceServiceRequest");
    drop(reader);
    if let Some((name, value)) = required {
        if !headers.iter().any(|(n, v)| n == name && v == value) {
            refused.fetch_add(1, Ordering::SeqCst);
            let _ = stream
                .write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\nConnection: close\r\n\r\nunauthorized");
            let _ = stream.flush();
            return None;
        }
    }
    if fail {
        let _ = stream.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 10\r\nConnection: close\r\n\r\noverloaded",
        );
        return None;
    }
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let _ = stream.flush();
    Some(Received { method, path, content_type, headers, request })
}

/// The value of attribute `key`.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

/// Lower-case hex of an id, as OTLP shows it.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
