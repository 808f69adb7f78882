//! Prometheus exposition on the API port (`/api/v1/health-dashboard/metrics`); the same text is
//! served on the metrics port.

use actix_web::{HttpResponse, get, web};

use crate::error::ApiError;
use crate::state::AppState;

/// Content type of the Prometheus text exposition format.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(dashboard_metrics);
}

#[get("/api/v1/health-dashboard/metrics")]
async fn dashboard_metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    render(&state)
}

/// The exposition, or 404 when metrics are disabled.
pub(crate) fn render(state: &AppState) -> Result<HttpResponse, ApiError> {
    let handle = state.metrics.as_ref().ok_or_else(|| {
        ApiError::NotFound("metrics are disabled (LIGHTRAG_METRICS_ENABLED=false)".to_owned())
    })?;
    Ok(HttpResponse::Ok()
        .content_type(PROMETHEUS_TEXT)
        .body(handle.render()))
}
