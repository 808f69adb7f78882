//! `/api/v1/recovery`: recovery points (create, list, get, delete, validate, restore/failover),
//! RPO/RTO status; `/api/v1/restore`: one snapshot in place or into a new graph.

use actix_web::{HttpResponse, delete, get, post, web};
use lightrag_recovery::{CreatePointRequest, GraphObjectives, RestorePointOptions};
use lightrag_recovery_db::RecoveryPointDetails;
use lightrag_service::RestoreRequest;
use serde::{Deserialize, Serialize};

use super::graphs::PageQuery;
use super::json;
use crate::error::{ApiError, blocking};
use crate::jobs::{WaitQuery, run_job};
use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(create_point)
        .service(list_points)
        .service(status)
        .service(get_point)
        .service(delete_point)
        .service(validate_point)
        .service(restore_point)
        .service(restore_snapshot);
}

/// Creates a recovery point pinning each graph's latest snapshot (201), or with
/// `fresh_backup` taking new backups first (a job: 202, or `?wait=true`).
#[utoipa::path(
    post,
    path = "/api/v1/recovery/points",
    tag = "recovery",
    params(("wait" = Option<bool>, Query, description = "Answer when the job has finished (200) instead of 202 at once")),
    request_body = lightrag_recovery::CreatePointRequest,
    responses(
        (status = 201, description = "Created (without fresh_backup)", body = lightrag_recovery_db::RecoveryPointDetails),
        (status = 200, description = "With ?wait=true: the finished job; `result` holds the operation's report", body = lightrag_service::JobView),
        (status = 202, description = "Job started; poll the Location (/api/v1/jobs/{id})", body = lightrag_service::JobView),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = crate::error::ErrorBody),
        (status = 429, description = "Four jobs are already running", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[post("/api/v1/recovery/points")]
pub(crate) async fn create_point(
    state: web::Data<AppState>,
    q: web::Query<WaitQuery>,
    body: web::Json<super::JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let req: CreatePointRequest = super::from_object(body.into_inner())?;
    let svc = state.service.clone();
    if req.fresh_backup {
        return run_job(&state, "recovery_point", None, q.wait, move |_| {
            json(&svc.create_point(&req)?)
        })
        .await;
    }
    let point = blocking(move || svc.create_point(&req)).await?;
    Ok(HttpResponse::Created().json(point))
}

#[utoipa::path(
    get,
    path = "/api/v1/recovery/points",
    tag = "recovery",
    responses(
        (status = 200, description = "Recovery points", body = RecoveryPointList),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/recovery/points")]
pub(crate) async fn list_points(
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.page();
    let svc = state.service.clone();
    let points = blocking(move || svc.list_points(page)).await?;
    Ok(HttpResponse::Ok().json(RecoveryPointList {
        recovery_points: points,
    }))
}

/// Body of `GET /api/v1/recovery/points`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RecoveryPointList {
    /// Recovery points with their pinned snapshots.
    recovery_points: Vec<RecoveryPointDetails>,
}

/// Body of `GET /api/v1/recovery/status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RecoveryStatus {
    /// RPO and last RTO per graph.
    graphs: Vec<GraphObjectives>,
}

#[utoipa::path(
    get,
    path = "/api/v1/recovery/points/{id}",
    tag = "recovery",
    params(("id" = String, Path, description = "recovery point id")),
    responses(
        (status = 200, description = "The point", body = lightrag_recovery_db::RecoveryPointDetails),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/recovery/points/{id}")]
pub(crate) async fn get_point(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let id = id.into_inner();
    let p = blocking(move || svc.get_point(&id)).await?;
    Ok(HttpResponse::Ok().json(p))
}

/// Deletes the point (never its snapshots).
#[utoipa::path(
    delete,
    path = "/api/v1/recovery/points/{id}",
    tag = "recovery",
    params(("id" = String, Path, description = "recovery point id")),
    responses(
        (status = 200, description = "Deleted", body = lightrag_recovery::DeletedPoint),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[delete("/api/v1/recovery/points/{id}")]
pub(crate) async fn delete_point(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let id = id.into_inner();
    let d = blocking(move || svc.delete_point(&id)).await?;
    Ok(HttpResponse::Ok().json(d))
}

/// Proves the point restores: chunks, restore drill, parsing, counts (a job).
#[utoipa::path(
    post,
    path = "/api/v1/recovery/points/{id}/validate",
    tag = "recovery",
    params(("id" = String, Path, description = "recovery point id"), ("wait" = Option<bool>, Query, description = "Answer when the job has finished (200) instead of 202 at once")),
    responses(
        (status = 200, description = "With ?wait=true: the finished job; `result` holds the operation's report", body = lightrag_service::JobView),
        (status = 202, description = "Job started; poll the Location (/api/v1/jobs/{id})", body = lightrag_service::JobView),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = crate::error::ErrorBody),
        (status = 429, description = "Four jobs are already running", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[post("/api/v1/recovery/points/{id}/validate")]
pub(crate) async fn validate_point(
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<WaitQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let id = id.into_inner();
    run_job(&state, "validate", None, q.wait, move |_| {
        json(&svc.validate_point(&id)?)
    })
    .await
}

/// Restores every graph of the point, in place (atomic per graph, rolled back together) or
/// under new ids (a job).
#[utoipa::path(
    post,
    path = "/api/v1/recovery/points/{id}/restore",
    tag = "recovery",
    params(("id" = String, Path, description = "recovery point id"), ("wait" = Option<bool>, Query, description = "Answer when the job has finished (200) instead of 202 at once")),
    request_body = Option<lightrag_recovery::RestorePointOptions>,
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
#[post("/api/v1/recovery/points/{id}/restore")]
pub(crate) async fn restore_point(
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<WaitQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let opts: RestorePointOptions = super::optional_json(&body)?;
    let svc = state.service.clone();
    let id = id.into_inner();
    run_job(&state, "restore", None, q.wait, move |_| {
        json(&svc.restore_point(&id, &opts)?)
    })
    .await
}

/// RPO (age of the newest restorable snapshot, local and replicated) and last RTO per graph.
#[utoipa::path(
    get,
    path = "/api/v1/recovery/status",
    tag = "recovery",
    responses(
        (status = 200, description = "RPO/RTO per graph", body = RecoveryStatus),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/recovery/status")]
pub(crate) async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let objectives = blocking(move || svc.objectives()).await?;
    Ok(HttpResponse::Ok().json(RecoveryStatus { graphs: objectives }))
}

/// Body of `POST /api/v1/restore`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestoreBody {
    /// Snapshot id (or unique prefix).
    snapshot_id: String,
    /// Replace the snapshot's graph where it is (safety snapshot first).
    #[serde(default)]
    in_place: bool,
    /// Otherwise: the new graph id, created under `LIGHTRAG_WORKING_DIR`.
    target_graph_id: Option<lightrag_service::GraphId>,
    /// Only these files (relative paths).
    #[serde(default)]
    files: Vec<String>,
    /// Restore in place even if the graph looks live.
    #[serde(default)]
    force: bool,
}

#[utoipa::path(
    post,
    path = "/api/v1/restore",
    tag = "recovery",
    params(("wait" = Option<bool>, Query, description = "Answer when the job has finished (200) instead of 202 at once")),
    request_body = RestoreBody,
    responses(
        (status = 200, description = "With ?wait=true: the finished job; `result` holds the operation's report", body = lightrag_service::JobView),
        (status = 202, description = "Job started; poll the Location (/api/v1/jobs/{id})", body = lightrag_service::JobView),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = crate::error::ErrorBody),
        (status = 429, description = "Four jobs are already running", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[post("/api/v1/restore")]
pub(crate) async fn restore_snapshot(
    state: web::Data<AppState>,
    q: web::Query<WaitQuery>,
    body: web::Json<super::JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let body: RestoreBody = super::from_object(body.into_inner())?;
    let req = RestoreRequest {
        snapshot_id: body.snapshot_id,
        in_place: body.in_place,
        target_graph_id: body.target_graph_id,
        files: body.files,
        force: body.force,
        from_target: None,
    };
    // A bad request is refused before a job starts.
    req.check()?;
    let svc = state.service.clone();
    run_job(&state, "restore", None, q.wait, move |job| {
        json(&svc.restore_snapshot(&req, job)?)
    })
    .await
}
