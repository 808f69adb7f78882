//! Achieved RPO and last measured RTO per graph.
//!
//! - *Achieved RPO* (local): age of the newest restorable snapshot of the graph in the
//!   catalog: `completed`, and not marked as failing verification.
//! - *Achieved RPO* (replicated): per replication target, age of the newest snapshot the
//!   target holds (`last_synced_snapshot_id` of the replication state).
//! - *Last RTO*: duration of the newest restore of the graph (`restore.completed` event) or
//!   restore drill (`validation.drill` event), whichever is newer.

use std::collections::BTreeSet;

use lightrag_recovery_db::{
    BackupFilter, BackupStatus, DbConn, EventFilter, GraphFilter, Order, Page,
    ReplicationStateFilter, Timestamp, find_backup, list_backups, list_events, list_graphs,
    list_replication_states,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{error::Result, graphs::discover_graphs, manager::RecoveryManager};

/// Replicated RPO of one graph on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicaObjective {
    /// Replication target id.
    pub target_id: String,
    /// Newest snapshot on the target.
    pub snapshot_id: Option<String>,
    /// Its creation time.
    pub snapshot_at: Option<Timestamp>,
    /// Its age in seconds (`None`: nothing replicated yet).
    pub rpo_seconds: Option<i64>,
}

/// RPO/RTO figures of one graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphObjectives {
    /// Graph.
    pub graph_id: String,
    /// Newest restorable snapshot in the primary repository's catalog.
    pub snapshot_id: Option<String>,
    /// Its creation time.
    pub snapshot_at: Option<Timestamp>,
    /// Achieved RPO: its age in seconds (`None`: no snapshot).
    pub rpo_seconds: Option<i64>,
    /// Per replication target.
    pub replicas: Vec<ReplicaObjective>,
    /// Last measured RTO in milliseconds (restore or drill).
    pub last_rto_ms: Option<i64>,
    /// When it was measured.
    pub last_rto_at: Option<Timestamp>,
    /// `restore.completed` or `validation.drill`.
    pub last_rto_kind: Option<String>,
}

impl RecoveryManager {
    /// RPO/RTO per graph, for `graph_ids` or (empty) every registered and discovered graph,
    /// at time `now`.
    pub fn objectives(
        &self,
        graph_ids: &[String],
        now: OffsetDateTime,
    ) -> Result<Vec<GraphObjectives>> {
        let mut conn = self.conn()?;
        let conn: &mut DbConn = &mut conn;
        let ids: BTreeSet<String> = if graph_ids.is_empty() {
            let mut s: BTreeSet<String> = list_graphs(
                conn,
                &GraphFilter::default(),
                Page::new(lightrag_recovery_db::MAX_PAGE_SIZE, 0),
            )?
            .into_iter()
            .map(|g| g.id)
            .collect();
            for root in &self.opts.roots {
                if let Ok(d) = discover_graphs(root) {
                    s.extend(d.graphs.into_iter().map(|g| g.id));
                }
            }
            s
        } else {
            graph_ids.iter().cloned().collect()
        };
        let age = |t: Timestamp| (now - t.to_offset_date_time()).whole_seconds();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let filter = BackupFilter {
                graph_id: Some(id.clone()),
                status: Some(BackupStatus::Completed),
                order: Order::NewestFirst,
                ..BackupFilter::default()
            };
            let newest = list_backups(conn, &filter, Page::new(50, 0))?
                .into_iter()
                .find(|b| b.verification_ok != Some(false));
            let mut replicas = Vec::new();
            let sf = ReplicationStateFilter {
                target_id: None,
                graph_id: Some(id.clone()),
            };
            for s in list_replication_states(
                conn,
                &sf,
                Page::new(lightrag_recovery_db::MAX_PAGE_SIZE, 0),
            )? {
                let at = match &s.last_synced_snapshot_id {
                    Some(snap) => find_backup(conn, snap)?.map(|b| b.created_at),
                    None => None,
                };
                replicas.push(ReplicaObjective {
                    target_id: s.target_id,
                    snapshot_id: s.last_synced_snapshot_id,
                    snapshot_at: at,
                    rpo_seconds: at.map(age),
                });
            }
            let mut rto = None;
            for kind in ["restore.completed", "validation.drill"] {
                let f = EventFilter {
                    graph_id: Some(id.clone()),
                    event_type: Some(kind.to_owned()),
                    order: Order::NewestFirst,
                    ..EventFilter::default()
                };
                if let Some(e) = list_events(conn, &f, Page::new(1, 0))?.into_iter().next()
                    && rto
                        .as_ref()
                        .is_none_or(|(at, _, _): &(Timestamp, Option<i64>, &str)| {
                            e.occurred_at > *at
                        })
                {
                    rto = Some((e.occurred_at, e.duration_ms, kind));
                }
            }
            out.push(GraphObjectives {
                graph_id: id,
                snapshot_id: newest.as_ref().map(|b| b.snapshot_id.clone()),
                snapshot_at: newest.as_ref().map(|b| b.created_at),
                rpo_seconds: newest.as_ref().map(|b| age(b.created_at)),
                replicas,
                last_rto_ms: rto.and_then(|r| r.1),
                last_rto_at: rto.map(|r| r.0),
                last_rto_kind: rto.map(|r| r.2.to_owned()),
            });
        }
        Ok(out)
    }
}
