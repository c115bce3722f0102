//! [`RequestContext`]: what the layer binds for one request, reachable from handlers and
//! middleware through the request's extensions.

use std::fmt;
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use http::Extensions;
use http::request::Parts;

use super::ApiError;
use crate::context::USER_ID;

/// The request being served: its id and its `request` span. The
/// [`RequestLogLayer`](super::RequestLogLayer) puts one into every request's extensions.
///
/// Take it in a handler (it is an axum extractor), or get it from the extensions in a
/// middleware, to bind the user once known, or to hand the span to spawned work:
///
/// ```
/// use audit_runtime::http::RequestContext;
/// use tracing::Instrument as _;
///
/// async fn handler(ctx: RequestContext) -> &'static str {
///     ctx.bind_user_id(42); // every later line (and audit entry) has "user_id":"42"
///     tokio::spawn(async { tracing::info!("background_work") }.instrument(ctx.span().clone()));
///     "ok"
/// }
/// ```
#[derive(Clone)]
pub struct RequestContext {
    inner: Arc<Inner>,
}

struct Inner {
    request_id: Box<str>,
    span: tracing::Span,
    user_id: Mutex<Option<Arc<str>>>,
}

impl RequestContext {
    pub(crate) fn new(request_id: &str, span: tracing::Span) -> Self {
        RequestContext { inner: Arc::new(Inner { request_id: request_id.into(), span, user_id: Mutex::new(None) }) }
    }

    /// The context the layer put into `extensions`, if the request went through it.
    pub fn from_extensions(extensions: &Extensions) -> Option<&RequestContext> {
        extensions.get::<RequestContext>()
    }

    /// The request id (taken from `X-Request-ID` or made by the layer).
    pub fn request_id(&self) -> &str {
        &self.inner.request_id
    }

    /// The request's span: instrument spawned work with a clone of it so that its lines carry
    /// `request_id` and `user_id` too.
    pub fn span(&self) -> &tracing::Span {
        &self.inner.span
    }

    /// Binds the user id: every line written inside the request from now on (also in work
    /// instrumented with its span) carries `"user_id": "<id>"` instead of `null`, audit entries
    /// see it through [`context::current_user_id`](crate::context::current_user_id), and
    /// [`user_id`](Self::user_id) returns it. Binding again replaces it.
    pub fn bind_user_id(&self, user_id: impl fmt::Display) {
        let user_id: Arc<str> = user_id.to_string().into();
        self.inner.span.record(USER_ID, &*user_id);
        *self.inner.user_id.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(user_id);
    }

    /// The bound user id, if any.
    pub fn user_id(&self) -> Option<Arc<str>> {
        self.inner.user_id.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("request_id", &self.request_id())
            .field("user_id", &self.user_id())
            .finish_non_exhaustive()
    }
}

/// A request, its head, or its extensions: what [`bind_user_id`] takes.
pub trait HasExtensions {
    /// The request's extensions.
    fn extensions(&self) -> &Extensions;
}

impl<B> HasExtensions for http::Request<B> {
    fn extensions(&self) -> &Extensions {
        http::Request::extensions(self)
    }
}

impl HasExtensions for Parts {
    fn extensions(&self) -> &Extensions {
        &self.extensions
    }
}

impl HasExtensions for Extensions {
    fn extensions(&self) -> &Extensions {
        self
    }
}

/// Binds the user id of the request (see [`RequestContext::bind_user_id`]), for an
/// authentication middleware that holds the request. False when the request did not go
/// through a [`RequestLogLayer`](super::RequestLogLayer) (nothing is bound then).
///
/// ```
/// use audit_runtime::http::bind_user_id;
/// use axum::{extract::Request, middleware::Next, response::Response};
///
/// async fn authenticate(request: Request, next: Next) -> Response {
///     if request.headers().get("authorization").is_some_and(|v| v == "Bearer alice-token") {
///         bind_user_id(&request, "alice");
///     }
///     next.run(request).await
/// }
/// ```
pub fn bind_user_id(request: &impl HasExtensions, user_id: impl fmt::Display) -> bool {
    match RequestContext::from_extensions(request.extensions()) {
        Some(context) => {
            context.bind_user_id(user_id);
            true
        }
        None => false,
    }
}

/// Extracting a `RequestContext` fails, with a 500, only when the layer is not installed.
impl<S: Sync> FromRequestParts<S> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match RequestContext::from_extensions(&parts.extensions) {
            Some(context) => Ok(context.clone()),
            None => Err(ApiError::internal(
                "no RequestContext in the request: add `audit_runtime::http::RequestLogLayer::new()` to the router with `.layer(..)`",
            )),
        }
    }
}
