//! `/api/v1/replication`: targets (CRUD, health), sync now, per-graph status; and the peer
//! receive protocol of `docs/replication.md` (`/api/v1/replication/receive/...`).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use lightrag_recovery_db::{ReplicationState, ReplicationStateFilter, ReplicationTarget};
use lightrag_replication::{
    Accepted, CONTENT_HASH_HEADER, HaveRequest, HaveResponse, ListedObject, RECEIVE_PATH, Receiver,
    TargetSpec,
};
use lightrag_service::TargetUpdate;
use serde::{Deserialize, Serialize};

use super::json;
use crate::error::{ApiError, blocking};
use crate::jobs::{WaitQuery, run_job};
use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(list_targets)
        .service(create_target)
        .service(get_target)
        .service(update_target)
        .service(delete_target)
        .service(target_health)
        .service(sync_now)
        .service(status)
        .service(
            web::scope(RECEIVE_PATH)
                .app_data(web::PayloadConfig::new(RECEIVE_MAX_BYTES))
                .route("/status", web::get().to(receive_status))
                .route("/have", web::post().to(receive_have))
                .route("/objects", web::get().to(receive_list))
                .route("/objects/{key:.*}", web::get().to(receive_get))
                .route("/objects/{key:.*}", web::put().to(receive_put))
                .route("/objects/{key:.*}", web::delete().to(receive_delete)),
        );
}

/// Largest object a peer may send (packs are 8 MiB by default).
const RECEIVE_MAX_BYTES: usize = lightrag_service::settings::RECEIVE_MAX_BYTES as usize;

/// Every target (secrets never included).
#[utoipa::path(
    get,
    path = "/api/v1/replication/targets",
    tag = "replication",
    responses(
        (status = 200, description = "Targets", body = TargetList),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/replication/targets")]
pub(crate) async fn list_targets(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let targets = blocking(move || svc.list_targets(None)).await?;
    Ok(HttpResponse::Ok().json(TargetList { targets }))
}

/// Body of `GET /api/v1/replication/targets`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TargetList {
    /// Every target (secrets never included).
    targets: Vec<ReplicationTarget>,
}

/// Body of `GET /api/v1/replication/status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReplicationStates {
    /// Per (graph, target).
    states: Vec<ReplicationState>,
}

/// Body of `POST /api/v1/replication/targets`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTarget {
    /// Unique name.
    name: String,
    /// `{"kind": "path", "path"}`, `{"kind": "object_store", "url", "credentials"?}` or
    /// `{"kind": "peer", "url", "api_key"}`.
    spec: TargetSpec,
    /// Default true.
    enabled: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/api/v1/replication/targets",
    tag = "replication",
    request_body = NewTarget,
    responses(
        (status = 201, description = "Created", body = lightrag_recovery_db::ReplicationTarget),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[post("/api/v1/replication/targets")]
pub(crate) async fn create_target(
    state: web::Data<AppState>,
    body: web::Json<super::JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let body: NewTarget = super::from_object(body.into_inner())?;
    let svc = state.service.clone();
    let t = blocking(move || {
        svc.create_target(&body.name, &body.spec, body.enabled.unwrap_or(true), true)
    })
    .await?;
    Ok(HttpResponse::Created().json(t))
}

#[utoipa::path(
    get,
    path = "/api/v1/replication/targets/{id}",
    tag = "replication",
    params(("id" = String, Path, description = "target id or name")),
    responses(
        (status = 200, description = "The target", body = lightrag_recovery_db::ReplicationTarget),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/replication/targets/{id}")]
pub(crate) async fn get_target(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let id = id.into_inner();
    let t = blocking(move || svc.get_target(&id)).await?;
    Ok(HttpResponse::Ok().json(t))
}

/// Body of `PATCH /api/v1/replication/targets/{id}`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TargetPatch {
    name: Option<String>,
    location: Option<String>,
    api_key: Option<String>,
    enabled: Option<bool>,
}

#[utoipa::path(
    patch,
    path = "/api/v1/replication/targets/{id}",
    tag = "replication",
    params(("id" = String, Path, description = "target id or name")),
    request_body = TargetPatch,
    responses(
        (status = 200, description = "Updated", body = lightrag_recovery_db::ReplicationTarget),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[patch("/api/v1/replication/targets/{id}")]
pub(crate) async fn update_target(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<super::JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let p: TargetPatch = super::from_object(body.into_inner())?;
    let svc = state.service.clone();
    let id = id.into_inner();
    let update = TargetUpdate {
        name: p.name,
        location: p.location,
        api_key: p.api_key,
        enabled: p.enabled,
    };
    let t = blocking(move || svc.update_target(&id, update, true)).await?;
    Ok(HttpResponse::Ok().json(t))
}

/// Deletes the target and its sync state (never the data it holds).
#[utoipa::path(
    delete,
    path = "/api/v1/replication/targets/{id}",
    tag = "replication",
    params(("id" = String, Path, description = "target id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[delete("/api/v1/replication/targets/{id}")]
pub(crate) async fn delete_target(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let id = id.into_inner();
    blocking(move || svc.delete_target(&id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Checks the target now: reachable, key accepted, free space, last sync results.
#[utoipa::path(
    get,
    path = "/api/v1/replication/targets/{id}/health",
    tag = "replication",
    params(("id" = String, Path, description = "target id or name")),
    responses(
        (status = 200, description = "Checked now", body = lightrag_replication::TargetHealth),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/replication/targets/{id}/health")]
pub(crate) async fn target_health(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let id = id.into_inner();
    let h = blocking(move || svc.target_health(&id)).await?;
    Ok(HttpResponse::Ok().json(h))
}

/// Body of `POST /api/v1/replication/sync`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SyncBody {
    /// One graph (default: every graph with snapshots).
    graph_id: Option<lightrag_service::GraphId>,
    /// One target, by id or name (default: every enabled target).
    target: Option<String>,
}

/// Syncs now (ignoring back-off), as a job.
#[utoipa::path(
    post,
    path = "/api/v1/replication/sync",
    tag = "replication",
    params(("wait" = Option<bool>, Query, description = "Answer when the job has finished (200) instead of 202 at once")),
    request_body = Option<SyncBody>,
    responses(
        (status = 200, description = "With ?wait=true: the finished job; `result` holds the operation's report", body = lightrag_service::JobView),
        (status = 202, description = "Job started; poll the Location (/api/v1/jobs/{id})", body = lightrag_service::JobView),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = crate::error::ErrorBody),
        (status = 413, description = "Body over 256 KiB (a plain-text answer from actix-web, not ErrorBody)", body = String, content_type = "text/plain"),
        (status = 429, description = "Four jobs are already running", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[post("/api/v1/replication/sync")]
pub(crate) async fn sync_now(
    state: web::Data<AppState>,
    q: web::Query<WaitQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: SyncBody = super::optional_json(&body)?;
    let svc = state.service.clone();
    let graph = b.graph_id.clone();
    run_job(&state, "replication", graph.as_deref(), q.wait, move |_| {
        json(&svc.replicate(b.graph_id.as_ref(), b.target.as_deref(), true)?)
    })
    .await
}

/// Per (graph, target): last synced snapshot, lag, bytes, failures.
#[utoipa::path(
    get,
    path = "/api/v1/replication/status",
    tag = "replication",
    responses(
        (status = 200, description = "Per (graph, target)", body = ReplicationStates),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/replication/status")]
pub(crate) async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let states =
        blocking(move || svc.replication_states(&ReplicationStateFilter::default())).await?;
    Ok(HttpResponse::Ok().json(ReplicationStates { states }))
}

// ----- Peer receive protocol -------------------------------------------------------------

/// The receiver, or 403 when this server cannot receive (neither a receive key nor an API key
/// configured: the receive routes would be open to anyone).
fn receiver(state: &AppState) -> Result<Arc<Receiver>, ApiError> {
    state.receiver().cloned().ok_or_else(|| {
        ApiError::Forbidden(
            "this server does not receive replicas: set LIGHTRAG_REPLICATION_RECEIVE_KEY (peers must authenticate; give that key to the sending server)"
                .to_owned(),
        )
    })
}

async fn receive_status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let r = receiver(&state)?;
    let s = blocking(move || r.status()).await?;
    Ok(HttpResponse::Ok().json(s))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    prefix: String,
}

async fn receive_list(
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let r = receiver(&state)?;
    let prefix = q.into_inner().prefix;
    let objs = blocking(move || r.list(&prefix)).await?;
    Ok(HttpResponse::Ok().json(
        objs.into_iter()
            .map(|o| ListedObject {
                key: o.key,
                size: o.size,
            })
            .collect::<Vec<_>>(),
    ))
}

async fn receive_have(
    state: web::Data<AppState>,
    body: web::Json<super::JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let r = receiver(&state)?;
    let keys = super::from_object::<HaveRequest>(body.into_inner())?.keys;
    if keys.len() > 10_000 {
        return Err(ApiError::BadRequest(
            "at most 10000 keys per request".to_owned(),
        ));
    }
    let present = blocking(move || r.have(&keys)).await?;
    Ok(HttpResponse::Ok().json(HaveResponse { present }))
}

/// `Range: bytes=a-b` as (offset, length); lengths beyond what a peer may store are refused.
fn parse_range(req: &HttpRequest) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(v) = req.headers().get("Range") else {
        return Ok(None);
    };
    let bad =
        || ApiError::BadRequest("invalid Range header; expected bytes=<first>-<last>".to_owned());
    let v = v.to_str().map_err(|_| bad())?;
    let (a, b) = v
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    let len = b
        .checked_sub(a)
        .and_then(|d| d.checked_add(1))
        .ok_or_else(bad)?;
    if len > RECEIVE_MAX_BYTES as u64 {
        return Err(ApiError::TooLarge(format!(
            "range of {len} bytes is larger than an object may be ({RECEIVE_MAX_BYTES})"
        )));
    }
    Ok(Some((a, len)))
}

async fn receive_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let r = receiver(&state)?;
    let range = parse_range(&req)?;
    let key = key.into_inner();
    let data = blocking(move || r.read(&key, range)).await?;
    let code = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(code).body(data))
}

async fn receive_put(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let r = receiver(&state)?;
    let hash = req
        .headers()
        .get(CONTENT_HASH_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let key = key.into_inner();
    match blocking(move || r.accept(&key, body.to_vec(), hash.as_deref())).await? {
        Accepted::Stored => Ok(HttpResponse::Created().finish()),
        Accepted::AlreadyPresent => Ok(HttpResponse::Ok().finish()),
    }
}

async fn receive_delete(
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let r = receiver(&state)?;
    let key = key.into_inner();
    blocking(move || r.delete(&key)).await?;
    Ok(HttpResponse::NoContent().finish())
}
