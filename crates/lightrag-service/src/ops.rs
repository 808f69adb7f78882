//! The operations: one method each, doing the whole of it for every caller.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lightrag_backup::{
    ForgetReport, GraphId, Manifest, Progress, PruneOptions, PruneReport, Repository,
    RestoreOptions, RestoreSummary, RetentionPolicy, SnapshotSummary, VerifyOptions, VerifyReport,
};
use lightrag_monitoring::record::{self, BackupOutcome};
use lightrag_monitoring::{EventDetails, EventLogger, EventType};
use lightrag_recovery::{
    CreatePointRequest, DeletedPoint, GraphObjectives, HealthReport, RebuildReport,
    RestorePointOptions, RestorePointReport, RestoreSnapshotOptions, SnapshotRestoreReport,
    ValidationReport,
};
use lightrag_recovery_db::{
    BackupStatus, BackupTrigger, Graph, GraphFilter, GraphSource, MAX_PAGE_SIZE, NewGraph, Page,
    RecoveryPointDetails, RecoveryPointFilter, ReplicationState, ReplicationStateFilter,
    ReplicationTarget, TargetKind,
};
use lightrag_replication::{SyncOutcome, TargetChanges, TargetHealth, TargetSpec};
use serde::Serialize;

use crate::error::{Result, ServiceError};
use crate::service::Service;
use crate::settings;

/// Result of a retention run: what was forgotten and what prune freed.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionReport {
    /// Snapshots kept and removed.
    pub forget: ForgetReport,
    /// The prune that followed, if any.
    pub prune: Option<PruneReport>,
}

impl RetentionReport {
    /// One line for logs and the worker status.
    pub fn summary(&self) -> String {
        format!(
            "{} snapshot(s) forgotten, {} kept; {} byte(s) freed",
            self.forget.removed.len(),
            self.forget.kept.len(),
            self.prune.as_ref().map_or(0, |p| p.bytes_freed)
        )
    }
}

/// What to restore, and where.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    /// Snapshot id (or unique prefix).
    pub snapshot_id: String,
    /// Replace the snapshot's graph where it is (safety snapshot first).
    pub in_place: bool,
    /// Otherwise: the new graph id, created under `LIGHTRAG_WORKING_DIR`.
    pub target_graph_id: Option<GraphId>,
    /// Only these files (relative paths).
    pub files: Vec<String>,
    /// Restore in place even if the graph looks live.
    pub force: bool,
    /// Read the snapshot from this replication target's copy (failover) instead of the
    /// primary repository.
    pub from_target: Option<String>,
}

impl RestoreRequest {
    /// Refuses a request that names neither or both destinations.
    pub fn check(&self) -> Result<()> {
        if self.in_place == self.target_graph_id.is_some() {
            return Err(ServiceError::invalid(
                "give exactly one of in_place: true or target_graph_id",
            ));
        }
        Ok(())
    }
}

/// Changes to a replication target.
#[derive(Debug, Clone, Default)]
pub struct TargetUpdate {
    /// New name.
    pub name: Option<String>,
    /// New location (path or URL).
    pub location: Option<String>,
    /// New secret (required when moving a peer or object-store target).
    pub api_key: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

impl Service {
    // ----- graphs --------------------------------------------------------------------------

    /// Discovers graphs under `LIGHTRAG_WORKING_DIR` and records them in the catalog (source
    /// `discovered`); returns every graph id the catalog knows afterwards.
    pub fn register_discovered_graphs(&self) -> Result<Vec<String>> {
        let c = &self.config;
        if c.working_dir.is_dir() {
            let mut conn = self.db.conn()?;
            // A folder registered under an id of its own (before ids were mapped from folder
            // names, `備援` had to be registered by hand) is not registered a second time.
            let canonical =
                |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            let known: Vec<(String, std::path::PathBuf)> = lightrag_recovery_db::list_graphs(
                &mut conn,
                &GraphFilter::default(),
                Page::new(MAX_PAGE_SIZE, 0),
            )?
            .into_iter()
            .map(|g| (g.id, canonical(std::path::Path::new(&g.path))))
            .collect();
            for (id, path) in settings::discover(c)?.graphs {
                let real = canonical(&path);
                if known.iter().any(|(k, p)| *k != id && *p == real) {
                    continue;
                }
                let new = NewGraph {
                    id,
                    path: path.display().to_string(),
                    source: GraphSource::Discovered,
                };
                lightrag_recovery_db::upsert_graph(&mut conn, &new)?;
            }
        } else {
            tracing::warn!(dir = %c.working_dir.display(), "LIGHTRAG_WORKING_DIR does not exist yet; no graph discovered");
        }
        self.catalog_graph_ids()
    }

    /// After a backup: a graph found by discovery gets its catalog row if it has none (an
    /// existing row — a registered path, an API registration — is never rewritten). While
    /// the catalog is down nothing is written: start-up discovery adds it later.
    fn note_graph(&self, graph: &GraphId) {
        let add = || -> Result<()> {
            let mut conn = self.db.conn()?;
            if lightrag_recovery_db::find_graph(&mut conn, graph)?.is_some() {
                return Ok(());
            }
            let found = lightrag_recovery::resolve_graph(&[&self.config.working_dir], graph)?;
            lightrag_recovery_db::upsert_graph(
                &mut conn,
                &NewGraph {
                    id: graph.to_string(),
                    path: found.path.display().to_string(),
                    source: GraphSource::Discovered,
                },
            )?;
            if let Some(m) = &self.metrics {
                m.register_graph(graph);
            }
            Ok(())
        };
        if let Err(e) = add() {
            tracing::debug!(graph = %graph, error = %crate::error::chain(&e), "Graph not added to the catalog after its backup");
        }
    }

    /// Ids of every graph in the catalog.
    pub fn catalog_graph_ids(&self) -> Result<Vec<String>> {
        let mut conn = self.db.conn()?;
        Ok(lightrag_recovery_db::list_graphs(
            &mut conn,
            &GraphFilter::default(),
            Page::new(MAX_PAGE_SIZE, 0),
        )?
        .into_iter()
        .map(|g| g.id)
        .collect())
    }

    /// The graphs the scheduler's backup round covers: those in the catalog (discovered at
    /// start-up or registered); while the catalog is down, the discovered ones. Nothing is
    /// written: a graph unregistered through the API stays unregistered.
    pub fn graphs_to_back_up(&self) -> Result<Vec<GraphId>> {
        let ids = match self.catalog_graph_ids() {
            Ok(ids) => ids,
            Err(e) if e.kind() == crate::ErrorKind::Unavailable => {
                tracing::warn!(error = %crate::error::chain(&e), "Catalog unavailable; backing up the discovered graphs");
                return self.discovered_graphs();
            }
            Err(e) => return Err(e),
        };
        Ok(valid_ids(ids))
    }

    /// Every graph discovered under `LIGHTRAG_WORKING_DIR` (the CLI's `backup --all`).
    pub fn discovered_graphs(&self) -> Result<Vec<GraphId>> {
        Ok(valid_ids(
            settings::discover(&self.config)?
                .graphs
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
        ))
    }

    /// Folders under `LIGHTRAG_WORKING_DIR` that hold LightRAG files but are not protected
    /// (no graph id could be given to them), with the reason.
    pub fn unprotected_folders(&self) -> Result<Vec<lightrag_recovery::SkippedEntry>> {
        if !self.config.working_dir.is_dir() {
            return Ok(Vec::new());
        }
        Ok(settings::discover(&self.config)?.unprotected)
    }

    /// Graphs in the catalog, one page.
    pub fn list_graphs(&self, page: Page) -> Result<Vec<Graph>> {
        let mut conn = self.db.conn()?;
        Ok(lightrag_recovery_db::list_graphs(
            &mut conn,
            &GraphFilter::default(),
            page,
        )?)
    }

    /// One graph of the catalog.
    pub fn get_graph(&self, id: &GraphId) -> Result<Graph> {
        let mut conn = self.db.conn()?;
        Ok(lightrag_recovery_db::get_graph(&mut conn, id)?)
    }

    /// Registers graph `id` at `relative` (default: the id) under `LIGHTRAG_WORKING_DIR`;
    /// absolute paths and `..` are refused, and the folder must exist.
    pub fn register_graph(&self, id: &GraphId, relative: Option<&str>) -> Result<Graph> {
        let relative = relative.unwrap_or(id);
        let dir = lightrag_recovery::resolve_under(&self.config.working_dir, relative.as_ref())?;
        if !dir.is_dir() {
            return Err(ServiceError::invalid(format!(
                "no directory `{relative}` under the working directory; create the LightRAG workspace first"
            )));
        }
        let new = NewGraph {
            id: id.to_string(),
            path: dir.display().to_string(),
            source: GraphSource::Api,
        };
        let graph = lightrag_recovery_db::create_graph(&mut *self.db.conn()?, &new)?;
        if let Some(m) = &self.metrics {
            m.register_graph(&graph.id);
        }
        Ok(graph)
    }

    /// Forgets a graph's registration; its files and snapshots are kept.
    pub fn unregister_graph(&self, id: &GraphId) -> Result<()> {
        lightrag_recovery_db::delete_graph(&mut *self.db.conn()?, id)?;
        if let Some(m) = &self.metrics {
            m.unregister_graph(id);
        }
        Ok(())
    }

    // ----- backup --------------------------------------------------------------------------

    /// Backs up one graph into the repository and the catalog: the graph's folder without the
    /// graphs nested in it and the configured excludes, under the repository lock; then the
    /// events, the metrics and, when enabled, replication to every target.
    pub fn backup(
        &self,
        graph: &GraphId,
        trigger: BackupTrigger,
        tags: &[String],
        progress: &dyn Progress,
    ) -> Result<SnapshotSummary> {
        let repo = self.repo()?;
        let started = Instant::now();
        self.events
            .log_backup_event(graph, EventType::BackupStarted, EventDetails::default());
        let result = self
            .recovery
            .backup_graph_tagged(repo, graph, trigger, tags, progress)
            .map_err(ServiceError::from);
        let duration = started.elapsed();
        let (status, logical, written) = match &result {
            Ok(s) => (
                BackupStatus::Completed,
                s.snapshot.totals.bytes,
                s.snapshot.totals.new_bytes_stored,
            ),
            Err(_) => (BackupStatus::Failed, 0, 0),
        };
        record::record_backup(
            graph,
            &BackupOutcome {
                status,
                trigger,
                duration,
                logical_bytes: logical,
                written_bytes: written,
                finished_at: SystemTime::now(),
            },
        );
        let details = EventDetails {
            duration: Some(duration),
            ..EventDetails::default()
        };
        match &result {
            Ok(s) => self.events.log_backup_event(
                graph,
                EventType::BackupCompleted,
                EventDetails {
                    snapshot_id: Some(s.snapshot.id.clone()),
                    bytes: Some(s.snapshot.totals.bytes),
                    extra: serde_json::to_value(&s.snapshot.totals).ok(),
                    ..details
                },
            ),
            Err(e) => self.events.log_backup_event(
                graph,
                EventType::BackupFailed,
                EventDetails {
                    message: Some(e.public_message()),
                    ..details
                },
            ),
        };
        let summary = result?;
        record::record_backup_requests(graph, summary.requests.requests);
        self.note_graph(graph);
        if self.config.replication_enabled {
            // Right after a backup: push it to every enabled target (back-off ignored).
            if let Err(e) = self.replicate(Some(graph), None, true) {
                tracing::warn!(graph = %graph, error = %crate::error::chain(&e), "Replication after backup failed");
            }
        }
        Ok(summary)
    }

    // ----- verify, retention, delete ------------------------------------------------------

    /// Verifies the repository (or some snapshots); records a validation metric and event.
    pub fn verify(&self, opts: &VerifyOptions, progress: &dyn Progress) -> Result<VerifyReport> {
        let started = Instant::now();
        let report = self.repo()?.verify(opts, progress)?;
        record::record_validation(report.is_ok());
        let ty = if report.is_ok() {
            EventType::ValidationCompleted
        } else {
            EventType::ValidationFailed
        };
        let message = report
            .damage
            .first()
            .map(|d| format!("{} problem(s); first: {}", report.damage.len(), d.problem));
        self.events.log(EventLogger::build(
            ty,
            EventDetails {
                duration: Some(started.elapsed()),
                bytes: Some(report.bytes_read),
                message,
                ..EventDetails::default()
            },
        ));
        Ok(report)
    }

    /// The configured retention policy.
    pub fn retention_policy(&self) -> RetentionPolicy {
        settings::retention_policy(&self.config)
    }

    /// Forgets what `policy` does not keep (of `graph`, or of every graph; snapshots pinned by
    /// recovery points always kept), removes the forgotten snapshots from the catalog, then
    /// prunes when `prune` is given. Refused while the catalog is down: the pins are unknown.
    pub fn retention(
        &self,
        graph: Option<&GraphId>,
        policy: &RetentionPolicy,
        dry_run: bool,
        prune: Option<PruneOptions>,
        progress: &dyn Progress,
    ) -> Result<RetentionReport> {
        let repo = self.repo()?;
        let started = Instant::now();
        let pinned: BTreeSet<String> = self.recovery.pinned_snapshots()?.into_iter().collect();
        let forget = repo.forget(graph.map(GraphId::as_str), policy, &pinned, dry_run)?;
        if !dry_run {
            let mut conn = self.db.conn()?;
            for id in &forget.removed {
                match lightrag_recovery_db::delete_backup(&mut conn, id) {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let prune = match prune {
            Some(p) => Some(repo.prune(&p, progress)?),
            None => None,
        };
        self.events.log(EventLogger::build(
            EventType::RetentionCompleted,
            EventDetails {
                duration: Some(started.elapsed()),
                bytes: prune.as_ref().map(|p| p.bytes_freed),
                message: Some(format!(
                    "{} snapshot(s) {}",
                    forget.removed.len(),
                    if dry_run {
                        "would be forgotten"
                    } else {
                        "forgotten"
                    }
                )),
                ..EventDetails::default()
            },
        ));
        Ok(RetentionReport { forget, prune })
    }

    /// Removes data no snapshot references.
    pub fn prune(&self, opts: &PruneOptions, progress: &dyn Progress) -> Result<PruneReport> {
        Ok(self.repo()?.prune(opts, progress)?)
    }

    /// Deletes one snapshot (by its full id, never a prefix) from the repository and the
    /// catalog; refused while a recovery point pins it.
    pub fn delete_snapshot(&self, id: &str) -> Result<()> {
        let repo = self.repo()?;
        let manifest = repo.snapshot_exact(id)?;
        let mut conn = self.db.conn()?;
        let pins = lightrag_recovery_db::recovery_points_pinning(&mut conn, &manifest.id)?;
        if !pins.is_empty() {
            return Err(ServiceError::conflict(format!(
                "snapshot {} is pinned by recovery point(s) {}; delete those first",
                manifest.id,
                pins.join(", ")
            )));
        }
        repo.delete_snapshot(&manifest.id)?;
        match lightrag_recovery_db::delete_backup(&mut conn, &manifest.id) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        self.events.log_backup_event(
            &manifest.graph_id,
            EventType::BackupDeleted,
            EventDetails {
                snapshot_id: Some(manifest.id),
                ..EventDetails::default()
            },
        );
        Ok(())
    }

    /// A snapshot's manifest (full id or unique prefix), from the primary or a target's copy.
    pub fn snapshot(&self, id: &str, from_target: Option<&str>) -> Result<Manifest> {
        match from_target {
            Some(t) => Ok(self.target_repository(t)?.snapshot(id)?),
            None => Ok(self.repo()?.snapshot(id)?),
        }
    }

    /// Snapshot list of the primary or a target's copy.
    pub fn snapshots(
        &self,
        graph: Option<&str>,
        from_target: Option<&str>,
    ) -> Result<Vec<lightrag_backup::SnapshotInfo>> {
        match from_target {
            Some(t) => Ok(self.target_repository(t)?.snapshots(graph)?),
            None => Ok(self.repo()?.snapshots(graph)?),
        }
    }

    /// Repository statistics.
    pub fn stats(&self) -> Result<lightrag_backup::RepoStats> {
        Ok(self.repo()?.stats()?)
    }

    /// Target `name`'s copy of the repository (the failover source).
    pub fn target_repository(&self, name: &str) -> Result<Repository> {
        let key = self
            .config
            .encryption_key
            .as_ref()
            .map(|k| k.expose().as_bytes());
        Ok(self.recovery.open_target_repository(name, key)?)
    }

    // ----- restore -------------------------------------------------------------------------

    /// Restores one snapshot: in place over its graph (live-graph guard, safety snapshot,
    /// atomic exchange), or into a new graph id under the working directory. From a target's
    /// copy (failover) the safety snapshot goes to the primary, or when that is gone to the
    /// local safety repository. Records the restore metric and event.
    pub fn restore_snapshot(
        &self,
        req: &RestoreRequest,
        progress: &dyn Progress,
    ) -> Result<SnapshotRestoreReport> {
        req.check()?;
        let started = Instant::now();
        let result = self.restore_snapshot_inner(req, progress);
        self.record_restore(
            &req.snapshot_id,
            result.as_ref().map(|r| r.graph_id.as_str()),
            started.elapsed(),
        );
        let report = result?;
        if req.target_graph_id.is_some()
            && let Some(m) = &self.metrics
        {
            m.register_graph(&report.graph_id);
        }
        Ok(report)
    }

    fn restore_snapshot_inner(
        &self,
        req: &RestoreRequest,
        progress: &dyn Progress,
    ) -> Result<SnapshotRestoreReport> {
        let opts = RestoreSnapshotOptions {
            in_place: req.in_place,
            target_graph_id: req.target_graph_id.as_ref().map(GraphId::to_string),
            files: req.files.clone(),
            force: req.force,
        };
        match &req.from_target {
            None => Ok(self.recovery.restore_snapshot(
                self.repo()?,
                &req.snapshot_id,
                &opts,
                progress,
            )?),
            Some(t) => {
                let replica = self.target_repository(t)?;
                let primary = self.repo().inspect_err(|e| tracing::warn!(error = %crate::error::chain(e), "Primary repository unavailable; the safety snapshot goes to the local safety repository")).ok();
                let key = self
                    .config
                    .encryption_key
                    .as_ref()
                    .map(|k| k.expose().as_bytes());
                Ok(self.recovery.failover_snapshot(
                    &replica,
                    primary,
                    key,
                    &req.snapshot_id,
                    &opts,
                    progress,
                )?)
            }
        }
    }

    /// Restores a snapshot (of the primary or a target's copy) into an empty directory that
    /// is not a registered graph: a copy to inspect. Records the restore metric and event.
    pub fn restore_to_directory(
        &self,
        snapshot: &str,
        dir: &Path,
        files: &[String],
        from_target: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<(Manifest, RestoreSummary)> {
        let started = Instant::now();
        let result = (|| {
            let target_repo;
            let repo = match from_target {
                Some(t) => {
                    target_repo = self.target_repository(t)?;
                    &target_repo
                }
                None => self.repo()?,
            };
            let manifest = repo.snapshot(snapshot)?;
            let opts = RestoreOptions {
                files: files.to_vec(),
                ..RestoreOptions::default()
            };
            let summary = repo.restore(&manifest.id, dir, &opts, progress)?;
            Ok((manifest, summary))
        })();
        self.record_restore(
            snapshot,
            result.as_ref().map(|(m, _)| m.graph_id.as_str()),
            started.elapsed(),
        );
        result
    }

    fn record_restore(
        &self,
        snapshot: &str,
        result: std::result::Result<&str, &ServiceError>,
        took: Duration,
    ) {
        record::record_restore(result.is_ok(), took);
        let (ty, message) = match &result {
            Ok(_) => (EventType::RestoreCompleted, None),
            Err(e) => (EventType::RestoreFailed, Some(e.public_message())),
        };
        let mut event = EventLogger::build(
            ty,
            EventDetails {
                snapshot_id: Some(snapshot.to_owned()),
                duration: Some(took),
                message,
                ..EventDetails::default()
            },
        );
        if let Ok(g) = result {
            event = event.graph(g);
        }
        self.events.log(event);
    }

    // ----- recovery points -----------------------------------------------------------------

    /// Creates a recovery point pinning each graph's latest snapshot, or with `fresh_backup`
    /// taking new backups first.
    pub fn create_point(&self, req: &CreatePointRequest) -> Result<RecoveryPointDetails> {
        let repo = self.repo()?;
        let p = if req.fresh_backup {
            // Fresh backups are backups like any other (events, metrics, replication): taken
            // here, then the point pins each graph's newest snapshot — the one just taken.
            if req.graph_ids.is_empty() {
                return Err(ServiceError::invalid(
                    "graph_ids is empty: name at least one graph",
                ));
            }
            let ids = req
                .graph_ids
                .iter()
                .map(|g| GraphId::new(g.as_str()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            for g in &ids {
                self.backup(
                    g,
                    BackupTrigger::RecoveryPoint,
                    &[],
                    &lightrag_backup::NoProgress,
                )?;
            }
            let pin_latest = CreatePointRequest {
                fresh_backup: false,
                ..req.clone()
            };
            self.recovery.create_point(repo, &pin_latest)?
        } else {
            self.recovery.create_point(repo, req)?
        };
        record::record_recovery_point_created();
        Ok(p)
    }

    /// Recovery points, one page (newest first).
    pub fn list_points(&self, page: Page) -> Result<Vec<RecoveryPointDetails>> {
        Ok(self
            .recovery
            .list_points(&RecoveryPointFilter::default(), page)?)
    }

    /// One recovery point.
    pub fn get_point(&self, id: &str) -> Result<RecoveryPointDetails> {
        Ok(self.recovery.get_point(id)?)
    }

    /// Deletes the point (never its snapshots).
    pub fn delete_point(&self, id: &str) -> Result<DeletedPoint> {
        Ok(self.recovery.delete_point(id)?)
    }

    /// Proves the point restores (chunks, restore drill, parsing, counts); records the metric.
    pub fn validate_point(&self, id: &str) -> Result<ValidationReport> {
        let report = self.recovery.validate_point(self.repo()?, id)?;
        record::record_validation(report.ok);
        Ok(report)
    }

    /// Restores every graph of the point, in place (atomic per graph, rolled back together)
    /// or under new ids.
    pub fn restore_point(
        &self,
        id: &str,
        opts: &RestorePointOptions,
    ) -> Result<RestorePointReport> {
        let started = Instant::now();
        let result = self
            .repo()
            .and_then(|repo| Ok(self.recovery.restore_point(repo, None, id, opts)?));
        record::record_restore(result.is_ok(), started.elapsed());
        let report = result?;
        if let Some(m) = &self.metrics {
            for g in &report.graphs {
                m.register_graph(&g.target_graph_id);
            }
        }
        Ok(report)
    }

    /// RPO (age of the newest restorable snapshot, local and replicated) and last RTO.
    pub fn objectives(&self) -> Result<Vec<GraphObjectives>> {
        Ok(self
            .recovery
            .objectives(&[], time::OffsetDateTime::now_utc())?)
    }

    /// Puts every repository snapshot into the catalog.
    pub fn rebuild_catalog(&self) -> Result<RebuildReport> {
        Ok(self.recovery.rebuild_catalog(self.repo()?)?)
    }

    // ----- health --------------------------------------------------------------------------

    /// Runs every health check once and records the health metrics. One check runs at a
    /// time: a caller that arrives while one runs (the scheduler, a request, the CLI) waits
    /// for it and gets its report, so concurrent callers read the graphs' files once.
    /// Blocks: call from a blocking thread.
    pub fn health_check(&self) -> Arc<HealthReport> {
        let shared = self.health.check_shared(self.repo().ok());
        if shared.ran {
            record::record_health_check_run();
            for c in shared.report.graphs.iter().chain(&shared.report.components) {
                record::record_health_check(c.component_type, &c.id, c.status);
            }
            record::record_unprotected_folders(shared.report.unprotected.len());
            self.log_unprotected(&shared.report.unprotected);
        }
        shared.report
    }

    /// Logs each unprotected folder once (a warning when it is first seen, a note when it is
    /// protected or gone), however often the health checks see it.
    fn log_unprotected(&self, now: &[lightrag_recovery::SkippedEntry]) {
        let mut logged = self
            .unprotected_logged
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for u in now {
            if logged.insert(u.path.clone()) {
                tracing::warn!(path = %u.path.display(), reason = %u.reason, "A folder with LightRAG files is not protected");
            }
        }
        logged.retain(|p| {
            let still = now.iter().any(|u| &u.path == p);
            if !still {
                tracing::info!(path = %p.display(), "A folder reported unprotected is now protected or gone");
            }
            still
        });
    }

    /// The last health report, or a fresh one (shared with any check in flight) when none
    /// exists yet. Blocks: call from a blocking thread.
    pub fn health(&self) -> Arc<HealthReport> {
        self.health.latest().unwrap_or_else(|| self.health_check())
    }

    /// The last health report, if any: never runs a check, reads no file and queries
    /// nothing (for callers that must stay cheap, such as anonymous `/health`).
    pub fn latest_health(&self) -> Option<Arc<HealthReport>> {
        self.health.latest()
    }

    // ----- replication ---------------------------------------------------------------------

    /// Syncs graphs to targets (all enabled targets and all graphs with snapshots by default),
    /// honouring each pair's back-off unless `force`; records metrics and events per attempt.
    pub fn replicate(
        &self,
        graph: Option<&GraphId>,
        target: Option<&str>,
        force: bool,
    ) -> Result<Vec<SyncOutcome>> {
        let repo = self.repo()?;
        let outcomes = lightrag_replication::sync_targets(
            &self.db,
            repo.storage(),
            graph.map(GraphId::as_str),
            target,
            force,
            &settings::sync_options(&self.config),
            &settings::target_open_options(&self.config),
            |t, o| {
                let duration = Duration::from_millis(o.duration_ms);
                let lag = o
                    .lag_known
                    .then(|| Duration::from_millis(u64::try_from(o.lag_ms).unwrap_or(0)));
                record::record_sync(
                    &o.graph_id,
                    &t.name,
                    o.is_success(),
                    duration,
                    o.bytes_sent,
                    lag,
                );
                let (ty, message) = match &o.error {
                    None => (
                        EventType::ReplicationCompleted,
                        Some(format!(
                            "{} object(s), {} snapshot(s) sent",
                            o.objects_sent, o.snapshots_sent
                        )),
                    ),
                    Some(e) => (EventType::ReplicationFailed, Some(e.clone())),
                };
                // The dashboard charts lag over time from these.
                let extra = o
                    .lag_known
                    .then(|| serde_json::json!({ "lag_ms": o.lag_ms }));
                self.events.log_replication_event(
                    Some(&o.graph_id),
                    &t.id,
                    ty,
                    EventDetails {
                        duration: Some(duration),
                        bytes: Some(o.bytes_sent),
                        message,
                        snapshot_id: o.last_synced_snapshot.clone(),
                        extra,
                        ..EventDetails::default()
                    },
                );
            },
        )?;
        Ok(outcomes)
    }

    /// Replication targets (secrets never included); `enabled` filters.
    pub fn list_targets(&self, enabled: Option<bool>) -> Result<Vec<ReplicationTarget>> {
        Ok(lightrag_replication::list_targets(
            &mut *self.db.conn()?,
            enabled,
        )?)
    }

    /// One target by id or name.
    pub fn get_target(&self, id: &str) -> Result<ReplicationTarget> {
        Ok(lightrag_replication::find_target(
            &mut *self.db.conn()?,
            id,
        )?)
    }

    /// Adds a target. Directory targets must lie under `LIGHTRAG_REPLICATION_PATH_ROOTS`
    /// when `restrict_paths` (requests from the API; the operator's CLI may name any path).
    pub fn create_target(
        &self,
        name: &str,
        spec: &TargetSpec,
        enabled: bool,
        restrict_paths: bool,
    ) -> Result<ReplicationTarget> {
        if restrict_paths && let TargetSpec::Directory { path } = spec {
            allowed_target_path(&self.config.replication_path_roots, path)?;
        }
        let t = lightrag_replication::create_target(
            &mut *self.db.conn()?,
            name,
            spec,
            enabled,
            &settings::target_open_options(&self.config),
        )?;
        if let Some(m) = &self.metrics {
            for g in self.catalog_graph_ids().unwrap_or_default() {
                m.register_target(&g, &t.name);
            }
        }
        Ok(t)
    }

    /// Changes a target. A directory target moved through the API stays under the roots; a
    /// peer or object-store target's secret never follows it to a new place.
    pub fn update_target(
        &self,
        id: &str,
        update: TargetUpdate,
        restrict_paths: bool,
    ) -> Result<ReplicationTarget> {
        let mut c = self.db.conn()?;
        let target = lightrag_replication::find_target(&mut c, id)?;
        if let Some(loc) = &update.location {
            match target.kind {
                TargetKind::Path if restrict_paths => {
                    allowed_target_path(&self.config.replication_path_roots, Path::new(loc))?;
                }
                TargetKind::Path => {}
                _ if update.api_key.is_none() => {
                    return Err(ServiceError::invalid(
                        "moving a peer or object-store target needs its secret again: give api_key with location",
                    ));
                }
                _ => {}
            }
        }
        let changes = TargetChanges {
            name: update.name,
            location: update.location,
            api_key: update.api_key.map(Some),
            enabled: update.enabled,
            ..TargetChanges::default()
        };
        Ok(lightrag_replication::update_target(
            &mut c,
            &target.id,
            &changes,
            &settings::target_open_options(&self.config),
        )?)
    }

    /// Deletes the target and its sync state (never the data it holds).
    pub fn delete_target(&self, id: &str) -> Result<ReplicationTarget> {
        let mut c = self.db.conn()?;
        let t = lightrag_replication::find_target(&mut c, id)?;
        lightrag_replication::delete_target(&mut c, &t.id)?;
        Ok(t)
    }

    /// Checks one target now (reachability, authentication, free space, last syncs), stores
    /// the result and records the metric.
    pub fn target_health(&self, id: &str) -> Result<TargetHealth> {
        use lightrag_replication as rep;
        let mut c = self.db.conn()?;
        let t = rep::find_target(&mut c, id)?;
        let states = lightrag_recovery_db::list_replication_states(
            &mut c,
            &ReplicationStateFilter {
                target_id: Some(t.id.clone()),
                ..Default::default()
            },
            Page::new(10_000, 0),
        )?;
        let h = match rep::open_target(&mut c, &t, &settings::target_open_options(&self.config)) {
            Ok(store) => rep::check_target_health(
                &*store,
                t.has_secret,
                &states,
                &rep::HealthOptions::default(),
            ),
            Err(e) => rep::TargetHealth {
                status: lightrag_recovery_db::HealthStatus::Offline,
                reachable: false,
                authenticated: None,
                free_bytes: None,
                repository_id: None,
                message: Some(crate::error::chain(&e)),
                checked_at_ms: lightrag_recovery_db::Timestamp::now().unix_millis(),
            },
        };
        rep::record_target_health(&mut c, &t.id, &h)?;
        record::record_target_health(&t.name, h.reachable && h.authenticated != Some(false));
        Ok(h)
    }

    /// Per (graph, target): last synced snapshot, lag, bytes, failures.
    pub fn replication_states(
        &self,
        filter: &ReplicationStateFilter,
    ) -> Result<Vec<ReplicationState>> {
        Ok(lightrag_recovery_db::list_replication_states(
            &mut *self.db.conn()?,
            filter,
            Page::new(10_000, 0),
        )?)
    }
}

/// Discovery and the catalog hold valid ids only; anything else is reported, not used.
fn valid_ids(ids: Vec<String>) -> Vec<GraphId> {
    ids.into_iter()
        .filter_map(|id| {
            GraphId::new(id.as_str())
                .inspect_err(
                    |e| tracing::warn!(graph = %id, error = %e, "Skipped an invalid graph id"),
                )
                .ok()
        })
        .collect()
}

/// A directory target created through the API must lie under `LIGHTRAG_REPLICATION_PATH_ROOTS`.
fn allowed_target_path(roots: &[std::path::PathBuf], path: &Path) -> Result<()> {
    let refuse = || {
        ServiceError::invalid(format!(
            "directory targets must be under LIGHTRAG_REPLICATION_PATH_ROOTS ({}); {} is not",
            if roots.is_empty() {
                "none configured".to_owned()
            } else {
                roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            path.display()
        ))
    };
    for root in roots {
        if let Ok(rel) = path.strip_prefix(root) {
            if rel.as_os_str().is_empty() {
                return Err(refuse());
            }
            return lightrag_recovery::resolve_under(root, rel)
                .map(|_| ())
                .map_err(|_| refuse());
        }
    }
    Err(refuse())
}
