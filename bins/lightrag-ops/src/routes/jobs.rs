//! `/api/v1/jobs`: state and progress of long operations.

use actix_web::{HttpResponse, get, web};
use lightrag_service::{JobView, WorkerStatus};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(get_one)
        .service(scheduler)
        .service(workers);
}

/// Status of the scheduled tasks.
#[utoipa::path(
    get,
    path = "/api/v1/scheduler",
    tag = "jobs",
    responses(
        (status = 200, description = "Every worker (kept for existing clients)", body = SchedulerTasks),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/scheduler")]
pub(crate) async fn scheduler(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(SchedulerTasks {
        tasks: state.workers().status(),
    })
}

/// Body of `GET /api/v1/scheduler`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SchedulerTasks {
    /// Every worker (the same list as `/api/v1/workers`).
    tasks: Vec<WorkerStatus>,
}

/// Body of `GET /api/v1/workers`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct WorkerList {
    /// Every background worker.
    workers: Vec<WorkerStatus>,
}

/// Body of `GET /api/v1/jobs`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct JobList {
    /// Running and recently finished jobs.
    jobs: Vec<JobView>,
}

#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    tag = "jobs",
    responses(
        (status = 200, description = "Running and recently finished jobs", body = JobList),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/jobs")]
pub(crate) async fn list(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(JobList {
        jobs: state.jobs().list(),
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "job id")),
    responses(
        (status = 200, description = "The job", body = lightrag_service::JobView),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/jobs/{id}")]
pub(crate) async fn get_one(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job = state.jobs().get(&id).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no job `{id}` (finished jobs are kept for a while only)"
        ))
    })?;
    Ok(HttpResponse::Ok().json(job.view()))
}

/// Every background worker: the scheduler's tasks, the database probe, metrics upkeep, the
/// event log and the API's jobs.
#[utoipa::path(
    get,
    path = "/api/v1/workers",
    tag = "jobs",
    responses(
        (status = 200, description = "Every background worker", body = WorkerList),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/workers")]
pub(crate) async fn workers(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(WorkerList {
        workers: state.workers().status(),
    })
}
