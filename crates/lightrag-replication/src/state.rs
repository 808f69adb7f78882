//! Persisting attempts in `replication_state`, retry scheduling and idle lag refresh.

use std::sync::Arc;

use lightrag_backup::Storage;
use lightrag_recovery_db::{
    Db, DbConn, ReplicationState, ReplicationTarget, Timestamp, find_replication_state,
    upsert_replication_state,
};

use crate::error::Result;
use crate::keys::{self, ObjectKind, SNAPSHOT_PREFIX};
use crate::lag::{self, BackoffPolicy, jitter_for};
use crate::store::ReplicaStore;
use crate::sync::{SyncOptions, SyncOutcome, sync_graph};
use crate::target::{TargetOpenOptions, open_target};

/// Record one attempt: success resets the failure count and sets the last synced snapshot
/// and sync time; failure increments the count and stores the error. Both add the bytes
/// sent and store the lag. Meant for the one worker that syncs a given (target, graph).
pub fn record_outcome(
    conn: &mut DbConn,
    target_id: &str,
    o: &SyncOutcome,
) -> Result<ReplicationState> {
    let now = Timestamp::now();
    let mut st = find_replication_state(conn, target_id, &o.graph_id)?
        .unwrap_or_else(|| ReplicationState::new(target_id, &o.graph_id));
    st.bytes_synced = st
        .bytes_synced
        .saturating_add(i64::try_from(o.bytes_sent).unwrap_or(i64::MAX));
    if o.lag_known {
        st.lag_ms = Some(o.lag_ms);
    }
    if let Some(s) = &o.last_synced_snapshot {
        st.last_synced_snapshot_id = Some(s.clone());
    }
    if let Some(kept) = &o.forgotten_since {
        st.forgotten_since = if kept.is_empty() {
            None
        } else {
            Some(serde_json::to_string(kept).map_err(|e| {
                crate::ReplicationError::invalid("forgotten snapshots", e.to_string())
            })?)
        };
    }
    if o.is_success() {
        st.last_sync_at = Some(now);
        st.consecutive_failures = 0;
        st.last_error = None;
    } else {
        st.consecutive_failures = st.consecutive_failures.saturating_add(1);
        st.last_error = o.error.clone();
    }
    st.updated_at = now;
    Ok(upsert_replication_state(conn, &st)?)
}

/// When the next attempt for this state is due (unix ms); `None` = now (no failures).
pub fn next_attempt_ms(state: &ReplicationState, policy: &BackoffPolicy) -> Option<i64> {
    let failures = u32::try_from(state.consecutive_failures).unwrap_or(0);
    if failures == 0 {
        return None;
    }
    let jitter = jitter_for(&state.target_id, &state.graph_id, failures);
    Some(policy.next_attempt_ms(state.updated_at.unix_millis(), failures, jitter))
}

/// Whether a scheduled attempt may run now (back-off after failures). On-demand syncs
/// ignore it.
pub fn attempt_due(state: Option<&ReplicationState>, policy: &BackoffPolicy, now_ms: i64) -> bool {
    state
        .and_then(|s| next_attempt_ms(s, policy))
        .is_none_or(|due| now_ms >= due)
}

/// Primary snapshot ids of `graph`, oldest first (one listing, no manifest read).
pub fn primary_snapshot_ids(primary: &dyn Storage, graph: &str) -> Result<Vec<String>> {
    lightrag_backup::validate_graph_id(graph)?;
    let mut ids: Vec<String> = primary
        .list(&format!("{SNAPSHOT_PREFIX}{graph}/"))?
        .into_iter()
        .filter_map(|o| match keys::parse_key(&o.key) {
            Ok(ObjectKind::Snapshot { id, .. }) => Some(id),
            _ => None,
        })
        .collect();
    ids.sort();
    Ok(ids)
}

/// Graph ids that have snapshots on the primary (one listing of `snapshots/`), sorted.
pub fn primary_graph_ids(primary: &dyn Storage) -> Result<Vec<String>> {
    let mut ids: Vec<String> = primary
        .list(SNAPSHOT_PREFIX)?
        .into_iter()
        .filter_map(|o| match keys::parse_key(&o.key) {
            Ok(ObjectKind::Snapshot { graph, .. }) => Some(graph),
            _ => None,
        })
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Recompute the lag of (target, graph) without syncing — cheap enough to run on every
/// scrape or health tick: one listing of the primary, plus one of the target when `target`
/// is given and answers; otherwise the lag is derived from the recorded last synced snapshot
/// (so it keeps growing while a target is down). Stores it and returns it.
pub fn refresh_lag(
    conn: &mut DbConn,
    primary: &dyn Storage,
    target: Option<&dyn ReplicaStore>,
    target_id: &str,
    graph: &str,
) -> Result<i64> {
    let ids = primary_snapshot_ids(primary, graph)?;
    let now = Timestamp::now();
    let mut st = find_replication_state(conn, target_id, graph)?
        .unwrap_or_else(|| ReplicationState::new(target_id, graph));
    let listed = target.and_then(|t| t.list(&format!("{SNAPSHOT_PREFIX}{graph}/")).ok());
    let lag = match listed {
        Some(objs) => {
            let have: std::collections::BTreeSet<String> = objs
                .into_iter()
                .filter_map(|o| match keys::parse_key(&o.key) {
                    Ok(ObjectKind::Snapshot { id, .. }) => Some(id),
                    _ => None,
                })
                .collect();
            lag::lag_ms(&ids, |id| have.contains(id), now.unix_millis())
        }
        None => lag::lag_from_last_synced(
            &ids,
            st.last_synced_snapshot_id.as_deref(),
            now.unix_millis(),
        ),
    };
    st.lag_ms = Some(lag);
    st.updated_at = if st.consecutive_failures > 0 {
        st.updated_at
    } else {
        now
    };
    upsert_replication_state(conn, &st)?;
    Ok(lag)
}

/// The forgotten snapshots a target keeps, with the time each was first found forgotten
/// (`replication_state.forgotten_since`). An unreadable value counts as empty: those
/// snapshots start a new grace (they are kept longer, never deleted early).
pub fn forgotten_since(state: &ReplicationState) -> std::collections::BTreeMap<String, i64> {
    state
        .forgotten_since
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

/// Open a stored target, sync one graph and record the attempt. The delete grace of
/// forgotten snapshots is carried across attempts in `replication_state.forgotten_since`. The DB connection is held
/// only to open the target and to record, not during the copy. Returns the outcome (also on
/// a failed attempt); `Err` only when the DB or the target definition fails.
pub fn sync_and_record(
    db: &Db,
    primary: &Arc<dyn Storage>,
    target: &ReplicationTarget,
    graph: &str,
    opts: &SyncOptions,
    open: &TargetOpenOptions,
) -> Result<SyncOutcome> {
    let (store, state) = {
        let mut conn = db.conn()?;
        let store = open_target(&mut conn, target, open)?;
        let state = find_replication_state(&mut conn, &target.id, graph)?;
        (store, state)
    };
    let mut opts = opts.clone();
    if let Some(st) = state {
        if opts.forgotten_since.is_empty() {
            opts.forgotten_since = forgotten_since(&st);
        }
        if opts.assume_synced_through.is_none() {
            opts.assume_synced_through = st.last_synced_snapshot_id;
        }
    }
    let outcome = sync_graph(primary, store.as_ref(), graph, &opts);
    let mut conn = db.conn()?;
    record_outcome(&mut conn, &target.id, &outcome)?;
    Ok(outcome)
}

/// Syncs `graph` (default: every graph with snapshots in `primary`) to `target` (id or name;
/// default: every enabled target) with `opts` (e.g. the delete grace), recording each attempt. Without `force`, a pair whose
/// back-off has not expired is skipped. `on_outcome` sees each attempt as it ends (for
/// events, metrics, output). Returns every outcome, in target then graph order.
pub fn sync_targets(
    db: &Db,
    primary: &Arc<dyn Storage>,
    graph: Option<&str>,
    target: Option<&str>,
    force: bool,
    opts: &SyncOptions,
    open: &TargetOpenOptions,
    mut on_outcome: impl FnMut(&ReplicationTarget, &SyncOutcome),
) -> Result<Vec<SyncOutcome>> {
    let targets = {
        let mut c = db.conn()?;
        match target {
            Some(t) => vec![crate::target::find_target(&mut c, t)?],
            None => crate::target::list_targets(&mut c, Some(true))?,
        }
    };
    let graphs = match graph {
        Some(g) => vec![g.to_owned()],
        None => primary_graph_ids(&**primary)?,
    };
    let policy = BackoffPolicy::default();
    let mut out = Vec::new();
    for t in &targets {
        for g in &graphs {
            if !force {
                let state = find_replication_state(&mut *db.conn()?, &t.id, g)?;
                if !attempt_due(state.as_ref(), &policy, Timestamp::now().unix_millis()) {
                    continue;
                }
            }
            let o = sync_and_record(db, primary, t, g, opts, open)?;
            on_outcome(t, &o);
            out.push(o);
        }
    }
    Ok(out)
}
