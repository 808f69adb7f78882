//! The health dashboard: the plan's five JSON paths under `/api/v1/health-dashboard/` and the
//! server-rendered HTML page at `/health` (same data as JSON with `Accept: application/json`).

use std::fmt::Write as _;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use lightrag_recovery::ComponentHealth;
use lightrag_recovery_db::{HealthStatus, Timestamp};
use lightrag_service::{Dashboard, GraphBackups, TargetStatus, WorkerStatus};
use serde::Serialize;

use crate::error::{ApiError, blocking};
use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(status)
        .service(graph_status)
        .service(backups_summary)
        .service(replication_status)
        .service(page);
}

/// How long a serialised `/status` answer is reused for the same health report (it also shows
/// the scheduler, whose state changes between checks).
const STATUS_CACHE_TTL: std::time::Duration = std::time::Duration::from_millis(500);

/// Overall status, every graph and component with reasons, and the scheduler.
#[utoipa::path(
    get,
    path = "/api/v1/health-dashboard/status",
    tag = "dashboard",
    responses(
        (status = 200, description = "Overall health, graphs, components, workers", body = DashboardStatus),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/health-dashboard/status")]
pub(crate) async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let (report, workers) = blocking(move || Ok::<_, ApiError>(svc.health_status())).await?;
    {
        let cached = state
            .status_cache
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some((k, at, body)) = cached.as_ref()
            && std::sync::Arc::ptr_eq(k, &report)
            && at.elapsed() < STATUS_CACHE_TTL
        {
            return Ok(HttpResponse::Ok()
                .content_type("application/json")
                .body(body.clone()));
        }
    }
    let body = serde_json::to_vec(&DashboardStatus {
        overall: report.overall,
        checked_at: report.checked_at,
        graphs: report.graphs.clone(),
        components: report.components.clone(),
        scheduler: workers,
    })
    .map_err(|e| ApiError::Internal(e.into()))?;
    let body = web::Bytes::from(body);
    *state
        .status_cache
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner()) =
        Some((report.clone(), std::time::Instant::now(), body.clone()));
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// One graph: health with reasons, latest backups, replication state.
#[utoipa::path(
    get,
    path = "/api/v1/health-dashboard/graphs/{id}/status",
    tag = "dashboard",
    params(("id" = String, Path, description = "graph id")),
    responses(
        (status = 200, description = "One graph", body = lightrag_service::GraphStatus),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/health-dashboard/graphs/{id}/status")]
pub(crate) async fn graph_status(
    state: web::Data<AppState>,
    id: web::Path<lightrag_service::GraphId>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let id = id.into_inner();
    let report = blocking(move || svc.graph_status(&id)).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Per graph: snapshot count, latest backup and its status; totals.
#[utoipa::path(
    get,
    path = "/api/v1/health-dashboard/backups/summary",
    tag = "dashboard",
    responses(
        (status = 200, description = "Per graph", body = BackupsSummary),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/health-dashboard/backups/summary")]
pub(crate) async fn backups_summary(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let summary = blocking(move || svc.backups_summary()).await?;
    Ok(HttpResponse::Ok().json(BackupsSummary { graphs: summary }))
}

/// Body of `GET /api/v1/health-dashboard/status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DashboardStatus {
    /// The worst status of any graph or component.
    overall: HealthStatus,
    /// When the health monitor last checked.
    checked_at: Timestamp,
    /// Every graph, with reasons.
    graphs: Vec<ComponentHealth>,
    /// Catalog, repository and targets, with reasons.
    components: Vec<ComponentHealth>,
    /// Every background worker.
    scheduler: Vec<WorkerStatus>,
}

/// Body of `GET /api/v1/health-dashboard/backups/summary`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BackupsSummary {
    /// Per graph: snapshot count and the latest backup.
    graphs: Vec<GraphBackups>,
}

/// Body of `GET /api/v1/health-dashboard/replication/status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReplicationTargetsStatus {
    /// Every target with per-graph lag and errors.
    targets: Vec<TargetStatus>,
}

/// Every replication target (no secrets) with per-graph lag and errors.
#[utoipa::path(
    get,
    path = "/api/v1/health-dashboard/replication/status",
    tag = "dashboard",
    responses(
        (status = 200, description = "Per target", body = ReplicationTargetsStatus),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/api/v1/health-dashboard/replication/status")]
pub(crate) async fn replication_status(
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.service.clone();
    let targets = blocking(move || svc.replication_targets_status()).await?;
    Ok(HttpResponse::Ok().json(ReplicationTargetsStatus { targets }))
}

/// Why anonymous `/health` has no report to show (503).
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PendingStatus {
    /// The first health check has not finished yet (it starts with the server).
    Starting,
    /// Health checks are off (`LIGHTRAG_HEALTH_CHECK_INTERVAL=0`) and none has run yet.
    Unchecked,
}

/// Body of `GET /health` (503) for a client without the API key while no health report
/// exists.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HealthPending {
    /// `starting` or `unchecked`.
    status: PendingStatus,
    /// Always true: only statuses would be shown without the API key.
    limited: bool,
    /// What is going on and when to ask again.
    message: String,
}

/// A 503 of `/health`: no report yet (anonymous view) or the catalog or repository is
/// unavailable (full view).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // documentation only: the two bodies are built where they arise
pub(crate) enum HealthUnavailable {
    /// Anonymous view before the first health report.
    Pending(HealthPending),
    /// Full view: a dependency failed.
    Error(crate::error::ErrorBody),
}

/// Seconds a client should wait before asking again while the first check runs.
const STARTING_RETRY_SECONDS: u32 = 5;

/// The HTML dashboard (JSON with `Accept: application/json`).
///
/// With an API key configured, a client that does not present it gets the limited view
/// (statuses only), built from the last health report alone: no catalog query, no file read,
/// no health check, whatever the number of such requests. Before the first report exists it
/// gets 503 (`starting`, with `Retry-After`; `unchecked` when health checks are off).
#[utoipa::path(
    get,
    path = "/health",
    // Open by default (LIGHTRAG_WHITELIST_PATHS).
    security(()),
    tag = "dashboard",
    responses(
        (status = 200, description = "The dashboard: HTML, or JSON with Accept: application/json (limited without the API key when one is set)", content((lightrag_service::Dashboard = "application/json"), (String = "text/html"))),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "Without the API key: no health report yet (status starting, or unchecked when LIGHTRAG_HEALTH_CHECK_INTERVAL=0), with Retry-After. With it: the catalog or the repository is unavailable", content((HealthUnavailable = "application/json"), (String = "text/html")))
    )
)]
#[get("/health")]
pub(crate) async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // `/health` is whitelisted (open to probes); with an API key configured, only a client
    // presenting it sees reasons, targets, events and errors.
    let authorised = state.config.api_key.as_ref().is_none_or(|key| {
        crate::middleware::presented_key(req.headers())
            .is_some_and(|k| crate::middleware::keys_match(k, key.expose()))
    });
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let d = if authorised {
        let svc = state.service.clone();
        blocking(move || svc.dashboard()).await?
    } else {
        // From memory only: never a query, a file read or a health check.
        match state.service.limited_dashboard() {
            Some(d) => d,
            None => return Ok(pending(&state, wants_json)),
        }
    };
    if wants_json {
        return Ok(HttpResponse::Ok().json(d));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(render(&d)))
}

/// 503 for an anonymous client while no health report exists.
fn pending(state: &AppState, wants_json: bool) -> HttpResponse {
    let (why, message) = if state.config.health_check_interval.is_zero() {
        (
            PendingStatus::Unchecked,
            "no health report: health checks are off (LIGHTRAG_HEALTH_CHECK_INTERVAL=0) and none has run; the API key's full view runs one".to_owned(),
        )
    } else {
        (
            PendingStatus::Starting,
            format!("the first health check is running; ask again in {STARTING_RETRY_SECONDS} s"),
        )
    };
    let mut r = HttpResponse::ServiceUnavailable();
    r.insert_header((header::CACHE_CONTROL, "no-store"));
    if matches!(why, PendingStatus::Starting) {
        r.insert_header((header::RETRY_AFTER, STARTING_RETRY_SECONDS.to_string()));
    }
    if wants_json {
        return r.json(HealthPending {
            status: why,
            limited: true,
            message,
        });
    }
    r.content_type("text/html; charset=utf-8").body(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{STARTING_RETRY_SECONDS}">
<title>lightrag-ops — {status}</title></head><body><h1>lightrag-ops</h1><p role="status">{message}</p></body></html>
"#,
        status = match why {
            PendingStatus::Starting => "starting",
            PendingStatus::Unchecked => "unchecked",
        },
        message = esc(&message),
    ))
}

/// Seconds between automatic refreshes of the page.
const REFRESH_SECONDS: u32 = 30;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn badge(s: HealthStatus) -> String {
    let class = s.as_str().to_ascii_lowercase();
    format!("<span class=\"badge {class}\">{}</span>", s.as_str())
}

fn ts(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "—".to_owned(), |t| esc(&t.to_string()))
}

fn mib(bytes: i64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn render(d: &Dashboard) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>lightrag-ops — {overall}</title>
<style>
:root{{--ok:#1b7f3b;--warn:#9a6700;--bad:#b42318;--fg:#1f2328;--mut:#59636e;--bg:#fff;--line:#d0d7de}}
body{{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0}}
header,main{{max-width:1100px;margin:0 auto;padding:12px 16px}}
header{{display:flex;flex-wrap:wrap;align-items:center;gap:12px;border-bottom:1px solid var(--line)}}
h1{{font-size:1.3rem;margin:0}} h2{{font-size:1.1rem;margin:24px 0 8px}} h3{{font-size:.95rem;margin:14px 0 6px}}
.badge{{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:.85rem;color:#fff}}
.healthy{{background:var(--ok)}} .degraded{{background:var(--warn)}} .offline{{background:var(--bad)}}
table{{border-collapse:collapse;width:100%;font-size:.9rem}}
th,td{{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}}
th{{color:var(--mut);font-weight:600}} .muted{{color:var(--mut)}} .warn{{color:var(--warn);font-weight:600}}
.scroll{{overflow-x:auto}} ul.reasons{{margin:0;padding-left:18px}}
@media (max-width:600px){{th.opt,td.opt{{display:none}}}}
</style></head><body>
<header><h1>lightrag-ops</h1><div role="status" aria-live="polite">Overall {badge}</div>
<div class="muted">checked {checked} · page refreshes every {REFRESH_SECONDS} s</div></header>
<main>{limited}
"#,
        overall = d.overall.as_str(),
        badge = badge(d.overall),
        checked = esc(&d.checked_at.to_string()),
        limited = if d.limited {
            r#"<p role="note" class="muted">Statuses only: send the API key (X-API-Key) for reasons, backups, replication and events.</p>"#
        } else {
            ""
        },
    );

    // Graphs.
    h.push_str(r#"<section aria-labelledby="graphs-h"><h2 id="graphs-h">Graphs</h2><div class="scroll"><table id="graphs"><thead><tr><th scope="col">Graph</th><th scope="col">Status</th><th scope="col">Why</th><th scope="col" class="opt">Last backup</th></tr></thead><tbody>"#);
    if d.graphs.is_empty() {
        h.push_str(r#"<tr><td colspan="4" class="muted">No graph found under LIGHTRAG_WORKING_DIR.</td></tr>"#);
    }
    for g in &d.graphs {
        let reasons = if g.reasons.is_empty() {
            "<span class=\"muted\">all checks passed</span>".to_owned()
        } else {
            let items: String = g
                .reasons
                .iter()
                .map(|r| format!("<li>{}</li>", esc(r)))
                .collect();
            format!("<ul class=\"reasons\">{items}</ul>")
        };
        let _ = write!(
            h,
            r#"<tr data-graph="{id}" data-status="{st}"><th scope="row">{id}</th><td>{badge}</td><td>{reasons}</td><td class="opt">{last}</td></tr>"#,
            id = esc(&g.id),
            st = g.status.as_str(),
            badge = badge(g.status),
            last = ts(g.last_backup_at),
        );
    }
    h.push_str("</tbody></table></div></section>");

    // Components.
    h.push_str(r#"<section aria-labelledby="comp-h"><h2 id="comp-h">Components</h2><div class="scroll"><table><thead><tr><th scope="col">Component</th><th scope="col">Status</th><th scope="col">Why</th></tr></thead><tbody>"#);
    for c in &d.components {
        let label = if c.id == c.component_type.as_str() {
            esc(&c.id)
        } else {
            format!("{} {}", esc(c.component_type.as_str()), esc(&c.id))
        };
        let _ = write!(
            h,
            "<tr><th scope=\"row\">{label}</th><td>{}</td><td>{}</td></tr>",
            badge(c.status),
            esc(&c.reasons.join("; "))
        );
    }
    h.push_str("</tbody></table></div></section>");

    // Recent backups.
    h.push_str(r#"<section aria-labelledby="bk-h"><h2 id="bk-h">Recent backups</h2><div class="scroll"><table id="backups"><thead><tr><th scope="col">When</th><th scope="col">Graph</th><th scope="col">Status</th><th scope="col">Save-consistent</th><th scope="col" class="opt">Trigger</th><th scope="col" class="opt">Size</th><th scope="col" class="opt">Snapshot</th></tr></thead><tbody>"#);
    if d.recent_backups.is_empty() {
        h.push_str(r#"<tr><td colspan="7" class="muted">No backup yet.</td></tr>"#);
    }
    for b in &d.recent_backups {
        let consistent = match (b.consistent, &b.inconsistency) {
            (Some(true), _) => r#"<span data-consistent="yes">yes</span>"#.to_owned(),
            (Some(false), why) => format!(
                r#"<span class="warn" data-consistent="no" title="{}">no</span>"#,
                esc(why
                    .as_deref()
                    .unwrap_or("a LightRAG save overlapped the backup"))
            ),
            (None, _) => r#"<span class="muted" data-consistent="unknown">–</span>"#.to_owned(),
        };
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{consistent}</td><td class="opt">{}</td><td class="opt">{}</td><td class="opt"><code>{}</code></td></tr>"#,
            ts(Some(b.created_at)),
            esc(&b.graph_id),
            esc(b.status.as_str()),
            esc(b.trigger.as_str()),
            mib(b.logical_size_bytes),
            esc(&b.snapshot_id)
        );
    }
    h.push_str("</tbody></table></div></section>");

    // Replication.
    h.push_str(r#"<section aria-labelledby="rep-h"><h2 id="rep-h">Replication</h2><div class="scroll"><table id="replication"><thead><tr><th scope="col">Target</th><th scope="col">Graph</th><th scope="col">Lag</th><th scope="col" class="opt">Last sync</th><th scope="col">Errors</th></tr></thead><tbody>"#);
    if d.replication.is_empty() {
        h.push_str(
            r#"<tr><td colspan="5" class="muted">No replication target configured.</td></tr>"#,
        );
    }
    for t in &d.replication {
        if t.graphs.is_empty() {
            let _ = write!(
                h,
                r#"<tr><th scope="row">{}</th><td colspan="4" class="muted">not synced yet</td></tr>"#,
                esc(&t.target.name)
            );
        }
        for s in &t.graphs {
            let lag = s.lag_ms.map_or_else(
                || "—".to_owned(),
                |ms| format!("{:.0} s", ms as f64 / 1000.0),
            );
            let _ = write!(
                h,
                r#"<tr><th scope="row">{}</th><td>{}</td><td>{}</td><td class="opt">{}</td><td>{}</td></tr>"#,
                esc(&t.target.name),
                esc(&s.graph_id),
                lag,
                ts(s.last_sync_at),
                if s.consecutive_failures > 0 {
                    format!(
                        "{} failure(s): {}",
                        s.consecutive_failures,
                        esc(s.last_error.as_deref().unwrap_or(""))
                    )
                } else {
                    "none".to_owned()
                }
            );
        }
    }
    h.push_str("</tbody></table></div>");
    h.push_str(r#"<h3>Recent syncs</h3><div class="scroll"><table id="replication-history"><thead><tr><th scope="col">When</th><th scope="col">Result</th><th scope="col" class="opt">Graph</th><th scope="col">Details</th></tr></thead><tbody>"#);
    if d.replication_history.is_empty() {
        h.push_str(r#"<tr><td colspan="4" class="muted">No sync yet.</td></tr>"#);
    }
    for e in &d.replication_history {
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td>{}</td><td class="opt">{}</td><td>{}</td></tr>"#,
            ts(Some(e.occurred_at)),
            esc(&e.event_type),
            esc(e.graph_id.as_deref().unwrap_or("—")),
            esc(&e.message)
        );
    }
    h.push_str("</tbody></table></div></section>");

    // Recovery points.
    h.push_str(r#"<section aria-labelledby="rp-h"><h2 id="rp-h">Recovery points</h2><div class="scroll"><table><thead><tr><th scope="col">Created</th><th scope="col">Id</th><th scope="col">Description</th><th scope="col">Validated</th></tr></thead><tbody>"#);
    if d.recovery_points.is_empty() {
        h.push_str(r#"<tr><td colspan="4" class="muted">No recovery point.</td></tr>"#);
    }
    for p in &d.recovery_points {
        let validated = match (&p.validation_error, p.validated) {
            (Some(e), _) => format!("failed: {}", esc(e)),
            (None, true) => format!("yes ({})", ts(p.validated_at)),
            (None, false) => "not yet".to_owned(),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            ts(Some(p.created_at)),
            esc(&p.id),
            esc(&p.description),
            validated
        );
    }
    h.push_str("</tbody></table></div></section>");

    // Critical events.
    h.push_str(r#"<section aria-labelledby="ev-h"><h2 id="ev-h">Critical events</h2><div class="scroll"><table id="events"><thead><tr><th scope="col">When</th><th scope="col">Severity</th><th scope="col">Type</th><th scope="col" class="opt">Graph</th><th scope="col">Message</th></tr></thead><tbody>"#);
    if d.critical_events.is_empty() {
        h.push_str(r#"<tr><td colspan="5" class="muted">No error or critical event.</td></tr>"#);
    }
    for e in &d.critical_events {
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="opt">{}</td><td>{}</td></tr>"#,
            ts(Some(e.occurred_at)),
            esc(e.severity.as_str()),
            esc(&e.event_type),
            esc(e.graph_id.as_deref().unwrap_or("—")),
            esc(&e.message)
        );
    }
    h.push_str("</tbody></table></div></section>");

    // Scheduler.
    h.push_str(r#"<section aria-labelledby="sch-h"><h2 id="sch-h">Background workers</h2><div class="scroll"><table><thead><tr><th scope="col">Worker</th><th scope="col">Every</th><th scope="col">Runs</th><th scope="col">Last result</th></tr></thead><tbody>"#);
    for t in &d.scheduler {
        let every = match (t.clocked, t.interval_ms) {
            (false, _) => "on demand".to_owned(),
            (true, 0) => "off".to_owned(),
            (true, ms) if ms < 1000 => format!("{ms}ms"),
            (true, ms) => lightrag_config::format_duration(std::time::Duration::from_millis(ms)),
        };
        let _ = write!(
            h,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(t.name),
            esc(&every),
            t.runs,
            esc(t
                .last_result
                .as_deref()
                .filter(|r| !r.is_empty())
                .or(t.detail.as_deref())
                .unwrap_or("—"))
        );
    }
    h.push_str("</tbody></table></div></section>");
    let _ = write!(
        h,
        r#"<p class="muted">Generated {}. JSON: <a href="/api/v1/health-dashboard/status">/api/v1/health-dashboard/status</a>.</p></main></body></html>"#,
        esc(&d.generated_at.to_string())
    );
    h
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_html() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
