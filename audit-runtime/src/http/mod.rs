//! Requests and API errors: a tower layer for axum services, and the standard error body.
//!
//! *Available with the crate feature `http`.*
//!
//! - [`RequestLogLayer`]: a request id (from `X-Request-ID` when sane, else a UUID) echoed in
//!   the response; a `request` span binding `request_id` and `user_id` for every line and audit
//!   entry inside; `request_started`, `request_finished`, `request_failed`; a panic in a
//!   handler answered with a 500 and logged as `api.uncaught_exception`, one JSON line (Rust's
//!   panic message on stderr only when [`print_panics_to_stderr`] asks for it).
//! - The `request` span is an OpenTelemetry SERVER span that continues the caller's trace from
//!   a W3C `traceparent` header; [`inject_trace_context`] passes the trace on to outgoing
//!   requests.
//! - [`RequestContext`] and [`bind_user_id`]: the request's id and span, and binding the user
//!   once an authentication step knows it.
//! - [`Audit`] (with a store): the request's actor and the `Auditor` from the router's state,
//!   so that a create, a change with its revision, a delete or a view is one call; store
//!   errors convert into `ApiError` (an unknown version is a 404).
//! - [`ApiError`]: `status`, `code`, `title`, `data` or `invalid_params`, and an
//!   `exception_id`; answered as a JSON problem body and logged as `api.handled_exception`
//!   (`warning` for a 4xx, `error` for a 5xx).
//!   Axum's JSON and path rejections convert into it, and [`BearerToken`] rejects with it, so
//!   handlers use `?`.
//!
//! ```
//! use audit_runtime::http::{ApiError, RequestContext, RequestLogLayer};
//! use axum::{Json, Router, routing::post};
//! use axum::extract::rejection::JsonRejection;
//!
//! async fn create(ctx: RequestContext, body: Result<Json<serde_json::Value>, JsonRejection>)
//!     -> Result<Json<serde_json::Value>, ApiError>
//! {
//!     let Json(body) = body?; // a bad body: 400 with `invalid_params`
//!     ctx.bind_user_id("alice");
//!     tracing::info!("object_created"); // carries request_id and "user_id":"alice"
//!     Ok(Json(body))
//! }
//!
//! let app: Router = Router::new().route("/objects", post(create)).layer(RequestLogLayer::new());
//! ```
//!
//! Background work outside requests binds its context with
//! [`context::task_scope`](crate::context::task_scope).

#[cfg(feature = "store")]
mod audited;
mod error;
pub mod events;
mod layer;
mod panic;
mod propagation;
mod request;

#[cfg(feature = "store")]
pub use audited::{Audit, AuditViews};
pub use error::{ApiError, BearerToken, HANDLED_EXCEPTION_EVENT, InvalidParam, PROBLEM_JSON, UNCAUGHT_EXCEPTION_EVENT};
pub use layer::{
    MAX_REQUEST_ID_LEN, REQUEST_ID_HEADER, RequestLog, RequestLogBody, RequestLogLayer, ResponseFuture,
    is_sane_request_id,
};
pub use panic::print_panics_to_stderr;
pub use propagation::inject_trace_context;
pub use request::{HasExtensions, RequestContext, bind_user_id};
