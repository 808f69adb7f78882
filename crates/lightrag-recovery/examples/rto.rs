//! Measure RTO: restore a recovery point in place from the local repository and from a
//! directory replication target (a copy of the repository), plus a validation drill.
//!
//! ```text
//! cargo run --release --example rto -p lightrag-recovery -- <workspace> <scratch dir>
//! ```
//!
//! `<workspace>` is a LightRAG working dir (e.g. made by `gen_workspace.py --docs 2000`); it
//! is copied to `<scratch dir>/work/ws` first and never modified. Prints one line per step
//! with wall milliseconds (the times the library itself measured and stores in events).

use std::{path::Path, sync::Arc, time::Instant};

use lightrag_backup::{InitOptions, LocalStorage, Repository};
use lightrag_recovery::{
    CreatePointRequest, RecoveryManager, RecoveryOptions, RestorePointOptions,
};
use lightrag_recovery_db::{Db, DbConfig, run_migrations};

fn copy_dir(src: &Path, dest: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dest)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), dest.join(e.file_name()))?;
        }
    }
    Ok(())
}

fn sync() {
    let _ = std::process::Command::new("sync").status();
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: rto <workspace> <scratch dir>");
    let (src, scratch) = (Path::new(&args[1]), Path::new(&args[2]));
    anyhow::ensure!(
        !scratch.exists(),
        "{} exists; give a new directory",
        scratch.display()
    );
    let work = scratch.join("work");
    let ws = work.join("ws");
    copy_dir(src, &ws)?;
    let bytes: u64 = std::fs::read_dir(&ws)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let repo_path = scratch.join("repo");
    let repo = Repository::init(
        Arc::new(LocalStorage::new(&repo_path)),
        &InitOptions::default(),
        None,
    )?;
    let db = Db::connect(&DbConfig::new(format!(
        "sqlite:///{}",
        scratch.join("catalog.db").display()
    )))?;
    run_migrations(&mut *db.conn()?)?;
    let m = RecoveryManager::new(
        db,
        RecoveryOptions {
            roots: vec![work.clone()],
            scratch_dir: Some(scratch.to_path_buf()),
            ..RecoveryOptions::default()
        },
    );
    sync();
    let t = Instant::now();
    let req = CreatePointRequest {
        graph_ids: vec!["ws".into()],
        fresh_backup: true,
        ..CreatePointRequest::default()
    };
    let point = m.create_point(&repo, &req)?;
    println!(
        "workspace_bytes={bytes} point={} backup_ms={}",
        point.point.id,
        t.elapsed().as_millis()
    );

    let v = m.validate_point(&repo, &point.point.id)?;
    anyhow::ensure!(v.ok, "validation failed: {:?}", v.error_text());
    println!(
        "validate_ms={} drill_ms={:?}",
        v.duration_ms, v.graphs[0].drill_ms
    );

    let opts = RestorePointOptions {
        in_place: true,
        force: true,
        ..RestorePointOptions::default()
    };
    sync();
    let r = m.restore_point(&repo, None, &point.point.id, &opts)?;
    println!(
        "restore_in_place_local_ms={} graph_ms={} bytes={}",
        r.duration_ms, r.graphs[0].duration_ms, r.graphs[0].bytes
    );

    // A directory replication target is another repository path: a synced copy.
    let target_path = scratch.join("target");
    copy_dir(&repo_path, &target_path)?;
    let target = Repository::open(Arc::new(LocalStorage::new(&target_path)), None)?;
    sync();
    let r = m.restore_point(&target, None, &point.point.id, &opts)?;
    println!(
        "restore_in_place_target_ms={} graph_ms={} bytes={}",
        r.duration_ms, r.graphs[0].duration_ms, r.graphs[0].bytes
    );

    // Health checks of the restored workspace: a first check parses every file, the next
    // ones only re-parse files whose size/mtime changed.
    let health = lightrag_recovery::HealthMonitor::new(
        m.db().clone(),
        lightrag_recovery::HealthOptions {
            roots: vec![work.clone()],
            ..Default::default()
        },
    );
    for round in ["first", "cached"] {
        let t = Instant::now();
        let r = health.check(Some(&target));
        println!(
            "health_check_{round}_ms={} overall={}",
            t.elapsed().as_millis(),
            r.overall
        );
    }

    // Failover: the primary repository is gone.
    std::fs::remove_dir_all(&repo_path)?;
    sync();
    let r = m.restore_point(&target, None, &point.point.id, &opts)?;
    println!(
        "failover_in_place_target_ms={} graph_ms={}",
        r.duration_ms, r.graphs[0].duration_ms
    );
    Ok(())
}
