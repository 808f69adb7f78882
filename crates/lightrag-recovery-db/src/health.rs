//! `health_check_events`: results of health checks (append-only).

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::conn::{DbConn, MultiBackend};
use crate::error::{RecoveryDbError, Result};
use crate::schema::health_check_events;
use crate::text::{check_id, clean_opt, normalize_json};
use crate::types::{ComponentType, HealthStatus, Order, Page, Timestamp};

const ENTITY: &str = "health check";

/// One stored health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Queryable, Selectable)]
#[diesel(table_name = health_check_events, check_for_backend(MultiBackend))]
pub struct HealthCheckEvent {
    /// Row id (increasing).
    pub id: i64,
    /// When the check ran.
    pub checked_at: Timestamp,
    /// What was checked.
    pub component_type: ComponentType,
    /// Which one (graph id, target id, `primary`, …).
    pub component_id: String,
    /// Result.
    pub status: HealthStatus,
    /// Short explanation.
    pub message: Option<String>,
    /// Check details, JSON text.
    pub details: Option<String>,
}

/// Input of [`insert_health_check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = health_check_events)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewHealthCheckEvent {
    /// When the check ran.
    pub checked_at: Timestamp,
    /// What was checked.
    pub component_type: ComponentType,
    /// Which one.
    pub component_id: String,
    /// Result.
    pub status: HealthStatus,
    /// Short explanation (NUL replaced by U+FFFD).
    pub message: Option<String>,
    /// Details, JSON text (validated).
    pub details: Option<String>,
}

/// Filter of [`list_health_checks`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthCheckFilter {
    /// Only this component type.
    pub component_type: Option<ComponentType>,
    /// Only this component id.
    pub component_id: Option<String>,
    /// Only this status.
    pub status: Option<HealthStatus>,
    /// `checked_at >= since`.
    pub since: Option<Timestamp>,
    /// `checked_at < until`.
    pub until: Option<Timestamp>,
    /// Sort by `checked_at`.
    pub order: Order,
}

/// Stores a health check.
pub fn insert_health_check(conn: &mut DbConn, event: &NewHealthCheckEvent) -> Result<()> {
    let mut event = event.clone();
    check_id("component id", &event.component_id)?;
    clean_opt(&mut event.message);
    normalize_json("details", &mut event.details)?;
    diesel::insert_into(health_check_events::table)
        .values(&event)
        .execute(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
    Ok(())
}

/// One health check by id. [`RecoveryDbError::NotFound`] if absent.
pub fn get_health_check(conn: &mut DbConn, id: i64) -> Result<HealthCheckEvent> {
    health_check_events::table
        .find(id)
        .select(HealthCheckEvent::as_select())
        .first(conn)
        .optional()
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?
        .ok_or_else(|| RecoveryDbError::not_found(ENTITY, id.to_string()))
}

/// Health checks matching `filter`, ordered by time (then id).
pub fn list_health_checks(
    conn: &mut DbConn,
    filter: &HealthCheckFilter,
    page: Page,
) -> Result<Vec<HealthCheckEvent>> {
    let mut q = health_check_events::table
        .select(HealthCheckEvent::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(t) = filter.component_type {
        q = q.filter(health_check_events::component_type.eq(t));
    }
    if let Some(c) = &filter.component_id {
        q = q.filter(health_check_events::component_id.eq(c));
    }
    if let Some(s) = filter.status {
        q = q.filter(health_check_events::status.eq(s));
    }
    if let Some(t) = filter.since {
        q = q.filter(health_check_events::checked_at.ge(t));
    }
    if let Some(t) = filter.until {
        q = q.filter(health_check_events::checked_at.lt(t));
    }
    q = match filter.order {
        Order::NewestFirst => q.order((
            health_check_events::checked_at.desc(),
            health_check_events::id.desc(),
        )),
        Order::OldestFirst => q.order((
            health_check_events::checked_at.asc(),
            health_check_events::id.asc(),
        )),
    };
    q.limit(page.limit_i64())
        .offset(page.offset_i64())
        .load(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
}

/// Deletes health checks older than `before`; returns how many.
pub fn delete_health_checks_before(conn: &mut DbConn, before: Timestamp) -> Result<usize> {
    diesel::delete(health_check_events::table.filter(health_check_events::checked_at.lt(before)))
        .execute(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
}
