//! The health dashboard: the plan's five JSON paths under `/api/v1/health-dashboard/` and the
//! server-rendered HTML page at `/health` (same data as JSON with `Accept: application/json`).

use std::fmt::Write as _;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use lightrag_recovery::{ComponentHealth, SkippedEntry};
use lightrag_recovery_db::{BackupStatus, HealthStatus, Timestamp};
use lightrag_service::{
    Dashboard, GraphBackups, GraphHistory, GraphPage, TargetStatus, WorkerStatus,
};
use serde::Serialize;

use super::charts::{self, Point, Unit, esc, when, when_opt};
use crate::error::{ApiError, blocking};
use crate::state::AppState;

pub(super) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(status)
        .service(graph_status)
        .service(backups_summary)
        .service(replication_status)
        .service(page)
        .service(graph_page);
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
        unprotected: report.unprotected.clone(),
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
    /// Folders under the working directory that hold LightRAG files but are not backed up
    /// (no graph id could be given to them), with the reason and what to do.
    unprotected: Vec<SkippedEntry>,
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
    let authorised = presents_key(&req, &state);
    let wants_json = wants_json(&req);
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

/// One graph's page: health, history charts, snapshots with LightRAG counts and the
/// graph-level diff between consecutive ones, recovery points, replication, events (JSON with
/// `Accept: application/json`). Needs the API key when one is set, even where
/// `LIGHTRAG_WHITELIST_PATHS` opens the path: it shows reasons, paths and events.
#[utoipa::path(
    get,
    path = "/health/graphs/{id}",
    tag = "dashboard",
    params(("id" = String, Path, description = "graph id")),
    responses(
        (status = 200, description = "The graph's page: HTML, or JSON with Accept: application/json", content((lightrag_service::GraphPage = "application/json"), (String = "text/html"))),
        (status = 400, description = "Invalid id, query or body", body = crate::error::ErrorBody),
        (status = 401, description = "API key missing", body = crate::error::ErrorBody),
        (status = 403, description = "API key wrong", body = crate::error::ErrorBody),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 500, description = "Internal error (details in the server log)", body = crate::error::ErrorBody),
        (status = 503, description = "The catalog or the repository is unavailable", body = crate::error::ErrorBody)
    )
)]
#[get("/health/graphs/{id}")]
pub(crate) async fn graph_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<lightrag_service::GraphId>,
) -> Result<HttpResponse, ApiError> {
    let authorised = presents_key(&req, &state);
    if !authorised {
        return Err(ApiError::Unauthorized(
            "this page needs the API key (X-API-Key or Authorization: Bearer)".to_owned(),
        ));
    }
    let wants_json = wants_json(&req);
    let svc = state.service.clone();
    let id = id.into_inner();
    let p = blocking(move || svc.graph_page(&id)).await?;
    if wants_json {
        return Ok(HttpResponse::Ok().json(p));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(render_graph(&p)))
}

/// Whether the request presents the API key (always, when none is configured): the pages
/// check it themselves because `LIGHTRAG_WHITELIST_PATHS` may open them.
fn presents_key(req: &HttpRequest, state: &AppState) -> bool {
    state.config.api_key.as_ref().is_none_or(|key| {
        crate::middleware::presented_key(req.headers())
            .is_some_and(|k| crate::middleware::keys_match(k, key.expose()))
    })
}

/// Whether the client asked for JSON (`Accept: application/json`) instead of the HTML page.
fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
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

fn badge(s: HealthStatus) -> String {
    let class = s.as_str().to_ascii_lowercase();
    format!("<span class=\"badge {class}\">{}</span>", s.as_str())
}

/// The graph's id, with its folder name beside it when the id was mapped from it.
fn graph_name(id: &str, label: Option<&str>) -> String {
    match label {
        Some(l) if l != id => format!(
            r#"<span title="folder name">{}</span> <span class="muted">({})</span>"#,
            esc(l),
            esc(id)
        ),
        _ => esc(id),
    }
}

/// `<head>`, styles and the page header.
fn page_head(
    h: &mut String,
    title: &str,
    overall: HealthStatus,
    checked: Timestamp,
    now: Timestamp,
) {
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>{title} — {overall}</title>
<style>
:root{{--ok:#1b7f3b;--warn:#9a6700;--bad:#b42318;--fg:#1f2328;--mut:#59636e;--bg:#fff;--line:#d0d7de}}
body{{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0}}
header,main{{max-width:1100px;margin:0 auto;padding:12px 16px}}
header{{display:flex;flex-wrap:wrap;align-items:center;gap:12px;border-bottom:1px solid var(--line)}}
h1{{font-size:1.3rem;margin:0}} h2{{font-size:1.1rem;margin:24px 0 8px}} h3{{font-size:.95rem;margin:14px 0 6px}}
a{{color:#0b5cad}}
.badge{{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:.85rem;color:#fff}}
.healthy{{background:var(--ok)}} .degraded{{background:var(--warn)}} .offline{{background:var(--bad)}}
table{{border-collapse:collapse;width:100%;font-size:.9rem}}
th,td{{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}}
th{{color:var(--mut);font-weight:600}} .muted{{color:var(--mut)}} .warn{{color:var(--warn);font-weight:600}}
.scroll{{overflow-x:auto}} ul.reasons{{margin:0;padding-left:18px}}
td.num{{text-align:right;white-space:nowrap}}
{css}
@media (max-width:600px){{th.opt,td.opt{{display:none}} header,main{{padding:10px}}}}
</style></head><body>
<header><h1>{title}</h1><div role="status" aria-live="polite">Overall {badge}</div>
<div class="muted">checked {checked} · page refreshes every {REFRESH_SECONDS} s</div></header>
<main>
"#,
        title = esc(title),
        overall = overall.as_str(),
        badge = badge(overall),
        checked = when(checked, now),
        css = charts::CSS,
    );
}

fn backup_points(h: &GraphHistory) -> (Vec<Point>, Vec<Point>, Vec<Point>) {
    // A failed backup has no size of its own: it is marked, not plotted.
    let series = |value: &dyn Fn(&lightrag_service::BackupPoint) -> Option<f64>| -> Vec<Point> {
        h.backups
            .iter()
            .map(|b| {
                let bad = b.status != BackupStatus::Completed;
                Point {
                    at: b.at,
                    value: value(b),
                    bad,
                }
            })
            .collect()
    };
    let ok = |b: &lightrag_service::BackupPoint| b.status == BackupStatus::Completed;
    (
        series(&|b| ok(b).then_some(b.logical_bytes as f64)),
        series(&|b| ok(b).then_some(b.new_bytes as f64)),
        series(&|b| b.duration_ms.map(|d| d as f64)),
    )
}

/// The four charts of one graph: size, new bytes and duration per backup, replication lag.
fn graph_charts(h: &mut String, hist: &GraphHistory) {
    let id = &hist.graph_id;
    let (size, new, duration) = backup_points(hist);
    h.push_str(&charts::line(
        &format!("{id}:size"),
        "Size per backup",
        Unit::Bytes,
        &size,
    ));
    h.push_str(&charts::bars(
        &format!("{id}:new"),
        "New bytes stored",
        Unit::Bytes,
        &new,
    ));
    h.push_str(&charts::line(
        &format!("{id}:duration"),
        "Backup duration",
        Unit::Millis,
        &duration,
    ));
    // One lag chart per target (several targets on one line would zig-zag between them).
    let mut targets: Vec<&str> = hist.lags.iter().map(|l| l.target_id.as_str()).collect();
    targets.sort_unstable();
    targets.dedup();
    if targets.is_empty() {
        h.push_str(&charts::line(
            &format!("{id}:lag"),
            "Replication lag",
            Unit::Millis,
            &[],
        ));
    }
    for target in targets {
        let lag: Vec<Point> = hist
            .lags
            .iter()
            .filter(|l| l.target_id == target)
            .map(|l| Point {
                at: l.at,
                // A clock behind the target's would give a negative lag: none, really.
                value: Some(l.lag_ms.max(0) as f64),
                bad: false,
            })
            .collect();
        h.push_str(&charts::line(
            &format!("{id}:lag:{target}"),
            &format!("Replication lag → {target}"),
            Unit::Millis,
            &lag,
        ));
    }
}

fn unprotected_section(h: &mut String, d: &Dashboard) {
    if d.unprotected.is_empty() {
        return;
    }
    let n = d.unprotected.len();
    let _ = write!(
        h,
        r#"<section aria-labelledby="unp-h" class="alert" id="unprotected"><h2 id="unp-h">Unprotected folders: {n}</h2><p>These folders hold LightRAG files but are <strong>not backed up</strong>.</p>"#
    );
    if d.limited {
        h.push_str("<p class=\"muted\">Send the API key to see which and why.</p></section>");
        return;
    }
    h.push_str(r#"<div class="scroll"><table><thead><tr><th scope="col">Folder</th><th scope="col">Why, and what to do</th></tr></thead><tbody>"#);
    for u in &d.unprotected {
        let _ = write!(
            h,
            r#"<tr data-unprotected="{p}"><td><code>{p}</code></td><td>{r}</td></tr>"#,
            p = esc(&u.path.display().to_string()),
            r = esc(&u.reason)
        );
    }
    h.push_str("</tbody></table></div></section>");
}

fn render(d: &Dashboard) -> String {
    let now = d.generated_at;
    let mut h = String::with_capacity(32 * 1024);
    page_head(&mut h, "lightrag-ops", d.overall, d.checked_at, now);
    if d.limited {
        h.push_str(r#"<p role="note" class="muted">Statuses only: send the API key (X-API-Key) for reasons, backups, replication and events.</p>"#);
    }
    unprotected_section(&mut h, d);

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
        let name = graph_name(&g.id, g.label.as_deref());
        let name = if d.limited {
            name
        } else {
            format!(r#"<a href="/health/graphs/{}">{name}</a>"#, esc(&g.id))
        };
        let _ = write!(
            h,
            r#"<tr data-graph="{id}" data-status="{st}"><th scope="row">{name}</th><td>{badge}</td><td>{reasons}</td><td class="opt">{last}</td></tr>"#,
            id = esc(&g.id),
            st = g.status.as_str(),
            badge = badge(g.status),
            last = when_opt(g.last_backup_at, now),
        );
    }
    h.push_str("</tbody></table></div></section>");
    if d.limited {
        h.push_str("</main></body></html>");
        return h;
    }

    // History.
    h.push_str(r#"<section aria-labelledby="hist-h" id="history"><h2 id="hist-h">History</h2>"#);
    h.push_str(r#"<div class="charts">"#);
    h.push_str(&charts::events_per_day(
        "events-per-day",
        &d.events_per_day,
        lightrag_service::HISTORY_DAYS,
        now,
    ));
    h.push_str("</div>");
    for hist in &d.history {
        let label = d
            .graphs
            .iter()
            .find(|g| g.id == hist.graph_id)
            .and_then(|g| g.label.as_deref());
        let _ = write!(
            h,
            r#"<div class="graph-card" data-history="{id}"><h3><a href="/health/graphs/{id}">{name}</a></h3><div class="charts">"#,
            id = esc(&hist.graph_id),
            name = graph_name(&hist.graph_id, label),
        );
        graph_charts(&mut h, hist);
        h.push_str("</div></div>");
    }
    if d.history.is_empty() {
        h.push_str(r#"<p class="muted">No backup yet.</p>"#);
    }
    h.push_str("</section>");

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
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td><a href="/health/graphs/{g}">{g}</a></td><td>{}</td><td>{}</td><td class="opt">{}</td><td class="opt num">{}</td><td class="opt"><code>{}</code></td></tr>"#,
            when(b.created_at, now),
            esc(b.status.as_str()),
            consistency(b),
            esc(b.trigger.as_str()),
            charts::bytes(b.logical_size_bytes as f64),
            esc(&b.snapshot_id),
            g = esc(&b.graph_id),
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
            replication_row(&mut h, Some(&t.target.name), s, now);
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
            when(e.occurred_at, now),
            esc(&e.event_type),
            esc(e.graph_id.as_deref().unwrap_or("—")),
            esc(&e.message)
        );
    }
    h.push_str("</tbody></table></div></section>");

    recovery_points_section(&mut h, &d.recovery_points, now);
    events_section(
        &mut h,
        "Critical events",
        "events",
        &d.critical_events,
        "No error or critical event.",
        now,
    );

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
        when(d.generated_at, now)
    );
    h
}

fn consistency(b: &lightrag_recovery_db::BackupRecord) -> String {
    match (b.consistent, &b.inconsistency) {
        (Some(true), _) => r#"<span data-consistent="yes">yes</span>"#.to_owned(),
        (Some(false), why) => format!(
            r#"<span class="warn" data-consistent="no" title="{}">no</span>"#,
            esc(why
                .as_deref()
                .unwrap_or("a LightRAG save overlapped the backup"))
        ),
        (None, _) => r#"<span class="muted" data-consistent="unknown">–</span>"#.to_owned(),
    }
}

fn replication_row(
    h: &mut String,
    target: Option<&str>,
    s: &lightrag_recovery_db::ReplicationState,
    now: Timestamp,
) {
    let lag = s
        .lag_ms
        .map_or_else(|| "—".to_owned(), |ms| charts::millis(ms as f64));
    let _ = write!(
        h,
        r#"<tr><th scope="row">{}</th><td>{}</td><td>{}</td><td class="opt">{}</td><td>{}</td></tr>"#,
        esc(target.unwrap_or(&s.target_id)),
        esc(&s.graph_id),
        lag,
        when_opt(s.last_sync_at, now),
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

fn recovery_points_section(
    h: &mut String,
    points: &[lightrag_recovery_db::RecoveryPoint],
    now: Timestamp,
) {
    h.push_str(r#"<section aria-labelledby="rp-h"><h2 id="rp-h">Recovery points</h2><div class="scroll"><table id="recovery-points"><thead><tr><th scope="col">Created</th><th scope="col">Id</th><th scope="col">Description</th><th scope="col">Validated</th></tr></thead><tbody>"#);
    if points.is_empty() {
        h.push_str(r#"<tr><td colspan="4" class="muted">No recovery point.</td></tr>"#);
    }
    for p in points {
        let validated = match (&p.validation_error, p.validated) {
            (Some(e), _) => format!("failed: {}", esc(e)),
            (None, true) => format!("yes ({})", when_opt(p.validated_at, now)),
            (None, false) => "not yet".to_owned(),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            when(p.created_at, now),
            esc(&p.id),
            esc(&p.description),
            validated
        );
    }
    h.push_str("</tbody></table></div></section>");
}

fn events_section(
    h: &mut String,
    title: &str,
    id: &str,
    events: &[lightrag_recovery_db::Event],
    empty: &str,
    now: Timestamp,
) {
    let _ = write!(
        h,
        r#"<section aria-labelledby="{id}-h"><h2 id="{id}-h">{title}</h2><div class="scroll"><table id="{id}"><thead><tr><th scope="col">When</th><th scope="col">Severity</th><th scope="col">Type</th><th scope="col" class="opt">Graph</th><th scope="col">Message</th></tr></thead><tbody>"#,
        title = esc(title)
    );
    if events.is_empty() {
        let _ = write!(
            h,
            r#"<tr><td colspan="5" class="muted">{}</td></tr>"#,
            esc(empty)
        );
    }
    for e in events {
        let _ = write!(
            h,
            r#"<tr data-severity="{sev}"><td>{}</td><td>{sev}</td><td>{}</td><td class="opt">{}</td><td>{}</td></tr>"#,
            when(e.occurred_at, now),
            esc(&e.event_type),
            esc(e.graph_id.as_deref().unwrap_or("—")),
            esc(&e.message),
            sev = esc(e.severity.as_str()),
        );
    }
    h.push_str("</tbody></table></div></section>");
}

/// The graph detail page.
fn render_graph(p: &GraphPage) -> String {
    let now = p.generated_at;
    let g = &p.graph;
    let mut h = String::with_capacity(32 * 1024);
    let title = match g.label.as_deref() {
        Some(l) => format!("{l} ({})", g.id),
        None => g.id.clone(),
    };
    page_head(&mut h, &title, g.status, p.checked_at, now);
    let _ = write!(
        h,
        r#"<p><a href="/health">← all graphs</a></p><section aria-labelledby="st-h" data-graph="{id}" data-status="{st}"><h2 id="st-h">Health {badge}</h2>"#,
        id = esc(&g.id),
        st = g.status.as_str(),
        badge = badge(g.status),
    );
    if g.reasons.is_empty() {
        h.push_str(r#"<p class="muted">All checks passed.</p>"#);
    } else {
        h.push_str(r#"<ul class="reasons">"#);
        for r in &g.reasons {
            let _ = write!(h, "<li>{}</li>", esc(r));
        }
        h.push_str("</ul>");
    }
    if let Some(path) = &g.path {
        let _ = write!(
            h,
            r#"<p class="muted">Folder <code>{}</code> · last backup {}</p>"#,
            esc(&path.display().to_string()),
            when_opt(g.last_backup_at, now)
        );
    }
    h.push_str("</section>");

    h.push_str(r#"<section aria-labelledby="hist-h" id="history"><h2 id="hist-h">History</h2><div class="charts">"#);
    graph_charts(&mut h, &p.history);
    h.push_str(&charts::events_per_day(
        "events-per-day",
        &p.events_per_day,
        lightrag_service::HISTORY_DAYS,
        now,
    ));
    h.push_str("</div></section>");

    // Snapshots with counts and the graph-level diff from the one before.
    const COUNTS: [&str; 5] = ["docs", "chunks", "entities", "relations", "vectors"];
    h.push_str(r#"<section aria-labelledby="snap-h"><h2 id="snap-h">Snapshots</h2><p class="muted">LightRAG's counts in each snapshot, and the change from the snapshot below it.</p><div class="scroll"><table id="snapshots"><thead><tr><th scope="col">When</th><th scope="col">Snapshot</th><th scope="col">Status</th><th scope="col">Save-consistent</th>"#);
    for c in COUNTS {
        let _ = write!(h, r#"<th scope="col" class="num">{c}</th>"#);
    }
    h.push_str(r#"<th scope="col" class="opt num">Size</th><th scope="col" class="opt num">New</th><th scope="col" class="opt num">Took</th></tr></thead><tbody>"#);
    if p.snapshots.is_empty() {
        h.push_str(r#"<tr><td colspan="12" class="muted">No backup yet.</td></tr>"#);
    }
    for row in &p.snapshots {
        let b = &row.backup;
        let _ = write!(
            h,
            r#"<tr data-snapshot="{id}"><td>{}</td><td><code>{id}</code></td><td>{}</td><td>{}</td>"#,
            when(b.created_at, now),
            esc(b.status.as_str()),
            consistency(b),
            id = esc(&b.snapshot_id),
        );
        for c in COUNTS {
            let d = row.counts.iter().find(|d| d.name == c);
            let value = d
                .and_then(|d| d.b)
                .map_or("—".to_owned(), |v| v.to_string());
            let delta = match d.and_then(|d| d.delta) {
                Some(0) | None => String::new(),
                Some(x) if x > 0 => {
                    format!(r#" <span class="delta up" data-delta="{c}">+{x}</span>"#)
                }
                Some(x) => format!(r#" <span class="delta down" data-delta="{c}">{x}</span>"#),
            };
            let _ = write!(h, r#"<td class="num" data-count="{c}">{value}{delta}</td>"#);
        }
        let _ = write!(
            h,
            r#"<td class="opt num">{}</td><td class="opt num">{}</td><td class="opt num">{}</td></tr>"#,
            charts::bytes(b.logical_size_bytes as f64),
            charts::bytes(b.stored_size_bytes as f64),
            b.duration_ms
                .map_or("—".to_owned(), |d| charts::millis(d as f64)),
        );
    }
    h.push_str("</tbody></table></div></section>");

    recovery_points_section(&mut h, &p.recovery_points, now);

    h.push_str(r#"<section aria-labelledby="rep-h"><h2 id="rep-h">Replication</h2><div class="scroll"><table id="replication"><thead><tr><th scope="col">Target</th><th scope="col">Graph</th><th scope="col">Lag</th><th scope="col" class="opt">Last sync</th><th scope="col">Errors</th></tr></thead><tbody>"#);
    if p.replication.is_empty() {
        h.push_str(r#"<tr><td colspan="5" class="muted">Not replicated.</td></tr>"#);
    }
    for s in &p.replication {
        replication_row(&mut h, None, s, now);
    }
    h.push_str("</tbody></table></div></section>");

    events_section(&mut h, "Events", "events", &p.events, "No event.", now);
    let _ = write!(
        h,
        r#"<p class="muted">Generated {}. JSON: this page with <code>Accept: application/json</code>.</p></main></body></html>"#,
        when(p.generated_at, now)
    );
    h
}

#[cfg(test)]
mod tests {
    use super::graph_name;

    #[test]
    fn mapped_graphs_show_their_folder_name() {
        assert_eq!(graph_name("alpha", None), "alpha");
        let n = graph_name("ws-0123456789", Some("備援"));
        assert!(
            n.contains(">備援</span>") && n.contains("(ws-0123456789)"),
            "{n}"
        );
        assert!(!graph_name("x", Some("<b>")).contains("<b>"));
    }
}
