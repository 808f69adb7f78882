//! Route modules; each exports `fn config(cfg: &mut ServiceConfig)`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

mod backups;
mod dashboard;
mod events;
mod graphs;
mod jobs;
mod metrics;
mod openapi;
mod probes;
mod recovery;
mod replication;

/// Registers every route.
pub(crate) fn config(cfg: &mut web::ServiceConfig) {
    cfg.configure(probes::config)
        .configure(metrics::config)
        .configure(graphs::config)
        .configure(backups::config)
        .configure(jobs::config)
        .configure(events::config)
        .configure(dashboard::config)
        .configure(recovery::config)
        .configure(replication::config)
        .service(openapi::openapi_json);
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

/// A JSON body that may be absent (then `T::default()`); malformed JSON is a 400.
pub(crate) fn optional_json<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// A job result as JSON.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> lightrag_service::Result<serde_json::Value> {
    Ok(serde_json::to_value(v)?)
}
