//! Route modules; each exports `fn config(cfg: &mut ServiceConfig)`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

pub(crate) use metrics::PROMETHEUS_TEXT;

pub(crate) mod metrics;
mod probes;

/// Registers every route.
pub(crate) fn config(cfg: &mut web::ServiceConfig) {
    cfg.configure(probes::config).configure(metrics::config);
}

/// JSON 404 for paths no route matches.
pub(crate) async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// JSON 400 for malformed JSON bodies, paths and queries.
pub(crate) fn json_errors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(1 << 20)
            .error_handler(|e, _| ApiError::BadRequest(format!("invalid JSON body: {e}")).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::BadRequest(format!("invalid path: {e}")).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::BadRequest(format!("invalid query: {e}")).into()),
    );
}
