//! `/api/v1/jobs`: state and progress of long operations.

use actix_web::{HttpResponse, get, web};

use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(get_one)
        .service(scheduler)
        .service(workers);
}

/// Status of the scheduled tasks.
#[utoipa::path(get, path = "/api/v1/scheduler", tag = "jobs", responses((status = 200, description = "OK"), (status = 400, description = "Bad request"), (status = 401, description = "API key missing"), (status = 403, description = "API key wrong"), (status = 404, description = "Not found"), (status = 409, description = "Conflict")))]
#[get("/api/v1/scheduler")]
pub(crate) async fn scheduler(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "tasks": state.workers().status() }))
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", responses((status = 200, description = "OK"), (status = 400, description = "Bad request"), (status = 401, description = "API key missing"), (status = 403, description = "API key wrong"), (status = 404, description = "Not found"), (status = 409, description = "Conflict")))]
#[get("/api/v1/jobs")]
pub(crate) async fn list(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "jobs": state.jobs().list() }))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path, description = "id")), responses((status = 200, description = "OK"), (status = 400, description = "Bad request"), (status = 401, description = "API key missing"), (status = 403, description = "API key wrong"), (status = 404, description = "Not found"), (status = 409, description = "Conflict")))]
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
#[utoipa::path(get, path = "/api/v1/workers", tag = "jobs", responses((status = 200, description = "OK"), (status = 401, description = "API key missing"), (status = 403, description = "API key wrong")))]
#[get("/api/v1/workers")]
pub(crate) async fn workers(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "workers": state.workers().status() }))
}
