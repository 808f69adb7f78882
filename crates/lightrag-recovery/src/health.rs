//! Real health checks of graphs and components, with transitions stored as events.
//!
//! Graph status (names from the plan):
//! - `OFFLINE`: the directory is missing or unreadable, holds no LightRAG file, or a LightRAG
//!   file does not parse (a file that changes while it is parsed is being saved by LightRAG and
//!   is not counted);
//! - `DEGRADED`: no successful backup within the RPO (or none at all), the newest backup
//!   failed, replication lag above its bound, the last sync to a target failed, or the
//!   repository is unreachable;
//! - `HEALTHY` otherwise.
//!
//! Components: the recovery DB (a query succeeds), the repository (its `config` object is
//! readable) and each enabled replication target (its last recorded status and sync failures;
//! a path target must hold a repository). Overall = the worst of everything.
//!
//! [`HealthMonitor::check`] runs every check once (the server calls it on an interval from
//! `spawn_blocking`), stores a `health_check_events` row only when a component's status
//! *changes* (the first observation after start counts as a change unless the DB's last
//! stored status is the same), and keeps the result for fast reads ([`HealthMonitor::latest`]).
//! Health re-checks only what changed: each file's parse verdict is kept with the file's
//! stamp (device, inode, size, mtime, ctime) and the file is parsed again only when the stamp
//! differs (a save by LightRAG, which writes a temp file and renames it over the store, changes
//! the inode and ctime even when size and mtime look the same). The cache holds one small entry
//! per LightRAG file seen in the last check (files no longer seen are dropped). A parse is one
//! streaming pass with a bounded buffer (see `parse.rs`), so memory does not grow with the
//! store size.
//!
//! One check runs at a time (single flight): a caller that asks for a check while one is
//! running waits for it and gets its report, so a burst of callers before the first report
//! (or the scheduler and a request at once) reads the graphs' files once, not once per caller.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{Arc, Condvar, Mutex, PoisonError, RwLock},
    time::Duration,
};

use lightrag_backup::Repository;
use lightrag_recovery_db::{
    BackupFilter, BackupStatus, ComponentType, Db, DbConn, EventKind, GraphFilter,
    HealthCheckFilter, HealthStatus, NewEvent, NewHealthCheckEvent, Order, Page,
    ReplicationStateFilter, Severity, TargetKind, Timestamp, insert_health_check, list_backups,
    list_graphs, list_health_checks, list_replication_states, list_replication_targets,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    events::{DbEventSink, EventSink},
    graphs::{discover_graphs, lightrag_files},
    parse::parse_lightrag_file,
};

/// Source of "now" (injectable for tests).
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to (tests, simulations).
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// A clock showing `t`.
    pub fn new(t: OffsetDateTime) -> Self {
        Self(Mutex::new(t))
    }

    /// Show `t` from now on.
    pub fn set(&self, t: OffsetDateTime) {
        if let Ok(mut g) = self.0.lock() {
            *g = t;
        }
    }

    /// Move forward by `d`.
    pub fn advance(&self, d: Duration) {
        if let Ok(mut g) = self.0.lock() {
            *g += d;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.0
            .lock()
            .map(|g| *g)
            .unwrap_or_else(|_| OffsetDateTime::now_utc())
    }
}

/// Bounds of the health checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthOptions {
    /// Working directories whose discovered graphs are checked (besides registered graphs).
    pub roots: Vec<PathBuf>,
    /// Recovery point objective: the newest successful backup must be younger. Default 1 h.
    pub rpo: Duration,
    /// Largest acceptable replication lag per (graph, target). Default 5 min.
    pub max_replication_lag: Duration,
}

impl Default for HealthOptions {
    fn default() -> Self {
        Self {
            roots: Vec::new(),
            rpo: Duration::from_secs(3600),
            max_replication_lag: Duration::from_secs(300),
        }
    }
}

/// Status of one graph or component, with the reasons behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComponentHealth {
    /// What was checked.
    pub component_type: ComponentType,
    /// Graph id, target id, `repository`, `database`.
    pub id: String,
    /// Status.
    pub status: HealthStatus,
    /// Why it is not healthy (empty when healthy).
    pub reasons: Vec<String>,
    /// Graph directory (graphs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub path: Option<PathBuf>,
    /// Newest successful backup (graphs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_backup_at: Option<Timestamp>,
    /// The folder's own name, for a graph whose id was mapped from a name that is not a valid
    /// id (`備援` → `ws-…`); shown beside the id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Result of one [`HealthMonitor::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthReport {
    /// When the checks ran (by the monitor's clock).
    pub checked_at: Timestamp,
    /// Worst status of all graphs and components.
    pub overall: HealthStatus,
    /// Per graph, by id.
    pub graphs: Vec<ComponentHealth>,
    /// DB, repository, targets.
    pub components: Vec<ComponentHealth>,
    /// Folders under the working directories that hold LightRAG files but are not protected
    /// (no graph id could be given to them), with the reason and what to do.
    pub unprotected: Vec<crate::graphs::SkippedEntry>,
    /// Transitions stored by this check.
    pub transitions: u64,
}

impl HealthReport {
    /// Health of graph `id`, if it was checked.
    pub fn graph(&self, id: &str) -> Option<&ComponentHealth> {
        self.graphs.iter().find(|g| g.id == id)
    }
}

fn rank(s: HealthStatus) -> u8 {
    match s {
        HealthStatus::Healthy => 0,
        HealthStatus::Degraded => 1,
        _ => 2,
    }
}

/// `p` resolved, or as given when it cannot be (a missing folder).
fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The worse of two statuses.
pub fn worst(a: HealthStatus, b: HealthStatus) -> HealthStatus {
    if rank(b) > rank(a) { b } else { a }
}

/// What identifies one version of a file: a change to any field means it may differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(path: &Path) -> std::io::Result<FileStamp> {
        let m = std::fs::metadata(path)?;
        Ok(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// Parse verdicts of the files of the last checks (see [`HealthMonitor::parse_cached`]).
#[derive(Debug, Default)]
struct ParseCache {
    /// The check running (or last run); entries not touched by it are dropped when it ends.
    round: u64,
    /// Path → (stamp when parsed, round last seen, verdict).
    files: HashMap<PathBuf, (FileStamp, u64, Result<(), String>)>,
    /// Parses run since the monitor was made (cache misses).
    parses: u64,
}

/// Runs health checks and remembers the last result. Share it in an `Arc`.
#[derive(Debug)]
pub struct HealthMonitor {
    db: Db,
    opts: RwLock<HealthOptions>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    last: RwLock<Option<Arc<HealthReport>>>,
    /// Last known status per (component type, id); seeded from the DB on first sight.
    known: Mutex<HashMap<(ComponentType, String), HealthStatus>>,
    /// Parse verdicts of files by path, valid while the file's stamp is unchanged.
    parsed: Mutex<ParseCache>,
    /// The check in flight, if any, and the last one that landed.
    flight: Mutex<Flight>,
    /// Signalled each time a check lands.
    landed: Condvar,
}

/// Single-flight state of [`HealthMonitor::check`].
#[derive(Debug, Default)]
struct Flight {
    /// A check is running.
    running: bool,
    /// Callers waiting for it.
    waiting: usize,
    /// Checks that ended (with or without a report), ever.
    landed: u64,
    /// Checks that ran to the end, ever.
    completed: u64,
    /// The report of the last check that ended; `None` when it panicked.
    report: Option<Arc<HealthReport>>,
}

/// What [`HealthMonitor::check_shared`] did.
#[derive(Debug, Clone)]
pub struct SharedCheck {
    /// The report.
    pub report: Arc<HealthReport>,
    /// True when this call ran the checks; false when it waited for the check already
    /// running and shares its report.
    pub ran: bool,
}

/// Ends a flight even when the checks panic, waking the callers that wait for it.
struct Landing<'a> {
    monitor: &'a HealthMonitor,
    report: Option<Arc<HealthReport>>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut f = self
            .monitor
            .flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f.running = false;
        f.landed += 1;
        f.completed += u64::from(self.report.is_some());
        f.report = self.report.take();
        drop(f);
        self.monitor.landed.notify_all();
    }
}

impl HealthMonitor {
    /// A monitor on the system clock, writing health events into `db`.
    pub fn new(db: Db, opts: HealthOptions) -> Self {
        let events = Arc::new(DbEventSink::new(db.clone()));
        Self {
            db,
            opts: RwLock::new(opts),
            clock: Arc::new(SystemClock),
            events,
            last: RwLock::new(None),
            known: Mutex::new(HashMap::new()),
            parsed: Mutex::new(ParseCache::default()),
            flight: Mutex::new(Flight::default()),
            landed: Condvar::new(),
        }
    }

    /// Use another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Use another event sink.
    pub fn with_event_sink(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = events;
        self
    }

    /// The current options.
    pub fn options(&self) -> HealthOptions {
        self.opts.read().map(|g| g.clone()).unwrap_or_default()
    }

    /// Change the thresholds (takes effect at the next check).
    pub fn set_options(&self, opts: HealthOptions) {
        if let Ok(mut g) = self.opts.write() {
            *g = opts;
        }
    }

    /// The last report, without running checks (cheap; `None` before the first check).
    pub fn latest(&self) -> Option<Arc<HealthReport>> {
        self.last.read().ok().and_then(|g| g.clone())
    }

    /// Run every check once, store transitions, remember and return the report.
    /// `repo` is the primary repository, or `None` when it could not be opened.
    /// Single flight: while a check runs, another caller waits for it and gets its report
    /// (see [`HealthMonitor::check_shared`]).
    pub fn check(&self, repo: Option<&Repository>) -> Arc<HealthReport> {
        self.check_shared(repo).report
    }

    /// Like [`HealthMonitor::check`], telling whether this call ran the checks or shared the
    /// report of the check that was running when it was called (its `repo` is then unused).
    /// Blocks while a check runs: call it from a thread that may block.
    pub fn check_shared(&self, repo: Option<&Repository>) -> SharedCheck {
        let mut f = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
        while f.running {
            let before = f.landed;
            f.waiting += 1;
            while f.running && f.landed == before {
                f = self.landed.wait(f).unwrap_or_else(PoisonError::into_inner);
            }
            f.waiting -= 1;
            if f.landed != before
                && let Some(report) = f.report.clone()
            {
                return SharedCheck { report, ran: false };
            }
            // The check ended without a report (it panicked): run one, unless another
            // caller already started it.
        }
        f.running = true;
        drop(f);
        let mut landing = Landing {
            monitor: self,
            report: None,
        };
        let report = self.run_checks(repo);
        landing.report = Some(report.clone());
        drop(landing);
        SharedCheck { report, ran: true }
    }

    /// Callers waiting for the check in flight.
    pub fn waiting(&self) -> usize {
        self.flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting
    }

    /// Checks that ran to the end since the monitor was made (shared ones counted once).
    pub fn checks_run(&self) -> u64 {
        self.flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .completed
    }

    /// LightRAG files parsed by health checks since the monitor was made; an unchanged file
    /// is parsed once, not at every check.
    pub fn files_parsed(&self) -> u64 {
        self.parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .parses
    }

    fn run_checks(&self, repo: Option<&Repository>) -> Arc<HealthReport> {
        let now = self.clock.now();
        let round = {
            let mut cache = self.parsed.lock().unwrap_or_else(PoisonError::into_inner);
            cache.round += 1;
            cache.round
        };
        let mut components = Vec::new();

        // Database.
        let mut conn = match self.db.conn() {
            Ok(c) => Some(c),
            Err(e) => {
                components.push(component(
                    ComponentType::Database,
                    "database",
                    HealthStatus::Offline,
                    vec![format!("unreachable: {}", lightrag_config::ErrorChain(&e))],
                ));
                None
            }
        };
        if let Some(c) = conn.as_mut()
            && let Err(e) = list_graphs(c, &GraphFilter::default(), Page::new(1, 0))
        {
            components.push(component(
                ComponentType::Database,
                "database",
                HealthStatus::Offline,
                vec![format!("query failed: {}", lightrag_config::ErrorChain(&e))],
            ));
            conn = None;
        }
        if conn.is_some() {
            components.push(component(
                ComponentType::Database,
                "database",
                HealthStatus::Healthy,
                vec![],
            ));
        }

        // Repository.
        let repo_problem = match repo {
            None => Some("repository could not be opened".to_owned()),
            Some(r) => match r.storage().exists("config") {
                Ok(true) => None,
                Ok(false) => Some(format!(
                    "no repository config at {}",
                    r.storage().location()
                )),
                Err(e) => Some(format!("unreachable: {}", lightrag_config::ErrorChain(&e))),
            },
        };
        components.push(match &repo_problem {
            None => component(
                ComponentType::Repository,
                "repository",
                HealthStatus::Healthy,
                vec![],
            ),
            Some(p) => component(
                ComponentType::Repository,
                "repository",
                HealthStatus::Offline,
                vec![p.clone()],
            ),
        });

        // Targets.
        if let Some(c) = conn.as_mut() {
            components.extend(self.check_targets(c));
        }

        // Graphs: registered ones and those discovered under the roots.
        let mut graph_dirs: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        let mut unprotected = Vec::new();
        let opts = self.options();
        for root in &opts.roots {
            if let Ok(d) = discover_graphs(root) {
                for g in d.graphs {
                    if let Some(label) = g.label {
                        labels.entry(g.id.clone()).or_insert(label);
                    }
                    graph_dirs.entry(g.id).or_insert(g.path);
                }
                unprotected.extend(d.skipped);
            }
        }
        if let Some(c) = conn.as_mut()
            && let Ok(gs) = list_graphs(
                c,
                &GraphFilter::default(),
                Page::new(lightrag_recovery_db::MAX_PAGE_SIZE, 0),
            )
        {
            // A folder registered under an id of its own (before ids were mapped from folder
            // names, `備援` had to be registered by hand) is that graph, not a second one.
            let registered: std::collections::BTreeSet<PathBuf> =
                gs.iter().map(|g| canonical(Path::new(&g.path))).collect();
            let ids: std::collections::BTreeSet<&str> = gs.iter().map(|g| g.id.as_str()).collect();
            graph_dirs.retain(|id, path| {
                ids.contains(id.as_str()) || !registered.contains(&canonical(path))
            });
            for g in gs {
                graph_dirs.insert(g.id, PathBuf::from(g.path));
            }
        }
        let mut graphs = Vec::with_capacity(graph_dirs.len());
        for (id, path) in graph_dirs {
            let mut g = self.check_graph(
                conn.as_deref_mut(),
                &id,
                &path,
                now,
                repo_problem.as_deref(),
                &opts,
            );
            g.label = labels.remove(&id);
            graphs.push(g);
        }
        // Forget files this check did not see (removed graphs, files or stores).
        self.parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .files
            .retain(|_, (_, seen, _)| *seen == round);

        let overall = graphs
            .iter()
            .chain(components.iter())
            .fold(HealthStatus::Healthy, |acc, c| worst(acc, c.status));
        let checked_at = Timestamp::from(now);
        let mut transitions = 0;
        for c in graphs.iter().chain(components.iter()) {
            if self.record_if_changed(conn.as_deref_mut(), c, checked_at) {
                transitions += 1;
            }
        }
        let report = Arc::new(HealthReport {
            checked_at,
            overall,
            graphs,
            components,
            unprotected,
            transitions,
        });
        if let Ok(mut g) = self.last.write() {
            *g = Some(report.clone());
        }
        report
    }

    fn check_targets(&self, conn: &mut DbConn) -> Vec<ComponentHealth> {
        let mut out = Vec::new();
        let targets = match list_replication_targets(
            conn,
            Some(true),
            Page::new(lightrag_recovery_db::MAX_PAGE_SIZE, 0),
        ) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %lightrag_config::ErrorChain(&e), "Could not list replication targets for health");
                return out;
            }
        };
        for t in targets {
            let mut status = HealthStatus::Healthy;
            let mut reasons = Vec::new();
            if let Some(s) = t.last_status
                && s != HealthStatus::Healthy
            {
                status = worst(status, s);
                reasons.push(format!(
                    "last probe: {s}{}",
                    t.last_error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ));
            }
            if t.kind == TargetKind::Path && !Path::new(&t.url).join("config").is_file() {
                status = HealthStatus::Offline;
                reasons.push(format!("no repository at {}", t.url));
            }
            let filter = ReplicationStateFilter {
                target_id: Some(t.id.clone()),
                graph_id: None,
            };
            if let Ok(states) = list_replication_states(
                conn,
                &filter,
                Page::new(lightrag_recovery_db::MAX_PAGE_SIZE, 0),
            ) {
                let failing: Vec<_> = states
                    .iter()
                    .filter(|s| s.consecutive_failures > 0)
                    .map(|s| s.graph_id.clone())
                    .collect();
                if !failing.is_empty() {
                    status = worst(status, HealthStatus::Degraded);
                    reasons.push(format!(
                        "last sync failed for graph(s) {}",
                        failing.join(", ")
                    ));
                }
            }
            out.push(component(ComponentType::Target, &t.id, status, reasons));
        }
        out
    }

    fn check_graph(
        &self,
        conn: Option<&mut DbConn>,
        id: &str,
        path: &Path,
        now: OffsetDateTime,
        repo_problem: Option<&str>,
        opts: &HealthOptions,
    ) -> ComponentHealth {
        let mut c = component(ComponentType::Graph, id, HealthStatus::Healthy, vec![]);
        c.path = Some(path.to_path_buf());
        // OFFLINE checks.
        match lightrag_files(path) {
            Err(e) => {
                c.status = HealthStatus::Offline;
                c.reasons
                    .push(format!("directory {} is not readable: {e}", path.display()));
            }
            Ok(files) if files.is_empty() => {
                c.status = HealthStatus::Offline;
                c.reasons
                    .push(format!("no LightRAG files in {}", path.display()));
            }
            Ok(files) => {
                for f in files {
                    if let Err(why) = self.parse_cached(&path.join(&f)) {
                        c.status = HealthStatus::Offline;
                        c.reasons.push(format!("{f} does not parse: {why}"));
                    }
                }
            }
        }
        // DEGRADED checks.
        let mut degraded = Vec::new();
        if let Some(p) = repo_problem {
            degraded.push(format!("repository unreachable: {p}"));
        }
        match conn {
            None => degraded.push("recovery database unreachable: backup state unknown".to_owned()),
            Some(conn) => {
                let newest = |conn: &mut DbConn, status: Option<BackupStatus>| {
                    let f = BackupFilter {
                        graph_id: Some(id.to_owned()),
                        status,
                        order: Order::NewestFirst,
                        ..BackupFilter::default()
                    };
                    list_backups(conn, &f, Page::new(1, 0)).map(|v| v.into_iter().next())
                };
                match (
                    newest(conn, Some(BackupStatus::Completed)),
                    newest(conn, Some(BackupStatus::Failed)),
                ) {
                    (Ok(ok), Ok(failed)) => {
                        match &ok {
                            None => degraded.push("no successful backup yet".to_owned()),
                            Some(b) => {
                                c.last_backup_at = Some(b.created_at);
                                let age = now - b.created_at.to_offset_date_time();
                                if age > opts.rpo {
                                    degraded.push(format!(
                                        "last successful backup is {} s old, above the RPO of {} s",
                                        age.whole_seconds(),
                                        opts.rpo.as_secs()
                                    ));
                                }
                            }
                        }
                        if let Some(f) = failed
                            && ok.as_ref().is_none_or(|o| f.created_at > o.created_at)
                        {
                            degraded.push(format!(
                                "last backup failed ({}): {}",
                                f.snapshot_id,
                                f.error_message.as_deref().unwrap_or("no error recorded")
                            ));
                        }
                    }
                    (Err(e), _) | (_, Err(e)) => degraded.push(format!(
                        "backup state unknown: {}",
                        lightrag_config::ErrorChain(&e)
                    )),
                }
                let filter = ReplicationStateFilter {
                    target_id: None,
                    graph_id: Some(id.to_owned()),
                };
                if let Ok(states) = list_replication_states(
                    conn,
                    &filter,
                    Page::new(lightrag_recovery_db::MAX_PAGE_SIZE, 0),
                ) {
                    for s in states {
                        let bound =
                            i64::try_from(opts.max_replication_lag.as_millis()).unwrap_or(i64::MAX);
                        if let Some(lag) = s.lag_ms
                            && lag > bound
                        {
                            degraded.push(format!(
                                "replication lag to target {} is {} s, above {} s",
                                s.target_id,
                                lag / 1000,
                                bound / 1000
                            ));
                        }
                        if s.consecutive_failures > 0 {
                            degraded.push(format!(
                                "last sync to target {} failed: {}",
                                s.target_id,
                                s.last_error.as_deref().unwrap_or("no error recorded")
                            ));
                        }
                    }
                }
            }
        }
        if !degraded.is_empty() {
            c.status = worst(c.status, HealthStatus::Degraded);
            c.reasons.extend(degraded);
        }
        c
    }

    /// Parse `path` unless its stamp is unchanged since the last parse (then the verdict of
    /// that parse). A file that changes during the parse is being written: reported as fine
    /// this time, and parsed again at the next check.
    fn parse_cached(&self, path: &Path) -> Result<(), String> {
        let before = FileStamp::of(path).map_err(|e| format!("cannot stat: {e}"))?;
        let round = {
            let mut cache = self.parsed.lock().unwrap_or_else(PoisonError::into_inner);
            let round = cache.round;
            if let Some((stamp, seen, res)) = cache.files.get_mut(path)
                && *stamp == before
            {
                *seen = round;
                return res.clone();
            }
            cache.parses += 1;
            round
        };
        let res = parse_lightrag_file(path).map(|_| ());
        if FileStamp::of(path).ok() != Some(before) {
            return Ok(());
        }
        self.parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .files
            .insert(path.to_path_buf(), (before, round, res.clone()));
        res
    }

    /// Store a health_check_event if `c`'s status differs from the last known one.
    fn record_if_changed(
        &self,
        conn: Option<&mut DbConn>,
        c: &ComponentHealth,
        at: Timestamp,
    ) -> bool {
        let key = (c.component_type, c.id.clone());
        let Ok(mut known) = self.known.lock() else {
            return false;
        };
        let mut conn = conn;
        let previous = match known.get(&key) {
            Some(s) => Some(*s),
            None => conn.as_deref_mut().and_then(|conn| {
                let f = HealthCheckFilter {
                    component_type: Some(c.component_type),
                    component_id: Some(c.id.clone()),
                    order: Order::NewestFirst,
                    ..HealthCheckFilter::default()
                };
                list_health_checks(conn, &f, Page::new(1, 0))
                    .ok()
                    .and_then(|v| v.first().map(|e| e.status))
            }),
        };
        if previous == Some(c.status) {
            known.insert(key, c.status);
            return false;
        }
        let Some(conn) = conn else {
            // Cannot store it now; try again at the next check.
            return false;
        };
        let message = if c.reasons.is_empty() {
            format!("{} {} is {}", c.component_type, c.id, c.status)
        } else {
            c.reasons.join("; ")
        };
        let event = NewHealthCheckEvent {
            checked_at: at,
            component_type: c.component_type,
            component_id: c.id.clone(),
            status: c.status,
            message: Some(message.clone()),
            details: serde_json::to_string(
                &serde_json::json!({ "previous": previous, "reasons": c.reasons }),
            )
            .ok(),
        };
        if let Err(e) = insert_health_check(conn, &event) {
            tracing::warn!(component = %c.id, error = %lightrag_config::ErrorChain(&e), "Could not store health transition");
            return false;
        }
        known.insert(key, c.status);
        let severity = match c.status {
            HealthStatus::Healthy => Severity::Info,
            HealthStatus::Degraded => Severity::Warning,
            _ => Severity::Critical,
        };
        tracing::info!(component_type = %c.component_type, component = %c.id, status = %c.status, previous = ?previous, "Health status changed");
        let mut ev = NewEvent::new(
            EventKind::Health,
            "health.transition",
            severity,
            format!(
                "{} {}: {} -> {}: {message}",
                c.component_type,
                c.id,
                previous.map_or("unknown".to_owned(), |p| p.to_string()),
                c.status
            ),
        )
        .at(at);
        match c.component_type {
            ComponentType::Graph => ev = ev.graph(&c.id),
            ComponentType::Target => ev = ev.target(&c.id),
            _ => {}
        }
        self.events.emit(ev);
        true
    }
}

fn component(
    component_type: ComponentType,
    id: &str,
    status: HealthStatus,
    reasons: Vec<String>,
) -> ComponentHealth {
    ComponentHealth {
        component_type,
        id: id.to_owned(),
        status,
        reasons,
        path: None,
        last_backup_at: None,
        label: None,
    }
}
