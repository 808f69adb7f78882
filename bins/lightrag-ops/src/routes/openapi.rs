//! The OpenAPI document of the API, generated from the handlers' `#[utoipa::path]` attributes.

use actix_web::{HttpResponse, get};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::*;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "lightrag-ops",
        description = "Backups, replication, recovery points and monitoring for LightRAG knowledge graphs. Errors are {\"error\": {\"code\", \"message\"}}; long operations answer 202 with a job (see /api/v1/jobs/{id}) or wait with ?wait=true."
    ),
    paths(
        backups::create,
        backups::list,
        backups::get_one,
        backups::delete_one,
        backups::verify,
        backups::stats,
        backups::retention_run,
        dashboard::status,
        dashboard::graph_status,
        dashboard::backups_summary,
        dashboard::replication_status,
        dashboard::page,
        events::list,
        events::analytics,
        graphs::list,
        graphs::register,
        graphs::get_one,
        graphs::unregister,
        jobs::scheduler,
        jobs::workers,
        jobs::list,
        jobs::get_one,
        metrics::dashboard_metrics,
        probes::livez,
        probes::readyz,
        recovery::create_point,
        recovery::list_points,
        recovery::get_point,
        recovery::delete_point,
        recovery::validate_point,
        recovery::restore_point,
        recovery::status,
        recovery::restore_snapshot,
        replication::list_targets,
        replication::create_target,
        replication::get_target,
        replication::update_target,
        replication::delete_target,
        replication::target_health,
        replication::sync_now,
        replication::status,
        openapi_json
    ),
    modifiers(&Security),
    security(("api_key" = []), ("bearer" = []))
)]
pub(crate) struct ApiDoc;

/// The two ways to present `LIGHTRAG_API_KEY`.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1 document")))]
#[get("/api/v1/openapi.json")]
pub(crate) async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
