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
        description = "Backups, replication, recovery points and monitoring for LightRAG knowledge graphs. Every body has a schema below; errors are ErrorBody ({\"error\": {\"code\", \"message\"}}); long operations answer 202 with a job (see /api/v1/jobs/{id}) or wait with ?wait=true (200)."
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
        dashboard::graph_page,
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
    // Schemas referenced from the paths are collected from them. Listed here besides: the one
    // error shape, and the reports a finished job carries in `JobView.result` (by job kind:
    // backup → SnapshotSummary, verify → VerifyReport, retention → RetentionReport, restore →
    // SnapshotRestoreReport or RestorePointReport, validate → ValidationReport, replication →
    // [SyncOutcome], recovery_point → RecoveryPointDetails).
    components(schemas(
        crate::error::ErrorBody,
        lightrag_backup::SnapshotSummary,
        lightrag_backup::VerifyReport,
        lightrag_service::RetentionReport,
        lightrag_recovery::SnapshotRestoreReport,
        lightrag_recovery::RestorePointReport,
        lightrag_recovery::ValidationReport,
        lightrag_replication::SyncOutcome,
    )),
    modifiers(&Security, &GuardResponses),
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

/// The answers the guard (`crate::guard`) can give on any `/api/v1` route (and graph page) besides the ones each
/// route lists: 429 once an address has failed authentication too often (its requests are
/// refused, whatever the route, until the window ends). Found by the fuzzer running without
/// the key against a keyed server: every route answered an undocumented 429.
struct GuardResponses;

impl utoipa::Modify for GuardResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        for (path, item) in openapi.paths.paths.iter_mut() {
            // Every route that needs the key: the API and the graph pages (`/health` itself,
            // `/livez` and `/readyz` are open and never refused).
            if !(path.starts_with("/api/v1/") || path.starts_with("/health/")) {
                continue;
            }
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                op.responses
                    .responses
                    .entry("429".to_owned())
                    .or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description(
                                    "Too many failed authentications from this address (Retry-After says when to retry)",
                                )
                                .content(
                                    "application/json",
                                    ContentBuilder::new()
                                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                                        .build(),
                                )
                                .build(),
                        )
                    });
            }
        }
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "This OpenAPI 3.1 document", body = Object),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/openapi.json")]
pub(crate) async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
