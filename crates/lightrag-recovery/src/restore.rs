//! Restore / failover of a whole recovery point.
//!
//! *In place*: graphs are restored one by one, each atomically (lightrag-backup stages the
//! snapshot beside the graph directory, verifies every chunk, then swaps by rename), after a
//! safety snapshot of the current state. The `default` graph (files directly in the working
//! directory) is swapped file by file, so the other graphs' folders next to it are untouched.
//! If one graph fails, the graphs already swapped are put back from their safety snapshots
//! (a graph that did not exist before is removed again), so the set stays consistent.
//!
//! *New ids*: each graph is restored into `<first root>/<new id>` (must be absent or empty);
//! on failure the directories created so far are removed. New graphs are registered in the
//! catalog.
//!
//! *Failover*: pass a replica (another repository, e.g. a directory replication target opened
//! with `Repository::open`) as the source; the primary is not needed.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
    time::Instant,
};

use lightrag_backup::{Manifest, NoProgress, Repository, RestoreOptions};
use lightrag_recovery_db::{
    BackupTrigger, EventKind, GraphSource, NewEvent, NewGraph, Severity, upsert_graph,
};
use serde::{Deserialize, Serialize};

use crate::{
    error::{RecoveryError, Result},
    graphs::{DEFAULT_GRAPH_ID, GraphLayout, check_graph_id, looks_live, new_graph_dir},
    manager::{GraphLocation, RecoveryManager, backup_location},
};

/// Options of [`RecoveryManager::restore_point`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestorePointOptions {
    /// Replace the graphs where they are (`true`) or restore them under new ids (`false`).
    pub in_place: bool,
    /// New ids (`graph id -> new id`) when not in place; graphs not listed get
    /// `<graph id><id_suffix>`.
    pub new_ids: BTreeMap<String, String>,
    /// Suffix for new ids not given in `new_ids` (e.g. `-restored`).
    pub id_suffix: Option<String>,
    /// Restore in place even when a graph looks live (LightRAG writing it).
    pub force: bool,
    /// Skip the safety snapshots of an in-place restore (not recommended; default false =
    /// take them).
    pub skip_safety_snapshot: bool,
    /// Test hook: make the restore of this graph fail just before its swap.
    #[doc(hidden)]
    pub fail_before_swap_of: Option<String>,
}

/// One restored graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphRestore {
    /// Graph of the recovery point.
    pub graph_id: String,
    /// Graph id written (same as `graph_id` in place).
    pub target_graph_id: String,
    /// Its directory.
    pub path: PathBuf,
    /// Snapshot restored.
    pub snapshot_id: String,
    /// Safety snapshot of the previous state (in place), in the safety repository.
    pub safety_snapshot: Option<String>,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Restore duration of this graph (its RTO).
    pub duration_ms: u64,
}

/// Result of [`RecoveryManager::restore_point`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestorePointReport {
    /// Recovery point.
    pub point_id: String,
    /// Id of the repository restored from.
    pub source_repository: String,
    /// In place or new ids.
    pub in_place: bool,
    /// Per graph, in the point's order.
    pub graphs: Vec<GraphRestore>,
    /// Wall time of the whole restore.
    pub duration_ms: u64,
    /// What the operator must do next.
    pub next_step: String,
}

/// What to undo for a graph already swapped.
struct Undo {
    graph: String,
    loc: GraphLocation,
    /// Previous state: a safety snapshot, or "did not exist / was empty".
    safety: Option<String>,
    restored: Manifest,
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn dir_has_entries(p: &Path) -> bool {
    fs::read_dir(p)
        .map(|mut r| r.next().is_some())
        .unwrap_or(false)
}

impl RecoveryManager {
    /// Restore every graph of recovery point `id` from `source` (the primary repository, or a
    /// replica for failover). Safety snapshots of an in-place restore go to `safety_repo`
    /// (default: `source`). See the module docs for atomicity and rollback.
    ///
    /// After an in-place restore, LightRAG must be restarted for those workspaces: it keeps
    /// its stores in memory and would overwrite the restored files on its next save.
    pub fn restore_point(
        &self,
        source: &Repository,
        safety_repo: Option<&Repository>,
        id: &str,
        opts: &RestorePointOptions,
    ) -> Result<RestorePointReport> {
        let started = Instant::now();
        let point = self.get_point(id)?;
        let safety_repo = safety_repo.unwrap_or(source);
        // Everything that can be checked is checked before the first byte is written.
        let mut manifests = Vec::with_capacity(point.snapshots.len());
        for pin in &point.snapshots {
            let m = source
                .snapshot(&pin.snapshot_id)
                .map_err(|e| RecoveryError::backup("read manifest", Some(&pin.graph_id), e))?;
            manifests.push(m);
        }
        let mut plan = Vec::with_capacity(point.snapshots.len());
        {
            let mut conn = self.conn()?;
            for pin in &point.snapshots {
                let (target_id, loc) = if opts.in_place {
                    let loc = match self.locate(&mut conn, &pin.graph_id) {
                        Ok(l) => l,
                        Err(RecoveryError::GraphNotFound(_)) => {
                            self.fresh_location(&pin.graph_id)?
                        }
                        Err(e) => return Err(e),
                    };
                    if !opts.force && looks_live(&loc.path, self.opts.live_window)? {
                        return Err(RecoveryError::GraphLooksLive {
                            graph: pin.graph_id.clone(),
                            path: loc.path,
                            window_secs: self.opts.live_window.as_secs(),
                        });
                    }
                    (pin.graph_id.clone(), loc)
                } else {
                    let new_id = match opts.new_ids.get(&pin.graph_id) {
                        Some(n) => n.clone(),
                        None => match &opts.id_suffix {
                            Some(s) => format!("{}{s}", pin.graph_id),
                            None => {
                                return Err(RecoveryError::InvalidRequest(format!(
                                    "no new id for graph `{}`: give new_ids or id_suffix, or restore in place",
                                    pin.graph_id
                                )));
                            }
                        },
                    };
                    check_graph_id(&new_id)?;
                    let root = self.first_root()?;
                    let path = new_graph_dir(root, &new_id)?;
                    if dir_has_entries(&path)
                        || lightrag_recovery_db::find_graph(&mut conn, &new_id)?.is_some()
                    {
                        return Err(RecoveryError::TargetNotEmpty {
                            graph: new_id,
                            path,
                        });
                    }
                    (
                        new_id,
                        GraphLocation {
                            path,
                            layout: GraphLayout::Workspace,
                        },
                    )
                };
                plan.push((pin, target_id, loc));
            }
        }
        let ids: BTreeSet<&str> = plan.iter().map(|(_, t, _)| t.as_str()).collect();
        if ids.len() != plan.len() {
            return Err(RecoveryError::InvalidRequest(
                "two graphs would be restored under the same id".into(),
            ));
        }
        self.emit(
            NewEvent::new(
                EventKind::Restore,
                "restore.started",
                Severity::Info,
                format!(
                    "Restore of recovery point {id} ({} graph(s), {}) from repository {}",
                    plan.len(),
                    if opts.in_place { "in place" } else { "new ids" },
                    source.id()
                ),
            )
            .recovery_point(id),
        );

        let mut done: Vec<GraphRestore> = Vec::new();
        let mut undo: Vec<Undo> = Vec::new();
        for ((pin, target_id, loc), manifest) in plan.iter().zip(manifests) {
            let g_started = Instant::now();
            let res = self.restore_one(
                source,
                safety_repo,
                pin.graph_id.as_str(),
                &pin.snapshot_id,
                loc,
                &manifest,
                opts,
            );
            match res {
                Ok((summary, safety)) => {
                    let d = ms(g_started.elapsed());
                    undo.push(Undo {
                        graph: target_id.clone(),
                        loc: loc.clone(),
                        safety: safety.clone(),
                        restored: manifest,
                    });
                    self.emit(
                        NewEvent::new(
                            EventKind::Restore,
                            "restore.completed",
                            Severity::Info,
                            format!(
                                "Restored graph {target_id} from snapshot {} in {d} ms",
                                pin.snapshot_id
                            ),
                        )
                        .graph(target_id)
                        .snapshot(&pin.snapshot_id)
                        .recovery_point(id)
                        .duration_ms(i64::try_from(d).unwrap_or(i64::MAX))
                        .bytes(i64::try_from(summary.bytes).unwrap_or(i64::MAX)),
                    );
                    done.push(GraphRestore {
                        graph_id: pin.graph_id.clone(),
                        target_graph_id: target_id.clone(),
                        path: loc.path.clone(),
                        snapshot_id: pin.snapshot_id.clone(),
                        safety_snapshot: safety,
                        files: summary.files,
                        bytes: summary.bytes,
                        duration_ms: d,
                    });
                }
                Err(e) => {
                    tracing::error!(point = %id, graph = %target_id, error = %e, "Restore of a graph failed; rolling back");
                    let (rolled_back, rollback_failed) =
                        self.roll_back(safety_repo, undo, opts.in_place);
                    let err = RecoveryError::RestoreFailed {
                        point: id.to_owned(),
                        graph: target_id.clone(),
                        rolled_back,
                        rollback_failed,
                        source: Box::new(e),
                    };
                    self.emit(
                        NewEvent::new(
                            EventKind::Restore,
                            "restore.failed",
                            Severity::Critical,
                            err.to_string(),
                        )
                        .graph(target_id)
                        .recovery_point(id)
                        .duration_ms(i64::try_from(ms(started.elapsed())).unwrap_or(i64::MAX)),
                    );
                    return Err(err);
                }
            }
        }
        if !opts.in_place {
            let mut conn = self.conn()?;
            for g in &done {
                upsert_graph(
                    &mut conn,
                    &NewGraph {
                        id: g.target_graph_id.clone(),
                        path: g.path.display().to_string(),
                        source: GraphSource::Discovered,
                    },
                )?;
            }
        }
        let names: Vec<&str> = done.iter().map(|g| g.target_graph_id.as_str()).collect();
        let next_step = if opts.in_place {
            format!(
                "restart LightRAG for workspace(s) {} so it reloads the restored files (a running LightRAG would overwrite them on its next save)",
                names.join(", ")
            )
        } else {
            format!(
                "point LightRAG at the new workspace(s) {} to serve them",
                names.join(", ")
            )
        };
        let report = RestorePointReport {
            point_id: id.to_owned(),
            source_repository: source.id().to_owned(),
            in_place: opts.in_place,
            graphs: done,
            duration_ms: ms(started.elapsed()),
            next_step,
        };
        tracing::info!(point = %id, graphs = report.graphs.len(), duration_ms = report.duration_ms, "Restored recovery point");
        self.emit(
            NewEvent::new(
                EventKind::Restore,
                "restore.point_completed",
                Severity::Info,
                format!("Recovery point {id} restored: {}", report.next_step),
            )
            .recovery_point(id)
            .duration_ms(i64::try_from(report.duration_ms).unwrap_or(i64::MAX)),
        );
        Ok(report)
    }

    fn first_root(&self) -> Result<&Path> {
        self.opts
            .roots
            .first()
            .map(PathBuf::as_path)
            .ok_or_else(|| {
                RecoveryError::InvalidRequest(
                    "no working directory configured (LIGHTRAG_WORKING_DIR)".into(),
                )
            })
    }

    /// Where a graph that no longer exists is recreated: the working dir itself for
    /// `default`, else `<first root>/<id>`.
    fn fresh_location(&self, id: &str) -> Result<GraphLocation> {
        let root = self.first_root()?;
        if id == DEFAULT_GRAPH_ID {
            return Ok(GraphLocation {
                path: root.to_path_buf(),
                layout: GraphLayout::Root,
            });
        }
        Ok(GraphLocation {
            path: new_graph_dir(root, id)?,
            layout: GraphLayout::Workspace,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn restore_one(
        &self,
        source: &Repository,
        safety_repo: &Repository,
        graph: &str,
        snapshot: &str,
        loc: &GraphLocation,
        manifest: &Manifest,
        opts: &RestorePointOptions,
    ) -> Result<(lightrag_backup::RestoreSummary, Option<String>)> {
        let existing = dir_has_entries(&loc.path);
        let safety = if opts.in_place && existing && !opts.skip_safety_snapshot {
            Some(
                backup_location(
                    safety_repo,
                    graph,
                    loc,
                    BackupTrigger::PreRestore,
                    &lightrag_backup::NoProgress,
                )?
                .snapshot
                .id,
            )
        } else {
            None
        };
        let files = if loc.layout == GraphLayout::Root {
            let top = top_level_files(manifest);
            if top.is_empty() {
                return Err(RecoveryError::InvalidRequest(format!(
                    "snapshot {snapshot} of graph `{graph}` has no file at its top level; nothing to restore into the working directory"
                )));
            }
            top
        } else {
            Vec::new()
        };
        let ropts = RestoreOptions {
            in_place: opts.in_place && existing,
            files,
            safety_snapshot: false,
            fail_before_swap: opts.fail_before_swap_of.as_deref() == Some(graph),
            ..RestoreOptions::default()
        };
        let summary = source
            .restore(snapshot, &loc.path, &ropts, &NoProgress)
            .map_err(|e| RecoveryError::backup("restore", Some(graph), e))?;
        Ok((summary, safety))
    }

    /// Put back the graphs in `undo` (newest first). Returns (rolled back, failed) graph lists.
    fn roll_back(
        &self,
        safety_repo: &Repository,
        undo: Vec<Undo>,
        in_place: bool,
    ) -> (Vec<String>, Vec<String>) {
        let (mut ok, mut failed) = (Vec::new(), Vec::new());
        for u in undo.into_iter().rev() {
            let res = if !in_place || u.safety.is_none() {
                remove_restored(&u)
            } else {
                self.restore_safety(safety_repo, &u)
            };
            match res {
                Ok(()) => {
                    tracing::warn!(graph = %u.graph, "Rolled back restored graph");
                    ok.push(u.graph);
                }
                Err(e) => {
                    tracing::error!(graph = %u.graph, error = %e, "Rollback failed");
                    failed.push(match &u.safety {
                        Some(s) => format!("{}={s}", u.graph),
                        None => u.graph,
                    });
                }
            }
        }
        ok.reverse();
        failed.reverse();
        (ok, failed)
    }

    fn restore_safety(&self, safety_repo: &Repository, u: &Undo) -> Result<()> {
        let Some(safety) = &u.safety else {
            return Ok(());
        };
        let before = safety_repo
            .snapshot(safety)
            .map_err(|e| RecoveryError::backup("read safety manifest", Some(&u.graph), e))?;
        let files = top_level_files(&before);
        let ropts = RestoreOptions {
            in_place: true,
            files: if u.loc.layout == GraphLayout::Root {
                files.clone()
            } else {
                Vec::new()
            },
            safety_snapshot: false,
            ..RestoreOptions::default()
        };
        // An empty file list means "the whole snapshot" to lightrag-backup: for the root
        // graph with no file of its own before, there is nothing to put back.
        let root_without_files = u.loc.layout == GraphLayout::Root && files.is_empty();
        if !root_without_files {
            safety_repo
                .restore(safety, &u.loc.path, &ropts, &NoProgress)
                .map_err(|e| RecoveryError::backup("roll back", Some(&u.graph), e))?;
        }
        if u.loc.layout == GraphLayout::Root {
            // File-level swap: remove files the failed restore added.
            let keep: BTreeSet<&str> = files.iter().map(String::as_str).collect();
            for f in top_level_files(&u.restored) {
                if !keep.contains(f.as_str()) {
                    let p = u.loc.path.join(&f);
                    fs::remove_file(&p).map_err(|e| RecoveryError::io("remove", &p, e))?;
                }
            }
        }
        Ok(())
    }
}

/// Files of `m` at its top level. The `default` graph (files directly in the working dir) is
/// restored file by file and only at the top level: a snapshot of it taken without excluding
/// the subfolders must never overwrite the other graphs living in them.
fn top_level_files(m: &Manifest) -> Vec<String> {
    m.files
        .iter()
        .filter(|f| !f.path.contains('/'))
        .map(|f| f.path.clone())
        .collect()
}

/// Undo a restore into a place that was empty or absent: remove what it wrote.
fn remove_restored(u: &Undo) -> Result<()> {
    if u.loc.layout == GraphLayout::Root {
        for f in top_level_files(&u.restored) {
            let p = u.loc.path.join(&f);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(RecoveryError::io("remove", &p, e)),
            }
        }
        return Ok(());
    }
    match fs::remove_dir_all(&u.loc.path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RecoveryError::io("remove", &u.loc.path, e)),
    }
}

impl RecoveryManager {
    /// Open the repository of replication target `name_or_id` for a failover (or a validation
    /// against the replica). Only `path` targets are repositories this crate can open;
    /// object-store and peer targets are opened by the replication layer. `key` is the
    /// repository encryption key, if any.
    pub fn open_target_repository(
        &self,
        name_or_id: &str,
        key: Option<&[u8]>,
    ) -> Result<Repository> {
        let mut conn = self.conn()?;
        let target =
            match lightrag_recovery_db::get_replication_target_by_name(&mut conn, name_or_id) {
                Ok(t) => t,
                Err(e) if e.is_not_found() => {
                    lightrag_recovery_db::get_replication_target(&mut conn, name_or_id)?
                }
                Err(e) => return Err(e.into()),
            };
        if target.kind != lightrag_recovery_db::TargetKind::Path {
            return Err(RecoveryError::InvalidRequest(format!(
                "replication target `{}` is a {} target; open it through the replication layer and pass the repository",
                target.name, target.kind
            )));
        }
        let storage = std::sync::Arc::new(lightrag_backup::LocalStorage::new(&target.url));
        Repository::open(storage, key)
            .map_err(|e| RecoveryError::backup("open replication target repository", None, e))
    }
}

/// Options of [`RecoveryManager::restore_snapshot`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestoreSnapshotOptions {
    /// Replace the snapshot's graph where it is (safety snapshot first).
    pub in_place: bool,
    /// Otherwise: a new graph id, created under the first working directory.
    pub target_graph_id: Option<String>,
    /// Only these files (relative paths); empty = the whole snapshot.
    pub files: Vec<String>,
    /// Restore in place even when the graph looks live.
    pub force: bool,
}

/// Result of [`RecoveryManager::restore_snapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotRestoreReport {
    /// Graph written.
    pub graph_id: String,
    /// Its directory.
    pub path: PathBuf,
    /// What the restore wrote.
    pub restore: lightrag_backup::RestoreSummary,
    /// Safety snapshot of the previous state (in place).
    pub safety_snapshot: Option<String>,
    /// What the operator must do next.
    pub next_step: String,
}

impl RecoveryManager {
    /// Restore one snapshot: in place over its graph (located through the catalog, then
    /// discovery; refused while the graph looks live unless forced; safety snapshot first,
    /// recorded in the catalog), or into a new graph id (refused if that id or directory is
    /// taken). For the `default` graph — the working directory itself — only its top-level
    /// files are written, file by file: the other graphs' folders are never touched.
    pub fn restore_snapshot(
        &self,
        repo: &Repository,
        snapshot: &str,
        opts: &RestoreSnapshotOptions,
        progress: &dyn lightrag_backup::Progress,
    ) -> Result<SnapshotRestoreReport> {
        let manifest = repo
            .snapshot(snapshot)
            .map_err(|e| RecoveryError::backup("read snapshot", None, e))?;
        let mut conn = self.conn()?;
        let (graph, loc) = match (&opts.target_graph_id, opts.in_place) {
            (None, true) => {
                let loc = self.locate(&mut conn, &manifest.graph_id)?;
                if !opts.force && looks_live(&loc.path, self.opts.live_window)? {
                    return Err(RecoveryError::GraphLooksLive {
                        graph: manifest.graph_id.clone(),
                        path: loc.path,
                        window_secs: self.opts.live_window.as_secs(),
                    });
                }
                (manifest.graph_id.clone(), loc)
            }
            (Some(id), false) => {
                check_graph_id(id)?;
                let path = new_graph_dir(self.first_root()?, id)?;
                if dir_has_entries(&path)
                    || lightrag_recovery_db::find_graph(&mut conn, id)?.is_some()
                {
                    return Err(RecoveryError::TargetNotEmpty {
                        graph: id.clone(),
                        path,
                    });
                }
                (
                    id.clone(),
                    GraphLocation {
                        path,
                        layout: GraphLayout::Workspace,
                    },
                )
            }
            _ => {
                return Err(RecoveryError::InvalidRequest(
                    "give exactly one of in_place or target_graph_id".into(),
                ));
            }
        };
        drop(conn);
        let existing = dir_has_entries(&loc.path);
        let safety = if opts.in_place && existing {
            let s = backup_location(repo, &graph, &loc, BackupTrigger::PreRestore, &NoProgress)?;
            crate::catalog::upsert_snapshot(&mut *self.conn()?, &s.snapshot)?;
            Some(s.snapshot.id)
        } else {
            None
        };
        let files = if loc.layout == GraphLayout::Root {
            let top = top_level_files(&manifest);
            let chosen: Vec<String> = if opts.files.is_empty() {
                top
            } else {
                opts.files
                    .iter()
                    .filter(|f| top.contains(f))
                    .cloned()
                    .collect()
            };
            if chosen.is_empty() {
                return Err(RecoveryError::InvalidRequest(format!(
                    "nothing to restore: snapshot {} has none of the requested files at the top level of the working directory",
                    manifest.id
                )));
            }
            chosen
        } else {
            opts.files.clone()
        };
        let ropts = RestoreOptions {
            in_place: opts.in_place && existing,
            files,
            safety_snapshot: false,
            ..RestoreOptions::default()
        };
        let summary = repo
            .restore(&manifest.id, &loc.path, &ropts, progress)
            .map_err(|e| RecoveryError::backup("restore", Some(&graph), e))?;
        if !opts.in_place {
            let new = NewGraph {
                id: graph.clone(),
                path: loc.path.display().to_string(),
                source: GraphSource::Api,
            };
            lightrag_recovery_db::create_graph(&mut *self.conn()?, &new)?;
        }
        let next_step = if opts.in_place {
            format!(
                "restart LightRAG for workspace {graph}: it keeps its stores in memory and would overwrite the restored files on its next save"
            )
        } else {
            format!("graph {graph} is ready; point a LightRAG instance at its workspace")
        };
        Ok(SnapshotRestoreReport {
            graph_id: graph,
            path: loc.path,
            restore: summary,
            safety_snapshot: safety,
            next_step,
        })
    }
}
