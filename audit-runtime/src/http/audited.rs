//! [`Audit`]: the request's actor and the application's [`Auditor`] in one extractor, so that a
//! handler records a create, a change, a delete or a view in one call.

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;

use super::{ApiError, RequestContext};
use crate::audit::{Action, Actor, Audited};
use crate::store::{Auditor, StoreError};

/// The request's actor (the user bound with [`RequestContext::bind_user_id`]) and the
/// [`Auditor`] taken from the router's state through [`FromRef`]: one call per thing a handler
/// records, each by the request's user and inside its request (the entries carry its id).
///
/// Extracting it needs a [`RequestLogLayer`](super::RequestLogLayer) on the router (500
/// otherwise, a set-up mistake) and a bound user: without one it rejects with
/// [`ApiError::not_authenticated`] (401). A `GET` handler that anonymous readers use too takes
/// [`AuditViews`] to count views.
///
/// ```
/// use audit_runtime::http::{ApiError, Audit, RequestLogLayer};
/// use audit_runtime::store::Auditor;
/// use audit_runtime::Audited;
/// use axum::extract::{FromRef, Path};
/// use axum::{Json, Router, routing::put};
///
/// #[derive(Audited, Clone, serde::Serialize, serde::Deserialize)]
/// struct Ward { id: u64, name: String }
///
/// #[derive(Clone)]
/// struct AppState { auditor: Auditor /* , the application's database ... */ }
///
/// impl FromRef<AppState> for Auditor {
///     fn from_ref(state: &AppState) -> Auditor { state.auditor.clone() }
/// }
///
/// async fn rename(audit: Audit, Path(id): Path<u64>, Json(new): Json<Ward>) -> Result<Json<Ward>, ApiError> {
///     let old = Ward { id, name: "Cardiology".into() }; // loaded from the database
///     // ... saved; then the change, a revision and its comment, by the request's user:
///     audit.changed(&old, &new, "renamed").await?;
///     Ok(Json(new))
/// }
///
/// fn app(state: AppState) -> Router {
///     Router::new().route("/wards/{id}", put(rename)).with_state(state).layer(RequestLogLayer::new())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Audit {
    auditor: Auditor,
    actor: Actor,
}

impl Audit {
    /// An `Audit` for `actor`, outside an extractor (tests, jobs that act for a user).
    pub fn new(auditor: Auditor, actor: Actor) -> Self {
        Audit { auditor, actor }
    }

    /// Who acts: the request's user.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The auditor, for anything the one-call methods do not cover.
    pub fn auditor(&self) -> &Auditor {
        &self.auditor
    }

    /// A created object: a `create` action with `comment` as its message, and a revision
    /// holding its first version, by the request's user with `comment`. Returns the revision's
    /// id (see [`Revision::commit`](crate::store::Revision::commit) for when it is `None`).
    pub async fn created<T: Audited>(&self, object: &T, comment: &str) -> Result<Option<i64>, StoreError> {
        self.auditor.log_action(&self.actor, Action::Create, object, comment);
        self.revision(object, comment).await
    }

    /// A changed object: its changed fields (old → new; redacted ones only as changed), a
    /// revision holding the new version, by the request's user with `comment`. Returns the
    /// revision's id. Nothing changed: no entry, but the revision is still recorded (the
    /// caller asked for one).
    pub async fn changed<T: Audited>(&self, old: &T, new: &T, comment: &str) -> Result<Option<i64>, StoreError> {
        self.auditor.track_change(&self.actor, old, new);
        self.revision(new, comment).await
    }

    /// A deleted object: a `delete` action with `comment` as its message, and a revision
    /// holding its last version, so that it can be looked at (and restored) later.
    pub async fn deleted<T: Audited>(&self, object: &T, comment: &str) -> Result<Option<i64>, StoreError> {
        self.auditor.log_action(&self.actor, Action::Delete, object, comment);
        self.revision(object, comment).await
    }

    /// A view of the object, for the anonymous analytics (object, day, count: no user).
    pub fn viewed<T: Audited>(&self, object: &T) {
        self.auditor.log_view(object);
    }

    async fn revision<T: Audited>(&self, object: &T, comment: &str) -> Result<Option<i64>, StoreError> {
        let mut revision = self.auditor.create_revision();
        revision.set_user(&self.actor);
        revision.set_comment(comment);
        revision.add(object);
        revision.commit().await
    }
}

impl<S> FromRequestParts<S> for Audit
where
    S: Send + Sync,
    Auditor: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let context = RequestContext::from_request_parts(parts, state).await?;
        let user = context.user_id().ok_or_else(ApiError::not_authenticated)?;
        Ok(Audit { auditor: Auditor::from_ref(state), actor: Actor::user(&*user) })
    }
}

/// The [`Auditor`] for counting views in `GET` handlers that anonymous readers use too: views
/// are anonymous, so no user is needed (and none is recorded).
///
/// ```
/// use audit_runtime::http::AuditViews;
/// # #[derive(audit_runtime::Audited, serde::Serialize)] struct Ward { id: u64 }
/// async fn show(views: AuditViews) -> &'static str {
///     let ward = Ward { id: 3 };
///     views.viewed(&ward);
///     "ward 3"
/// }
/// ```
#[derive(Clone, Debug)]
pub struct AuditViews {
    auditor: Auditor,
}

impl AuditViews {
    /// A view of the object, for the anonymous analytics (object, day, count).
    pub fn viewed<T: Audited>(&self, object: &T) {
        self.auditor.log_view(object);
    }
}

impl<S> FromRequestParts<S> for AuditViews
where
    S: Send + Sync,
    Auditor: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(AuditViews { auditor: Auditor::from_ref(state) })
    }
}

/// How a store error answers a request:
///
/// | error | status | `code` |
/// |---|---|---|
/// | `NotFound` (an unknown version or object) | 404 | `not_found` |
/// | `VersionOfAnotherObject` | 400 | `invalid`, with `invalid_params` naming `version` |
/// | `Revert` (a snapshot that no longer fits the type) | 409 | `cannot_revert` |
/// | `Connect`, `Timeout`, `NotDurable`, `WriterStopped`, a pool timeout | 503 | `store_unavailable` |
/// | anything else | 500 | `error` |
///
/// The store's message is the title of the 4xx answers (it names the input); a 5xx keeps it
/// out of the body and logs it as `exception`.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::NotFound { .. } => ApiError::new(404, "not_found", error.to_string()),
            StoreError::VersionOfAnotherObject { .. } => ApiError::new(400, "invalid", "Invalid input.")
                .with_invalid_param("version", "invalid", error.to_string()),
            StoreError::Revert { .. } => ApiError::new(409, "cannot_revert", error.to_string()),
            StoreError::Connect { .. }
            | StoreError::Timeout { .. }
            | StoreError::NotDurable { .. }
            | StoreError::WriterStopped
            | StoreError::Database { source: sqlx::Error::PoolTimedOut | sqlx::Error::Io(_), .. } => {
                ApiError::new(503, "store_unavailable", "The audit store is unavailable; try again later.")
            }
            _ => return ApiError::internal(error),
        }
        .with_source(error)
    }
}
