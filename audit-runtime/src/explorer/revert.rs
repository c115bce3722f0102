//! Revert for the types an application registers: the explorer knows only JSON snapshots, so
//! the application lends it a [`Repository`] to load the current object and save the reverted one.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::audit::{Actor, Audited};
use crate::http::{ApiError, Audit};
use crate::store::{AuditStore, Auditor};

/// Where the application keeps objects of type `T`: what a revert in the explorer needs.
///
/// ```
/// use audit_runtime::explorer::{Explorer, Repository};
/// use audit_runtime::http::ApiError;
/// use std::{collections::HashMap, sync::{Arc, Mutex}};
///
/// #[derive(audit_runtime::Audited, Clone, serde::Serialize, serde::Deserialize)]
/// struct Ward { id: u64, name: String }
///
/// #[derive(Clone, Default)]
/// struct Wards(Arc<Mutex<HashMap<String, Ward>>>);
///
/// impl Repository<Ward> for Wards {
///     async fn load(&self, id: &str) -> Result<Option<Ward>, ApiError> {
///         Ok(self.0.lock().unwrap().get(id).cloned())
///     }
///     async fn save(&self, ward: &Ward) -> Result<(), ApiError> {
///         self.0.lock().unwrap().insert(ward.id.to_string(), ward.clone());
///         Ok(())
///     }
/// }
///
/// # fn demo(store: audit_runtime::store::AuditStore, auditor: audit_runtime::store::Auditor) {
/// let explorer = Explorer::new(store).auditor(auditor).revertible::<Ward, _>(Wards::default());
/// # }
/// ```
pub trait Repository<T>: Send + Sync + 'static {
    /// The current object with this id, `None` when there is none.
    fn load(&self, object_id: &str) -> impl Future<Output = Result<Option<T>, ApiError>> + Send;
    /// Saves the reverted object (the explorer records the change after this returns `Ok`).
    fn save(&self, object: &T) -> impl Future<Output = Result<(), ApiError>> + Send;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A repository with its type erased: what the routes call.
pub(super) trait Revert: Send + Sync {
    /// The current object's snapshot (what a version would store of it).
    fn current<'a>(&'a self, object_id: &'a str) -> BoxFuture<'a, Result<serde_json::Value, ApiError>>;

    /// Reverts the object to `version_id`, saves it and records the change and a revision by
    /// `actor`; returns the revision's id.
    fn revert<'a>(
        &'a self,
        store: &'a AuditStore,
        auditor: &'a Auditor,
        actor: Actor,
        object_id: &'a str,
        version_id: i64,
    ) -> BoxFuture<'a, Result<Option<i64>, ApiError>>;
}

struct Typed<T, R> {
    repository: R,
    _type: PhantomData<fn() -> T>,
}

pub(super) fn erase<T, R>(repository: R) -> Arc<dyn Revert>
where
    T: Audited + Serialize + DeserializeOwned + Send + Sync + 'static,
    R: Repository<T>,
{
    Arc::new(Typed::<T, R> { repository, _type: PhantomData })
}

impl<T, R> Typed<T, R>
where
    T: Audited + Serialize + DeserializeOwned + Send + Sync + 'static,
    R: Repository<T>,
{
    async fn load(&self, object_id: &str) -> Result<T, ApiError> {
        self.repository.load(object_id).await?.ok_or_else(|| {
            ApiError::new(404, "not_found", format!("{} {object_id} does not exist (any more)", T::object_type()))
        })
    }
}

impl<T, R> Revert for Typed<T, R>
where
    T: Audited + Serialize + DeserializeOwned + Send + Sync + 'static,
    R: Repository<T>,
{
    fn current<'a>(&'a self, object_id: &'a str) -> BoxFuture<'a, Result<serde_json::Value, ApiError>> {
        Box::pin(async move { Ok(self.load(object_id).await?.snapshot()) })
    }

    fn revert<'a>(
        &'a self,
        store: &'a AuditStore,
        auditor: &'a Auditor,
        actor: Actor,
        object_id: &'a str,
        version_id: i64,
    ) -> BoxFuture<'a, Result<Option<i64>, ApiError>> {
        Box::pin(async move {
            let current = self.load(object_id).await?;
            let reverted = store.revert(&current, version_id).await?;
            self.repository.save(&reverted).await?;
            let audit = Audit::new(auditor.clone(), actor);
            Ok(audit.changed(&current, &reverted, &format!("Reverted to version {version_id}")).await?)
        })
    }
}
