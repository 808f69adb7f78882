//! Catalog and recovery-point subcommands (work without a server).

use anyhow::Context as _;
use clap::{Args, Subcommand};
use lightrag_config::Config;
use lightrag_recovery::{CreatePointRequest, RecoveryManager, RestorePointOptions};
use lightrag_recovery_db::{Page, RecoveryPointFilter};

use super::{Outcome, print_json};
use crate::wiring;

/// `catalog` subcommands.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Re-create the snapshot catalog from the repository's manifests (after losing the DB).
    /// Recovery points cannot be re-derived: they exist only in the catalog.
    Rebuild,
}

/// `recovery` subcommands.
#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Create a recovery point pinning one snapshot per graph.
    Create(CreateArgs),
    /// List recovery points.
    List,
    /// Prove a recovery point restores (chunks, restore drill, parsing, counts). Exit 3 if not.
    Validate {
        /// Recovery point id.
        id: String,
    },
    /// Restore every graph of a recovery point (in place, or under new ids).
    Restore(RestorePointArgs),
    /// Delete a recovery point (its snapshots are kept).
    Delete {
        /// Recovery point id.
        id: String,
    },
}

/// `recovery create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Graph ids to pin.
    #[arg(required = true, value_name = "GRAPH")]
    pub graphs: Vec<String>,
    /// What this point is for.
    #[arg(long, short = 'm', default_value = "")]
    pub description: String,
    /// Back up each graph first instead of pinning its latest snapshot.
    #[arg(long)]
    pub fresh_backup: bool,
}

/// `recovery restore`.
#[derive(Debug, Args)]
pub struct RestorePointArgs {
    /// Recovery point id.
    pub id: String,
    /// Replace the graphs where they are (atomic per graph, rolled back together on failure).
    #[arg(long)]
    pub in_place: bool,
    /// Suffix of the new graph ids when not in place (default `-restored`).
    #[arg(long, conflicts_with = "in_place")]
    pub suffix: Option<String>,
    /// Restore in place even if a graph looks live.
    #[arg(long)]
    pub force: bool,
}

fn manager(c: &Config) -> anyhow::Result<RecoveryManager> {
    let db = wiring::open_db(c)?;
    db.migrate().context("migrating the recovery database")?;
    Ok(RecoveryManager::new(db, wiring::recovery_options(c)))
}

/// `lightrag-ops catalog …`.
pub fn catalog(c: &Config, cmd: &CatalogCommand, json: bool) -> anyhow::Result<Outcome> {
    match cmd {
        CatalogCommand::Rebuild => {
            let db = wiring::open_db(c)?;
            db.migrate().context("migrating the recovery database")?;
            let repo = wiring::open_repository(c, false)?;
            let report = wiring::reconcile_catalog(&db, &repo)?;
            if json {
                print_json(&report)?;
            } else {
                println!(
                    "{} snapshots in the repository: {} inserted, {} refreshed, {} unchanged",
                    report.snapshots, report.inserted, report.refreshed, report.unchanged
                );
            }
        }
    }
    Ok(Outcome::Ok)
}

/// `lightrag-ops recovery …`.
pub fn recovery(c: &Config, cmd: &RecoveryCommand, json: bool) -> anyhow::Result<Outcome> {
    let m = manager(c)?;
    match cmd {
        RecoveryCommand::Create(a) => {
            let repo = wiring::open_repository(c, a.fresh_backup)?;
            let req = CreatePointRequest {
                graph_ids: a.graphs.clone(),
                description: a.description.clone(),
                created_by: Some("cli".to_owned()),
                fresh_backup: a.fresh_backup,
            };
            let p = m.create_point(&repo, &req)?;
            if json {
                print_json(&p)?;
            } else {
                println!(
                    "recovery point {} ({} graphs)",
                    p.point.id,
                    p.snapshots.len()
                );
                for s in &p.snapshots {
                    println!("  {} -> snapshot {}", s.graph_id, s.snapshot_id);
                }
            }
        }
        RecoveryCommand::List => {
            let points = m.list_points(&RecoveryPointFilter::default(), Page::new(1000, 0))?;
            if json {
                print_json(&points)?;
            } else {
                for p in points {
                    println!(
                        "{}  {}  validated={}  {} graphs  {}",
                        p.point.id,
                        p.point.created_at,
                        p.point.validated,
                        p.snapshots.len(),
                        p.point.description
                    );
                }
            }
        }
        RecoveryCommand::Validate { id } => {
            let repo = wiring::open_repository(c, false)?;
            let r = m.validate_point(&repo, id)?;
            if json {
                print_json(&r)?;
            } else if let Some(e) = r.error_text() {
                println!("recovery point {id} does NOT restore:\n{e}");
            } else {
                println!(
                    "recovery point {id} restores ({} graphs, {} ms)",
                    r.graphs.len(),
                    r.duration_ms
                );
            }
            return Ok(if r.ok { Outcome::Ok } else { Outcome::Damaged });
        }
        RecoveryCommand::Restore(a) => {
            let repo = wiring::open_repository(c, false)?;
            let opts = RestorePointOptions {
                in_place: a.in_place,
                id_suffix: Some(a.suffix.clone().unwrap_or_else(|| "-restored".to_owned())),
                force: a.force,
                ..RestorePointOptions::default()
            };
            let r = m.restore_point(&repo, None, &a.id, &opts)?;
            if json {
                print_json(&r)?;
            } else {
                for g in &r.graphs {
                    println!(
                        "{} -> {} ({} files, {} ms)",
                        g.graph_id, g.target_graph_id, g.files, g.duration_ms
                    );
                }
                println!("{}", r.next_step);
            }
        }
        RecoveryCommand::Delete { id } => {
            let d = m.delete_point(id)?;
            if json {
                print_json(&d)?;
            } else {
                println!(
                    "deleted {}; {} snapshot(s) no longer pinned",
                    d.id,
                    d.released.len()
                );
            }
        }
    }
    Ok(Outcome::Ok)
}
