//! `/api/v1/events`: the event log (filters, time range) and analytics over a window.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use lightrag_recovery_db::{
    Event, EventFilter, EventKind, EventWindow, Order, Severity, Timestamp,
};
use serde::{Deserialize, Serialize};

use super::graphs::PageQuery;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(analytics).service(list);
}

/// Filters of `GET /api/v1/events`. `since` is inclusive, `until` exclusive (RFC 3339 or unix
/// milliseconds).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    graph_id: Option<String>,
    target_id: Option<String>,
    recovery_point_id: Option<String>,
    snapshot_id: Option<String>,
    kind: Option<EventKind>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    severity: Option<Severity>,
    min_severity: Option<Severity>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    /// `newest_first` (default) or `oldest_first`.
    order: Option<Order>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    responses(
        (status = 200, description = "Events", body = EventList),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/events")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    q: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = PageQuery {
        limit: q.limit,
        offset: q.offset,
    }
    .page();
    let filter = EventFilter {
        graph_id: q.graph_id,
        target_id: q.target_id,
        recovery_point_id: q.recovery_point_id,
        snapshot_id: q.snapshot_id,
        kind: q.kind,
        event_type: q.event_type,
        severity: q.severity,
        min_severity: q.min_severity,
        since: q.since,
        until: q.until,
        order: q.order.unwrap_or(Order::NewestFirst),
    };
    let events = state
        .db()
        .run(move |c| lightrag_recovery_db::list_events(c, &filter, page))
        .await?;
    Ok(HttpResponse::Ok().json(EventList { events }))
}

/// Body of `GET /api/v1/events`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EventList {
    /// Matching events, in the requested order.
    events: Vec<Event>,
}

/// Window of `GET /api/v1/events/analytics`: `window` (e.g. `24h`, default) ending now, or an
/// explicit `since`/`until`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyticsQuery {
    window: Option<String>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    graph_id: Option<String>,
    /// Latest critical events to include (default 10).
    critical: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/events/analytics",
    tag = "events",
    responses(
        (status = 200, description = "Analytics over the window", body = lightrag_monitoring::AnalyticsReport),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/events/analytics")]
pub(crate) async fn analytics(
    state: web::Data<AppState>,
    q: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let until = q.until.unwrap_or_else(Timestamp::now);
    let since = match (q.since, q.window.as_deref()) {
        (Some(s), None) => s,
        (None, w) => {
            let w = w.unwrap_or("24h");
            let d: Duration = humantime::parse_duration(w).map_err(|e| {
                ApiError::BadRequest(format!(
                    "invalid window {w:?} ({e}); use a duration such as 1h, 24h or 7d"
                ))
            })?;
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            Timestamp::from_unix_millis(until.unix_millis().saturating_sub(ms))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give either window or since, not both".to_owned(),
            ));
        }
    };
    let window = EventWindow {
        since,
        until,
        graph_id: q.graph_id,
    };
    let report =
        lightrag_monitoring::analytics(state.db(), window, q.critical.unwrap_or(10).min(100))
            .await
            .map_err(|e| match e {
                lightrag_monitoring::MonitoringError::Db { source } => ApiError::from(source),
                other => ApiError::Internal(other.into()),
            })?;
    Ok(HttpResponse::Ok().json(report))
}
