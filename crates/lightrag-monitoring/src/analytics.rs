//! Event analytics over a time window: counts, success rates, duration percentiles, bytes and
//! the latest critical events. Aggregation runs in the database (see
//! `lightrag_recovery_db::event_window_stats` / `duration_percentiles`); Rust only folds the
//! few grouped rows.

use std::collections::BTreeMap;

use lightrag_recovery_db::{
    Db, Event, EventFilter, EventKind, EventWindow, Order, Page, Severity, duration_percentiles,
    event_window_stats, list_events, read_snapshot,
};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Operation kinds with success rates and duration percentiles.
pub const OPERATION_KINDS: &[EventKind] = &[
    EventKind::Backup,
    EventKind::Replication,
    EventKind::Restore,
    EventKind::Validation,
];

/// Percentiles reported, nearest-rank.
pub const PERCENTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// Duration percentiles in milliseconds (nearest rank; `None` without data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DurationPercentiles {
    /// Events with a duration.
    pub samples: i64,
    /// Median.
    pub p50_ms: Option<i64>,
    /// 95th percentile.
    pub p95_ms: Option<i64>,
    /// 99th percentile.
    pub p99_ms: Option<i64>,
}

/// Statistics of one operation kind in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OperationStats {
    /// The kind (`backup`, `replication`, `restore`, `validation`).
    pub kind: EventKind,
    /// `<kind>.completed` events.
    pub completed: i64,
    /// `<kind>.failed` events.
    pub failed: i64,
    /// `completed / (completed + failed)`; `None` when both are 0.
    pub success_rate: Option<f64>,
    /// Sum of `bytes` of the kind's events.
    pub bytes: i64,
    /// Durations of the kind's events that carry one.
    pub duration: DurationPercentiles,
}

/// The analytics of one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalyticsReport {
    /// The window (`since` inclusive, `until` exclusive) and graph.
    pub window: EventWindow,
    /// Events in the window.
    pub total: i64,
    /// Per kind.
    pub by_kind: BTreeMap<String, i64>,
    /// Per event type.
    pub by_type: BTreeMap<String, i64>,
    /// Per severity.
    pub by_severity: BTreeMap<String, i64>,
    /// Sum of `bytes` over every event.
    pub bytes_total: i64,
    /// Per operation kind.
    pub operations: Vec<OperationStats>,
    /// The most recent critical events, newest first.
    pub latest_critical: Vec<Event>,
}

/// Computes the analytics of `window`, with at most `critical_limit` latest critical events.
pub async fn analytics(
    db: &Db,
    window: EventWindow,
    critical_limit: u32,
) -> Result<AnalyticsReport> {
    let w = window.clone();
    Ok(db
        .run(move |conn| {
            read_snapshot(conn, |conn| {
                let stats = event_window_stats(conn, &w)?;
                let mut report = AnalyticsReport {
                    window: w.clone(),
                    total: 0,
                    by_kind: BTreeMap::new(),
                    by_type: BTreeMap::new(),
                    by_severity: BTreeMap::new(),
                    bytes_total: 0,
                    operations: Vec::new(),
                    latest_critical: Vec::new(),
                };
                for s in &stats {
                    report.total += s.count;
                    report.bytes_total += s.bytes;
                    *report
                        .by_kind
                        .entry(s.kind.as_str().to_owned())
                        .or_default() += s.count;
                    *report.by_type.entry(s.event_type.clone()).or_default() += s.count;
                    *report
                        .by_severity
                        .entry(s.severity.as_str().to_owned())
                        .or_default() += s.count;
                }
                for &kind in OPERATION_KINDS {
                    let of_kind = stats.iter().filter(|s| s.kind == kind);
                    let completed_type = format!("{kind}.completed");
                    let failed_type = format!("{kind}.failed");
                    let (mut completed, mut failed, mut bytes, mut samples) = (0, 0, 0, 0);
                    for s in of_kind {
                        if s.event_type == completed_type {
                            completed += s.count;
                        } else if s.event_type == failed_type {
                            failed += s.count;
                        }
                        bytes += s.bytes;
                        samples += s.with_duration;
                    }
                    let p = duration_percentiles(conn, &w, kind, samples, &PERCENTILES)?;
                    #[allow(clippy::cast_precision_loss)]
                    let success_rate = (completed + failed > 0)
                        .then(|| completed as f64 / (completed + failed) as f64);
                    report.operations.push(OperationStats {
                        kind,
                        completed,
                        failed,
                        success_rate,
                        bytes,
                        duration: DurationPercentiles {
                            samples,
                            p50_ms: p[0],
                            p95_ms: p[1],
                            p99_ms: p[2],
                        },
                    });
                }
                if critical_limit > 0 {
                    let filter = EventFilter {
                        graph_id: w.graph_id.clone(),
                        severity: Some(Severity::Critical),
                        since: Some(w.since),
                        until: Some(w.until),
                        order: Order::NewestFirst,
                        ..EventFilter::default()
                    };
                    report.latest_critical =
                        list_events(conn, &filter, Page::new(critical_limit, 0))?;
                }
                Ok(report)
            })
        })
        .await?)
}
