//! `/api/v1/jobs`: state and progress of long operations.

use actix_web::{HttpResponse, get, web};

use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(get_one).service(scheduler);
}

/// Status of the scheduled tasks.
#[get("/api/v1/scheduler")]
async fn scheduler(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "tasks": state.scheduler.status() }))
}

#[get("/api/v1/jobs")]
async fn list(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "jobs": state.jobs.list() }))
}

#[get("/api/v1/jobs/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job = state.jobs.get(&id).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no job `{id}` (finished jobs are kept for a while only)"
        ))
    })?;
    Ok(HttpResponse::Ok().json(job.view()))
}
