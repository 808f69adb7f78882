//! `/livez` and `/readyz` for orchestrators.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(livez).service(readyz);
}

/// The process is up and serving.
#[utoipa::path(get, path = "/livez", tag = "probes", responses((status = 200, description = "OK"), (status = 503, description = "Not ready")))]
#[get("/livez")]
pub(crate) async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}

/// 200 when every dependency is ready, else 503 with the reasons.
#[utoipa::path(get, path = "/readyz", tag = "probes", responses((status = 200, description = "OK"), (status = 503, description = "Not ready")))]
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.readiness().check() {
        Ok(components) => {
            HttpResponse::Ok().json(json!({ "status": "ready", "components": components }))
        }
        Err(reasons) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not_ready", "reasons": reasons })),
    }
}
