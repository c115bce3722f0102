//! [`ApiError`]: the standard error body and its `api.handled_exception` line; conversions from
//! axum's rejections; the [`BearerToken`] extractor.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequestParts, path::ErrorKind};
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{StatusCode, request::Parts};
use serde::Serialize;
use uuid::Uuid;

use super::events::HandledException;

/// The `Content-Type` of error bodies (RFC 9457 problem details, whose shape the body follows).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The event of a handled error's line.
pub const HANDLED_EXCEPTION_EVENT: &str = "api.handled_exception";
/// The event of a panic's line.
pub const UNCAUGHT_EXCEPTION_EVENT: &str = "api.uncaught_exception";

/// One input parameter that caused an error: `{"name": ..., "code": ..., "reason": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidParam {
    /// The parameter, e.g. `naam` or `address.city`; empty when the error is not about one.
    pub name: String,
    /// Machine-readable code, e.g. `required` or `invalid`.
    pub code: String,
    /// Human-readable reason.
    pub reason: String,
}

/// An error a handler answers with: a status, a `code`, a `title`, and `data` or
/// `invalid_params`. Its body is this JSON, with a fresh `exception_id`:
///
/// ```json
/// {"title":"Authentication credentials were not provided.","code":"not_authenticated","status":401,
///  "data":{"detail":"Authentication credentials were not provided."},
///  "exception_id":"aabcf29e-d339-4983-8cef-061f740ed46b"}
/// ```
///
/// Turning it into a response (axum's [`IntoResponse`]) writes one `api.handled_exception`
/// line with the same fields (level `warning` for a 4xx, `error` for a 5xx); inside a
/// [`RequestLogLayer`](super::RequestLogLayer) it carries `request_id` and `user_id`. A cause set
/// with [`with_source`](Self::with_source) is logged as `exception` and never sent to the client.
///
/// ```
/// use audit_runtime::http::ApiError;
/// use axum::Json;
///
/// async fn create(Json(body): Json<serde_json::Value>) -> Result<Json<serde_json::Value>, ApiError> {
///     // A bad JSON body is a 400 with `invalid_params`, through `?` on axum's rejection.
///     let Some(naam) = body.get("naam").and_then(|n| n.as_str()) else {
///         return Err(ApiError::new(400, "invalid", "Invalid input.")
///             .with_invalid_param("naam", "required", "This field is required."));
///     };
///     Ok(Json(serde_json::json!({ "naam": naam })))
/// }
/// ```
pub struct ApiError {
    // Boxed: a `Result<T, ApiError>` stays one pointer wide on the error side.
    inner: Box<Inner>,
}

struct Inner {
    status: StatusCode,
    code: Cow<'static, str>,
    title: Cow<'static, str>,
    data: Option<serde_json::Value>,
    invalid_params: Vec<InvalidParam>,
    exception_id: Uuid,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl ApiError {
    /// An error with `status`, `code` and `title`, e.g.
    /// `ApiError::new(401, "not_authenticated", "Authentication credentials were not provided.")`.
    ///
    /// # Panics
    ///
    /// When `status` is not an error status (400 to 599): that is a mistake in the calling code,
    /// and inside a [`RequestLogLayer`](super::RequestLogLayer) it becomes a 500 with the message.
    #[track_caller]
    pub fn new(status: u16, code: impl Into<Cow<'static, str>>, title: impl Into<Cow<'static, str>>) -> Self {
        let status = match StatusCode::from_u16(status) {
            Ok(status) if status.is_client_error() || status.is_server_error() => status,
            _ => panic!("ApiError::new: {status} is not an error status; use 400 to 599"),
        };
        ApiError {
            inner: Box::new(Inner {
                status,
                code: code.into(),
                title: title.into(),
                data: None,
                invalid_params: Vec::new(),
                exception_id: Uuid::new_v4(),
                source: None,
            }),
        }
    }

    /// 401 `not_authenticated`, "Authentication credentials were not provided.", with
    /// `data: {"detail": ...}`.
    pub fn not_authenticated() -> Self {
        const TITLE: &str = "Authentication credentials were not provided.";
        ApiError::new(401, "not_authenticated", TITLE).with_data(serde_json::json!({ "detail": TITLE }))
    }

    /// 403 `permission_denied` with one `invalid_params` entry named `""`.
    pub fn permission_denied(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        ApiError::new(403, "permission_denied", reason.clone()).with_invalid_param("", "permission_denied", reason)
    }

    /// 404 `not_found`, "Not found.".
    pub fn not_found() -> Self {
        ApiError::new(404, "not_found", "Not found.")
    }

    /// 500 `error`, "A server error occurred.", with `source` logged as `exception` (the
    /// client sees only the title and the `exception_id`). For `.map_err(ApiError::internal)?`.
    pub fn internal(source: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        ApiError::new(500, "error", "A server error occurred.").with_source(source)
    }

    /// Sets `data`: details of the error (e.g. `{"detail": "..."}`), in the body and the line.
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.inner.data = Some(data);
        self
    }

    /// Adds an entry to `invalid_params`.
    pub fn with_invalid_param(
        mut self,
        name: impl Into<String>,
        code: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        self.inner.invalid_params.push(InvalidParam { name: name.into(), code: code.into(), reason: reason.into() });
        self
    }

    /// Sets the cause: logged as `exception` (message and `source()` chain), never sent.
    pub fn with_source(mut self, source: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.inner.status
    }

    /// The machine-readable code.
    pub fn code(&self) -> &str {
        &self.inner.code
    }

    /// The human-readable title.
    pub fn title(&self) -> &str {
        &self.inner.title
    }

    /// `data`, when set.
    pub fn data(&self) -> Option<&serde_json::Value> {
        self.inner.data.as_ref()
    }

    /// `invalid_params` (empty when there are none).
    pub fn invalid_params(&self) -> &[InvalidParam] {
        &self.inner.invalid_params
    }

    /// The id in the body and the log line, to find one from the other.
    pub fn exception_id(&self) -> Uuid {
        self.inner.exception_id
    }

    /// The body as JSON text.
    pub fn body_json(&self) -> String {
        serde_json::to_string(&self.body()).unwrap_or_default()
    }

    fn body(&self) -> Body<'_> {
        Body {
            title: &self.inner.title,
            code: &self.inner.code,
            status: self.inner.status.as_u16(),
            data: self.inner.data.as_ref(),
            invalid_params: (!self.inner.invalid_params.is_empty()).then_some(&self.inner.invalid_params[..]),
            exception_id: self.inner.exception_id,
        }
    }

    /// Writes the `api.handled_exception` line: at `warning` for a client error (4xx), at
    /// `error` for a server error (5xx).
    pub fn log(&self) {
        let mut id = Uuid::encode_buffer();
        let exception_id = &*self.inner.exception_id.hyphenated().encode_lower(&mut id);
        let error = self.inner.source.as_deref().map(|source| source as &(dyn Error + 'static));
        let (title, code, status) = (&*self.inner.title, &*self.inner.code, self.inner.status.as_u16());
        let data = self.inner.data.as_ref();
        let invalid_params = (!self.inner.invalid_params.is_empty()).then_some(&self.inner.invalid_params[..]);
        if self.inner.status.is_client_error() {
            HandledException::ClientError { title, code, status, data, invalid_params, exception_id, error }.emit();
        } else {
            HandledException::ServerError { title, code, status, data, invalid_params, exception_id, error }.emit();
        }
    }
}

/// A traced handler's `err` line shares the id and the level (`warning` for a 4xx).
impl crate::event::spans::__private::AnsweredError for ApiError {
    fn answered_status(&self) -> u16 {
        self.inner.status.as_u16()
    }

    fn answered_exception_id(&self) -> String {
        self.inner.exception_id.to_string()
    }
}

/// The error body, in its key order.
#[derive(Serialize)]
struct Body<'a> {
    title: &'a str,
    code: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invalid_params: Option<&'a [InvalidParam]>,
    exception_id: Uuid,
}

/// A JSON error response with `status` and `body`.
pub(crate) fn problem_response(status: StatusCode, body: String) -> http::Response<String> {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        problem_response(self.inner.status, self.body_json()).into_response()
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.inner.status.as_u16())
            .field("code", &self.inner.code)
            .field("title", &self.inner.title)
            .field("data", &self.inner.data)
            .field("invalid_params", &self.inner.invalid_params)
            .field("exception_id", &self.inner.exception_id)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.inner.status.as_u16(), self.inner.code, self.inner.title)
    }
}

impl Error for ApiError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.inner.source.as_deref().map(|source| source as &(dyn Error + 'static))
    }
}

/// A bad JSON body (axum's `Json` extractor):
///
/// | rejection | status | `code` | `invalid_params` |
/// |---|---|---|---|
/// | wrong type, missing field | 400 | `invalid` | the field's path, `invalid` or `required`, serde's reason |
/// | not JSON | 400 | `parse_error` | name `""`, `parse_error`, serde's reason |
/// | no `Content-Type: application/json` | 415 | `unsupported_media_type` | none |
/// | body unreadable or too large | axum's status (413 when too large) | `invalid_body` | none |
///
/// The rejection itself is kept as the source (logged as `exception`).
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let reason = serde_reason(&rejection);
        match &rejection {
            JsonRejection::JsonDataError(_) => {
                let (name, code, reason) = match reason {
                    Some((path, reason)) => match missing_field(&reason) {
                        Some(field) => (join_path(&path, field), "required", reason),
                        None => (path, "invalid", reason),
                    },
                    None => (String::new(), "invalid", rejection.body_text()),
                };
                ApiError::new(400, "invalid", "Invalid input.").with_invalid_param(name, code, reason)
            }
            JsonRejection::JsonSyntaxError(_) => {
                let reason = reason.map_or_else(|| rejection.body_text(), |(_, reason)| reason);
                ApiError::new(400, "parse_error", "Malformed request.").with_invalid_param("", "parse_error", reason)
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                415,
                "unsupported_media_type",
                "Expected a request with `Content-Type: application/json`.",
            ),
            _ => {
                let status = rejection.status().as_u16();
                let status = if (400..600).contains(&status) { status } else { 400 };
                ApiError::new(status, "invalid_body", rejection.body_text())
            }
        }
        .with_source(rejection)
    }
}

/// The path and message of the serde error behind a JSON rejection, without serde's
/// `at line 1 column 9` (the path says where).
fn serde_reason(rejection: &JsonRejection) -> Option<(String, String)> {
    let mut cause = rejection.source();
    while let Some(error) = cause {
        if let Some(error) = error.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            let path = error.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let message = error.inner().to_string();
            let message = match message.rfind(" at line ") {
                Some(at) => message[..at].to_owned(),
                None => message,
            };
            return Some((path, message));
        }
        cause = error.source();
    }
    None
}

/// `name` from serde's "missing field `name`".
fn missing_field(reason: &str) -> Option<&str> {
    reason.strip_prefix("missing field `")?.strip_suffix('`')
}

fn join_path(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}

/// A path parameter that does not parse: 400 `invalid` with the parameter in
/// `invalid_params`; a route that cannot be extracted this way (a programming error) is a 500.
impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        let error = match &rejection {
            PathRejection::FailedToDeserializePathParams(failed) => {
                let (name, reason) = match failed.kind() {
                    ErrorKind::ParseErrorAtKey { key, expected_type, .. } => {
                        (key.clone(), format!("expected {expected_type}"))
                    }
                    ErrorKind::ParseErrorAtIndex { index, expected_type, .. } => {
                        (index.to_string(), format!("expected {expected_type}"))
                    }
                    ErrorKind::ParseError { expected_type, .. } => (String::new(), format!("expected {expected_type}")),
                    ErrorKind::InvalidUtf8InPathParam { key } => (key.clone(), "not valid UTF-8".to_owned()),
                    ErrorKind::DeserializeError { key, message, .. } => (key.clone(), message.clone()),
                    _ => return ApiError::internal(rejection),
                };
                ApiError::new(400, "invalid", "Invalid URL.").with_invalid_param(name, "invalid", reason)
            }
            _ => return ApiError::internal(rejection),
        };
        error.with_source(rejection)
    }
}

/// The token of an `Authorization: Bearer <token>` header, as an axum extractor.
///
/// Missing header: [`ApiError::not_authenticated`] (401); another scheme or a malformed value:
/// 401 `authentication_failed`. Its `Debug` never shows the token, so it cannot leak into a log.
///
/// ```
/// use audit_runtime::http::{ApiError, BearerToken, RequestContext};
///
/// async fn me(ctx: RequestContext, BearerToken(token): BearerToken) -> Result<String, ApiError> {
///     let user = if token == "s3cr3t" { "alice" } else { return Err(ApiError::permission_denied("Unknown token.")) };
///     ctx.bind_user_id(user);
///     Ok(user.to_owned())
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(pub String);

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

impl<S: Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::not_authenticated());
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty() && !token.contains(' '));
        match token {
            Some(token) => Ok(BearerToken(token.to_owned())),
            None => Err(ApiError::new(
                401,
                "authentication_failed",
                "Invalid Authorization header: expected `Bearer <token>`.",
            )),
        }
    }
}
