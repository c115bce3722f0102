//! The routes: each reads the store, then answers the page or its JSON form (`json.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::request::Parts;
use maud::Markup;
use serde::Serialize;
use time::OffsetDateTime;

use super::auth::{Access, CsrfKey, cross_site};
use super::json::{self, EntriesPage, EntryView, VerifyPage, VersionView, VersionsPage, ViewsPage};
use super::links::{Links, nest_path};
use super::params::Params;
use super::revert::Revert;
use super::{chart, diff, pages};
use crate::http::{ApiError, RequestContext};
use crate::store::{AuditStore, Auditor, EntryQuery, Version};

pub(super) type Check = Arc<dyn Fn(&Parts) -> Access + Send + Sync>;

/// What every route shares.
pub(super) struct ExplorerState {
    pub(super) store: AuditStore,
    pub(super) auditor: Option<Auditor>,
    pub(super) authorize: Option<Check>,
    pub(super) reverts: HashMap<String, Arc<dyn Revert>>,
    pub(super) csrf: CsrfKey,
}

type Shared = State<Arc<ExplorerState>>;

pub(super) fn router(state: ExplorerState) -> Router {
    Router::new()
        .route("/", get(search))
        .route("/verify", get(verify))
        .route("/views/{object_type}", get(type_views))
        .route("/objects/{object_type}/{object_id}", get(history))
        .route("/objects/{object_type}/{object_id}/versions", get(versions))
        .route("/objects/{object_type}/{object_id}/diff", get(diff_page))
        .route("/objects/{object_type}/{object_id}/views", get(object_views))
        .route("/objects/{object_type}/{object_id}/revert/{version}", get(revert_confirm).post(revert_post))
        .with_state(Arc::new(state))
}

/// One request to the explorer: who asks with what access, whether it wants JSON, and how to
/// link back into the explorer.
pub(super) struct Req {
    pub(super) links: Links,
    pub(super) json: bool,
    pub(super) access: Access,
    pub(super) user: Option<Arc<str>>,
}

impl Req {
    /// Answers an error as the request wants it: the JSON problem body, or a page.
    pub(super) fn fail(&self, error: ApiError) -> Response {
        if self.json {
            return error.into_response();
        }
        error.log();
        let status = error.status();
        (status, axum::response::Html(pages::error(self, &error).into_string())).into_response()
    }

    /// What a route found, as the request wants it: its data as JSON or the page `render` makes
    /// of it, or the error.
    fn answer<T: Serialize>(&self, result: Result<T, ApiError>, render: impl FnOnce(&T) -> Markup) -> Response {
        match result {
            Ok(data) if self.json => axum::Json(data).into_response(),
            Ok(data) => axum::response::Html(render(&data).into_string()).into_response(),
            Err(error) => self.fail(error),
        }
    }
}

impl FromRequestParts<Arc<ExplorerState>> for Req {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<ExplorerState>) -> Result<Self, Response> {
        let json = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("application/json"));
        let access = match &state.authorize {
            Some(check) => check(parts),
            // No check of its own: what an outer layer granted, else reading.
            None => parts.extensions.get::<Access>().copied().unwrap_or(Access::Read),
        };
        let user = RequestContext::from_extensions(&parts.extensions).and_then(RequestContext::user_id);
        let request = Req { links: Links::new(nest_path(parts)), json, access, user };
        if access == Access::Denied {
            return Err(request.fail(ApiError::permission_denied("You may not look at the audit trail.")));
        }
        Ok(request)
    }
}

const SEARCH_PARAMS: [&str; 9] =
    ["object_type", "object_id", "actor", "action", "request_id", "since", "until", "before", "limit"];
const SEARCH_FILTERS: [&str; 8] =
    ["object_type", "object_id", "actor", "action", "request_id", "since", "until", "limit"];

async fn search(State(state): Shared, req: Req, RawQuery(query): RawQuery) -> Response {
    let params = match Params::parse(query.as_deref(), &SEARCH_PARAMS) {
        Ok(params) => params,
        Err(error) => return req.fail(error),
    };
    let result = async {
        let limit = params.limit()?;
        entries_page(&state.store, params.entry_query()?, limit, |before| {
            let filters = params.filters_query(&SEARCH_FILTERS);
            req.links.search(&join_query(&filters, before))
        })
        .await
    }
    .await;
    req.answer(result, |page| pages::search(&req, &params, page))
}

async fn history(
    State(state): Shared,
    req: Req,
    Path((object_type, object_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let params = Params::parse(query.as_deref(), &["before", "limit"])?;
        let limit = params.limit()?;
        let mut store_query = EntryQuery::new().object(&object_type, &object_id);
        if let Some(before) = params.before()? {
            store_query = store_query.before(before);
        }
        let limit_query = if limit == super::params::DEFAULT_LIMIT { String::new() } else { format!("limit={limit}") };
        entries_page(&state.store, store_query, limit, |before| {
            req.links.object(&object_type, &object_id, &format!("?{}", join_query(&limit_query, before)))
        })
        .await
    }
    .await;
    req.answer(result, |page| pages::history(&req, &object_type, &object_id, page))
}

fn join_query(filters: &str, before: i64) -> String {
    if filters.is_empty() { format!("before={before}") } else { format!("{filters}&before={before}") }
}

/// One keyset page: `limit` entries of `query`, and the link to the next page when there are
/// more (one more entry is read to know).
async fn entries_page(
    store: &AuditStore,
    query: EntryQuery,
    limit: u32,
    next_link: impl FnOnce(i64) -> String,
) -> Result<EntriesPage, ApiError> {
    let mut entries = store.entries(&query.limit(limit + 1)).await?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let next_before = entries.last().filter(|_| more).map(|last| last.seq);
    Ok(EntriesPage {
        next: next_before.map(next_link),
        next_before,
        entries: entries.into_iter().map(EntryView::from).collect(),
    })
}

async fn versions(State(state): Shared, req: Req, Path((object_type, object_id)): Path<(String, String)>) -> Response {
    let result = state.store.version_snapshots(&object_type, &object_id).await.map(|versions| VersionsPage {
        revertible: req.access == Access::Write && state.reverts.contains_key(&object_type),
        versions: versions.into_iter().map(VersionView::from).collect(),
        object_type,
        object_id,
    });
    req.answer(result.map_err(ApiError::from), |page| pages::versions(&req, page))
}

/// A version of the object by id, or a 404 naming the parameter and the versions it has.
fn find_version<'v>(
    versions: &'v [Version<serde_json::Value>],
    param: &str,
    id: i64,
    object: (&str, &str),
) -> Result<&'v Version<serde_json::Value>, ApiError> {
    versions.iter().find(|v| v.id == id).ok_or_else(|| {
        let known: Vec<String> = versions.iter().map(|v| v.id.to_string()).collect();
        let reason = format!(
            "{id} is not a version of {} {}; its versions are: {}",
            object.0,
            object.1,
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        );
        ApiError::new(404, "not_found", "No such version.").with_invalid_param(param, "not_found", reason)
    })
}

async fn diff_page(
    State(state): Shared,
    req: Req,
    Path((object_type, object_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let params = Params::parse(query.as_deref(), &["from", "to"])?;
        let versions = state.store.version_snapshots(&object_type, &object_id).await?;
        let object = (object_type.as_str(), object_id.as_str());
        // Newest first: by default the newest version against the one before it.
        let to = match params.number("to", "a version id (a whole number)")? {
            Some(id) => find_version(&versions, "to", id, object)?,
            None => versions.first().ok_or_else(|| {
                ApiError::new(404, "not_found", format!("{object_type} {object_id} has no versions."))
            })?,
        };
        let from = match params.number("from", "a version id (a whole number)")? {
            Some(id) => find_version(&versions, "from", id, object)?,
            None => versions.iter().find(|v| v.id < to.id).unwrap_or(to),
        };
        Ok::<_, ApiError>(json::DiffPage {
            object_type: object_type.clone(),
            object_id: object_id.clone(),
            fields: diff::fields(&from.object, &to.object),
            from: VersionView::meta(from),
            to: VersionView::meta(to),
        })
    }
    .await;
    req.answer(result, |page| pages::diff(&req, page))
}

async fn object_views(
    State(state): Shared,
    req: Req,
    Path((object_type, object_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    views_page(&state.store, req, object_type, Some(object_id), query).await
}

async fn type_views(
    State(state): Shared,
    req: Req,
    Path(object_type): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    views_page(&state.store, req, object_type, None, query).await
}

async fn views_page(
    store: &AuditStore,
    req: Req,
    object_type: String,
    object_id: Option<String>,
    query: Option<String>,
) -> Response {
    let result = async {
        let params = Params::parse(query.as_deref(), &["days"])?;
        let days = params.number_in("days", 1..=366, 30, "a number of days from 1 to 366")?;
        let today = OffsetDateTime::now_utc().date();
        let first = today - time::Duration::days(days - 1);
        let counted = store.views_per_day(&object_type, object_id.as_deref(), first).await?;
        let days = chart::every_day(first, today, &counted);
        Ok(ViewsPage { total: days.iter().map(|d| d.views).sum(), days, object_type, object_id })
    }
    .await;
    req.answer(result, |page| pages::views(&req, page))
}

async fn verify(State(state): Shared, req: Req) -> Response {
    let result = state.store.verify().await.map(VerifyPage::from).map_err(ApiError::from);
    req.answer(result, |page| pages::verify(&req, page))
}

/// What a revert needs: write access, a user to record it by, and a revertible type.
fn revert_target<'s>(
    state: &'s ExplorerState,
    req: &Req,
    object_type: &str,
) -> Result<(&'s dyn Revert, &'s Auditor, Arc<str>), ApiError> {
    if req.access != Access::Write {
        return Err(ApiError::permission_denied("You may look at the audit trail, not revert objects."));
    }
    let Some(user) = req.user.clone() else {
        return Err(ApiError::not_authenticated());
    };
    let (Some(revert), Some(auditor)) = (state.reverts.get(object_type), &state.auditor) else {
        return Err(ApiError::new(
            404,
            "not_revertible",
            format!("Objects of type {object_type:?} cannot be reverted here."),
        )
        .with_invalid_param(
            "object_type",
            "not_revertible",
            "the application did not register this type for revert",
        ));
    };
    Ok((revert.as_ref(), auditor, user))
}

/// The version of a revert's path: a clear 400 when it is not a number.
fn version_param(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(400, "invalid", "Invalid URL.").with_invalid_param(
            "version",
            "invalid",
            format!("{text:?} is not a version id (a whole number)"),
        )
    })
}

async fn revert_confirm(
    State(state): Shared,
    req: Req,
    Path((object_type, object_id, version)): Path<(String, String, String)>,
) -> Response {
    let result = async {
        let version = version_param(&version)?;
        let (revert, _, user) = revert_target(&state, &req, &object_type)?;
        let versions = state.store.version_snapshots(&object_type, &object_id).await?;
        let target = find_version(&versions, "version", version, (&object_type, &object_id))?;
        let current = revert.current(&object_id).await?;
        Ok::<_, ApiError>(json::RevertPage {
            token: state.csrf.token(&user, (&object_type, &object_id), version),
            fields: diff::fields(&current, &target.object),
            version: VersionView::meta(target),
            object_type: object_type.clone(),
            object_id: object_id.clone(),
        })
    }
    .await;
    req.answer(result, |page| pages::revert(&req, page))
}

#[derive(serde::Deserialize)]
struct RevertForm {
    token: String,
}

async fn revert_post(
    State(state): Shared,
    req: Req,
    Path((object_type, object_id, version)): Path<(String, String, String)>,
    headers: http::HeaderMap,
    form: Result<axum::Form<RevertForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let version = match version_param(&version) {
        Ok(version) => version,
        Err(error) => return req.fail(error),
    };
    let result = async {
        if let Some(reason) = cross_site(&headers) {
            return Err(ApiError::new(403, "csrf_failed", "Refused: not sent from the explorer's own page.")
                .with_invalid_param("", "csrf_failed", reason));
        }
        let (revert, auditor, user) = revert_target(&state, &req, &object_type)?;
        let token_error = || {
            ApiError::new(403, "csrf_failed", "Refused: the form's token is missing, expired or not yours.")
                .with_invalid_param("token", "csrf_failed", "open the revert page again and confirm from there")
        };
        let axum::Form(form) = form.map_err(|_| token_error())?;
        if !state.csrf.verify(&form.token, &user, (&object_type, &object_id), version) {
            return Err(token_error());
        }
        let actor = crate::Actor::user(&*user);
        revert.revert(&state.store, auditor, actor, &object_id, version).await
    }
    .await;
    match result {
        Ok(revision_id) if req.json => axum::Json(serde_json::json!({
            "object_type": object_type, "object_id": object_id, "reverted_to": version, "revision_id": revision_id,
        }))
        .into_response(),
        Ok(_) => Redirect::to(&req.links.object(&object_type, &object_id, "")).into_response(),
        Err(error) => req.fail(error),
    }
}
