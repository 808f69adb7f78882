//! Event-log analytics: aggregates over a time window, computed in the database.
//!
//! Every query is bounded by the window `[since, until)` and served by the indexes of the
//! `*_event_analytics_indexes` migration: [`event_window_stats`] reads only
//! `events_time_cover_idx` (or `events_graph_cover_idx` with a graph), and
//! [`duration_percentiles`] either sorts the window's durations (narrow windows) or walks
//! `events_kind_duration_idx` in duration order and stops at the rank (wide windows). No rows are
//! loaded into Rust except the few aggregate rows and one value per percentile.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde::{Deserialize, Serialize};

use crate::conn::DbConn;
use crate::error::{RecoveryDbError, Result};
use crate::types::{EventKind, Severity, Timestamp};

const ENTITY: &str = "event";

/// Above this many matching rows, SQLite percentiles walk the duration index instead of sorting.
const SORT_LIMIT: i64 = 20_000;

/// A half-open time window `[since, until)`, optionally restricted to one graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventWindow {
    /// Inclusive start (`occurred_at >= since`).
    pub since: Timestamp,
    /// Exclusive end (`occurred_at < until`).
    pub until: Timestamp,
    /// Only events of this graph.
    pub graph_id: Option<String>,
}

impl EventWindow {
    /// The window `[since, until)` over every graph.
    pub fn new(since: Timestamp, until: Timestamp) -> Self {
        Self {
            since,
            until,
            graph_id: None,
        }
    }

    /// Restricts the window to one graph.
    pub fn graph(mut self, graph_id: impl Into<String>) -> Self {
        self.graph_id = Some(graph_id.into());
        self
    }
}

/// Aggregates of the events of one (kind, event type, severity) in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTypeStats {
    /// Area.
    pub kind: EventKind,
    /// Specific type.
    pub event_type: String,
    /// Severity.
    pub severity: Severity,
    /// Events.
    pub count: i64,
    /// Events with a duration.
    pub with_duration: i64,
    /// Sum of `bytes` (0 when none set).
    pub bytes: i64,
}

#[derive(QueryableByName)]
struct StatsRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Text)]
    severity: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    n_duration: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    bytes: Option<i64>,
}

#[derive(QueryableByName)]
struct ValueRow {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

/// `?` placeholders → `$n` for PostgreSQL.
fn placeholders(conn: &DbConn, sql: &str) -> String {
    match conn {
        DbConn::Sqlite(_) => sql.to_owned(),
        DbConn::Postgres(_) => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

/// Binds the `?` values of a window query and loads rows on either backend.
macro_rules! load_rows {
    ($conn:expr, $sql:expr, $row:ty, [$($ty:ty => $val:expr),* $(,)?]) => {{
        let sql = placeholders($conn, &$sql);
        let result: std::result::Result<Vec<$row>, diesel::result::Error> = match $conn {
            DbConn::Sqlite(c) => diesel::sql_query(sql)$(.bind::<$ty, _>($val))*.load(c),
            DbConn::Postgres(c) => diesel::sql_query(sql)$(.bind::<$ty, _>($val))*.load(c),
        };
        result.map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
    }};
}

fn parse<T: std::str::FromStr>(s: &str) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.parse::<T>()
        .map_err(|e| RecoveryDbError::Corrupt { source: e.into() })
}

/// Events in `window` counted per (kind, event type, severity), with the number that carry a
/// duration and the sum of their bytes; ordered by those keys. One index-only pass over the
/// window.
pub fn event_window_stats(conn: &mut DbConn, window: &EventWindow) -> Result<Vec<EventTypeStats>> {
    let graph_clause = if window.graph_id.is_some() {
        " AND graph_id = ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT kind, event_type, severity, COUNT(*) AS n, COUNT(duration_ms) AS n_duration, \
         CAST(SUM(bytes) AS BIGINT) AS bytes FROM events \
         WHERE occurred_at >= ? AND occurred_at < ?{graph_clause} \
         GROUP BY kind, event_type, severity ORDER BY kind, event_type, severity"
    );
    let since = window.since.unix_millis();
    let until = window.until.unix_millis();
    let rows = match &window.graph_id {
        Some(g) => load_rows!(conn, sql, StatsRow, [BigInt => since, BigInt => until, Text => g])?,
        None => load_rows!(conn, sql, StatsRow, [BigInt => since, BigInt => until])?,
    };
    rows.into_iter()
        .map(|r| {
            Ok(EventTypeStats {
                kind: parse(&r.kind)?,
                event_type: r.event_type,
                severity: parse(&r.severity)?,
                count: r.n,
                with_duration: r.n_duration,
                bytes: r.bytes.unwrap_or(0),
            })
        })
        .collect()
}

/// Nearest-rank percentiles of `duration_ms` of the `kind` events in `window` that have a
/// duration: for each `p` in `(0, 1]`, the value at rank `ceil(p * n)` in ascending order.
/// `None` per percentile when the window has no such event. `n` is the number of matching
/// events (pass the sum of [`EventTypeStats::with_duration`] for the kind; it picks the plan).
pub fn duration_percentiles(
    conn: &mut DbConn,
    window: &EventWindow,
    kind: EventKind,
    n: i64,
    percentiles: &[f64],
) -> Result<Vec<Option<i64>>> {
    if n <= 0 {
        return Ok(vec![None; percentiles.len()]);
    }
    // SQLite picks indexes without statistics: name the one that makes the plan bounded.
    let hint = match (conn.backend(), window.graph_id.is_some()) {
        (crate::BackendKind::Sqlite, true) => " INDEXED BY events_graph_cover_idx",
        (crate::BackendKind::Sqlite, false) if n > SORT_LIMIT => {
            " INDEXED BY events_kind_duration_idx"
        }
        (crate::BackendKind::Sqlite, false) => " INDEXED BY events_time_cover_idx",
        (crate::BackendKind::Postgres, _) => "",
    };
    let graph_clause = if window.graph_id.is_some() {
        " AND graph_id = ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT duration_ms AS v FROM events{hint} \
         WHERE kind = ? AND duration_ms IS NOT NULL AND occurred_at >= ? AND occurred_at < ?\
         {graph_clause} ORDER BY duration_ms LIMIT 1 OFFSET ?"
    );
    let since = window.since.unix_millis();
    let until = window.until.unix_millis();
    let mut out = Vec::with_capacity(percentiles.len());
    for &p in percentiles {
        let rank = nearest_rank(p, n);
        let offset = rank - 1;
        let rows = match &window.graph_id {
            Some(g) => load_rows!(conn, sql, ValueRow, [
                Text => kind.as_str(), BigInt => since, BigInt => until, Text => g, BigInt => offset
            ])?,
            None => load_rows!(conn, sql, ValueRow, [
                Text => kind.as_str(), BigInt => since, BigInt => until, BigInt => offset
            ])?,
        };
        out.push(rows.first().map(|r| r.v));
    }
    Ok(out)
}

/// Rank (1-based) of the nearest-rank percentile `p` among `n` sorted values.
pub fn nearest_rank(p: f64, n: i64) -> i64 {
    let p = if p.is_finite() {
        p.clamp(0.0, 1.0)
    } else {
        1.0
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    // Tolerance so that e.g. 0.95 * 100 (95.000…01 in binary) is rank 95, not 96.
    let rank = (p * n as f64 - 1e-9).ceil() as i64;
    rank.clamp(1, n.max(1))
}

/// Number of recovery points in the catalog.
pub fn count_recovery_points(conn: &mut DbConn) -> Result<i64> {
    crate::schema::recovery_points::table
        .count()
        .get_result(conn)
        .map_err(|e| RecoveryDbError::from_diesel("recovery point", e))
}

#[cfg(test)]
mod tests {
    use super::nearest_rank;

    #[test]
    fn nearest_rank_matches_the_definition() {
        assert_eq!(nearest_rank(0.5, 10), 5);
        assert_eq!(nearest_rank(0.95, 10), 10);
        assert_eq!(nearest_rank(0.99, 100), 99);
        assert_eq!(nearest_rank(0.5, 1), 1);
        assert_eq!(nearest_rank(0.0, 7), 1);
        assert_eq!(nearest_rank(1.0, 7), 7);
    }
}
