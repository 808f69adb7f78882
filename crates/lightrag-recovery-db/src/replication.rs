//! `replication_targets` and `replication_state`.

use std::fmt;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::conn::{DbConn, MultiBackend};
use crate::error::{RecoveryDbError, Result, is_fk_violation};
use crate::schema::{replication_state, replication_targets};
use crate::text::{check_id, check_text, clean_opt};
use crate::types::{HealthStatus, Page, TargetKind, Timestamp};

const TARGET: &str = "replication target";
const STATE: &str = "replication state";

/// A replication target as shown to clients: the secret is never included, only whether one
/// is set. Read it with [`get_replication_target_secret`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Queryable, Selectable)]
#[diesel(table_name = replication_targets, check_for_backend(MultiBackend))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicationTarget {
    /// Target id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// What it is.
    pub kind: TargetKind,
    /// Path, object-store URL or peer URL (put credentials in the secret, not here).
    pub url: String,
    /// Replication to it is on.
    pub enabled: bool,
    /// A secret is stored.
    #[diesel(select_expression = replication_targets::secret.is_not_null())]
    #[diesel(select_expression_type = diesel::dsl::IsNotNull<replication_targets::secret>)]
    pub has_secret: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Last health check.
    pub last_health_check_at: Option<Timestamp>,
    /// Result of the last health check.
    pub last_status: Option<HealthStatus>,
    /// Error of the last health check.
    pub last_error: Option<String>,
}

/// A target's secret (API key, access key…). `Debug` hides it; not serialisable.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplicationTargetSecret {
    /// Target id.
    pub target_id: String,
    /// The secret, if set.
    pub secret: Option<String>,
}

impl fmt::Debug for ReplicationTargetSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicationTargetSecret")
            .field("target_id", &self.target_id)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Input of [`create_replication_target`]. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct NewReplicationTarget {
    /// Target id (chosen by the caller).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// What it is.
    pub kind: TargetKind,
    /// Path or URL.
    pub url: String,
    /// Secret (API key, credentials).
    pub secret: Option<String>,
    /// Replicate to it.
    pub enabled: bool,
}

impl fmt::Debug for NewReplicationTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewReplicationTarget")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Changes for [`update_replication_target`]; `None` leaves a column as it is.
/// `secret: Some(None)` removes the secret. `Debug` hides the secret.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ReplicationTargetUpdate {
    /// New unique name.
    pub name: Option<String>,
    /// New kind.
    pub kind: Option<TargetKind>,
    /// New path or URL.
    pub url: Option<String>,
    /// New secret (`Some(None)` clears it).
    pub secret: Option<Option<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

impl fmt::Debug for ReplicationTargetUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicationTargetUpdate")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field(
                "secret",
                &self.secret.as_ref().map(|s| s.as_ref().map(|_| "***")),
            )
            .field("enabled", &self.enabled)
            .finish()
    }
}

#[derive(Insertable)]
#[diesel(table_name = replication_targets)]
#[diesel(treat_none_as_default_value = false)]
struct TargetRow<'a> {
    id: &'a str,
    name: &'a str,
    kind: TargetKind,
    url: &'a str,
    secret: Option<&'a str>,
    enabled: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
    last_health_check_at: Option<Timestamp>,
    last_status: Option<HealthStatus>,
    last_error: Option<&'a str>,
}

#[derive(AsChangeset)]
#[diesel(table_name = replication_targets)]
struct TargetChanges<'a> {
    name: Option<&'a str>,
    kind: Option<TargetKind>,
    url: Option<&'a str>,
    secret: Option<Option<&'a str>>,
    enabled: Option<bool>,
    updated_at: Timestamp,
}

fn name_conflict(name: &str) -> impl FnOnce(diesel::result::Error) -> RecoveryDbError + '_ {
    move |e| match RecoveryDbError::from_diesel(TARGET, e) {
        RecoveryDbError::Conflict { entity, .. } => RecoveryDbError::Conflict {
            entity,
            message: format!(
                "a replication target with this id or the name `{name}` already exists"
            ),
        },
        other => other,
    }
}

/// Adds a target. [`RecoveryDbError::Conflict`] if the id or name is taken.
pub fn create_replication_target(
    conn: &mut DbConn,
    new: &NewReplicationTarget,
) -> Result<ReplicationTarget> {
    check_id("replication target id", &new.id)?;
    check_id("replication target name", &new.name)?;
    check_id("replication target url", &new.url)?;
    if let Some(s) = &new.secret {
        check_text("replication target secret", s)?;
    }
    let now = Timestamp::now();
    diesel::insert_into(replication_targets::table)
        .values(&TargetRow {
            id: &new.id,
            name: &new.name,
            kind: new.kind,
            url: &new.url,
            secret: new.secret.as_deref(),
            enabled: new.enabled,
            created_at: now,
            updated_at: now,
            last_health_check_at: None,
            last_status: None,
            last_error: None,
        })
        .execute(conn)
        .map_err(name_conflict(&new.name))?;
    get_replication_target(conn, &new.id)
}

/// One target (without secret). [`RecoveryDbError::NotFound`] if absent.
pub fn get_replication_target(conn: &mut DbConn, id: &str) -> Result<ReplicationTarget> {
    replication_targets::table
        .find(id)
        .select(ReplicationTarget::as_select())
        .first(conn)
        .optional()
        .map_err(|e| RecoveryDbError::from_diesel(TARGET, e))?
        .ok_or_else(|| RecoveryDbError::not_found(TARGET, id))
}

/// One target by name (without secret). [`RecoveryDbError::NotFound`] if absent.
pub fn get_replication_target_by_name(conn: &mut DbConn, name: &str) -> Result<ReplicationTarget> {
    replication_targets::table
        .filter(replication_targets::name.eq(name))
        .select(ReplicationTarget::as_select())
        .first(conn)
        .optional()
        .map_err(|e| RecoveryDbError::from_diesel(TARGET, e))?
        .ok_or_else(|| RecoveryDbError::not_found(TARGET, name))
}

/// A target's secret, for the replication worker only. [`RecoveryDbError::NotFound`] if the
/// target is absent.
pub fn get_replication_target_secret(
    conn: &mut DbConn,
    id: &str,
) -> Result<ReplicationTargetSecret> {
    let secret: Option<String> = replication_targets::table
        .find(id)
        .select(replication_targets::secret)
        .first(conn)
        .optional()
        .map_err(|e| RecoveryDbError::from_diesel(TARGET, e))?
        .ok_or_else(|| RecoveryDbError::not_found(TARGET, id))?;
    Ok(ReplicationTargetSecret {
        target_id: id.to_owned(),
        secret,
    })
}

/// Replaces a target's stored secret without touching anything else (`updated_at` included):
/// for re-encoding a secret at rest (sealing a plain-text row). On SQLite the write-ahead log
/// is then checkpointed and truncated (best effort: it waits for no reader), so the old text
/// does not linger in `-wal` frames; the connections' `secure_delete` zeroes it in the main
/// file. [`RecoveryDbError::NotFound`] if the target is absent.
pub fn set_replication_target_secret(
    conn: &mut DbConn,
    id: &str,
    secret: Option<&str>,
) -> Result<()> {
    if let Some(s) = secret {
        check_text("replication target secret", s)?;
    }
    let n = diesel::update(replication_targets::table.find(id))
        .set(replication_targets::secret.eq(secret))
        .execute(conn)
        .map_err(|e| RecoveryDbError::from_diesel(TARGET, e))?;
    if n == 0 {
        return Err(RecoveryDbError::not_found(TARGET, id));
    }
    if let DbConn::Sqlite(c) = conn {
        use diesel::connection::SimpleConnection as _;
        if let Err(e) = c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);") {
            tracing::debug!(error = %e, "WAL checkpoint after re-encoding a target secret failed");
        }
    }
    Ok(())
}

/// Targets ordered by name; `enabled` filters when set.
pub fn list_replication_targets(
    conn: &mut DbConn,
    enabled: Option<bool>,
    page: Page,
) -> Result<Vec<ReplicationTarget>> {
    let mut q = replication_targets::table
        .select(ReplicationTarget::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(e) = enabled {
        q = q.filter(replication_targets::enabled.eq(e));
    }
    q.order(replication_targets::name.asc())
        .limit(page.limit_i64())
        .offset(page.offset_i64())
        .load(conn)
        .map_err(|e| RecoveryDbError::from_diesel(TARGET, e))
}

/// Changes a target. [`RecoveryDbError::NotFound`] if absent, [`RecoveryDbError::Conflict`]
/// if the new name is taken.
pub fn update_replication_target(
    conn: &mut DbConn,
    id: &str,
    update: &ReplicationTargetUpdate,
) -> Result<ReplicationTarget> {
    if let Some(n) = &update.name {
        check_id("replication target name", n)?;
    }
    if let Some(u) = &update.url {
        check_id("replication target url", u)?;
    }
    if let Some(Some(s)) = &update.secret {
        check_text("replication target secret", s)?;
    }
    let n = diesel::update(replication_targets::table.find(id))
        .set(&TargetChanges {
            name: update.name.as_deref(),
            kind: update.kind,
            url: update.url.as_deref(),
            secret: update.secret.as_ref().map(|s| s.as_deref()),
            enabled: update.enabled,
            updated_at: Timestamp::now(),
        })
        .execute(conn)
        .map_err(name_conflict(update.name.as_deref().unwrap_or("")))?;
    if n == 0 {
        return Err(RecoveryDbError::not_found(TARGET, id));
    }
    get_replication_target(conn, id)
}

/// Records a target health check: `error` is `None` when healthy.
pub fn record_replication_target_health(
    conn: &mut DbConn,
    id: &str,
    checked_at: Timestamp,
    status: HealthStatus,
    error: Option<&str>,
) -> Result<ReplicationTarget> {
    let mut error = error.map(str::to_owned);
    clean_opt(&mut error);
    let n = diesel::update(replication_targets::table.find(id))
        .set((
            replication_targets::last_health_check_at.eq(Some(checked_at)),
            replication_targets::last_status.eq(Some(status)),
            replication_targets::last_error.eq(error.as_deref()),
        ))
        .execute(conn)
        .map_err(|e| RecoveryDbError::from_diesel(TARGET, e))?;
    if n == 0 {
        return Err(RecoveryDbError::not_found(TARGET, id));
    }
    get_replication_target(conn, id)
}

/// Deletes a target and its per-graph state (one transaction).
pub fn delete_replication_target(conn: &mut DbConn, id: &str) -> Result<()> {
    conn.transaction::<_, RecoveryDbError, _>(|conn| {
        let n = diesel::delete(replication_targets::table.find(id)).execute(conn)?;
        if n == 0 {
            return Err(RecoveryDbError::not_found(TARGET, id));
        }
        diesel::delete(replication_state::table.filter(replication_state::target_id.eq(id)))
            .execute(conn)?;
        Ok(())
    })
}

/// Replication progress of one graph to one target.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Queryable,
    Selectable,
    Insertable,
    AsChangeset,
)]
#[diesel(table_name = replication_state, check_for_backend(MultiBackend))]
#[diesel(treat_none_as_default_value = false, treat_none_as_null = true)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicationState {
    /// Target.
    pub target_id: String,
    /// Graph.
    pub graph_id: String,
    /// Newest snapshot present on the target.
    pub last_synced_snapshot_id: Option<String>,
    /// Last successful sync.
    pub last_sync_at: Option<Timestamp>,
    /// Age of the oldest primary snapshot not yet on the target (0 in sync).
    pub lag_ms: Option<i64>,
    /// Bytes copied to the target so far.
    pub bytes_synced: i64,
    /// Failed syncs since the last success.
    pub consecutive_failures: i32,
    /// Error of the last failed sync.
    pub last_error: Option<String>,
    /// Last change of this row.
    pub updated_at: Timestamp,
    /// Snapshots the target keeps although the primary forgot them: a JSON object
    /// `{"<snapshot id>": <unix ms when a sync first found it forgotten>}` (`None`: none).
    /// Written and read by `lightrag-replication`; syncs delete an entry's snapshot from the
    /// target once the delete grace has passed.
    pub forgotten_since: Option<String>,
}

impl ReplicationState {
    /// Empty state for a (target, graph) pair.
    pub fn new(target_id: impl Into<String>, graph_id: impl Into<String>) -> Self {
        Self {
            target_id: target_id.into(),
            graph_id: graph_id.into(),
            last_synced_snapshot_id: None,
            last_sync_at: None,
            lag_ms: None,
            bytes_synced: 0,
            consecutive_failures: 0,
            last_error: None,
            updated_at: Timestamp::now(),
            forgotten_since: None,
        }
    }
}

/// Filter of [`list_replication_states`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplicationStateFilter {
    /// Only this target.
    pub target_id: Option<String>,
    /// Only this graph.
    pub graph_id: Option<String>,
}

fn map_state_err(target_id: &str) -> impl FnOnce(diesel::result::Error) -> RecoveryDbError + '_ {
    move |e| {
        if is_fk_violation(&e) {
            RecoveryDbError::not_found(TARGET, target_id)
        } else {
            RecoveryDbError::from_diesel(STATE, e)
        }
    }
}

/// Writes the whole state row of (target, graph), inserting it when absent.
/// [`RecoveryDbError::NotFound`] if the target does not exist.
pub fn upsert_replication_state(
    conn: &mut DbConn,
    state: &ReplicationState,
) -> Result<ReplicationState> {
    check_id("replication target id", &state.target_id)?;
    check_id("graph id", &state.graph_id)?;
    if let Some(s) = &state.last_synced_snapshot_id {
        check_id("snapshot id", s)?;
    }
    check_non_negative_state(state)?;
    let mut state = state.clone();
    clean_opt(&mut state.last_error);
    // Update first (takes the write lock on SQLite); insert when there was no row. A concurrent
    // insert of the same pair surfaces as a unique violation: retry once as an update.
    for attempt in 0..2 {
        let result = conn.transaction::<_, diesel::result::Error, _>(|conn| {
            let n =
                diesel::update(replication_state::table.find((&state.target_id, &state.graph_id)))
                    .set(&state)
                    .execute(conn)?;
            if n == 0 {
                diesel::insert_into(replication_state::table)
                    .values(&state)
                    .execute(conn)?;
            }
            Ok(())
        });
        match result {
            Ok(()) => return Ok(state),
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) if attempt == 0 => continue,
            Err(e) => return Err(map_state_err(&state.target_id)(e)),
        }
    }
    Ok(state)
}

fn check_non_negative_state(state: &ReplicationState) -> Result<()> {
    crate::text::check_non_negative("bytes_synced", state.bytes_synced)?;
    crate::text::check_non_negative(
        "consecutive_failures",
        i64::from(state.consecutive_failures),
    )?;
    if let Some(l) = state.lag_ms {
        crate::text::check_non_negative("lag_ms", l)?;
    }
    Ok(())
}

/// Records a successful sync: sets the snapshot, time and lag, adds `bytes`, clears failures.
///
/// Read-modify-write: meant for the one worker that syncs a given (target, graph) pair.
pub fn record_sync_success(
    conn: &mut DbConn,
    target_id: &str,
    graph_id: &str,
    snapshot_id: &str,
    synced_at: Timestamp,
    bytes: i64,
    lag_ms: i64,
) -> Result<ReplicationState> {
    crate::text::check_non_negative("bytes", bytes)?;
    let mut state = find_replication_state(conn, target_id, graph_id)?
        .unwrap_or_else(|| ReplicationState::new(target_id, graph_id));
    state.last_synced_snapshot_id = Some(snapshot_id.to_owned());
    state.last_sync_at = Some(synced_at);
    state.lag_ms = Some(lag_ms);
    state.bytes_synced = state.bytes_synced.saturating_add(bytes);
    state.consecutive_failures = 0;
    state.last_error = None;
    state.updated_at = Timestamp::now();
    upsert_replication_state(conn, &state)
}

/// Records a failed sync: increments the failure count and stores the error.
///
/// Read-modify-write: meant for the one worker that syncs a given (target, graph) pair.
pub fn record_sync_failure(
    conn: &mut DbConn,
    target_id: &str,
    graph_id: &str,
    error: &str,
    lag_ms: Option<i64>,
) -> Result<ReplicationState> {
    let mut state = find_replication_state(conn, target_id, graph_id)?
        .unwrap_or_else(|| ReplicationState::new(target_id, graph_id));
    state.consecutive_failures = state.consecutive_failures.saturating_add(1);
    state.last_error = Some(error.to_owned());
    if lag_ms.is_some() {
        state.lag_ms = lag_ms;
    }
    state.updated_at = Timestamp::now();
    upsert_replication_state(conn, &state)
}

/// State of (target, graph), or `None`.
pub fn find_replication_state(
    conn: &mut DbConn,
    target_id: &str,
    graph_id: &str,
) -> Result<Option<ReplicationState>> {
    replication_state::table
        .find((target_id, graph_id))
        .select(ReplicationState::as_select())
        .first(conn)
        .optional()
        .map_err(|e| RecoveryDbError::from_diesel(STATE, e))
}

/// State of (target, graph). [`RecoveryDbError::NotFound`] if absent.
pub fn get_replication_state(
    conn: &mut DbConn,
    target_id: &str,
    graph_id: &str,
) -> Result<ReplicationState> {
    find_replication_state(conn, target_id, graph_id)?
        .ok_or_else(|| RecoveryDbError::not_found(STATE, format!("{target_id}/{graph_id}")))
}

/// States ordered by target then graph.
pub fn list_replication_states(
    conn: &mut DbConn,
    filter: &ReplicationStateFilter,
    page: Page,
) -> Result<Vec<ReplicationState>> {
    let mut q = replication_state::table
        .select(ReplicationState::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(t) = &filter.target_id {
        q = q.filter(replication_state::target_id.eq(t));
    }
    if let Some(g) = &filter.graph_id {
        q = q.filter(replication_state::graph_id.eq(g));
    }
    q.order((
        replication_state::target_id.asc(),
        replication_state::graph_id.asc(),
    ))
    .limit(page.limit_i64())
    .offset(page.offset_i64())
    .load(conn)
    .map_err(|e| RecoveryDbError::from_diesel(STATE, e))
}

/// Deletes the state of (target, graph). [`RecoveryDbError::NotFound`] if absent.
pub fn delete_replication_state(conn: &mut DbConn, target_id: &str, graph_id: &str) -> Result<()> {
    let n = diesel::delete(replication_state::table.find((target_id, graph_id)))
        .execute(conn)
        .map_err(|e| RecoveryDbError::from_diesel(STATE, e))?;
    if n == 0 {
        return Err(RecoveryDbError::not_found(
            STATE,
            format!("{target_id}/{graph_id}"),
        ));
    }
    Ok(())
}
