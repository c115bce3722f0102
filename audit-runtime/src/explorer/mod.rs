//! The audit explorer: the trail as server-rendered pages (and the same data as JSON), for the
//! people who review it.
//!
//! *Available with the crate feature `explorer`.*
//!
//! [`router`] gives an [`axum::Router`] to nest under any path; [`Explorer`] adds an
//! authorization check and revert for the types the application registers:
//!
//! ```
//! use audit_runtime::explorer::{self, Access, Explorer};
//! use audit_runtime::http::RequestLogLayer;
//! use audit_runtime::store::AuditStore;
//! use axum::Router;
//!
//! # async fn demo(store: AuditStore) {
//! // Read-only, for whoever reaches it: put it behind the application's own check.
//! let app: Router = Router::new().nest("/audit", explorer::router(store.clone()));
//!
//! // With a check of its own: admins may read, nobody else.
//! let admin_only = Explorer::new(store)
//!     .authorize(|request| match request.headers.get("x-role").map(|v| v.as_bytes()) {
//!         Some(b"admin") => Access::Read,
//!         _ => Access::Denied,
//!     })
//!     .router();
//! let app: Router = Router::new().nest("/audit", admin_only).layer(RequestLogLayer::new());
//! # }
//! ```
//!
//! Pages (paths relative to where it is nested; every link carries the nest path):
//!
//! | path | what |
//! |---|---|
//! | the nest path itself (`/audit`) | search by object type and id, actor, action, request id and time; keyset pages |
//! | `/objects/{type}/{id}` | the object's history: time, actor, action, request id, message, changes |
//! | `/objects/{type}/{id}/versions` | its versions (user, comment), to compare two or revert to one |
//! | `/objects/{type}/{id}/diff?from=A&to=B` | two versions field by field; long text word by word |
//! | `/objects/{type}/{id}/revert/{version}` | `GET`: the confirmation page; `POST`: the revert |
//! | `/objects/{type}/{id}/views`, `/views/{type}` | views per day, as a chart |
//! | `/verify` | the chain's verification status and head anchor |
//!
//! Each answers JSON instead of HTML to a request with `Accept: application/json`. Every value
//! is HTML-escaped by the templates (maud), and a redacted field is never stored, so never
//! shown: history says only that it changed.

mod auth;
mod chart;
mod diff;
mod json;
mod links;
mod pages;
mod params;
mod revert;
mod routes;

use std::collections::HashMap;
use std::sync::Arc;

use http::request::Parts;

pub use auth::Access;
pub use revert::Repository;

use crate::store::{AuditStore, Auditor};

/// The explorer, read-only, for every request that reaches it: nest it behind the
/// application's own authorization layer. [`Explorer`] has the options.
///
/// ```
/// # async fn demo(store: audit_runtime::store::AuditStore) {
/// let app: axum::Router = axum::Router::new().nest("/audit", audit_runtime::explorer::router(store));
/// # }
/// ```
pub fn router(store: AuditStore) -> axum::Router {
    Explorer::new(store).router()
}

/// The explorer's options: who may read and who may write (revert), and the types it can revert.
pub struct Explorer {
    state: routes::ExplorerState,
}

impl Explorer {
    /// The explorer over `store`: read-only for every request (or what an
    /// [`Access`] extension put in the request by an outer layer says).
    pub fn new(store: AuditStore) -> Self {
        Explorer {
            state: routes::ExplorerState {
                store,
                auditor: None,
                authorize: None,
                reverts: HashMap::new(),
                csrf: auth::CsrfKey::random(),
            },
        }
    }

    /// The authorization check: called with each request's head (after the application's
    /// outer layers, so a user bound by its authentication is in the
    /// [`RequestContext`](crate::http::RequestContext)). [`Access::Denied`] answers 403;
    /// [`Access::Write`] also offers and allows revert.
    pub fn authorize(mut self, check: impl Fn(&Parts) -> Access + Send + Sync + 'static) -> Self {
        self.state.authorize = Some(Arc::new(check));
        self
    }

    /// The auditor that records reverts (a change and a revision by the reverting user).
    /// Needed when any type is [`revertible`](Self::revertible).
    pub fn auditor(mut self, auditor: Auditor) -> Self {
        self.state.auditor = Some(auditor);
        self
    }

    /// Offers revert for objects of type `T`, loaded and saved through `repository` (the
    /// explorer only has JSON snapshots; the application owns the objects).
    pub fn revertible<T, R>(mut self, repository: R) -> Self
    where
        T: crate::Audited + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
        R: Repository<T>,
    {
        self.state.reverts.insert(T::object_type().to_owned(), revert::erase::<T, R>(repository));
        self
    }

    /// The key of the forms' anti-forgery tokens (default: random per process). Give every
    /// replica behind one load balancer the same key, kept secret (32 bytes or more).
    pub fn csrf_key(mut self, key: &[u8]) -> Self {
        self.state.csrf = auth::CsrfKey::new(key);
        self
    }

    /// The router, to nest under any path.
    ///
    /// # Panics
    ///
    /// When a type is revertible but no [`auditor`](Self::auditor) was given: a revert must be
    /// recorded.
    pub fn router(self) -> axum::Router {
        assert!(
            self.state.reverts.is_empty() || self.state.auditor.is_some(),
            "audit explorer: revertible types need an Auditor to record reverts: call `.auditor(auditor)`"
        );
        routes::router(self.state)
    }
}
