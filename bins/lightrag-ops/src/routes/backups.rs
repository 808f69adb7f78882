//! `/api/v1/backups` and `/api/v1/graphs/{id}/backups`: create (a job), list, get, delete,
//! verify (a job), stats, retention run (a job).

use actix_web::{HttpResponse, delete, get, post, web};
use lightrag_backup::{FileEntry, LightRagSummary, RepoStats};
use lightrag_backup::{PruneOptions, ReadData, VerifyOptions};
use lightrag_recovery_db::{BackupFilter, BackupRecord, BackupStatus, BackupTrigger, Order};
use lightrag_service::GraphId;
use serde::{Deserialize, Serialize};

use super::graphs::PageQuery;
use super::json;
use crate::error::{ApiError, blocking};
use crate::jobs::{WaitQuery, run_job};
use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(stats)
        .service(verify)
        .service(retention_run)
        .service(get_one)
        .service(delete_one);
}

/// Starts a backup of one graph (202 + job; `?wait=true` answers when done).
#[utoipa::path(
    post,
    path = "/api/v1/graphs/{id}/backups",
    tag = "backups",
    params(("id" = String, Path, description = "graph id", pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"), ("wait" = Option<bool>, Query, description = "Answer when the job has finished (200) instead of 202 at once")),
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
#[post("/api/v1/graphs/{id}/backups")]
pub(crate) async fn create(
    state: web::Data<AppState>,
    id: web::Path<GraphId>,
    q: web::Query<WaitQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let svc = state.service.clone();
    let gid = id.clone();
    run_job(&state, "backup", Some(&id), q.wait, move |job| {
        let summary = svc.backup(&gid, BackupTrigger::Manual, &[], job)?;
        json(&summary)
    })
    .await
}

/// Filters of `GET /api/v1/backups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    graph_id: Option<String>,
    status: Option<BackupStatus>,
    trigger: Option<BackupTrigger>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/backups",
    tag = "backups",
    responses(
        (status = 200, description = "Catalog rows, newest first", body = BackupList),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/backups")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = PageQuery {
        limit: q.limit,
        offset: q.offset,
    }
    .page();
    let filter = BackupFilter {
        graph_id: q.graph_id,
        status: q.status,
        trigger: q.trigger,
        order: Order::NewestFirst,
        ..BackupFilter::default()
    };
    let backups = state
        .db()
        .run(move |c| lightrag_recovery_db::list_backups(c, &filter, page))
        .await?;
    Ok(HttpResponse::Ok().json(BackupList { backups }))
}

/// Body of `GET /api/v1/backups`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BackupList {
    /// Catalog rows, newest first.
    backups: Vec<BackupRecord>,
}

/// Body of `GET /api/v1/backups/{snapshot_id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BackupDetails {
    /// The catalog row.
    backup: BackupRecord,
    /// The manifest's files.
    files: Vec<FileEntry>,
    /// What the snapshot holds, per LightRAG store.
    summary: LightRagSummary,
}

/// Body of `GET /api/v1/backups/stats`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RepoStatsReport {
    /// Counts and sizes, per graph too.
    stats: RepoStats,
    /// Logical bytes per stored byte (0 when nothing is stored).
    dedup_ratio: f64,
}

/// A catalog row plus the manifest's file list.
#[utoipa::path(
    get,
    path = "/api/v1/backups/{snapshot_id}",
    tag = "backups",
    params(("snapshot_id" = String, Path, description = "snapshot id (or unique prefix)")),
    responses(
        (status = 200, description = "The catalog row, files and summary", body = BackupDetails),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/backups/{snapshot_id}")]
pub(crate) async fn get_one(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let sid = id.clone();
    let record = state
        .db()
        .run(move |c| lightrag_recovery_db::get_backup(c, &sid))
        .await?;
    let svc = state.service.clone();
    let manifest = blocking(move || svc.snapshot(&id, None)).await?;
    Ok(HttpResponse::Ok().json(BackupDetails {
        backup: record,
        files: manifest.files,
        summary: manifest.summary,
    }))
}

/// Deletes a snapshot (refused with 409 while a recovery point pins it).
#[utoipa::path(
    delete,
    path = "/api/v1/backups/{snapshot_id}",
    tag = "backups",
    params(("snapshot_id" = String, Path, description = "full snapshot id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[delete("/api/v1/backups/{snapshot_id}")]
pub(crate) async fn delete_one(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let id = id.into_inner();
    blocking(move || svc.delete_snapshot(&id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Body of `POST /api/v1/backups/verify`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct VerifyBody {
    /// Snapshot ids (empty = all).
    snapshots: Vec<String>,
    /// `none` (structure only), `all`, or `{"percent": N}`.
    read_data: ReadData,
}

#[utoipa::path(
    post,
    path = "/api/v1/backups/verify",
    tag = "backups",
    params(("wait" = Option<bool>, Query, description = "Answer when the job has finished (200) instead of 202 at once")),
    request_body = Option<VerifyBody>,
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
#[post("/api/v1/backups/verify")]
pub(crate) async fn verify(
    state: web::Data<AppState>,
    q: web::Query<WaitQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: VerifyBody = super::optional_json(&body)?;
    let svc = state.service.clone();
    run_job(&state, "verify", None, q.wait, move |job| {
        let opts = VerifyOptions {
            snapshots: body.snapshots,
            read_data: body.read_data,
            read_data_budget: None,
        };
        let report = svc.verify(&opts, job)?;
        json(&report)
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/backups/stats",
    tag = "backups",
    responses(
        (status = 200, description = "Repository statistics", body = RepoStatsReport),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/backups/stats")]
pub(crate) async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let stats = blocking(move || svc.stats()).await?;
    let dedup_ratio = stats.dedup_ratio();
    Ok(HttpResponse::Ok().json(RepoStatsReport { stats, dedup_ratio }))
}

/// Body of `POST /api/v1/backups/retention/run`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RetentionBody {
    /// Report only.
    dry_run: bool,
    /// Prune unreferenced data afterwards (default true).
    prune: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/api/v1/backups/retention/run",
    tag = "backups",
    params(("wait" = Option<bool>, Query, description = "Answer when the job has finished (200) instead of 202 at once")),
    request_body = Option<RetentionBody>,
    responses(
        (status = 200, description = "With ?wait=true: the finished job; `result` holds the operation's report", body = lightrag_service::JobView),
        (status = 202, description = "Job started; poll the Location (/api/v1/jobs/{id})", body = lightrag_service::JobView),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = crate::error::ErrorBody),
        (status = 413, description = "Body over 256 KiB (a plain-text answer from actix-web, not ErrorBody)", body = String, content_type = "text/plain"),
        (status = 429, description = "Four jobs are already running", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[post("/api/v1/backups/retention/run")]
pub(crate) async fn retention_run(
    state: web::Data<AppState>,
    q: web::Query<WaitQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: RetentionBody = super::optional_json(&body)?;
    let svc = state.service.clone();
    run_job(&state, "retention", None, q.wait, move |job| {
        let prune = body.prune.unwrap_or(true).then(|| PruneOptions {
            dry_run: body.dry_run,
            ..PruneOptions::default()
        });
        let report = svc.retention(None, &svc.retention_policy(), body.dry_run, prune, job)?;
        json(&report)
    })
    .await
}
