//! Change-triggered backups (`LIGHTRAG_BACKUP_ON_CHANGE`): a worker that watches the working
//! directory (inotify through `notify`, or polling for network filesystems), waits until a
//! graph's save has settled, and backs that graph up through [`Service::backup`] (events,
//! metrics, replication after backup). Nothing runs while nothing changes: with no pending
//! change the worker waits on the watcher alone, with no timer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use lightrag_backup::{GraphId, NoProgress};
use lightrag_config::ChangeBackup;
use lightrag_recovery_db::BackupTrigger;
use notify::{EventKind, RecursiveMode, Watcher as _};

use crate::service::Service;
use crate::workers::{BoxFuture, WorkResult, Worker};

/// The tag on change-triggered snapshots (their trigger is `scheduled`).
pub const CHANGE_TAG: &str = "change";

/// A graph with changes not yet in a snapshot.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// The oldest change not captured (for the RPO gauge and the maximum delay).
    first: Instant,
    first_wall: SystemTime,
    /// The newest change (for the quiet period).
    last: Instant,
}

#[derive(Debug, Default)]
struct State {
    pending: BTreeMap<GraphId, Pending>,
    last_backup: BTreeMap<GraphId, Instant>,
    /// Folders created, or where a store changed, that belong to no known graph (a workspace
    /// created after start-up), with when they were first seen: the worker looks for graphs
    /// again (at most every [`LOOK_INTERVAL`]) and adopts them; a folder that holds no graph
    /// for [`FORGET_UNOWNED`] is forgotten.
    unowned: BTreeMap<PathBuf, Instant>,
    /// When the worker last looked for graphs.
    last_look: Option<Instant>,
}

/// Least time between two looks for new graphs.
const LOOK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// How long an unowned folder is looked at before it is forgotten.
const FORGET_UNOWNED: std::time::Duration = std::time::Duration::from_secs(60);

/// At most this many unowned folders are remembered between two looks (a flood of stray
/// files cannot grow the state).
const MAX_UNOWNED: usize = 256;

/// The watched graphs' folders (canonical) and ids, shared with the watcher's handler.
type Graphs = Arc<RwLock<Vec<(PathBuf, GraphId)>>>;

/// The change watcher (a [`Worker`]).
pub(crate) struct ChangeWatcher {
    service: Arc<Service>,
    settings: ChangeBackup,
    state: Arc<Mutex<State>>,
    graphs: Graphs,
    root: PathBuf,
    wake: Arc<tokio::sync::Notify>,
    // Kept alive: dropping it stops the watch.
    _watcher: Box<dyn notify::Watcher + Send + Sync>,
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether a changed path is a LightRAG store or its save in progress (the one classifier:
/// [`lightrag_backup::is_lightrag_file`]). Other files — a catalog or a log kept beside the
/// graphs — do not make a graph changed (a catalog in the working directory would otherwise
/// trigger a backup after every backup).
fn is_store(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        lightrag_backup::is_lightrag_file(n) || lightrag_backup::is_lightrag_temp_file(n)
    })
}

/// Which graph a changed path belongs to: the graph whose folder is the longest prefix of it
/// (a workspace inside the root graph's folder belongs to the workspace). Files directly in
/// the working directory belong to `default`; an unknown subfolder to nobody.
fn owner<'a>(graphs: &'a [(PathBuf, GraphId)], root: &Path, path: &Path) -> Option<&'a GraphId> {
    let mut best: Option<&(PathBuf, GraphId)> = None;
    for g in graphs {
        if path.starts_with(&g.0)
            && best.is_none_or(|b| g.0.as_os_str().len() > b.0.as_os_str().len())
        {
            best = Some(g);
        }
    }
    let (dir, id) = best?;
    // The root graph owns only the files directly in it, not unknown subfolders.
    if dir == root && path.parent() != Some(root) {
        return None;
    }
    Some(id)
}

impl ChangeWatcher {
    /// Watches `LIGHTRAG_WORKING_DIR` for the graphs `service` knows.
    pub(crate) fn start(service: Arc<Service>, settings: ChangeBackup) -> notify::Result<Self> {
        let root = std::fs::canonicalize(&service.config.working_dir)
            .unwrap_or_else(|_| service.config.working_dir.clone());
        let graphs: Graphs = Arc::new(RwLock::new(known_graphs(&service, &root)));
        let state = Arc::new(Mutex::new(State::default()));
        let wake = Arc::new(tokio::sync::Notify::new());
        let (st, wk, r, gs) = (state.clone(), wake.clone(), root.clone(), graphs.clone());
        let handler = move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            // Reads (our own backups among them) are not changes.
            if matches!(ev.kind, EventKind::Access(_)) {
                return;
            }
            let now = Instant::now();
            let graphs = gs.read().unwrap_or_else(|p| p.into_inner());
            let mut s = lock(&st);
            let mut any = false;
            let new_folder = matches!(
                ev.kind,
                EventKind::Create(notify::event::CreateKind::Folder)
            );
            for p in &ev.paths {
                // A new folder inside a known graph is that graph's business (its stores'
                // changes count); one outside every graph may become a workspace.
                let candidate = if new_folder {
                    owner(&graphs, &r, &p.join("kv_store_full_docs.json"))
                        .is_none()
                        .then_some(p.as_path())
                } else if is_store(p) {
                    match owner(&graphs, &r, p) {
                        Some(id) => {
                            s.note_change(id, now);
                            any = true;
                            None
                        }
                        None => p.parent(),
                    }
                } else {
                    None
                };
                if let Some(dir) = candidate
                    && dir.starts_with(&r)
                    && (s.unowned.len() < MAX_UNOWNED || s.unowned.contains_key(dir))
                {
                    s.unowned.entry(dir.to_path_buf()).or_insert(now);
                    any = true;
                }
            }
            drop(s);
            drop(graphs);
            if any {
                wk.notify_one();
            }
        };
        // Never through a symbolic link: one planted in a graph folder must not make the
        // watcher walk (and hold watches on) whatever it points at, nor turn writes there into
        // changes of the graph.
        let config = notify::Config::default().with_follow_symlinks(false);
        let mut watcher: Box<dyn notify::Watcher + Send + Sync> = if settings.poll.is_zero() {
            Box::new(notify::RecommendedWatcher::new(handler, config)?)
        } else {
            Box::new(notify::PollWatcher::new(
                handler,
                config.with_poll_interval(settings.poll),
            )?)
        };
        watcher.watch(&root, RecursiveMode::Recursive)?;
        tracing::info!(dir = %root.display(), poll = ?settings.poll, "Watching graphs for changes");
        Ok(Self {
            service,
            settings,
            state,
            graphs,
            root,
            wake,
            _watcher: watcher,
        })
    }

    /// When the earliest pending graph is due (`None`: nothing pending). Folders of unknown
    /// graphs are looked at at once.
    fn next_due(&self, now: Instant) -> Option<Instant> {
        let s = lock(&self.state);
        if !s.unowned.is_empty() {
            return Some(s.last_look.map_or(now, |t| (t + LOOK_INTERVAL).max(now)));
        }
        s.pending
            .iter()
            .map(|(id, p)| self.due(p, s.last_backup.get(id).copied()))
            .min()
            .map(|d| d.max(now))
    }

    /// A pending graph is due once its writes paused for the quiet period (or it waited the
    /// maximum delay), and not sooner than the minimum interval after its last backup.
    fn due(&self, p: &Pending, last_backup: Option<Instant>) -> Instant {
        let settled = (p.last + self.settings.quiet).min(p.first + self.settings.max_delay);
        match last_backup {
            Some(b) => settled.max(b + self.settings.min_interval),
            None => settled,
        }
    }
}

impl State {
    /// A store of graph `id` changed at `now`.
    fn note_change(&mut self, id: &GraphId, now: Instant) {
        let e = self.pending.entry(id.clone()).or_insert_with(|| {
            lightrag_monitoring::record::record_uncaptured_change(id, SystemTime::now());
            Pending {
                first: now,
                first_wall: SystemTime::now(),
                last: now,
            }
        });
        e.last = now;
    }
}

/// The folders of the graphs to watch: those the catalog knows (registered or discovered
/// before) and those discovered on disk now, each once.
fn known_graphs(service: &Service, root: &Path) -> Vec<(PathBuf, GraphId)> {
    let mut ids = service.graphs_to_back_up().unwrap_or_default();
    ids.extend(service.discovered_graphs().unwrap_or_default());
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        if let Ok(g) = lightrag_recovery::resolve_graph(&[&service.config.working_dir], &id) {
            let dir = std::fs::canonicalize(&g.path).unwrap_or(g.path);
            out.push((dir, id));
        }
    }
    if out.is_empty() {
        tracing::warn!(dir = %root.display(), "No graph to watch for changes yet");
    }
    out
}

impl ChangeWatcher {
    /// Looks for graphs again when stores changed outside every known one, and makes those
    /// changes pending on the graphs now found (a workspace created after start-up).
    async fn adopt_new_graphs(&self) {
        let unowned: Vec<PathBuf> = {
            let mut s = lock(&self.state);
            let now = Instant::now();
            if s.unowned.is_empty() || s.last_look.is_some_and(|t| now < t + LOOK_INTERVAL) {
                return;
            }
            s.last_look = Some(now);
            s.unowned.keys().cloned().collect()
        };
        let (svc, root) = (self.service.clone(), self.root.clone());
        let Ok(found) = tokio::task::spawn_blocking(move || known_graphs(&svc, &root)).await else {
            return;
        };
        let now = Instant::now();
        let mut s = lock(&self.state);
        for dir in &unowned {
            let dir_c = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
            // A folder of stores: the graph is the one that owns a file directly in it.
            match owner(&found, &self.root, &dir_c.join("kv_store_full_docs.json")) {
                Some(id) => {
                    if !self
                        .graphs
                        .read()
                        .is_ok_and(|g| g.iter().any(|(_, k)| k == id))
                    {
                        tracing::info!(graph = %id, dir = %dir.display(), "Watching a new graph for changes");
                    }
                    s.note_change(id, now);
                    s.unowned.remove(dir);
                }
                None => {
                    if s.unowned
                        .get(dir)
                        .is_some_and(|t| now.duration_since(*t) >= FORGET_UNOWNED)
                    {
                        s.unowned.remove(dir);
                    }
                }
            }
        }
        drop(s);
        *self.graphs.write().unwrap_or_else(|p| p.into_inner()) = found;
    }
}

impl Worker for ChangeWatcher {
    fn name(&self) -> &'static str {
        "change_backup"
    }

    fn wait_for_work(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            loop {
                let now = Instant::now();
                match self.next_due(now) {
                    Some(due) if due <= now => return,
                    Some(due) => {
                        tokio::select! {
                            () = tokio::time::sleep_until(due.into()) => {}
                            () = self.wake.notified() => {}
                        }
                    }
                    // Nothing pending: no timer at all, only the watcher wakes us.
                    None => self.wake.notified().await,
                }
            }
        })
    }

    fn work(&self) -> BoxFuture<'_, WorkResult> {
        Box::pin(async move {
            self.adopt_new_graphs().await;
            let now = Instant::now();
            let due: Vec<(GraphId, Pending)> = {
                let mut s = lock(&self.state);
                let ready: Vec<GraphId> = s
                    .pending
                    .iter()
                    .filter(|(id, p)| self.due(p, s.last_backup.get(*id).copied()) <= now)
                    .map(|(id, _)| id.clone())
                    .collect();
                ready
                    .into_iter()
                    .filter_map(|id| s.pending.remove(&id).map(|p| (id, p)))
                    .collect()
            };
            let svc = self.service.clone();
            let state = self.state.clone();
            tokio::task::spawn_blocking(move || {
                let (mut ok, mut failed) = (Vec::new(), Vec::new());
                for (id, p) in due {
                    let tags = [CHANGE_TAG.to_owned()];
                    match svc.backup(&id, BackupTrigger::Scheduled, &tags, &NoProgress) {
                        Ok(s) => {
                            let mut st = lock(&state);
                            st.last_backup.insert(id.clone(), Instant::now());
                            // Changes made during the backup stay pending (from their own
                            // time); otherwise nothing is left uncaptured.
                            if !st.pending.contains_key(&id) {
                                lightrag_monitoring::record::record_change_captured(&id);
                            }
                            ok.push(format!("{id} → {}", s.snapshot.id));
                        }
                        Err(e) => {
                            // Still pending, from the original change; retried after the
                            // minimum interval.
                            let mut st = lock(&state);
                            st.last_backup.insert(id.clone(), Instant::now());
                            let e_first = st.pending.entry(id.clone()).or_insert(p);
                            if p.first < e_first.first {
                                e_first.first = p.first;
                                e_first.first_wall = p.first_wall;
                            }
                            failed.push(format!("{id}: {}", crate::error::chain(&e)));
                        }
                    }
                }
                if failed.is_empty() && ok.is_empty() {
                    Ok("looked for new graphs".to_owned())
                } else if failed.is_empty() {
                    Ok(format!("backed up on change: {}", ok.join(", ")))
                } else {
                    Err(format!("{} failed: {}", failed.len(), failed.join("; ")))
                }
            })
            .await
            .unwrap_or_else(|e| Err(format!("change backup task failed: {e}")))
        })
    }

    fn detail(&self) -> Option<String> {
        let s = lock(&self.state);
        Some(format!(
            "{} graph(s) with uncaptured changes",
            s.pending.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_belongs_to_the_innermost_graph_and_the_root_owns_only_its_files() {
        let root = PathBuf::from("/w");
        let graphs = vec![
            (root.clone(), GraphId::new("default").unwrap()),
            (root.join("ws1"), GraphId::new("ws1").unwrap()),
        ];
        let o = |p: &str| owner(&graphs, &root, Path::new(p)).map(|g| g.to_string());
        assert_eq!(o("/w/kv_store_full_docs.json").as_deref(), Some("default"));
        assert_eq!(o("/w/ws1/vdb_chunks.json").as_deref(), Some("ws1"));
        assert_eq!(o("/w/ws1/sub/x").as_deref(), Some("ws1"));
        assert_eq!(o("/w/new_ws/x.json"), None);
        assert_eq!(o("/elsewhere/x"), None);
        assert!(is_store(Path::new("/w/vdb_chunks.json")));
        assert!(is_store(Path::new(
            "/w/kv_store_full_docs.json.tmp.123.140234.1733224000123456789"
        )));
        assert!(!is_store(Path::new("/w/lightrag_recovery.db-journal")));
    }
}
