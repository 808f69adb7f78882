//! Replication subcommands (work without a server): targets, sync now.

use clap::Subcommand;
use lightrag_config::Config;
use lightrag_replication::TargetSpec;
use lightrag_service::{GraphId, Service};

use super::{Outcome, print_json, with_service};

/// `targets` subcommands.
#[derive(Debug, Subcommand)]
pub enum TargetsCommand {
    /// List replication targets (secrets never shown).
    List,
    /// Add a directory target (an absolute path: another disk, an NFS mount).
    AddPath {
        /// Unique name.
        name: String,
        /// Absolute directory.
        path: std::path::PathBuf,
    },
    /// Add a peer lightrag-ops server; its API key is read from LIGHTRAG_PEER_API_KEY.
    AddPeer {
        /// Unique name.
        name: String,
        /// Base URL, e.g. https://standby:9622
        url: String,
    },
    /// Remove a target (the data it holds is kept).
    Remove {
        /// Name or id.
        target: String,
    },
}

/// `lightrag-ops targets …`.
pub fn targets(c: &Config, cmd: &TargetsCommand, json: bool) -> anyhow::Result<Outcome> {
    with_service(c, false, |svc| targets_with(svc, cmd, json))
}

fn targets_with(svc: &Service, cmd: &TargetsCommand, json: bool) -> anyhow::Result<Outcome> {
    match cmd {
        TargetsCommand::List => {
            let ts = svc.list_targets(None)?;
            if json {
                print_json(&ts)?;
            } else {
                for t in ts {
                    println!(
                        "{:<20} {:<6} {:<40} enabled={} status={}",
                        t.name,
                        t.kind.as_str(),
                        t.url,
                        t.enabled,
                        t.last_status.map_or("-", |s| s.as_str())
                    );
                }
            }
        }
        TargetsCommand::AddPath { name, path } => {
            let spec = TargetSpec::Directory { path: path.clone() };
            // The operator's CLI may name any directory (the API is held to the roots).
            let t = svc.create_target(name, &spec, true, false)?;
            println!("added target {} ({})", t.name, t.id);
        }
        TargetsCommand::AddPeer { name, url } => {
            let api_key = std::env::var("LIGHTRAG_PEER_API_KEY")
                .ok()
                .filter(|k| !k.is_empty());
            let spec = TargetSpec::Peer {
                url: url.clone(),
                api_key,
            };
            let t = svc.create_target(name, &spec, true, false)?;
            println!("added target {} ({})", t.name, t.id);
        }
        TargetsCommand::Remove { target } => {
            let t = svc.delete_target(target)?;
            println!("removed target {}", t.name);
        }
    }
    Ok(Outcome::Ok)
}

/// `lightrag-ops replicate [--graph G] [--target T]`: sync now, ignoring back-off.
pub fn replicate(
    c: &Config,
    graph: Option<&str>,
    target: Option<&str>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let outcomes = with_service(c, false, |svc| {
        anyhow::ensure!(
            target.is_some() || !svc.list_targets(Some(true))?.is_empty(),
            "no enabled replication target; add one with `lightrag-ops targets add-path|add-peer`"
        );
        let graph = graph.map(GraphId::new).transpose()?;
        Ok(svc.replicate(graph.as_ref(), target, true)?)
    })?;
    if !json {
        for o in &outcomes {
            match &o.error {
                None => println!(
                    "{} → {}: {} object(s), {} byte(s) sent, {} skipped; lag {} ms",
                    o.graph_id, o.target, o.objects_sent, o.bytes_sent, o.objects_skipped, o.lag_ms
                ),
                Some(e) => println!("{} → {}: FAILED: {e}", o.graph_id, o.target),
            }
        }
    }
    if json {
        print_json(&outcomes)?;
    }
    Ok(if outcomes.iter().all(|o| o.error.is_none()) {
        Outcome::Ok
    } else {
        Outcome::Damaged
    })
}
