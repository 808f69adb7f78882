//! Validation of a recovery point: prove that every pinned snapshot restores.
//!
//! Per pinned snapshot, in order (later steps are skipped once one fails):
//! 1. the manifest reads and names the pinned graph;
//! 2. `verify` with read-data: every chunk present, authentic and hash-correct;
//! 3. a restore drill into a scratch directory on disk (see [`RecoveryManager::drill_scratch_root`]; timed: the measured RTO of that graph);
//! 4. every restored LightRAG file parses strictly, in one streaming pass whose memory does not
//!    depend on the file size (`parse::parse_lightrag_file`);
//! 5. the counts of each file equal the summary recorded in the manifest at backup time.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use lightrag_backup::{Manifest, NoProgress, ReadData, Repository, RestoreOptions, VerifyOptions};
use lightrag_recovery_db::{
    EventKind, NewEvent, Order, Page, PinnedSnapshot, RecoveryPointDetails, RecoveryPointFilter,
    Severity, Timestamp, list_recovery_points, record_recovery_point_validation,
};
use serde::Serialize;

use crate::{
    error::Result,
    manager::RecoveryManager,
    parse::{FileFacts, FileKind, parse_lightrag_file},
    scratch::{DrillDir, drill_root},
};

/// One problem found by a validation, naming graph, snapshot and (when known) file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationProblem {
    /// Graph.
    pub graph_id: String,
    /// Pinned snapshot.
    pub snapshot_id: String,
    /// File in the snapshot (relative path), or `None` for snapshot-level problems.
    pub file: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for ValidationProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "graph `{}` snapshot {}", self.graph_id, self.snapshot_id)?;
        if let Some(file) = &self.file {
            write!(f, " file `{file}`")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// Validation of one pinned snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphValidation {
    /// Graph.
    pub graph_id: String,
    /// Pinned snapshot.
    pub snapshot_id: String,
    /// LightRAG files parsed after the drill.
    pub files_parsed: u64,
    /// Bytes restored by the drill.
    pub bytes_restored: u64,
    /// Duration of the restore drill (measured RTO), when it ran.
    pub drill_ms: Option<u64>,
    /// Problems (empty = restorable).
    pub problems: Vec<ValidationProblem>,
}

/// Result of [`RecoveryManager::validate_point`]; also stored on the point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationReport {
    /// Recovery point.
    pub point_id: String,
    /// When the validation finished.
    pub validated_at: Timestamp,
    /// Every pinned snapshot proved restorable.
    pub ok: bool,
    /// Per graph.
    pub graphs: Vec<GraphValidation>,
    /// Wall time of the whole validation.
    pub duration_ms: u64,
    /// Directory the restore drills ran in (each in its own `.lightrag-drill-*` folder,
    /// removed afterwards).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub scratch_dir: PathBuf,
}

impl ValidationReport {
    /// Every problem, graph by graph.
    pub fn problems(&self) -> impl Iterator<Item = &ValidationProblem> {
        self.graphs.iter().flat_map(|g| g.problems.iter())
    }

    /// One line per problem (what is stored as the point's `validation_error`); `None` if ok.
    pub fn error_text(&self) -> Option<String> {
        if self.ok {
            return None;
        }
        let lines: Vec<String> = self.problems().map(ToString::to_string).collect();
        Some(lines.join("\n"))
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RecoveryManager {
    /// Validate recovery point `id` against `repo` (the primary, or a replica to prove failover
    /// works), store the result and its time on the point, and emit events. Damage is reported
    /// in the returned [`ValidationReport`]; `Err` means the validation could not run (DB down,
    /// unknown point, scratch dir not writable).
    pub fn validate_point(&self, repo: &Repository, id: &str) -> Result<ValidationReport> {
        let point = self.get_point(id)?;
        let started = Instant::now();
        let scratch_root = self.drill_scratch_root(repo)?;
        let scratch = DrillDir::create(&scratch_root)?;
        let mut graphs = Vec::with_capacity(point.snapshots.len());
        for pin in &point.snapshots {
            let g = validate_pin(repo, pin, &scratch.path().join(&pin.graph_id));
            if let Some(d) = g.drill_ms {
                self.emit(
                    NewEvent::new(
                        EventKind::Validation,
                        "validation.drill",
                        if g.problems.is_empty() {
                            Severity::Info
                        } else {
                            Severity::Error
                        },
                        format!(
                            "Restore drill of graph {} from snapshot {} took {d} ms",
                            pin.graph_id, pin.snapshot_id
                        ),
                    )
                    .graph(&pin.graph_id)
                    .snapshot(&pin.snapshot_id)
                    .recovery_point(id)
                    .duration_ms(i64::try_from(d).unwrap_or(i64::MAX))
                    .bytes(i64::try_from(g.bytes_restored).unwrap_or(i64::MAX)),
                );
            }
            graphs.push(g);
        }
        drop(scratch);
        let ok = graphs.iter().all(|g| g.problems.is_empty());
        let report = ValidationReport {
            point_id: id.to_owned(),
            validated_at: Timestamp::now(),
            ok,
            graphs,
            duration_ms: ms(started.elapsed()),
            scratch_dir: scratch_root,
        };
        let error = report.error_text();
        record_recovery_point_validation(
            &mut *self.conn()?,
            id,
            report.validated_at,
            error.as_deref(),
        )?;
        let (severity, event_type, msg) = if ok {
            (
                Severity::Info,
                "recovery_point.validated",
                format!("Recovery point {id} validated: every snapshot restores"),
            )
        } else {
            let first = report
                .problems()
                .next()
                .map(ToString::to_string)
                .unwrap_or_default();
            (
                Severity::Critical,
                "recovery_point.validation_failed",
                format!("Recovery point {id} is NOT restorable: {first}"),
            )
        };
        if ok {
            tracing::info!(point = %id, duration_ms = report.duration_ms, "Recovery point validated");
        } else {
            tracing::error!(point = %id, problems = report.problems().count(), "Recovery point validation failed");
        }
        self.emit(
            NewEvent::new(EventKind::Validation, event_type, severity, msg)
                .recovery_point(id)
                .duration_ms(i64::try_from(report.duration_ms).unwrap_or(i64::MAX))
                .with_details(
                    &serde_json::json!({ "problems": report.problems().collect::<Vec<_>>() }),
                ),
        );
        Ok(report)
    }

    /// Directory the restore drills of a validation against `repo` run in: the configured
    /// `scratch_dir`; else `.lightrag-drills` beside a repository in a local directory; else
    /// `<first working dir>/.lightrag-ops/drills`. Never the system temp dir.
    pub fn drill_scratch_root(&self, repo: &Repository) -> Result<PathBuf> {
        drill_root(self.opts.scratch_dir.as_deref(), repo, &self.opts.roots)
    }

    /// The scheduled drill: validate the newest recovery point, if any.
    pub fn validate_newest(&self, repo: &Repository) -> Result<Option<ValidationReport>> {
        let filter = RecoveryPointFilter {
            order: Order::NewestFirst,
            ..RecoveryPointFilter::default()
        };
        let newest: Vec<RecoveryPointDetails> =
            list_recovery_points(&mut *self.conn()?, &filter, Page::new(1, 0))?;
        match newest.first() {
            Some(p) => self.validate_point(repo, &p.point.id).map(Some),
            None => Ok(None),
        }
    }
}

fn validate_pin(repo: &Repository, pin: &PinnedSnapshot, drill_dir: &Path) -> GraphValidation {
    let mut g = GraphValidation {
        graph_id: pin.graph_id.clone(),
        snapshot_id: pin.snapshot_id.clone(),
        files_parsed: 0,
        bytes_restored: 0,
        drill_ms: None,
        problems: Vec::new(),
    };
    let problem = |file: Option<&str>, problem: String| ValidationProblem {
        graph_id: pin.graph_id.clone(),
        snapshot_id: pin.snapshot_id.clone(),
        file: file.map(str::to_owned),
        problem,
    };
    // 1. Manifest.
    let manifest = match repo.snapshot(&pin.snapshot_id) {
        Ok(m) if m.graph_id == pin.graph_id && m.id == pin.snapshot_id => m,
        Ok(m) => {
            g.problems.push(problem(
                None,
                format!(
                    "manifest belongs to graph `{}` snapshot {}",
                    m.graph_id, m.id
                ),
            ));
            return g;
        }
        Err(e) => {
            g.problems.push(problem(
                None,
                format!(
                    "manifest cannot be read: {}",
                    lightrag_config::ErrorChain(&e)
                ),
            ));
            return g;
        }
    };
    // 2. Chunks present and hash-correct.
    let vopts = VerifyOptions {
        snapshots: vec![pin.snapshot_id.clone()],
        read_data: ReadData::All,
        read_data_budget: None,
    };
    match repo.verify(&vopts, &NoProgress) {
        Ok(report) => {
            for d in &report.damage {
                if d.snapshot.as_deref().is_some_and(|s| s != pin.snapshot_id) {
                    continue;
                }
                let what = match &d.object {
                    Some(o) => format!("{} (object {o})", d.problem),
                    None => d.problem.clone(),
                };
                g.problems.push(problem(d.file.as_deref(), what));
            }
            if !report.read_data_complete && g.problems.is_empty() {
                g.problems.push(problem(
                    None,
                    "verification did not read every chunk".into(),
                ));
            }
        }
        Err(e) => g.problems.push(problem(
            None,
            format!(
                "verification could not run: {}",
                lightrag_config::ErrorChain(&e)
            ),
        )),
    }
    if !g.problems.is_empty() {
        return g;
    }
    // 3. Restore drill.
    let started = Instant::now();
    match repo.restore(
        &pin.snapshot_id,
        drill_dir,
        &RestoreOptions::default(),
        &NoProgress,
    ) {
        Ok(s) => {
            g.drill_ms = Some(ms(started.elapsed()));
            g.bytes_restored = s.bytes;
        }
        Err(e) => {
            let file = match &e {
                lightrag_backup::BackupError::DamagedFile { file, .. } => Some(file.clone()),
                _ => None,
            };
            g.problems.push(problem(
                file.as_deref(),
                format!("restore drill failed: {}", lightrag_config::ErrorChain(&e)),
            ));
            return g;
        }
    }
    // 4 + 5. Parse and compare with the manifest summary.
    check_restored(&manifest, drill_dir, &mut g, &problem);
    g
}

fn check_restored(
    manifest: &Manifest,
    dir: &Path,
    g: &mut GraphValidation,
    problem: &dyn Fn(Option<&str>, String) -> ValidationProblem,
) {
    for entry in &manifest.files {
        let path = dir.join(&entry.path);
        match std::fs::metadata(&path) {
            Ok(md) if md.len() == entry.size => {}
            Ok(md) => {
                g.problems.push(problem(
                    Some(&entry.path),
                    format!("restored {} bytes, manifest says {}", md.len(), entry.size),
                ));
                continue;
            }
            Err(e) => {
                g.problems.push(problem(
                    Some(&entry.path),
                    format!("missing after restore: {e}"),
                ));
                continue;
            }
        }
        let name = entry.path.rsplit('/').next().unwrap_or(&entry.path);
        if FileKind::of(name).is_none() {
            continue;
        }
        let facts = match parse_lightrag_file(&path) {
            Ok(f) => f,
            Err(why) => {
                g.problems
                    .push(problem(Some(&entry.path), format!("does not parse: {why}")));
                continue;
            }
        };
        g.files_parsed += 1;
        if let Some(expected) = manifest.summary.stores.get(&entry.path) {
            let mut diffs = Vec::new();
            let mut cmp = |what: &str, recorded: Option<u64>, found: Option<u64>| {
                if let (Some(r), Some(f)) = (recorded, found)
                    && r != f
                {
                    diffs.push(format!("{what}: manifest {r}, restored {f}"));
                }
            };
            let FileFacts {
                records,
                embedding_dim,
                matrix_rows,
                nodes,
                edges,
            } = facts;
            cmp("records", expected.records, records);
            cmp("embedding_dim", expected.embedding_dim, embedding_dim);
            cmp("matrix_rows", expected.matrix_rows, matrix_rows);
            cmp("nodes", expected.nodes, nodes);
            cmp("edges", expected.edges, edges);
            if !diffs.is_empty() {
                g.problems.push(problem(
                    Some(&entry.path),
                    format!("summary counts differ ({})", diffs.join("; ")),
                ));
            }
        }
    }
}
