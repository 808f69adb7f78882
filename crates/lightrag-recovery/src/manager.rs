//! [`RecoveryManager`]: recovery points (create, list, get, delete, pins) and shared plumbing.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use lightrag_backup::{BackupOptions, NoProgress, Progress, Repository, SnapshotSummary};
use lightrag_recovery_db::{
    BackupTrigger, Db, DbConn, EventKind, GraphFilter, MAX_PAGE_SIZE, NewEvent, NewRecoveryPoint,
    Page, RecoveryPointDetails, RecoveryPointFilter, Severity, create_recovery_point,
    delete_recovery_point, find_graph, get_recovery_point, list_graphs, list_recovery_points,
    pinned_snapshot_ids, recovery_points_pinning,
};
use serde::{Deserialize, Serialize};

use crate::{
    catalog::upsert_snapshot,
    error::{RecoveryError, Result},
    events::{DbEventSink, EventSink},
    graphs::{
        DiscoveredGraph, GraphLayout, GraphLocation, check_graph_id, discover_graphs,
        graph_location, resolve_graph, resolve_graph_location,
    },
};

/// Options of a [`RecoveryManager`]. Plain values: the caller maps its configuration onto them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecoveryOptions {
    /// Working directories graphs are discovered in (`LIGHTRAG_WORKING_DIR`); the first one
    /// receives graphs restored under new ids.
    pub roots: Vec<PathBuf>,
    /// A graph whose LightRAG files changed less than this long ago looks live; an in-place
    /// restore of it is refused unless forced. Default 120 s.
    pub live_window: Duration,
    /// Where validation drills restore to (a `.lightrag-drill-*` folder is created inside and
    /// removed afterwards; leftovers of a killed run are removed by the next drill). Default:
    /// `.lightrag-drills` beside a repository in a local directory, else
    /// `<first root>/.lightrag-ops/drills` — on disk, never the system temp dir.
    pub scratch_dir: Option<PathBuf>,
    /// Exclude patterns (`LIGHTRAG_BACKUP_EXCLUDE`, glob semantics of
    /// `BackupOptions::excludes`) applied to every backup and in-place restore of a graph.
    pub excludes: Vec<String>,
    /// Local repository that receives the safety snapshot of an in-place failover when the
    /// primary repository is gone. Default: `<first root>/.lightrag-ops/safety-repository`.
    pub safety_repository: Option<PathBuf>,
    /// How long a graph folder must have been still for a LightRAG save to count as finished
    /// (`LIGHTRAG_BACKUP_SETTLE`; see `BackupOptions::settle`). Default 1 s.
    pub settle: Duration,
}

impl Default for RecoveryOptions {
    fn default() -> Self {
        Self {
            roots: Vec::new(),
            live_window: Duration::from_secs(120),
            scratch_dir: None,
            excludes: Vec::new(),
            safety_repository: None,
            settle: Duration::from_secs(1),
        }
    }
}

/// Input of [`RecoveryManager::create_point`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatePointRequest {
    /// Graphs to pin (at least one, each once).
    pub graph_ids: Vec<String>,
    /// Operator's description.
    pub description: String,
    /// Who asks (user name, `scheduler`, ...).
    pub created_by: Option<String>,
    /// Take a fresh backup of every graph first (trigger `recovery_point`) instead of pinning
    /// each graph's latest snapshot.
    pub fresh_backup: bool,
}

/// Outcome of [`RecoveryManager::delete_point`]. Deleting a point never deletes snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletedPoint {
    /// The deleted point.
    pub id: String,
    /// Snapshots no recovery point pins any more (retention may now remove them).
    pub released: Vec<String>,
    /// Snapshots other recovery points still pin (kept).
    pub still_pinned: Vec<String>,
}

/// Recovery points, validation, restore/failover and catalog upkeep over one catalog.
///
/// Synchronous: every method blocks on the DB and the file system. The server calls it from
/// `tokio::task::spawn_blocking`; it is `Send + Sync` and cheap to share in an `Arc`.
#[derive(Debug, Clone)]
pub struct RecoveryManager {
    pub(crate) db: Db,
    pub(crate) opts: RecoveryOptions,
    pub(crate) events: Arc<dyn EventSink>,
}

impl RecoveryManager {
    /// A manager over `db`, writing events into its `events` table.
    pub fn new(db: Db, opts: RecoveryOptions) -> Self {
        let events = Arc::new(DbEventSink::new(db.clone()));
        Self { db, opts, events }
    }

    /// Replace the event sink (e.g. with the monitoring crate's logger).
    pub fn with_event_sink(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = events;
        self
    }

    /// The catalog pool.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The options.
    pub fn options(&self) -> &RecoveryOptions {
        &self.opts
    }

    pub(crate) fn conn(&self) -> Result<lightrag_recovery_db::PooledConn> {
        Ok(self.db.conn()?)
    }

    pub(crate) fn emit(&self, event: NewEvent) {
        self.events.emit(event);
    }

    /// Where graph `id` lives: its registered path in the catalog, else discovery under the
    /// configured roots. Never a client-supplied path. The location excludes every other
    /// known graph nested in its folder (discovered under the roots or registered in the
    /// catalog) and the configured excludes — see [`graph_location`].
    pub(crate) fn locate(&self, conn: &mut DbConn, id: &str) -> Result<GraphLocation> {
        check_graph_id(id)?;
        let graph = match find_graph(conn, id)? {
            Some(g) => {
                let path = PathBuf::from(&g.path);
                let layout = if self.is_root(&path) {
                    GraphLayout::Root
                } else {
                    GraphLayout::Workspace
                };
                DiscoveredGraph {
                    id: id.to_owned(),
                    path,
                    layout,
                    label: None,
                }
            }
            None => resolve_graph(&self.opts.roots, id)?,
        };
        self.location_of(conn, &graph)
    }

    /// [`graph_location`] of `graph` against every graph known: discovered under the roots and
    /// registered in the catalog.
    pub(crate) fn location_of(
        &self,
        conn: &mut DbConn,
        graph: &DiscoveredGraph,
    ) -> Result<GraphLocation> {
        let mut others: Vec<PathBuf> = Vec::new();
        for root in &self.opts.roots {
            if root.is_dir() {
                others.extend(discover_graphs(root)?.graphs.into_iter().map(|g| g.path));
            }
        }
        let page = Page {
            limit: MAX_PAGE_SIZE,
            offset: 0,
        };
        others.extend(
            list_graphs(conn, &GraphFilter::default(), page)?
                .into_iter()
                .map(|g| PathBuf::from(g.path)),
        );
        graph_location(
            graph,
            others.iter().map(PathBuf::as_path),
            &self.opts.excludes,
        )
    }

    fn is_root(&self, path: &Path) -> bool {
        let canon = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let path = canon(path);
        self.opts.roots.iter().any(|r| canon(r) == path)
    }

    /// Back up graph `id` with `trigger`, and put the snapshot into the catalog.
    pub fn backup_graph(
        &self,
        repo: &Repository,
        id: &str,
        trigger: BackupTrigger,
    ) -> Result<SnapshotSummary> {
        self.backup_graph_with_progress(repo, id, trigger, &NoProgress)
    }

    /// [`RecoveryManager::backup_graph`], reporting files and bytes to `progress`.
    pub fn backup_graph_with_progress(
        &self,
        repo: &Repository,
        id: &str,
        trigger: BackupTrigger,
        progress: &dyn Progress,
    ) -> Result<SnapshotSummary> {
        self.backup_graph_tagged(repo, id, trigger, &[], progress)
    }

    /// [`RecoveryManager::backup_graph_with_progress`] with `tags` on the snapshot.
    pub fn backup_graph_tagged(
        &self,
        repo: &Repository,
        id: &str,
        trigger: BackupTrigger,
        tags: &[String],
        progress: &dyn Progress,
    ) -> Result<SnapshotSummary> {
        // A backup needs only the repository: while the catalog is down the graph is found by
        // discovery, and the snapshot reaches the catalog when it returns (the server
        // reconciles the catalog with the repository then, as at start-up).
        let loc = match self.conn() {
            Ok(mut conn) => self.locate(&mut conn, id)?,
            Err(RecoveryError::Db(e)) if e.is_unavailable() => {
                check_graph_id(id)?;
                resolve_graph_location(&self.opts.roots, id, &self.opts.excludes)?
            }
            Err(e) => return Err(e),
        };
        let summary = self.backup_location(repo, id, &loc, trigger, tags, progress)?;
        match self
            .conn()
            .and_then(|mut conn| upsert_snapshot(&mut conn, &summary.snapshot))
        {
            Ok(_) => {}
            Err(RecoveryError::Db(e)) if e.is_unavailable() => {
                tracing::warn!(graph = id, snapshot = %summary.snapshot.id, error = %lightrag_config::ErrorChain(&e), "Snapshot stored in the repository; the catalog is unavailable and gets it when it returns");
            }
            Err(e) => return Err(e),
        }
        Ok(summary)
    }

    /// Create a recovery point pinning one snapshot per graph: a fresh backup of each graph
    /// (`fresh_backup`), or each graph's latest snapshot in `repo`. Snapshots missing from the
    /// catalog are added from the repository first.
    pub fn create_point(
        &self,
        repo: &Repository,
        req: &CreatePointRequest,
    ) -> Result<RecoveryPointDetails> {
        if req.graph_ids.is_empty() {
            return Err(RecoveryError::InvalidRequest(
                "graph_ids is empty: name at least one graph".into(),
            ));
        }
        let mut pins = Vec::with_capacity(req.graph_ids.len());
        let mut inconsistent = Vec::new();
        for g in &req.graph_ids {
            check_graph_id(g)?;
            if pins.iter().any(|(pg, _)| pg == g) {
                return Err(RecoveryError::InvalidRequest(format!(
                    "graph `{g}` is listed twice"
                )));
            }
            let info = if req.fresh_backup {
                self.backup_graph(repo, g, BackupTrigger::RecoveryPoint)?
                    .snapshot
            } else {
                let snaps = repo
                    .snapshots(Some(g))
                    .map_err(|e| RecoveryError::backup("list snapshots", Some(g), e))?;
                let info = pin_choice(snaps).ok_or_else(|| RecoveryError::NoSnapshot(g.clone()))?;
                upsert_snapshot(&mut *self.conn()?, &info)?;
                info
            };
            if info.consistent == Some(false) {
                inconsistent.push(info.id.clone());
            }
            pins.push((g.clone(), info.id));
        }
        let new = NewRecoveryPoint {
            id: new_point_id(),
            description: req.description.clone(),
            created_by: req.created_by.clone(),
            snapshots: pins,
        };
        let point = create_recovery_point(&mut *self.conn()?, &new)?;
        tracing::info!(point = %point.point.id, graphs = point.snapshots.len(), "Created recovery point");
        self.emit(
            NewEvent::new(
                EventKind::RecoveryPoint,
                "recovery_point.created",
                if inconsistent.is_empty() { Severity::Info } else { Severity::Warning },
                if inconsistent.is_empty() {
                    format!("Recovery point {} created over {} graph(s)", point.point.id, point.snapshots.len())
                } else {
                    format!("Recovery point {} created over {} graph(s); {} of its snapshots are not save-consistent (no consistent one existed): {}", point.point.id, point.snapshots.len(), inconsistent.len(), inconsistent.join(", "))
                },
            )
            .recovery_point(&point.point.id)
            .with_details(&serde_json::json!({
                "description": point.point.description,
                "snapshots": point.snapshots.iter().map(|p| (&p.graph_id, &p.snapshot_id)).collect::<Vec<_>>(),
                "fresh_backup": req.fresh_backup,
                "not_save_consistent": inconsistent,
            })),
        );
        Ok(point)
    }

    /// Recovery points matching `filter`.
    pub fn list_points(
        &self,
        filter: &RecoveryPointFilter,
        page: Page,
    ) -> Result<Vec<RecoveryPointDetails>> {
        Ok(list_recovery_points(&mut *self.conn()?, filter, page)?)
    }

    /// One recovery point with its pins.
    pub fn get_point(&self, id: &str) -> Result<RecoveryPointDetails> {
        Ok(get_recovery_point(&mut *self.conn()?, id)?)
    }

    /// Delete a recovery point. Its snapshots are never deleted: those no other point pins are
    /// released to retention, the others stay pinned.
    pub fn delete_point(&self, id: &str) -> Result<DeletedPoint> {
        let mut conn = self.conn()?;
        let conn = &mut *conn;
        let point = get_recovery_point(conn, id)?;
        delete_recovery_point(conn, id)?;
        let mut out = DeletedPoint {
            id: id.to_owned(),
            ..DeletedPoint::default()
        };
        for pin in &point.snapshots {
            if recovery_points_pinning(conn, &pin.snapshot_id)?.is_empty() {
                out.released.push(pin.snapshot_id.clone());
            } else {
                out.still_pinned.push(pin.snapshot_id.clone());
            }
        }
        self.emit(
            NewEvent::new(
                EventKind::RecoveryPoint,
                "recovery_point.deleted",
                Severity::Info,
                format!("Recovery point {id} deleted"),
            )
            .recovery_point(id)
            .with_details(
                &serde_json::json!({ "released": out.released, "still_pinned": out.still_pinned }),
            ),
        );
        Ok(out)
    }

    /// Every snapshot id pinned by some recovery point: retention/prune must keep them.
    pub fn pinned_snapshots(&self) -> Result<Vec<String>> {
        Ok(pinned_snapshot_ids(&mut *self.conn()?)?)
    }
}

/// Back up the graph at `loc` into `repo`, with the location's exclusions (other graphs'
/// folders nested in it, configured excludes).
impl RecoveryManager {
    /// Backs up the graph at `loc` with its exclusions and the settle time.
    pub(crate) fn backup_location(
        &self,
        repo: &Repository,
        id: &str,
        loc: &GraphLocation,
        trigger: BackupTrigger,
        tags: &[String],
        progress: &dyn Progress,
    ) -> Result<SnapshotSummary> {
        let opts = loc.backup_options(BackupOptions {
            trigger: trigger.as_str().to_owned(),
            tags: tags.to_vec(),
            settle: self.opts.settle,
            ..BackupOptions::default()
        });
        repo.backup(id, &loc.path, &opts, progress)
            .map_err(|e| RecoveryError::backup("backup", Some(id), e))
    }
}

/// The snapshot a recovery point pins for a graph: the newest one that is save-consistent (or
/// older than the flag), else the newest, with a warning.
fn pin_choice(snaps: Vec<lightrag_backup::SnapshotInfo>) -> Option<lightrag_backup::SnapshotInfo> {
    let key = |s: &lightrag_backup::SnapshotInfo| (s.created_at, s.id.clone());
    let newest = snaps.iter().max_by_key(|s| key(s))?.clone();
    match snaps
        .into_iter()
        .filter(|s| s.consistent != Some(false))
        .max_by_key(key)
    {
        Some(c) => {
            if c.id != newest.id {
                tracing::info!(graph = %c.graph_id, pinned = %c.id, newest = %newest.id,
                    "Pinning the newest save-consistent snapshot, not the newest snapshot");
            }
            Some(c)
        }
        None => {
            tracing::warn!(graph = %newest.graph_id, snapshot = %newest.id,
                reason = newest.inconsistency.as_deref().unwrap_or(""),
                "No save-consistent snapshot of the graph; pinning the newest, which is not");
            Some(newest)
        }
    }
}

/// `rp-YYYYMMDDTHHMMSSmmmZ-<8 hex>`: sorts by creation time.
fn new_point_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let nanos = now.unix_timestamp_nanos();
    let mix = (nanos as u64)
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "rp-{:04}{:02}{:02}T{:02}{:02}{:02}{:03}Z-{:08x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond(),
        (mix ^ (mix >> 29)) as u32
    )
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
