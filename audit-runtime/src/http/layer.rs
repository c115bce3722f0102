//! [`RequestLogLayer`]: the tower layer that gives every request an id, a span and its log lines.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, USER_AGENT};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use uuid::Uuid;

use super::error::problem_response;
use super::events::{RequestFailed, RequestFinished, RequestStarted, UncaughtException};
use super::panic::{self, CaughtPanic};
use super::{ApiError, RequestContext};
use crate::logging::JsonValue;

/// The header that carries the request id, in both directions.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest `X-Request-ID` value taken, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// A tower layer (for axum's `Router::layer`) that, for every request:
///
/// - takes its id from `X-Request-ID` when that is a sane value (1 to 128 bytes of printable
///   ASCII, `0x20..=0x7E`), otherwise makes a UUID v4 (a hostile or broken value is never
///   logged or echoed), and echoes the id in the response's `X-Request-ID`;
/// - serves it inside a `request` span with `request_id` and `user_id` (`null` until bound
///   with [`RequestContext::bind_user_id`] or [`bind_user_id`](super::bind_user_id)), so every
///   log line, span and audit entry made while serving it carries them;
/// - writes `request_started` (method, path without the query string, user agent), then
///   `request_finished` (status, `duration_ms`), or `request_failed` instead for a 5xx status
///   or an error of the inner service;
/// - turns a panic in the handler into a 500 with the standard body and an
///   `api.uncaught_exception` line with `message` and `exception` (the message, where it
///   happened and the backtrace); the server keeps serving.
///
/// ```
/// use audit_runtime::http::RequestLogLayer;
/// use axum::{Router, routing::get};
///
/// let app: Router = Router::new().route("/", get(|| async { "hello" })).layer(RequestLogLayer::new());
/// ```
///
/// The `request` span is at level `ERROR` so that it exists whenever any line is written: a
/// span filtered out by `LOG_LEVEL` would take the request id away from the `error` lines
/// that need it most. Its level decides only whether it exists; the layer's own lines have
/// their levels (`info` and `error`).
///
/// **Process-wide effect:** the first `RequestLogLayer::new()` adds a panic hook (once), which
/// keeps the place and backtrace of a panic inside a request and then calls the hook that was
/// installed before: the default hook still prints `thread '...' panicked at ...` on stderr.
/// A hook set later that does not call the previous one leaves the backtrace out of
/// `exception`. A panic while the response body streams (after the handler returned) is not
/// caught here.
#[derive(Clone, Debug, Default)]
pub struct RequestLogLayer {
    _private: (),
}

impl RequestLogLayer {
    /// The layer with its defaults (see the type's documentation).
    pub fn new() -> Self {
        panic::install_hook();
        RequestLogLayer { _private: () }
    }
}

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> RequestLog<S> {
        // `Default` does not go through `new`: make sure the hook is there either way.
        panic::install_hook();
        RequestLog { inner }
    }
}

/// The service of [`RequestLogLayer`], around the inner service `S`.
#[derive(Clone, Debug)]
pub struct RequestLog<S> {
    inner: S,
}

/// Whether an `X-Request-ID` value is taken as it is.
pub fn is_sane_request_id(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= MAX_REQUEST_ID_LEN && value.iter().all(|&b| (0x20..=0x7E).contains(&b))
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestLog<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<RequestLogBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let header = match request.headers().get(REQUEST_ID_HEADER) {
            Some(value) if is_sane_request_id(value.as_bytes()) => value.clone(),
            _ => {
                let mut uuid = Uuid::encode_buffer();
                let id: &str = Uuid::new_v4().hyphenated().encode_lower(&mut uuid);
                // A hyphenated UUID is always a valid header value.
                HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static(""))
            }
        };
        // Sane values and UUIDs are printable ASCII, which `to_str` accepts.
        let request_id = header.to_str().unwrap_or_default();
        // A SERVER span, continuing the caller's trace when a `traceparent` header names it.
        let (traceparent, tracestate) = super::propagation::remote_parent(request.headers());
        let span = tracing::error_span!(
            "request",
            request_id,
            user_id = tracing::field::debug(JsonValue(&())),
            otel.kind = "server",
            otel.traceparent = traceparent.as_deref(),
            otel.tracestate = tracestate.as_deref(),
        );
        request.extensions_mut().insert(RequestContext::new(request_id, span.clone()));

        let entered = span.enter();
        let user_agent = request.headers().get(USER_AGENT).map(|agent| String::from_utf8_lossy(agent.as_bytes()));
        RequestStarted {
            method: request.method().as_str(),
            path: request.uri().path(),
            user_agent: user_agent.as_deref(),
        }
        .emit();
        let kind = match panic::catch(|| self.inner.call(request)) {
            Ok(future) => Kind::Running { future },
            Err(caught) => Kind::Panicked { caught: Some(caught) },
        };
        drop(entered);
        ResponseFuture { kind, span, start, request_id: header }
    }
}

pin_project! {
    /// The future of [`RequestLog`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
        span: tracing::Span,
        start: Instant,
        request_id: HeaderValue,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Running { #[pin] future: F },
        Panicked { caught: Option<CaughtPanic> },
        Done,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display,
    B: Body<Data = Bytes>,
{
    type Output = Result<Response<RequestLogBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        let outcome = match this.kind.as_mut().project() {
            KindProj::Running { future } => match panic::catch(|| future.poll(cx)) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(result)) => Ok(result),
                Err(caught) => Err(caught),
            },
            KindProj::Panicked { caught } => Err(caught.take().expect("a panicked request is answered once")),
            KindProj::Done => panic!("RequestLog's ResponseFuture polled after it completed"),
        };
        // Drop the inner future now, inside the span (a future that panicked is never polled again).
        if panic::catch(|| this.kind.set(Kind::Done)).is_err() {
            // Its drop panicked too; the answer below stands.
        }
        let duration_ms = duration_ms(*this.start);
        let mut response = match outcome {
            Ok(Ok(response)) => response.map(|body| RequestLogBody { kind: BodyKind::Inner { body } }),
            Ok(Err(error)) => {
                log_service_error(&error, duration_ms);
                return Poll::Ready(Err(error));
            }
            Err(caught) => panic_response(caught),
        };
        response.headers_mut().insert(REQUEST_ID_HEADER, this.request_id.clone());
        let status = response.status();
        if status.is_server_error() {
            RequestFailed { status: Some(status.as_u16()), duration_ms, error: None }.emit();
        } else {
            RequestFinished { status: status.as_u16(), duration_ms }.emit();
        }
        Poll::Ready(Ok(response))
    }
}

/// Milliseconds since `start`, to the microsecond.
fn duration_ms(start: Instant) -> f64 {
    start.elapsed().as_micros() as f64 / 1000.0
}

/// `request_failed` for an error of the inner service (no response, so `status` is `null`).
fn log_service_error(error: &impl fmt::Display, duration_ms: f64) {
    /// The error's text, as an `Error` so that the line writes it as `exception`.
    #[derive(Debug)]
    struct ServiceError(String);
    impl fmt::Display for ServiceError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl Error for ServiceError {}

    let error = ServiceError(error.to_string());
    RequestFailed { status: None, duration_ms, error: Some(&error) }.emit();
}

/// The 500 answer to a panic, and its `api.uncaught_exception` line.
fn panic_response<B>(caught: CaughtPanic) -> Response<RequestLogBody<B>> {
    let error = ApiError::new(500, "error", "A server error occurred.");
    let mut id = Uuid::encode_buffer();
    let exception_id = &*error.exception_id().hyphenated().encode_lower(&mut id);
    UncaughtException { message: &caught.message, exception_id, panic: &caught.exception }.emit();
    problem_response(StatusCode::INTERNAL_SERVER_ERROR, error.body_json())
        .map(|body| RequestLogBody { kind: BodyKind::Full { data: Some(Bytes::from(body)) } })
}

pin_project! {
    /// The response body of [`RequestLog`]: the inner service's body, or the layer's own error
    /// body after a panic. No boxing: a response costs no allocation here.
    pub struct RequestLogBody<B> {
        #[pin]
        kind: BodyKind<B>,
    }
}

pin_project! {
    #[project = BodyKindProj]
    enum BodyKind<B> {
        Inner { #[pin] body: B },
        Full { data: Option<Bytes> },
    }
}

impl<B: Body<Data = Bytes>> Body for RequestLogBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            BodyKindProj::Inner { body } => body.poll_frame(cx),
            BodyKindProj::Full { data } => Poll::Ready(data.take().map(|data| Ok(Frame::data(data)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Inner { body } => body.is_end_stream(),
            BodyKind::Full { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Inner { body } => body.size_hint(),
            BodyKind::Full { data } => SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64)),
        }
    }
}

impl<B> fmt::Debug for RequestLogBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestLogBody")
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").field("request_id", &self.request_id).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::prelude::*;

    use super::*;
    use crate::logging::JsonLayer;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    impl Lines {
        fn json(&self) -> Vec<serde_json::Value> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        }
    }

    /// A body with no bytes, so the tests need no body crate.
    struct Empty;

    impl Body for Empty {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(None)
        }
    }

    type Outcome = Result<Response<RequestLogBody<Empty>>, String>;

    fn run<S>(service: S) -> (Outcome, Vec<serde_json::Value>)
    where
        S: Service<Request<()>, Response = Response<Empty>, Error = String>,
    {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new(lines.clone()));
        let result = tracing::subscriber::with_default(subscriber, || {
            let mut service = RequestLogLayer::new().layer(service);
            block_on(service.call(Request::builder().uri("/x?secret=1").body(()).unwrap()))
        });
        (result, lines.json())
    }

    #[test]
    fn an_error_of_the_inner_service_is_request_failed_with_the_error() {
        let service =
            tower::service_fn(|_: Request<()>| async { Err::<Response<Empty>, _>("backend gone".to_owned()) });
        let (result, lines) = run(service);
        assert_eq!(result.unwrap_err(), "backend gone");
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert_eq!(lines[0]["event"], "request_started");
        assert_eq!(lines[0]["path"], "/x");
        assert_eq!(lines[1]["event"], "request_failed");
        assert_eq!(lines[1]["level"], "error");
        assert_eq!(lines[1]["status"], serde_json::Value::Null);
        assert_eq!(lines[1]["exception"], "backend gone");
        assert_eq!(lines[1]["request_id"], lines[0]["request_id"]);
    }

    #[test]
    fn a_panic_in_call_itself_is_a_500() {
        struct PanicsInCall;
        impl Service<Request<()>> for PanicsInCall {
            type Response = Response<Empty>;
            type Error = String;
            type Future = std::future::Ready<Result<Response<Empty>, String>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), String>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, _: Request<()>) -> Self::Future {
                panic!("no future for you")
            }
        }
        let (result, lines) = run(PanicsInCall);
        let response = result.unwrap();
        assert_eq!(response.status(), 500);
        assert!(response.headers().contains_key(REQUEST_ID_HEADER));
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let events: Vec<&str> = lines.iter().map(|line| line["event"].as_str().unwrap()).collect();
        assert_eq!(events, ["request_started", "api.uncaught_exception", "request_failed"]);
        assert_eq!(lines[1]["message"], "no future for you");
    }
}
