//! Catalog and recovery-point subcommands (work without a server).

use anyhow::Context as _;
use clap::{Args, Subcommand};
use lightrag_config::Config;
use lightrag_recovery::{CreatePointRequest, RestorePointOptions};
use lightrag_recovery_db::Page;
use lightrag_service::Service;

use super::{Outcome, print_json, with_service};

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

/// `lightrag-ops catalog …`.
pub fn catalog(c: &Config, cmd: &CatalogCommand, json: bool) -> anyhow::Result<Outcome> {
    match cmd {
        CatalogCommand::Rebuild => {
            let report = with_service(c, false, |svc| {
                svc.rebuild_catalog()
                    .context("reconciling the catalog with the repository")
            })?;
            if json {
                print_json(&report)?;
            } else {
                println!(
                    "{} in the repository: {} inserted, {} refreshed, {} unchanged",
                    super::repo::count(report.snapshots, "snapshot"),
                    report.inserted,
                    report.refreshed,
                    report.unchanged
                );
            }
        }
    }
    Ok(Outcome::Ok)
}

/// `lightrag-ops recovery …`.
pub fn recovery(c: &Config, cmd: &RecoveryCommand, json: bool) -> anyhow::Result<Outcome> {
    let create = matches!(cmd, RecoveryCommand::Create(a) if a.fresh_backup);
    with_service(c, create, |svc| recovery_with(svc, cmd, json))
}

fn recovery_with(svc: &Service, cmd: &RecoveryCommand, json: bool) -> anyhow::Result<Outcome> {
    match cmd {
        RecoveryCommand::Create(a) => {
            let req = CreatePointRequest {
                graph_ids: a.graphs.clone(),
                description: a.description.clone(),
                created_by: Some("cli".to_owned()),
                fresh_backup: a.fresh_backup,
            };
            let p = svc.create_point(&req)?;
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
            let points = svc.list_points(Page::new(1000, 0))?;
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
            let r = svc.validate_point(id)?;
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
            let opts = RestorePointOptions {
                in_place: a.in_place,
                id_suffix: Some(a.suffix.clone().unwrap_or_else(|| "-restored".to_owned())),
                force: a.force,
                ..RestorePointOptions::default()
            };
            let r = svc.restore_point(&a.id, &opts)?;
            if json {
                print_json(&r)?;
            } else {
                for g in &r.graphs {
                    println!(
                        "{} -> {} ({} files, {} ms)",
                        g.graph_id, g.target_graph_id, g.files, g.duration_ms
                    );
                    if let Some(w) = &g.warning {
                        println!("  warning: {w}");
                    }
                }
                println!("{}", r.next_step);
            }
        }
        RecoveryCommand::Delete { id } => {
            let d = svc.delete_point(id)?;
            if json {
                print_json(&d)?;
            } else {
                println!(
                    "deleted {}; {} no longer pinned",
                    d.id,
                    super::repo::count(d.released.len() as u64, "snapshot")
                );
            }
        }
    }
    Ok(Outcome::Ok)
}
