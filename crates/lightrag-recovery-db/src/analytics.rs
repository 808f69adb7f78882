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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

fn floor_to(x: i64, span: i64) -> i64 {
    x - x.rem_euclid(span)
}

fn ceil_to(x: i64, span: i64) -> i64 {
    let f = floor_to(x, span);
    if f == x { x } else { f.saturating_add(span) }
}

/// How a window splits into whole days and whole hours (read from `event_rollups`) and
/// sub-hour edges (read from `events`): five half-open ranges, possibly empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Split {
    days: (i64, i64),
    hours_a: (i64, i64),
    hours_b: (i64, i64),
    raw_a: (i64, i64),
    raw_b: (i64, i64),
}

fn split(since: i64, until: i64) -> Split {
    const NONE: (i64, i64) = (0, 0);
    let h0 = ceil_to(since, HOUR_MS);
    let h1 = floor_to(until, HOUR_MS);
    if since < 0 || h0 >= h1 {
        return Split {
            days: NONE,
            hours_a: NONE,
            hours_b: NONE,
            raw_a: (since, until),
            raw_b: NONE,
        };
    }
    let d0 = ceil_to(h0, DAY_MS);
    let d1 = floor_to(h1, DAY_MS);
    if d0 >= d1 {
        return Split {
            days: NONE,
            hours_a: (h0, h1),
            hours_b: NONE,
            raw_a: (since, h0),
            raw_b: (h1, until),
        };
    }
    Split {
        days: (d0, d1),
        hours_a: (h0, d0),
        hours_b: (d1, h1),
        raw_a: (since, h0),
        raw_b: (h1, until),
    }
}

/// Events in `window` counted per (kind, event type, severity), with the number that carry a
/// duration and the sum of their bytes; ordered by those keys.
///
/// Whole days and whole hours of the window come from `event_rollups` (exact aggregates kept by
/// triggers in the same transaction as every insert and delete); only the sub-hour edges are
/// read from `events` (`events_time_cover_idx` / `events_graph_cover_idx`). The cost is
/// bounded by the window's length in days plus at most two hours of rows, not by the number of
/// events in it. Windows starting before 1970 are read from `events` only.
pub fn event_window_stats(conn: &mut DbConn, window: &EventWindow) -> Result<Vec<EventTypeStats>> {
    crate::text::check_opt_id("graph id", window.graph_id.as_deref())?;
    let by_graph = window.graph_id.is_some();
    let g = if by_graph { " AND graph_id = ?" } else { "" };
    // SQLite without statistics could pick a non-covering index: name the covering one.
    let hint = match (conn.backend(), by_graph) {
        (crate::BackendKind::Sqlite, true) => " INDEXED BY events_graph_cover_idx",
        (crate::BackendKind::Sqlite, false) => " INDEXED BY events_time_cover_idx",
        (crate::BackendKind::Postgres, _) => "",
    };
    let rollup = format!(
        "SELECT kind, event_type, severity, n, n_duration, bytes FROM event_rollups \
         WHERE span_ms = ? AND bucket_ms >= ? AND bucket_ms < ?{g}"
    );
    let raw = format!(
        "SELECT kind, event_type, severity, 1 AS n, \
         CASE WHEN duration_ms IS NULL THEN 0 ELSE 1 END AS n_duration, \
         COALESCE(bytes, 0) AS bytes FROM events{hint} \
         WHERE occurred_at >= ? AND occurred_at < ?{g}"
    );
    let sql = format!(
        "SELECT kind, event_type, severity, CAST(SUM(n) AS BIGINT) AS n, \
         CAST(SUM(n_duration) AS BIGINT) AS n_duration, CAST(SUM(bytes) AS BIGINT) AS bytes \
         FROM ({rollup} UNION ALL {rollup} UNION ALL {rollup} UNION ALL {raw} UNION ALL {raw}) u \
         GROUP BY kind, event_type, severity HAVING SUM(n) > 0 \
         ORDER BY kind, event_type, severity"
    );
    let sp = split(window.since.unix_millis(), window.until.unix_millis());
    let rows = match &window.graph_id {
        Some(gr) => load_rows!(conn, sql, StatsRow, [
            BigInt => DAY_MS, BigInt => sp.days.0, BigInt => sp.days.1, Text => gr,
            BigInt => HOUR_MS, BigInt => sp.hours_a.0, BigInt => sp.hours_a.1, Text => gr,
            BigInt => HOUR_MS, BigInt => sp.hours_b.0, BigInt => sp.hours_b.1, Text => gr,
            BigInt => sp.raw_a.0, BigInt => sp.raw_a.1, Text => gr,
            BigInt => sp.raw_b.0, BigInt => sp.raw_b.1, Text => gr,
        ])?,
        None => load_rows!(conn, sql, StatsRow, [
            BigInt => DAY_MS, BigInt => sp.days.0, BigInt => sp.days.1,
            BigInt => HOUR_MS, BigInt => sp.hours_a.0, BigInt => sp.hours_a.1,
            BigInt => HOUR_MS, BigInt => sp.hours_b.0, BigInt => sp.hours_b.1,
            BigInt => sp.raw_a.0, BigInt => sp.raw_a.1,
            BigInt => sp.raw_b.0, BigInt => sp.raw_b.1,
        ])?,
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

/// Events of one UTC day and severity (see [`events_per_day`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DaySeverityCount {
    /// Start of the UTC day.
    pub day: Timestamp,
    /// Severity.
    pub severity: Severity,
    /// Events.
    pub count: i64,
}

#[derive(QueryableByName)]
struct DayRow {
    #[diesel(sql_type = BigInt)]
    bucket_ms: i64,
    #[diesel(sql_type = Text)]
    severity: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Events per UTC day and severity, from the day of `since` on (all graphs, or one), ordered
/// by day then severity. Read from the day rollups alone (kept exact by triggers on every insert
/// and delete, the current day included): the cost is the number of days, not of events.
pub fn events_per_day(
    conn: &mut DbConn,
    since: Timestamp,
    graph_id: Option<&str>,
) -> Result<Vec<DaySeverityCount>> {
    crate::text::check_opt_id("graph id", graph_id)?;
    let from = floor_to(since.unix_millis(), DAY_MS);
    let g = if graph_id.is_some() {
        " AND graph_id = ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT bucket_ms, severity, CAST(SUM(n) AS BIGINT) AS n FROM event_rollups \
         WHERE span_ms = ? AND bucket_ms >= ?{g} GROUP BY bucket_ms, severity HAVING SUM(n) > 0 \
         ORDER BY bucket_ms, severity"
    );
    let rows = match graph_id {
        Some(gr) => load_rows!(conn, sql, DayRow, [BigInt => DAY_MS, BigInt => from, Text => gr])?,
        None => load_rows!(conn, sql, DayRow, [BigInt => DAY_MS, BigInt => from])?,
    };
    rows.into_iter()
        .map(|r| {
            Ok(DaySeverityCount {
                day: Timestamp::from_unix_millis(r.bucket_ms),
                severity: parse(&r.severity)?,
                count: r.n,
            })
        })
        .collect()
}

/// Drops rollup buckets that end at or before `cutoff` (all their events are gone after
/// [`delete_events_before`](crate::delete_events_before) with the same cutoff).
pub(crate) fn prune_rollups(conn: &mut DbConn, cutoff: i64) -> Result<usize> {
    let sql = "DELETE FROM event_rollups WHERE span_ms = ? AND bucket_ms <= ?";
    let mut n = 0;
    for span in [HOUR_MS, DAY_MS] {
        let sql = placeholders(conn, sql);
        let last = cutoff.saturating_sub(span);
        n += match conn {
            DbConn::Sqlite(c) => diesel::sql_query(sql)
                .bind::<BigInt, _>(span)
                .bind::<BigInt, _>(last)
                .execute(c),
            DbConn::Postgres(c) => diesel::sql_query(sql)
                .bind::<BigInt, _>(span)
                .bind::<BigInt, _>(last)
                .execute(c),
        }
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
    }
    Ok(n)
}

/// Nearest-rank percentiles of `duration_ms` of the `kind` events in `window` that have a
/// duration: for each `p` in `(0, 1]`, the value at rank `ceil(p * n)` in ascending order.
/// `None` per percentile when the window has no such event. `n` must be the number of matching
/// events (the sum of [`EventTypeStats::with_duration`] for the kind, read in the same
/// transaction — see [`read_snapshot`]); it picks the plan and the walking direction.
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
    // Ranks above the median walk from the top (ORDER BY … DESC), so p95/p99 visit ~5 % / ~1 %
    // of the rows instead of 95 % / 99 %.
    let sql = |dir: &str| {
        format!(
            "SELECT duration_ms AS v FROM events{hint} \
             WHERE kind = ? AND duration_ms IS NOT NULL AND occurred_at >= ? AND occurred_at < ?\
             {graph_clause} ORDER BY duration_ms {dir} LIMIT 1 OFFSET ?"
        )
    };
    let since = window.since.unix_millis();
    let until = window.until.unix_millis();
    let mut out = Vec::with_capacity(percentiles.len());
    for &p in percentiles {
        let rank = nearest_rank(p, n);
        let (sql, offset) = if rank > n / 2 {
            (sql("DESC"), n - rank)
        } else {
            (sql("ASC"), rank - 1)
        };
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

/// Runs `f` in a read-only transaction with one snapshot for all its statements (PostgreSQL
/// `REPEATABLE READ`; a SQLite read transaction), so counts and ranks computed by several
/// queries agree even while events are being inserted.
pub fn read_snapshot<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T>) -> Result<T> {
    conn.transaction::<T, RecoveryDbError, _>(|conn| {
        if let DbConn::Postgres(c) = conn {
            use diesel::connection::SimpleConnection;
            c.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
        }
        f(conn)
    })
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
    fn windows_split_into_days_hours_and_edges() {
        use super::{DAY_MS, HOUR_MS, split};
        let d = DAY_MS;
        let h = HOUR_MS;
        // Inside one hour: raw only.
        let s = split(10 * d + 5, 10 * d + 100);
        assert_eq!(s.raw_a, (10 * d + 5, 10 * d + 100));
        assert_eq!(
            (s.days, s.hours_a, s.hours_b, s.raw_b),
            ((0, 0), (0, 0), (0, 0), (0, 0))
        );
        // Hours, no whole day.
        let s = split(10 * d + 5, 10 * d + 3 * h + 7);
        assert_eq!(
            (s.hours_a, s.raw_a, s.raw_b),
            (
                (10 * d + h, 10 * d + 3 * h),
                (10 * d + 5, 10 * d + h),
                (10 * d + 3 * h, 10 * d + 3 * h + 7)
            )
        );
        assert_eq!(s.days, (0, 0));
        // Days, hours and edges; aligned bounds give empty edges.
        let s = split(10 * d - h - 1, 13 * d + 2 * h + 1);
        assert_eq!(s.days, (10 * d, 13 * d));
        assert_eq!(s.hours_a, (10 * d - h, 10 * d));
        assert_eq!(s.hours_b, (13 * d, 13 * d + 2 * h));
        assert_eq!(s.raw_a, (10 * d - h - 1, 10 * d - h));
        assert_eq!(s.raw_b, (13 * d + 2 * h, 13 * d + 2 * h + 1));
        let s = split(10 * d, 12 * d);
        assert_eq!(
            (s.days, s.hours_a, s.hours_b, s.raw_a, s.raw_b),
            (
                (10 * d, 12 * d),
                (10 * d, 10 * d),
                (12 * d, 12 * d),
                (10 * d, 10 * d),
                (12 * d, 12 * d)
            )
        );
        // Before 1970: raw only.
        assert_eq!(split(-5, 3 * d).raw_a, (-5, 3 * d));
    }

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
