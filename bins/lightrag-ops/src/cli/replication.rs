//! Replication subcommands (work without a server): targets, sync now.

use anyhow::Context as _;
use clap::Subcommand;
use lightrag_config::Config;
use lightrag_replication::TargetSpec;

use super::{Outcome, print_json};
use crate::wiring;

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
    let db = wiring::open_db(c)?;
    db.migrate().context("migrating the recovery database")?;
    let mut conn = db.conn()?;
    match cmd {
        TargetsCommand::List => {
            let ts = lightrag_replication::list_targets(&mut conn, None)?;
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
            let t = lightrag_replication::create_target(&mut conn, name, &spec, true)?;
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
            let t = lightrag_replication::create_target(&mut conn, name, &spec, true)?;
            println!("added target {} ({})", t.name, t.id);
        }
        TargetsCommand::Remove { target } => {
            let t = lightrag_replication::find_target(&mut conn, target)?;
            lightrag_replication::delete_target(&mut conn, &t.id)?;
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
    let db = wiring::open_db(c)?;
    db.migrate().context("migrating the recovery database")?;
    let repo = wiring::open_repository(c, false)?;
    {
        let mut conn = db.conn()?;
        let none = target.is_none()
            && lightrag_replication::list_targets(&mut conn, Some(true))?.is_empty();
        anyhow::ensure!(
            !none,
            "no enabled replication target; add one with `lightrag-ops targets add-path|add-peer`"
        );
    }
    let outcomes = lightrag_replication::sync_targets(
        &db,
        repo.storage(),
        graph,
        target,
        true,
        &wiring::sync_options(c),
        &wiring::target_open_options(c),
        |t, o| {
            if !json {
                match &o.error {
                    None => println!(
                        "{} → {}: {} object(s), {} byte(s) sent, {} skipped; lag {} ms",
                        o.graph_id,
                        t.name,
                        o.objects_sent,
                        o.bytes_sent,
                        o.objects_skipped,
                        o.lag_ms
                    ),
                    Some(e) => println!("{} → {}: FAILED: {e}", o.graph_id, t.name),
                }
            }
        },
    )?;
    if json {
        print_json(&outcomes)?;
    }
    Ok(if outcomes.iter().all(|o| o.error.is_none()) {
        Outcome::Ok
    } else {
        Outcome::Damaged
    })
}

/// Opens target `name`'s copy of the repository (failover source).
pub fn target_repository(c: &Config, name: &str) -> anyhow::Result<lightrag_backup::Repository> {
    let db = wiring::open_db(c)?;
    let mut conn = db.conn()?;
    let t = lightrag_replication::find_target(&mut conn, name)?;
    let store = lightrag_replication::open_target(&mut conn, &t, &wiring::target_open_options(c))?;
    let key = c.encryption_key.as_ref().map(|k| k.expose().as_bytes());
    lightrag_replication::open_target_repository(store, key)
        .with_context(|| format!("cannot open the copy held by target {}", t.name))
}
