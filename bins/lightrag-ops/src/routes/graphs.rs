//! `/api/v1/graphs`: list, register, get, unregister (never deletes data).

use actix_web::{HttpResponse, delete, get, post, web};
use lightrag_recovery_db::{Graph, Page};
use lightrag_service::GraphId;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, blocking};
use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(register)
        .service(get_one)
        .service(unregister);
}

/// Pagination query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// Rows to return (default 100, at most 10 000).
    pub limit: Option<u32>,
    /// Rows to skip.
    pub offset: Option<u64>,
}

impl PageQuery {
    pub(crate) fn page(&self) -> Page {
        let d = Page::default();
        Page {
            limit: self.limit.unwrap_or(d.limit),
            offset: self.offset.unwrap_or(d.offset),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/graphs",
    tag = "graphs",
    responses(
        (status = 200, description = "Registered graphs", body = GraphList),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/graphs")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.page();
    let svc = state.service.clone();
    let graphs = blocking(move || svc.list_graphs(page)).await?;
    Ok(HttpResponse::Ok().json(GraphList { graphs }))
}

/// Body of `GET /api/v1/graphs`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct GraphList {
    /// Registered graphs.
    graphs: Vec<Graph>,
}

/// Body of `POST /api/v1/graphs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterGraph {
    /// Graph id (`[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`).
    id: GraphId,
    /// Directory relative to `LIGHTRAG_WORKING_DIR` (default: the id). Absolute paths and `..`
    /// are refused.
    path: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/graphs",
    tag = "graphs",
    request_body = RegisterGraph,
    responses(
        (status = 201, description = "Registered", body = lightrag_recovery_db::Graph),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[post("/api/v1/graphs")]
pub(crate) async fn register(
    state: web::Data<AppState>,
    body: web::Json<super::JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let body: RegisterGraph = super::from_object(body.into_inner())?;
    let svc = state.service.clone();
    let graph = blocking(move || svc.register_graph(&body.id, body.path.as_deref())).await?;
    Ok(HttpResponse::Created().json(graph))
}

#[utoipa::path(
    get,
    path = "/api/v1/graphs/{id}",
    tag = "graphs",
    params(("id" = String, Path, description = "graph id", pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")),
    responses(
        (status = 200, description = "The graph", body = lightrag_recovery_db::Graph),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/graphs/{id}")]
pub(crate) async fn get_one(
    state: web::Data<AppState>,
    id: web::Path<GraphId>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let id = id.into_inner();
    let graph = blocking(move || svc.get_graph(&id)).await?;
    Ok(HttpResponse::Ok().json(graph))
}

/// Forgets a graph's registration; its files and snapshots are kept.
#[utoipa::path(
    delete,
    path = "/api/v1/graphs/{id}",
    tag = "graphs",
    params(("id" = String, Path, description = "graph id", pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")),
    responses(
        (status = 204, description = "Forgotten"),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[delete("/api/v1/graphs/{id}")]
pub(crate) async fn unregister(
    state: web::Data<AppState>,
    id: web::Path<GraphId>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let id = id.into_inner();
    blocking(move || svc.unregister_graph(&id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
