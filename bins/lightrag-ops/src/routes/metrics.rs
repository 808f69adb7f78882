//! Prometheus exposition on the API port (`/api/v1/health-dashboard/metrics`); the same text is
//! served on the metrics port.

use actix_web::{HttpResponse, get, web};

use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(dashboard_metrics);
}

#[utoipa::path(
    get,
    path = "/api/v1/health-dashboard/metrics",
    tag = "metrics",
    responses(
        (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/health-dashboard/metrics")]
pub(crate) async fn dashboard_metrics(
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let collector = state.metrics().ok_or_else(|| {
        ApiError::NotFound("metrics are disabled (LIGHTRAG_METRICS_ENABLED=false)".to_owned())
    })?;
    Ok(HttpResponse::Ok()
        .content_type(lightrag_monitoring::PROMETHEUS_CONTENT_TYPE)
        .body(collector.export_to_prometheus().await))
}
