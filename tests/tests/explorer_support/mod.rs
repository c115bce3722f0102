//! Shared by the explorer's tests: an application with an audited type, the explorer nested
//! at `/audit/trail` behind a token check, a seeded trail with hostile strings and a redacted
//! value, and a raw HTTP/1.1 client over real sockets.
#![allow(dead_code)] // each test binary uses a different part

#[path = "../raw_http/mod.rs"]
mod raw_http;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use audit_runtime::explorer::{Access, Explorer, Repository};
use audit_runtime::http::{ApiError, Audit, RequestContext, RequestLogLayer, bind_user_id};
use audit_runtime::store::{AuditStore, Auditor};
use audit_runtime::{Actor, Audited};
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use serde::{Deserialize, Serialize};

/// Where the application nests the explorer: two segments, so that a link that forgot the
/// nest path (or kept only part of it) fails.
pub const NEST: &str = "/audit/trail";
/// The redacted value: it must never reach a page or a JSON body.
pub const SSN: &str = "123-45-6789";
pub const SSN_LATER: &str = "987-65-4321";
/// Hostile strings: markup, both quotes, a newline.
pub const HOSTILE_NOTE: &str = "<script>alert(\"note\")</script> it's \"quoted\"\nsecond line";
pub const HOSTILE_ACTOR: &str = "<img src=x onerror=alert('actor')>";
pub const HOSTILE_COMMENT: &str = "</td><script>alert('comment')</script>";

#[derive(Audited, Clone, Debug, Serialize, Deserialize, PartialEq)]
#[audited(object_type = "observation")]
pub struct Observation {
    pub id: i64,
    pub value: f64,
    pub note: String,
    #[audited(redact)]
    #[serde(default)]
    pub patient_ssn: String,
}

/// The application's table of observations.
#[derive(Clone, Default)]
pub struct Observations(pub Arc<Mutex<HashMap<String, Observation>>>);

impl Observations {
    pub fn get(&self, id: &str) -> Option<Observation> {
        self.0.lock().unwrap().get(id).cloned()
    }
    pub fn put(&self, observation: &Observation) {
        self.0.lock().unwrap().insert(observation.id.to_string(), observation.clone());
    }
}

impl Repository<Observation> for Observations {
    async fn load(&self, object_id: &str) -> Result<Option<Observation>, ApiError> {
        Ok(self.get(object_id))
    }
    async fn save(&self, object: &Observation) -> Result<(), ApiError> {
        self.put(object);
        Ok(())
    }
}

pub struct App {
    pub addr: SocketAddr,
    pub store: AuditStore,
    pub auditor: Auditor,
    pub observations: Observations,
    _dir: tempfile::TempDir,
}

impl App {
    /// `http://127.0.0.1:PORT/audit/trail` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{NEST}{path}", self.addr)
    }
}

/// Who the tokens are: `admin-token` may revert, `reader-token` may read.
async fn authenticate(request: Request, next: Next) -> Response {
    let token = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    match token.as_deref() {
        Some("Bearer admin-token") => {
            bind_user_id(&request, "admin");
        }
        Some("Bearer reader-token") => {
            bind_user_id(&request, "reader");
        }
        _ => {}
    }
    next.run(request).await
}

/// A browser carries no token: the browser tests' application takes every request as admin's.
async fn everyone_is_admin(request: Request, next: Next) -> Response {
    bind_user_id(&request, "admin");
    next.run(request).await
}

/// The explorer's check: the bound user's role.
fn role(request: &http::request::Parts) -> Access {
    let user = RequestContext::from_extensions(&request.extensions).and_then(RequestContext::user_id);
    match user.as_deref() {
        Some("admin") => Access::Write,
        Some("reader") => Access::Read,
        _ => Access::Denied,
    }
}

/// Starts the application with a fresh SQLite store; `browser`: every request is admin's.
pub async fn start(browser: bool) -> App {
    start_on(None, browser).await
}

/// [`start`] on the store at `url` (default: a fresh SQLite file).
pub async fn start_on(url: Option<&str>, browser: bool) -> App {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("audit.db").display());
    let store = AuditStore::connect(url.unwrap_or(&sqlite)).await.unwrap();
    let auditor = Auditor::new(store.clone());
    let observations = Observations::default();
    let explorer = Explorer::new(store.clone())
        .authorize(role)
        .auditor(auditor.clone())
        .revertible::<Observation, _>(observations.clone())
        .router();
    let app = Router::new().nest(NEST, explorer);
    let app = if browser {
        app.layer(middleware::from_fn(everyone_is_admin))
    } else {
        app.layer(middleware::from_fn(authenticate))
    };
    let app = app.layer(RequestLogLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    App { addr, store, auditor, observations, _dir: dir }
}

/// Observation 17: created, changed twice (a long note, then the redacted field), three
/// views; versions 1 to 3 by hostile and plain users. Also observation `a/b "c"` (an id that
/// needs encoding in links).
pub async fn seed(app: &App) {
    let created = Observation {
        id: 17,
        value: 36.6,
        note: "The patient reported a mild fever in the morning.".into(),
        patient_ssn: SSN.into(),
    };
    let alice = Audit::new(app.auditor.clone(), Actor::user("alice"));
    let hostile = Audit::new(app.auditor.clone(), Actor::user(HOSTILE_ACTOR));
    alice.created(&created, "Created revision 1").await.unwrap();
    let measured = Observation {
        value: 38.2,
        note: format!("The patient reported a high fever in the evening. {HOSTILE_NOTE}"),
        ..created.clone()
    };
    hostile.changed(&created, &measured, HOSTILE_COMMENT).await.unwrap();
    let annotated = Observation { patient_ssn: SSN_LATER.into(), ..measured.clone() };
    alice.changed(&measured, &annotated, "SSN corrected").await.unwrap();
    for _ in 0..3 {
        alice.viewed(&annotated);
    }
    app.observations.put(&annotated);
    app.auditor.flush().await.unwrap();
}

/// A response as read off the socket.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request over a new connection (`Connection: close`); `path` is absolute.
pub async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let raw = raw_http::exchange(addr, request.as_bytes()).await;
    let headers = raw.headers.into_iter().map(|(name, value)| (name, String::from_utf8(value).expect("ASCII header")));
    Reply { status: raw.status, headers: headers.collect(), body: String::from_utf8(raw.body).expect("UTF-8 body") }
}

pub async fn get(addr: SocketAddr, path: &str, token: &str) -> Reply {
    request(addr, "GET", path, &[("Authorization", &format!("Bearer {token}"))], "").await
}

pub async fn get_json(addr: SocketAddr, path: &str, token: &str) -> Reply {
    let auth = format!("Bearer {token}");
    request(addr, "GET", path, &[("Authorization", &auth), ("Accept", "application/json")], "").await
}

/// Every `href="..."` of an HTML text (attribute entities decoded).
pub fn hrefs(html: &str) -> Vec<String> {
    attribute_values(html, "href")
}

/// Every value of attribute `name` (`name="..."`), entities decoded.
pub fn attribute_values(html: &str, name: &str) -> Vec<String> {
    let needle = format!("{name}=\"");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&needle) {
        rest = &rest[at + needle.len()..];
        let end = rest.find('"').expect("a closing quote");
        found.push(unescape(&rest[..end]));
        rest = &rest[end..];
    }
    found
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'").replace("&amp;", "&")
}

/// The `token` of the revert form and its `action`, from a page.
pub fn revert_form(html: &str) -> (String, String) {
    let form = &html[html.find("<form method=\"post\"").expect("a POST form")..];
    let action = attribute_values(form, "action").into_iter().next().expect("an action");
    let token_at = form.find("name=\"token\"").expect("a token field");
    let token = attribute_values(&form[token_at..], "value").into_iter().next().expect("a token value");
    (action, token)
}
