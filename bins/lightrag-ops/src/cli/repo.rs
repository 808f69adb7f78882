//! Repository subcommands: backup, snapshots, restore, verify, forget, prune, diff, stats.
//! Each maps arguments onto the `lightrag-backup` facade and prints text or JSON.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use lightrag_backup::{PruneOptions, ReadData, RepairOptions, RetentionPolicy, VerifyOptions};
use lightrag_config::Config;
use lightrag_recovery_db::BackupTrigger;
use lightrag_service::{GraphId, RestoreRequest, RetentionReport, Service, settings};

use super::progress::Bar;
use super::{Outcome, print_json, with_service};

/// `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Graph ids to back up (as discovered under LIGHTRAG_WORKING_DIR).
    #[arg(value_name = "GRAPH", required_unless_present = "all")]
    pub graphs: Vec<String>,
    /// Back up every discovered graph.
    #[arg(long, conflicts_with = "graphs")]
    pub all: bool,
    /// Tag stored with the snapshot (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

/// `snapshots`.
#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Only this graph's snapshots.
    #[arg(value_name = "GRAPH")]
    pub graph: Option<String>,
    /// List the copy held by this replication target instead.
    #[arg(long, value_name = "NAME")]
    pub from_target: Option<String>,
}

/// `restore`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["to", "in_place"])))]
pub struct RestoreArgs {
    /// Snapshot id (or a unique prefix).
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,
    /// Restore into this new (or empty) directory.
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Restore over the graph's own directory (atomic swap, safety snapshot first).
    #[arg(long)]
    pub in_place: bool,
    /// Restore only this file (relative path; repeatable).
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<String>,
    /// Restore in place even if the graph looks live (files written in the last minutes).
    #[arg(long)]
    pub force: bool,
    /// Read the snapshot from this replication target (failover when the primary is gone).
    #[arg(long, value_name = "NAME")]
    pub from_target: Option<String>,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Snapshots to check (default: all).
    #[arg(value_name = "SNAPSHOT", conflicts_with = "all")]
    pub snapshots: Vec<String>,
    /// Check every snapshot (the default when none is named).
    #[arg(long)]
    pub all: bool,
    /// Read, decompress and re-hash every chunk, not just the structure.
    #[arg(long)]
    pub read_data: bool,
    /// Like --read-data for a deterministic PCT percent of the packs.
    #[arg(long, value_name = "PCT", conflicts_with = "read_data",
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub read_data_subset: Option<u8>,
}

/// `forget`: keep rules default to the configuration (`LIGHTRAG_BACKUP_*`).
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Only this graph.
    #[arg(value_name = "GRAPH")]
    pub graph: Option<String>,
    /// Keep the newest N snapshots.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N hours.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the last N days.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N weeks.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep every snapshot younger than N days (0 = no age rule).
    #[arg(long, value_name = "N")]
    pub keep_within_days: Option<u32>,
    /// Show what would be removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Prune unreferenced data afterwards.
    #[arg(long)]
    pub prune: bool,
}

/// `prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Show what would be removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Older snapshot.
    #[arg(value_name = "A")]
    pub a: String,
    /// Newer snapshot.
    #[arg(value_name = "B")]
    pub b: String,
}

/// `1 snapshot`, `2 snapshots`: a count with its noun in the right number.
pub(super) fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `lightrag-ops backup`.
pub fn backup(c: &Config, args: &BackupArgs, json: bool) -> anyhow::Result<Outcome> {
    with_service(c, true, |svc| {
        let ids = if args.all {
            for u in svc.unprotected_folders()? {
                eprintln!("warning: not protected: {}: {}", u.path.display(), u.reason);
            }
            svc.discovered_graphs()?
        } else {
            args.graphs
                .iter()
                .map(|g| GraphId::new(g.as_str()))
                .collect::<Result<Vec<_>, _>>()?
        };
        if ids.is_empty() {
            bail!(
                "no LightRAG graph found under {} (LIGHTRAG_WORKING_DIR)",
                c.working_dir.display()
            );
        }
        backup_graphs(svc, &ids, &args.tags, json)
    })
}

fn backup_graphs(
    svc: &Service,
    ids: &[GraphId],
    tags: &[String],
    json: bool,
) -> anyhow::Result<Outcome> {
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for id in ids {
        let bar = Bar::new(json);
        let summary = match svc.backup(id, BackupTrigger::Manual, tags, &bar) {
            Ok(s) => s,
            // One graph: its error is the command's. Several: one failing graph does not
            // keep the others from being backed up (exit 3: partial result).
            Err(e) if ids.len() == 1 => {
                return Err(anyhow::Error::new(e).context(format!("backup of graph {id} failed")));
            }
            Err(e) => {
                eprintln!(
                    "lightrag-ops: backup of graph {id} failed: {}",
                    lightrag_config::error_chain(&e)
                );
                failed.push(id.to_string());
                continue;
            }
        };
        if !json {
            let s = &summary.snapshot;
            println!(
                "snapshot {} of graph {}: {} files, {} ({} new, {} stored), {} entities, {} relations",
                s.id,
                s.graph_id,
                s.totals.files,
                mib(s.totals.bytes),
                mib(s.totals.new_bytes),
                mib(s.totals.new_bytes_stored),
                s.summary.entities().unwrap_or(0),
                s.summary.relations().unwrap_or(0),
            );
            if let Some(reason) = &s.inconsistency {
                println!(
                    "  not save-consistent after {} reads: {reason} (each file is whole; the stores may come from different LightRAG saves)",
                    summary.attempts
                );
            } else if summary.attempts > 1 {
                println!(
                    "  save-consistent on read {} (a LightRAG save overlapped the earlier ones)",
                    summary.attempts
                );
            }
            for r in &summary.retried {
                println!("  re-read (changed while reading): {r}");
            }
            for r in &summary.skipped {
                println!("  skipped: {r}");
            }
        }
        results.push(summary);
    }
    if json {
        print_json(&results)?;
    }
    if results.is_empty() {
        bail!("every backup failed: {}", failed.join(", "));
    }
    Ok(if failed.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Damaged
    })
}

/// `lightrag-ops snapshots`.
pub fn snapshots(c: &Config, args: &SnapshotsArgs, json: bool) -> anyhow::Result<Outcome> {
    let list = with_service(c, false, |svc| {
        Ok(svc.snapshots(args.graph.as_deref(), args.from_target.as_deref())?)
    })?;
    if json {
        print_json(&list)?;
    } else {
        println!(
            "{:<28} {:<20} {:<20} {:>7} {:>12} {:<10}  trigger",
            "id", "graph", "created", "files", "size", "consistent"
        );
        for s in list {
            let created = s
                .created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let consistent = match s.consistent {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            println!(
                "{:<28} {:<20} {:<20} {:>7} {:>12} {:<10}  {}",
                s.id,
                s.graph_id,
                created.get(..19).unwrap_or(&created),
                s.totals.files,
                mib(s.totals.bytes),
                consistent,
                s.trigger
            );
        }
    }
    Ok(Outcome::Ok)
}

/// `lightrag-ops restore`.
pub fn restore(c: &Config, args: &RestoreArgs, json: bool) -> anyhow::Result<Outcome> {
    with_service(c, false, |svc| restore_with(svc, args, json))
}

fn restore_with(svc: &Service, args: &RestoreArgs, json: bool) -> anyhow::Result<Outcome> {
    if args.in_place {
        // In place: the catalog location, the live-graph guard, the safety snapshot (to the
        // primary, or when reading a target's copy and the primary is gone, the local safety
        // repository), and for the `default` graph only its own top-level files.
        let req = RestoreRequest {
            snapshot_id: args.snapshot.clone(),
            in_place: true,
            target_graph_id: None,
            files: args.files.clone(),
            force: args.force,
            from_target: args.from_target.clone(),
        };
        let r = svc.restore_snapshot(&req, &Bar::new(json))?;
        if json {
            print_json(&r)?;
        } else {
            println!(
                "restored snapshot {} of graph {} in place: {} files, {}",
                r.restore.snapshot,
                r.graph_id,
                r.restore.files,
                mib(r.restore.bytes)
            );
            if let Some(s) = &r.safety_snapshot {
                println!("safety snapshot of the previous state: {s}");
            }
            if let Some(w) = &r.restore.warning {
                println!("warning: {w}");
            }
            println!("{}", r.next_step);
        }
        return Ok(Outcome::Ok);
    }
    let Some(target) = args.to.clone() else {
        bail!("give exactly one of --to DIR or --in-place");
    };
    let (manifest, summary) = svc
        .restore_to_directory(
            &args.snapshot,
            &target,
            &args.files,
            args.from_target.as_deref(),
            &Bar::new(json),
        )
        .with_context(|| format!("restore of snapshot {} failed", args.snapshot))?;
    if json {
        print_json(&summary)?;
    } else {
        println!(
            "restored snapshot {} of graph {} into {}: {} files, {}",
            summary.snapshot,
            manifest.graph_id,
            summary.target.display(),
            summary.files,
            mib(summary.bytes)
        );
        if let Some(w) = &summary.warning {
            println!("warning: {w}");
        }
    }
    Ok(Outcome::Ok)
}

/// `lightrag-ops verify`: exit code 3 when damage is found.
pub fn verify(c: &Config, args: &VerifyArgs, json: bool) -> anyhow::Result<Outcome> {
    let read_data = match (args.read_data, args.read_data_subset) {
        (true, _) => ReadData::All,
        (false, Some(p)) => ReadData::Percent(p),
        (false, None) => ReadData::None,
    };
    let opts = VerifyOptions {
        snapshots: args.snapshots.clone(),
        read_data,
        read_data_budget: None,
    };
    let report = with_service(c, false, |svc| Ok(svc.verify(&opts, &Bar::new(json))?))?;
    if json {
        print_json(&report)?;
    } else {
        println!(
            "checked {}; read {}, {}, {}",
            count(report.snapshots_checked, "snapshot"),
            count(report.packs_read, "pack"),
            count(report.chunks_read, "chunk"),
            mib(report.bytes_read)
        );
        for d in &report.damage {
            println!(
                "DAMAGED snapshot={} file={} object={}: {}",
                d.snapshot.as_deref().unwrap_or("-"),
                d.file.as_deref().unwrap_or("-"),
                d.object.as_deref().unwrap_or("-"),
                d.problem
            );
        }
        if report.is_ok() {
            println!("no damage found");
        }
    }
    Ok(if report.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Damaged
    })
}

/// `repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Also read and re-hash every chunk of every pack (slow); bad copies are marked so the
    /// next backup stores those chunks again. Without it only pack trailers are read.
    #[arg(long)]
    pub read_data: bool,
}

/// `lightrag-ops repair`: exit 3 while snapshots stay damaged (new backups are not affected).
pub fn repair(c: &Config, args: &RepairArgs, json: bool) -> anyhow::Result<Outcome> {
    let repo = settings::open_repository(c, false)?;
    let opts = RepairOptions {
        read_data: args.read_data,
    };
    let bar = Bar::new(json);
    let report = repo.repair(&opts, &bar)?;
    if json {
        print_json(&report)?;
    } else {
        println!(
            "indexed {} packs ({} chunks), salvaged {} truncated packs ({} chunks lost), \
             {} unreadable packs; {} chunk copies marked bad; {} index files replaced",
            report.packs_indexed,
            report.chunks_indexed,
            report.packs_salvaged,
            report.chunks_lost,
            report.packs_unreadable.len(),
            report.chunks_marked_bad,
            report.indexes_replaced
        );
        for p in &report.packs_unreadable {
            println!("UNREADABLE pack={p}");
        }
        for (snap, refs) in &report.damaged_snapshots {
            println!(
                "DAMAGED snapshot={snap}: {refs} chunk references unreadable (restore it file by \
                 file or from a replica; the next backups store the lost chunks again)"
            );
        }
        if report.damaged_snapshots.is_empty() {
            println!("every snapshot is complete");
        }
    }
    Ok(if report.damaged_snapshots.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Damaged
    })
}

/// `lightrag-ops forget`: snapshots pinned by recovery points are always kept.
pub fn forget(c: &Config, args: &ForgetArgs, json: bool) -> anyhow::Result<Outcome> {
    let mut policy: RetentionPolicy = settings::retention_policy(c);
    let rules = [
        (args.keep_last, &mut policy.keep_last),
        (args.keep_hourly, &mut policy.keep_hourly),
        (args.keep_daily, &mut policy.keep_daily),
        (args.keep_weekly, &mut policy.keep_weekly),
        (args.keep_monthly, &mut policy.keep_monthly),
    ];
    for (arg, rule) in rules {
        if let Some(n) = arg {
            *rule = n;
        }
    }
    if let Some(days) = args.keep_within_days {
        policy.keep_within =
            (days > 0).then(|| std::time::Duration::from_secs(u64::from(days) * 86_400));
    }
    let prune = args.prune.then(|| PruneOptions {
        dry_run: args.dry_run,
        ..PruneOptions::default()
    });
    // The service's retention: pins kept, forgotten snapshots removed from the catalog too.
    let RetentionReport {
        forget: report,
        prune,
    } = with_service(c, false, |svc| {
        let graph = args.graph.as_deref().map(GraphId::new).transpose()?;
        Ok(svc.retention(
            graph.as_ref(),
            &policy,
            args.dry_run,
            prune,
            &Bar::new(json),
        )?)
    })?;
    if json {
        print_json(&serde_json::json!({ "forget": report, "prune": prune }))?;
    } else {
        let verb = if args.dry_run {
            "would remove"
        } else {
            "removed"
        };
        println!(
            "kept {}, {verb} {}",
            count(report.kept.len() as u64, "snapshot"),
            report.removed.len()
        );
        for id in &report.removed {
            println!("  {verb} {id}");
        }
        if let Some(p) = prune {
            println!(
                "prune: {} packs deleted, {} repacked, {} freed",
                p.packs_deleted,
                p.packs_repacked,
                mib(p.bytes_freed)
            );
        }
    }
    Ok(Outcome::Ok)
}

/// `lightrag-ops prune`.
pub fn prune(c: &Config, args: &PruneArgs, json: bool) -> anyhow::Result<Outcome> {
    let opts = PruneOptions {
        dry_run: args.dry_run,
        ..PruneOptions::default()
    };
    let report = with_service(c, false, |svc| Ok(svc.prune(&opts, &Bar::new(json))?))?;
    if json {
        print_json(&report)?;
    } else {
        println!(
            "{} deleted, {} repacked, {} deleted, {} removed, {} freed{}",
            count(report.packs_deleted, "pack"),
            report.packs_repacked,
            count(report.orphan_packs_deleted, "orphan pack"),
            count(report.chunks_removed, "chunk"),
            mib(report.bytes_freed),
            if report.dry_run { " (dry run)" } else { "" }
        );
    }
    Ok(Outcome::Ok)
}

/// `lightrag-ops diff`.
pub fn diff(c: &Config, args: &DiffArgs, json: bool) -> anyhow::Result<Outcome> {
    let repo = settings::open_repository(c, false)?;
    let d = repo.diff(&args.a, &args.b)?;
    if json {
        print_json(&d)?;
        return Ok(Outcome::Ok);
    }
    println!("{} → {}", d.a, d.b);
    for delta in d.graph.iter().chain(&d.stores) {
        let show = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let change = delta
            .delta
            .map_or_else(String::new, |x| format!(" ({x:+})"));
        println!(
            "  {:<40} {:>10} → {:<10}{change}",
            delta.name,
            show(delta.a),
            show(delta.b)
        );
    }
    for f in &d.added {
        println!("  + {f}");
    }
    for f in &d.removed {
        println!("  - {f}");
    }
    for f in &d.changed {
        println!(
            "  ~ {} ({} → {} bytes, {} chunks added, {} removed)",
            f.path, f.size_a, f.size_b, f.chunks_added, f.chunks_removed
        );
    }
    println!("  {} unchanged", count(d.unchanged, "file"));
    Ok(Outcome::Ok)
}

/// `lightrag-ops stats`.
pub fn stats(c: &Config, json: bool) -> anyhow::Result<Outcome> {
    let s = with_service(c, false, |svc| Ok(svc.stats()?))?;
    if json {
        print_json(&s)?;
    } else {
        println!(
            "{}, {} logical, {} stored (ratio {:.2}), {} in {}",
            count(s.snapshots, "snapshot"),
            mib(s.logical_bytes),
            mib(s.stored_bytes),
            s.dedup_ratio(),
            count(s.chunks, "chunk"),
            count(s.packs, "pack")
        );
        for (g, gs) in &s.graphs {
            println!(
                "  {g}: {}, latest {} ({})",
                count(gs.snapshots, "snapshot"),
                gs.latest.as_deref().unwrap_or("-"),
                mib(gs.latest_bytes)
            );
        }
    }
    Ok(Outcome::Ok)
}

/// `repo` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RepoCommand {
    /// Check up front that the storage of LIGHTRAG_BACKUP_STORAGE is reachable, the
    /// credentials work and objects can be written, read back and deleted.
    Check,
}

/// `lightrag-ops repo …`.
pub fn repo(c: &Config, cmd: &RepoCommand, json: bool) -> anyhow::Result<Outcome> {
    match cmd {
        RepoCommand::Check => {
            let storage = settings::open_storage(c)?;
            let check = lightrag_backup::check_storage(&*storage)
                .with_context(|| format!("storage check of {} failed", c.backup_storage))?;
            if json {
                print_json(&check)?;
            } else {
                println!(
                    "{}: {} ({} requests, {} ms); repository {}",
                    check.location,
                    check.passed.join(", "),
                    check.requests,
                    check.elapsed_ms,
                    if check.repository_exists {
                        "present"
                    } else {
                        "not created yet"
                    }
                );
            }
        }
    }
    Ok(Outcome::Ok)
}
