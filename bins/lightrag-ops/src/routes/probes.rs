//! `/livez` and `/readyz` for orchestrators.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(livez).service(readyz);
}

/// The process is up and serving.
#[utoipa::path(
    get,
    path = "/livez",
    // Open by default (LIGHTRAG_WHITELIST_PATHS).
    security(()),
    tag = "probes",
    responses(
        (status = 200, description = "Alive", body = Liveness)
    )
)]
#[get("/livez")]
pub(crate) async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(Liveness { status: "alive" })
}

/// 200 when every dependency is ready, else 503 with the reasons.
#[utoipa::path(
    get,
    path = "/readyz",
    // Open by default (LIGHTRAG_WHITELIST_PATHS).
    security(()),
    tag = "probes",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready, with the reasons", body = NotReady)
    )
)]
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.readiness().check() {
        Ok(components) => HttpResponse::Ok().json(Readiness {
            status: "ready",
            components,
        }),
        Err(reasons) => HttpResponse::ServiceUnavailable().json(NotReady {
            status: "not_ready",
            reasons,
        }),
    }
}

/// Body of `GET /livez`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Liveness {
    /// Always `alive`.
    status: &'static str,
}

/// Body of `GET /readyz` when ready (200).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Readiness {
    /// Always `ready`.
    status: &'static str,
    /// The dependencies checked.
    components: Vec<String>,
}

/// Body of `GET /readyz` when not ready (503).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct NotReady {
    /// Always `not_ready`.
    status: &'static str,
    /// Why not.
    reasons: Vec<String>,
}
