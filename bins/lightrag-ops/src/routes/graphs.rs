//! `/api/v1/graphs`: list, register, get, unregister (never deletes data).

use actix_web::{HttpResponse, delete, get, post, web};
use lightrag_recovery_db::Page;
use lightrag_service::GraphId;
use serde::Deserialize;

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

#[utoipa::path(get, path = "/api/v1/graphs", tag = "graphs", responses((status = 200, description = "OK"), (status = 400, description = "Bad request"), (status = 401, description = "API key missing"), (status = 403, description = "API key wrong"), (status = 404, description = "Not found"), (status = 409, description = "Conflict")))]
#[get("/api/v1/graphs")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.page();
    let svc = state.service.clone();
    let graphs = blocking(move || svc.list_graphs(page)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "graphs": graphs })))
}

/// Body of `POST /api/v1/graphs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterGraph {
    /// Graph id (`[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`).
    id: GraphId,
    /// Directory relative to `LIGHTRAG_WORKING_DIR` (default: the id). Absolute paths and `..`
    /// are refused.
    path: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/graphs", tag = "graphs", responses((status = 200, description = "Done (or the finished job with ?wait=true)"), (status = 201, description = "Created"), (status = 202, description = "Job started"), (status = 400, description = "Bad request"), (status = 401, description = "API key missing"), (status = 403, description = "API key wrong"), (status = 404, description = "Not found"), (status = 409, description = "Conflict")))]
#[post("/api/v1/graphs")]
pub(crate) async fn register(
    state: web::Data<AppState>,
    body: web::Json<RegisterGraph>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let svc = state.service.clone();
    let graph = blocking(move || svc.register_graph(&body.id, body.path.as_deref())).await?;
    Ok(HttpResponse::Created().json(graph))
}

#[utoipa::path(get, path = "/api/v1/graphs/{id}", tag = "graphs", params(("id" = String, Path, description = "id")), responses((status = 200, description = "OK"), (status = 400, description = "Bad request"), (status = 401, description = "API key missing"), (status = 403, description = "API key wrong"), (status = 404, description = "Not found"), (status = 409, description = "Conflict")))]
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
#[utoipa::path(delete, path = "/api/v1/graphs/{id}", tag = "graphs", params(("id" = String, Path, description = "id")), responses((status = 200, description = "Deleted"), (status = 204, description = "Deleted"), (status = 400, description = "Bad request"), (status = 401, description = "API key missing"), (status = 403, description = "API key wrong"), (status = 404, description = "Not found"), (status = 409, description = "Conflict")))]
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
