//! `events`: the operations event log (append-only).

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::conn::{DbConn, MultiBackend};
use crate::error::{RecoveryDbError, Result};
use crate::schema::events;
use crate::text::{check_id, check_non_negative, check_opt_id, clean, normalize_json};
use crate::types::{EventKind, Order, Page, Severity, Timestamp};

const ENTITY: &str = "event";

/// Rows per INSERT statement in [`insert_events`] (well under both backends' bind limits).
const BATCH_ROWS: usize = 1_000;

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Queryable, Selectable)]
#[diesel(table_name = events, check_for_backend(MultiBackend))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Row id (increasing).
    pub id: i64,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// Area.
    pub kind: EventKind,
    /// Specific type, e.g. `backup.completed`.
    pub event_type: String,
    /// Severity.
    pub severity: Severity,
    /// Graph concerned.
    pub graph_id: Option<String>,
    /// Replication target concerned.
    pub target_id: Option<String>,
    /// Recovery point concerned.
    pub recovery_point_id: Option<String>,
    /// Snapshot concerned.
    pub snapshot_id: Option<String>,
    /// Duration of the operation.
    pub duration_ms: Option<i64>,
    /// Bytes processed.
    pub bytes: Option<i64>,
    /// Short message.
    pub message: String,
    /// Details, JSON text.
    pub details: Option<String>,
}

impl Event {
    /// `details` parsed as JSON.
    pub fn details_json(&self) -> Option<serde_json::Value> {
        self.details
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }
}

/// Input of [`insert_event`] / [`insert_events`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = events)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewEvent {
    /// When it happened.
    pub occurred_at: Timestamp,
    /// Area.
    pub kind: EventKind,
    /// Specific type.
    pub event_type: String,
    /// Severity.
    pub severity: Severity,
    /// Graph concerned.
    pub graph_id: Option<String>,
    /// Target concerned.
    pub target_id: Option<String>,
    /// Recovery point concerned.
    pub recovery_point_id: Option<String>,
    /// Snapshot concerned.
    pub snapshot_id: Option<String>,
    /// Duration.
    pub duration_ms: Option<i64>,
    /// Bytes processed.
    pub bytes: Option<i64>,
    /// Message (NUL replaced by U+FFFD).
    pub message: String,
    /// Details, JSON text (validated; see [`NewEvent::with_details`]).
    pub details: Option<String>,
}

impl NewEvent {
    /// An event happening now, with no references.
    pub fn new(
        kind: EventKind,
        event_type: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Self {
        Self {
            occurred_at: Timestamp::now(),
            kind,
            event_type: event_type.into(),
            severity,
            graph_id: None,
            target_id: None,
            recovery_point_id: None,
            snapshot_id: None,
            duration_ms: None,
            bytes: None,
            message: message.into(),
            details: None,
        }
    }

    /// Sets the graph.
    pub fn graph(mut self, graph_id: impl Into<String>) -> Self {
        self.graph_id = Some(graph_id.into());
        self
    }

    /// Sets the target.
    pub fn target(mut self, target_id: impl Into<String>) -> Self {
        self.target_id = Some(target_id.into());
        self
    }

    /// Sets the recovery point.
    pub fn recovery_point(mut self, id: impl Into<String>) -> Self {
        self.recovery_point_id = Some(id.into());
        self
    }

    /// Sets the snapshot.
    pub fn snapshot(mut self, id: impl Into<String>) -> Self {
        self.snapshot_id = Some(id.into());
        self
    }

    /// Sets the duration.
    pub fn duration_ms(mut self, ms: i64) -> Self {
        self.duration_ms = Some(ms);
        self
    }

    /// Sets the bytes.
    pub fn bytes(mut self, bytes: i64) -> Self {
        self.bytes = Some(bytes);
        self
    }

    /// Sets the time.
    pub fn at(mut self, t: Timestamp) -> Self {
        self.occurred_at = t;
        self
    }

    /// Sets the details from a JSON value.
    pub fn with_details(mut self, details: &serde_json::Value) -> Self {
        self.details = Some(details.to_string());
        self
    }

    fn prepare(&mut self) -> Result<()> {
        check_id("event type", &self.event_type)?;
        check_opt_id("graph id", self.graph_id.as_deref())?;
        check_opt_id("target id", self.target_id.as_deref())?;
        check_opt_id("recovery point id", self.recovery_point_id.as_deref())?;
        check_opt_id("snapshot id", self.snapshot_id.as_deref())?;
        if let Some(d) = self.duration_ms {
            check_non_negative("duration_ms", d)?;
        }
        if let Some(b) = self.bytes {
            check_non_negative("bytes", b)?;
        }
        clean(&mut self.message);
        normalize_json("details", &mut self.details)
    }
}

/// Filter of [`list_events`] and [`count_events`]. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    /// Graph.
    pub graph_id: Option<String>,
    /// Target.
    pub target_id: Option<String>,
    /// Recovery point.
    pub recovery_point_id: Option<String>,
    /// Snapshot.
    pub snapshot_id: Option<String>,
    /// Area.
    pub kind: Option<EventKind>,
    /// Exact type.
    pub event_type: Option<String>,
    /// Exact severity.
    pub severity: Option<Severity>,
    /// This severity or worse.
    pub min_severity: Option<Severity>,
    /// `occurred_at >= since`.
    pub since: Option<Timestamp>,
    /// `occurred_at < until`.
    pub until: Option<Timestamp>,
    /// Sort by `occurred_at` (then id).
    pub order: Order,
}

/// Adds the `WHERE` clauses of `filter` to a boxed query on `events`.
macro_rules! apply_filter {
    ($q:expr, $filter:expr) => {{
        let filter: &EventFilter = $filter;
        let mut q = $q;
        if let Some(v) = &filter.graph_id {
            q = q.filter(events::graph_id.eq(v));
        }
        if let Some(v) = &filter.target_id {
            q = q.filter(events::target_id.eq(v));
        }
        if let Some(v) = &filter.recovery_point_id {
            q = q.filter(events::recovery_point_id.eq(v));
        }
        if let Some(v) = &filter.snapshot_id {
            q = q.filter(events::snapshot_id.eq(v));
        }
        if let Some(v) = filter.kind {
            q = q.filter(events::kind.eq(v));
        }
        if let Some(v) = &filter.event_type {
            q = q.filter(events::event_type.eq(v));
        }
        if let Some(v) = filter.severity {
            q = q.filter(events::severity.eq(v));
        }
        if let Some(v) = filter.min_severity {
            q = q.filter(events::severity.eq_any(v.at_least()));
        }
        if let Some(t) = filter.since {
            q = q.filter(events::occurred_at.ge(t));
        }
        if let Some(t) = filter.until {
            q = q.filter(events::occurred_at.lt(t));
        }
        q
    }};
}

/// A filter value PostgreSQL cannot compare (NUL) or no id can have is malformed input
/// ([`RecoveryDbError::InvalidInput`]), not a database failure.
fn check_filter(filter: &EventFilter) -> Result<()> {
    check_opt_id("graph id", filter.graph_id.as_deref())?;
    check_opt_id("target id", filter.target_id.as_deref())?;
    check_opt_id("recovery point id", filter.recovery_point_id.as_deref())?;
    check_opt_id("snapshot id", filter.snapshot_id.as_deref())?;
    check_opt_id("event type", filter.event_type.as_deref())
}

fn filtered(filter: &EventFilter) -> events::BoxedQuery<'_, MultiBackend> {
    apply_filter!(events::table.into_boxed::<MultiBackend>(), filter)
}

/// Appends one event.
pub fn insert_event(conn: &mut DbConn, event: &NewEvent) -> Result<()> {
    let mut event = event.clone();
    event.prepare()?;
    diesel::insert_into(events::table)
        .values(&event)
        .execute(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
    Ok(())
}

/// Appends many events in one transaction (multi-row INSERTs); all or nothing. Returns the
/// number inserted.
pub fn insert_events(conn: &mut DbConn, events_in: &[NewEvent]) -> Result<usize> {
    let mut prepared = events_in.to_vec();
    for e in &mut prepared {
        e.prepare()?;
    }
    if prepared.is_empty() {
        return Ok(0);
    }
    conn.transaction::<_, RecoveryDbError, _>(|conn| {
        let mut n = 0;
        for chunk in prepared.chunks(BATCH_ROWS) {
            // Multi-row INSERT is not expressible through the MultiConnection backend; run it on
            // the inner connection (same session, same transaction).
            let insert = diesel::insert_into(events::table).values(chunk);
            n += match conn {
                DbConn::Postgres(c) => insert.execute(c),
                DbConn::Sqlite(c) => insert.execute(c),
            }
            .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
        }
        Ok(n)
    })
}

/// One event by id. [`RecoveryDbError::NotFound`] if absent.
pub fn get_event(conn: &mut DbConn, id: i64) -> Result<Event> {
    events::table
        .find(id)
        .select(Event::as_select())
        .first(conn)
        .optional()
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?
        .ok_or_else(|| RecoveryDbError::not_found(ENTITY, id.to_string()))
}

/// Events matching `filter`, ordered by time then id.
pub fn list_events(conn: &mut DbConn, filter: &EventFilter, page: Page) -> Result<Vec<Event>> {
    check_filter(filter)?;
    let q = filtered(filter).select(Event::as_select());
    let q = match filter.order {
        Order::NewestFirst => q.order((events::occurred_at.desc(), events::id.desc())),
        Order::OldestFirst => q.order((events::occurred_at.asc(), events::id.asc())),
    };
    q.limit(page.limit_i64())
        .offset(page.offset_i64())
        .load(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
}

/// Number of events matching `filter`.
pub fn count_events(conn: &mut DbConn, filter: &EventFilter) -> Result<i64> {
    check_filter(filter)?;
    filtered(filter)
        .count()
        .get_result(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
}

/// Number of events per (kind, event type, severity), for analytics over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCount {
    /// Area.
    pub kind: EventKind,
    /// Specific type.
    pub event_type: String,
    /// Severity.
    pub severity: Severity,
    /// Events.
    pub count: i64,
}

/// Events matching `filter` counted per (kind, event type, severity), ordered by those keys.
pub fn count_events_by_type(conn: &mut DbConn, filter: &EventFilter) -> Result<Vec<EventCount>> {
    check_filter(filter)?;
    let grouped = events::table
        .group_by((events::kind, events::event_type, events::severity))
        .select((
            events::kind,
            events::event_type,
            events::severity,
            diesel::dsl::count_star(),
        ))
        .into_boxed::<MultiBackend>();
    let rows: Vec<(EventKind, String, Severity, i64)> = apply_filter!(grouped, filter)
        .order((
            events::kind.asc(),
            events::event_type.asc(),
            events::severity.asc(),
        ))
        .load(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
    Ok(rows
        .into_iter()
        .map(|(kind, event_type, severity, count)| EventCount {
            kind,
            event_type,
            severity,
            count,
        })
        .collect())
}

/// Deletes events older than `before` (event-log retention); returns how many.
///
/// The analytics rollups follow in the same transaction (triggers), and rollup buckets that
/// ended before `before` are dropped.
pub fn delete_events_before(conn: &mut DbConn, before: Timestamp) -> Result<usize> {
    conn.transaction::<_, RecoveryDbError, _>(|conn| {
        let n = diesel::delete(events::table.filter(events::occurred_at.lt(before)))
            .execute(conn)
            .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
        crate::analytics::prune_rollups(conn, before.unix_millis())?;
        Ok(n)
    })
}
