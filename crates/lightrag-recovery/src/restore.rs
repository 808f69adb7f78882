//! Restore / failover of a whole recovery point.
//!
//! *In place*: graphs are restored one by one (a graph before the graphs nested in its
//! folder), each atomically (lightrag-backup stages the snapshot beside the graph directory,
//! verifies every chunk, then swaps by rename), after a safety snapshot of the current state.
//! The `default` graph (files directly in the working directory) is swapped file by file, so
//! the other graphs' folders next to it are untouched. Each graph's previous state is kept on
//! disk (hard links, see [`crate::previous`]) until the whole point has succeeded: if one graph
//! fails, every graph already swapped — and the failing one — is put back from it, whether or
//! not a safety snapshot was taken. A graph that did not exist before is removed again; a
//! folder that existed is never removed.
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
    graphs::{
        DEFAULT_GRAPH_ID, DiscoveredGraph, GraphLayout, GraphLocation, check_graph_id,
        graph_id_for_folder, graph_location, looks_live, new_graph_dir, resolve_under,
    },
    manager::RecoveryManager,
    previous::Kept,
};

/// Options of [`RecoveryManager::restore_point`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Test hook: make the restore of this graph fail just before its swap. Only with the
    /// `test-hooks` feature (which turns on lightrag-backup's); never read from a request
    /// body: a JSON field of this name is refused as unknown.
    #[cfg(feature = "test-hooks")]
    #[serde(skip)]
    pub fail_before_swap_of: Option<String>,
}

/// One restored graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphRestore {
    /// Graph of the recovery point.
    pub graph_id: String,
    /// Graph id written (same as `graph_id` in place).
    pub target_graph_id: String,
    /// Its directory.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
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
    /// Set when the pinned snapshot is not save-consistent (see
    /// `lightrag_backup::RestoreSummary::warning`).
    pub warning: Option<String>,
}

/// Result of [`RecoveryManager::restore_point`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Where the safety snapshots went (repository location), when any were taken.
    pub safety_repository: Option<String>,
    /// What the operator must do next.
    pub next_step: String,
}

/// How to put a graph back as it was before the restore.
enum Previous {
    /// It had content: kept on disk until the point has succeeded.
    Kept(Kept),
    /// Its folder did not exist (`None`: remove what the restore wrote) or existed empty
    /// (`Some(permissions)`: leave an empty folder again).
    Created(Option<fs::Permissions>),
}

/// What to undo for a graph.
struct Undo {
    /// Index in the point's order.
    index: usize,
    graph: String,
    loc: GraphLocation,
    previous: Previous,
    /// Safety snapshot of the previous state, if one was taken (named in reports).
    safety: Option<String>,
    /// Top-level files written (the `default` graph is restored file by file).
    restored_top: Vec<String>,
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn dir_has_entries(p: &Path) -> bool {
    fs::read_dir(p)
        .map(|mut r| r.next().is_some())
        .unwrap_or(false)
}

/// Whether `p` holds entries: `false` when absent or empty; an error when it cannot be read
/// (never guess before replacing or removing anything).
fn dir_has_entries_strict(p: &Path) -> Result<bool> {
    match fs::read_dir(p) {
        Ok(mut r) => Ok(r.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(RecoveryError::io("read graph directory", p, e)),
    }
}

impl RecoveryManager {
    /// Restore every graph of recovery point `id` from `source`. Safety snapshots of an
    /// in-place restore go to `safety_repo` (default: `source`, which is then the primary). For
    /// a failover from a replica use [`RecoveryManager::failover_point`]: a safety snapshot
    /// must never go into the replica (read-only on a peer; removed by the next sync on a
    /// directory target). See the module docs for atomicity and rollback.
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
            for (pin, manifest) in point.snapshots.iter().zip(&manifests) {
                let (target_id, loc) = if opts.in_place {
                    let loc = match self.locate(&mut conn, &pin.graph_id) {
                        Ok(l) => l,
                        Err(RecoveryError::GraphNotFound(_)) => {
                            self.fresh_location(&pin.graph_id, &manifest.source)?
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
                    let loc = self.new_location(&new_id, path)?;
                    (new_id, loc)
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

        // A graph before the graphs nested in its folder: a nested graph's kept previous
        // state then lives inside its parent's new folder, and rollback (newest first) puts
        // the nested graph back before its parent.
        let mut work: Vec<(usize, _, Manifest)> = plan
            .iter()
            .zip(manifests)
            .enumerate()
            .map(|(i, (p, m))| (i, p, m))
            .collect();
        work.sort_by_key(|(_, (_, _, loc), _)| loc.path.components().count());
        let mut done: Vec<Option<GraphRestore>> = vec![None; plan.len()];
        let mut undo: Vec<Undo> = Vec::new();
        for (i, (pin, target_id, loc), manifest) in work {
            let g_started = Instant::now();
            let one = self.restore_one(
                source,
                safety_repo,
                pin.graph_id.as_str(),
                &pin.snapshot_id,
                loc,
                &manifest,
                opts,
            );
            let safety = one.safety;
            let this_undo = one.previous.map(|previous| Undo {
                index: i,
                graph: target_id.clone(),
                loc: loc.clone(),
                previous,
                safety: safety.clone(),
                restored_top: top_level_files(&manifest),
            });
            let res = one.result.map(|summary| (summary, safety));
            match res {
                Ok((summary, safety)) => {
                    let d = ms(g_started.elapsed());
                    undo.extend(this_undo);
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
                    done[i] = Some(GraphRestore {
                        graph_id: pin.graph_id.clone(),
                        target_graph_id: target_id.clone(),
                        path: loc.path.clone(),
                        snapshot_id: pin.snapshot_id.clone(),
                        safety_snapshot: safety,
                        files: summary.files,
                        bytes: summary.bytes,
                        duration_ms: d,
                        warning: summary.warning.clone(),
                    });
                }
                Err(e) => {
                    tracing::error!(point = %id, graph = %target_id, error = %lightrag_config::ErrorChain(&e), "Restore of a graph failed; rolling back");
                    // The failing graph first: a restore that failed part-way (a file-by-file
                    // swap) is put back too. It is not listed as rolled back, only if that fails.
                    let mut rollback_failed = Vec::new();
                    // (A restore that is not in place leaves its target untouched on error:
                    // nothing of it to remove.)
                    if let Some(u) = this_undo.filter(|u| matches!(u.previous, Previous::Kept(_)))
                        && let Err(failed) = put_back(u)
                    {
                        rollback_failed.push(failed);
                    }
                    let (rolled_back, mut failed) = roll_back(undo);
                    rollback_failed.append(&mut failed);
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
                            lightrag_config::error_chain(&err),
                        )
                        .graph(target_id)
                        .recovery_point(id)
                        .duration_ms(i64::try_from(ms(started.elapsed())).unwrap_or(i64::MAX)),
                    );
                    return Err(err);
                }
            }
        }
        // Every graph is in: the kept previous states are no longer needed.
        for u in undo {
            if let Previous::Kept(k) = u.previous {
                k.discard();
            }
        }
        let done: Vec<GraphRestore> = done.into_iter().flatten().collect();
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
            safety_repository: done
                .iter()
                .any(|g| g.safety_snapshot.is_some())
                .then(|| safety_repo.storage().location()),
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
    /// `default`; `<first root>/<folder name>` for a graph whose id was mapped from the name of
    /// the folder it was backed up from (`source`), where LightRAG looks for it and discovery
    /// gives it the same id; else `<first root>/<id>`.
    fn fresh_location(&self, id: &str, source: &str) -> Result<GraphLocation> {
        let root = self.first_root()?;
        if id == DEFAULT_GRAPH_ID {
            let g = DiscoveredGraph {
                id: id.to_owned(),
                path: root.to_path_buf(),
                layout: GraphLayout::Root,
                label: None,
            };
            return graph_location(&g, std::iter::empty(), &self.opts.excludes);
        }
        let folder = Path::new(source)
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| *n != id && graph_id_for_folder(n) == id);
        if let Some(name) = folder {
            return self.new_location(id, resolve_under(root, Path::new(name))?);
        }
        self.new_location(id, new_graph_dir(root, id)?)
    }

    /// Location of a graph created at `path` (absent or empty: nothing nested in it).
    fn new_location(&self, id: &str, path: PathBuf) -> Result<GraphLocation> {
        let g = DiscoveredGraph {
            id: id.to_owned(),
            path,
            layout: GraphLayout::Workspace,
            label: None,
        };
        graph_location(&g, std::iter::empty(), &self.opts.excludes)
    }

    /// Restore one graph of a point: safety snapshot, previous state kept, restore. The
    /// previous state comes back whatever happened, so a failure can put it back.
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
    ) -> OneRestore {
        let (mut previous, mut safety) = (None, None);
        let result = self.restore_one_into(
            &mut previous,
            &mut safety,
            source,
            safety_repo,
            graph,
            snapshot,
            loc,
            manifest,
            opts,
        );
        OneRestore {
            result,
            previous,
            safety,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn restore_one_into(
        &self,
        previous: &mut Option<Previous>,
        safety: &mut Option<String>,
        source: &Repository,
        safety_repo: &Repository,
        graph: &str,
        snapshot: &str,
        loc: &GraphLocation,
        manifest: &Manifest,
        opts: &RestorePointOptions,
    ) -> Result<lightrag_backup::RestoreSummary> {
        let existing = dir_has_entries_strict(&loc.path)?;
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
        if opts.in_place && existing && !opts.skip_safety_snapshot {
            let s = self.backup_location(
                safety_repo,
                graph,
                loc,
                BackupTrigger::PreRestore,
                &[],
                &lightrag_backup::NoProgress,
            )?;
            *safety = Some(s.snapshot.id);
        }
        *previous = Some(if opts.in_place && existing {
            Previous::Kept(if loc.layout == GraphLayout::Root {
                Kept::root_files(&loc.path)?
            } else {
                Kept::folder(&loc.path, &loc.exclude_paths)?
            })
        } else {
            let was_empty_dir = fs::metadata(&loc.path)
                .ok()
                .filter(|m| m.is_dir())
                .map(|m| m.permissions());
            Previous::Created(was_empty_dir)
        });
        let ropts = RestoreOptions {
            in_place: opts.in_place && existing,
            files,
            safety_snapshot: false,
            ..loc.restore_options()
        };
        #[cfg(feature = "test-hooks")]
        let ropts = RestoreOptions {
            fail_before_swap: opts.fail_before_swap_of.as_deref() == Some(graph),
            ..ropts
        };
        source
            .restore(snapshot, &loc.path, &ropts, &NoProgress)
            .map_err(|e| RecoveryError::backup("restore", Some(graph), e))
    }
}

/// Outcome of restoring one graph of a point.
struct OneRestore {
    result: Result<lightrag_backup::RestoreSummary>,
    /// How to put the graph back, once anything may have changed.
    previous: Option<Previous>,
    /// Safety snapshot taken.
    safety: Option<String>,
}

/// Put back the graphs in `undo` (newest first). Returns (rolled back, failed) graph lists in
/// the point's order; a failed entry says where the previous state is.
fn roll_back(undo: Vec<Undo>) -> (Vec<String>, Vec<String>) {
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for u in undo.into_iter().rev() {
        let (index, graph) = (u.index, u.graph.clone());
        match put_back(u) {
            Ok(()) => {
                tracing::warn!(graph = %graph, "Rolled back restored graph");
                ok.push((index, graph));
            }
            Err(f) => failed.push((index, f)),
        }
    }
    ok.sort();
    failed.sort();
    (
        ok.into_iter().map(|(_, g)| g).collect(),
        failed.into_iter().map(|(_, g)| g).collect(),
    )
}

/// Put one graph back as it was. On failure, a description of the graph and where its
/// previous state is, for the operator.
fn put_back(u: Undo) -> std::result::Result<(), String> {
    let where_kept = match &u.previous {
        Previous::Kept(k) => format!("previous state kept in {}", k.path().display()),
        Previous::Created(_) => "it did not exist before".to_owned(),
    };
    let res = match u.previous {
        Previous::Kept(k) => k.put_back(&u.restored_top),
        Previous::Created(was_empty) => remove_restored(&u.loc, &u.restored_top, was_empty),
    };
    res.map_err(|e| {
        tracing::error!(graph = %u.graph, error = %lightrag_config::ErrorChain(&e), "Rollback failed");
        let safety = u
            .safety
            .as_deref()
            .map(|s| format!("; safety snapshot {s}"))
            .unwrap_or_default();
        format!(
            "{} ({where_kept}{safety}: {})",
            u.graph,
            lightrag_config::ErrorChain(&e)
        )
    })
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

/// Undo a restore into a place that was empty or absent: remove what it wrote. A folder that
/// existed (empty) is left, empty, with its permissions.
fn remove_restored(
    loc: &GraphLocation,
    restored_top: &[String],
    was_empty_dir: Option<fs::Permissions>,
) -> Result<()> {
    if loc.layout == GraphLayout::Root {
        for f in restored_top {
            let p = loc.path.join(f);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(RecoveryError::io("remove", &p, e)),
            }
        }
        return Ok(());
    }
    match fs::remove_dir_all(&loc.path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(RecoveryError::io("remove", &loc.path, e)),
    }
    if let Some(perms) = was_empty_dir {
        fs::create_dir(&loc.path).map_err(|e| RecoveryError::io("create", &loc.path, e))?;
        fs::set_permissions(&loc.path, perms)
            .map_err(|e| RecoveryError::io("chmod", &loc.path, e))?;
    }
    Ok(())
}

impl RecoveryManager {
    /// Where the safety snapshots of an in-place failover go: the `primary` repository when
    /// given and writable, else the local safety repository (`safety_repository` of the
    /// options, default `<first root>/.lightrag-ops/safety-repository`; created on first use,
    /// encrypted with `key` when given — pass the primary's key). Never the replica.
    pub fn failover_safety_repository(
        &self,
        primary: Option<&Repository>,
        key: Option<&[u8]>,
    ) -> Result<SafetyRepository> {
        if let Some(p) = primary {
            match p.check_writable() {
                Ok(()) => {
                    return Ok(SafetyRepository {
                        repository: p.clone(),
                        primary: true,
                    });
                }
                Err(e) => {
                    tracing::warn!(repository = %p.storage().location(), error = %lightrag_config::ErrorChain(&e), "Primary repository not writable; the safety snapshots of the failover go to the local safety repository");
                }
            }
        }
        let dir = match &self.opts.safety_repository {
            Some(d) => d.clone(),
            None => self
                .first_root()?
                .join(".lightrag-ops")
                .join("safety-repository"),
        };
        fs::create_dir_all(&dir)
            .map_err(|e| RecoveryError::io("create safety repository directory", &dir, e))?;
        let repository =
            Repository::open_or_init_local(&dir, &lightrag_backup::InitOptions::default(), key)
                .map_err(|e| RecoveryError::backup("open the local safety repository", None, e))?;
        Ok(SafetyRepository {
            repository,
            primary: false,
        })
    }

    /// Failover: restore recovery point `id` from `replica` (a replication target's copy).
    /// Safety snapshots of an in-place restore go to the primary, or to the local safety
    /// repository when the primary is gone (see
    /// [`RecoveryManager::failover_safety_repository`]); the replica is only read.
    pub fn failover_point(
        &self,
        replica: &Repository,
        primary: Option<&Repository>,
        key: Option<&[u8]>,
        id: &str,
        opts: &RestorePointOptions,
    ) -> Result<RestorePointReport> {
        let safety = if opts.in_place && !opts.skip_safety_snapshot {
            Some(self.failover_safety_repository(primary, key)?)
        } else {
            None
        };
        self.restore_point(
            replica,
            Some(safety.as_ref().map_or(replica, |s| &s.repository)),
            id,
            opts,
        )
    }

    /// Failover of one snapshot: [`RecoveryManager::restore_snapshot`] reading from `replica`,
    /// with the safety snapshot of an in-place restore in the primary or the local safety
    /// repository (see [`RecoveryManager::failover_safety_repository`]).
    pub fn failover_snapshot(
        &self,
        replica: &Repository,
        primary: Option<&Repository>,
        key: Option<&[u8]>,
        snapshot: &str,
        opts: &RestoreSnapshotOptions,
        progress: &dyn lightrag_backup::Progress,
    ) -> Result<SnapshotRestoreReport> {
        let safety = if opts.in_place {
            Some(self.failover_safety_repository(primary, key)?)
        } else {
            None
        };
        self.restore_snapshot_inner(replica, safety.as_ref(), snapshot, opts, progress)
    }
}

/// The repository that receives the safety snapshots of a failover.
#[derive(Debug, Clone)]
pub struct SafetyRepository {
    /// The repository.
    pub repository: Repository,
    /// Whether it is the primary (safety snapshots are then recorded in the catalog).
    pub primary: bool,
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotRestoreReport {
    /// Graph written.
    pub graph_id: String,
    /// Its directory.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub path: PathBuf,
    /// What the restore wrote.
    pub restore: lightrag_backup::RestoreSummary,
    /// Safety snapshot of the previous state (in place).
    pub safety_snapshot: Option<String>,
    /// Where the safety snapshot is (repository location).
    pub safety_repository: Option<String>,
    /// What the operator must do next.
    pub next_step: String,
}

impl RecoveryManager {
    /// Restore one snapshot: in place over its graph (located through the catalog, then
    /// discovery; refused while the graph looks live unless forced; safety snapshot first,
    /// recorded in the catalog), or into a new graph id (refused if that id or directory is
    /// taken). For the `default` graph — the working directory itself — only its top-level
    /// files are written, file by file: the other graphs' folders are never touched.
    ///
    /// `repo` is the primary: the safety snapshot goes there. To restore from a replica, use
    /// [`RecoveryManager::failover_snapshot`].
    pub fn restore_snapshot(
        &self,
        repo: &Repository,
        snapshot: &str,
        opts: &RestoreSnapshotOptions,
        progress: &dyn lightrag_backup::Progress,
    ) -> Result<SnapshotRestoreReport> {
        self.restore_snapshot_inner(repo, None, snapshot, opts, progress)
    }

    /// [`RecoveryManager::restore_snapshot`] from `repo`, with the safety snapshot in `safety`
    /// (`None`: in `repo`, the primary).
    fn restore_snapshot_inner(
        &self,
        repo: &Repository,
        safety: Option<&SafetyRepository>,
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
                (id.clone(), self.new_location(id, path)?)
            }
            _ => {
                return Err(RecoveryError::InvalidRequest(
                    "give exactly one of in_place or target_graph_id".into(),
                ));
            }
        };
        drop(conn);
        let existing = dir_has_entries_strict(&loc.path)?;
        let (safety_repo, record) = match safety {
            Some(s) => (&s.repository, s.primary),
            None => (repo, true),
        };
        let safety = if opts.in_place && existing {
            let s = self.backup_location(
                safety_repo,
                &graph,
                &loc,
                BackupTrigger::PreRestore,
                &[],
                &NoProgress,
            )?;
            // The catalog describes the primary; a local safety repository is only reported.
            if record {
                crate::catalog::upsert_snapshot(&mut *self.conn()?, &s.snapshot)?;
            }
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
            ..loc.restore_options()
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
            safety_repository: safety.as_ref().map(|_| safety_repo.storage().location()),
            safety_snapshot: safety,
            next_step,
        })
    }
}
