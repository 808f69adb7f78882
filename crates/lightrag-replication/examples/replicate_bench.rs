//! Measures replication of a graph workspace: `replicate_bench <workspace> <workdir> first|again`.
//!
//! `first` creates `<workdir>/primary` (default repository options), backs the workspace up
//! as graph `default` and syncs it to a fresh directory target (`<workdir>/dir-target`) and
//! to a fresh peer (loopback test server receiving into `<workdir>/peer-target`); `again`
//! backs the (grown) workspace up again and re-syncs both. Prints one JSON line per step.

#[path = "../tests/integration/test_server.rs"]
#[allow(dead_code)]
mod test_server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lightrag_backup::{BackupOptions, InitOptions, LocalStorage, NoProgress, Repository, Storage};
use lightrag_replication::{DirectoryTarget, PeerClient, SyncOptions, sync_graph};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 4,
        "usage: replicate_bench <workspace> <workdir> first|again"
    );
    let ws = PathBuf::from(&args[1]);
    let work = PathBuf::from(&args[2]);
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(work.join("primary")));
    let repo = if args[3] == "first" {
        Repository::init(storage.clone(), &InitOptions::default(), None)?
    } else {
        Repository::open(storage.clone(), None)?
    };
    let t = Instant::now();
    let snap = repo.backup("default", &ws, &BackupOptions::default(), &NoProgress)?;
    println!(
        "{}",
        serde_json::json!({"step": "backup", "seconds": t.elapsed().as_secs_f64(),
            "new_bytes_stored": snap.snapshot.totals.new_bytes_stored, "bytes": snap.snapshot.totals.bytes})
    );
    let dir = DirectoryTarget::new(work.join("dir-target"));
    let out = sync_graph(&storage, &dir, "default", &SyncOptions::default());
    anyhow::ensure!(out.is_success(), "{out:?}");
    println!(
        "{}",
        serde_json::json!({"step": "sync-directory", "seconds": out.duration_ms as f64 / 1000.0,
            "objects_sent": out.objects_sent, "bytes_sent": out.bytes_sent, "skipped": out.objects_skipped})
    );
    let peer = test_server::TestPeer::start(&work.join("peer-target"), "bench-key", 0);
    let client = PeerClient::new(
        &peer.base,
        Some("bench-key".into()),
        Duration::from_secs(300),
    )?;
    let out = sync_graph(&storage, &client, "default", &SyncOptions::default());
    anyhow::ensure!(out.is_success(), "{out:?}");
    println!(
        "{}",
        serde_json::json!({"step": "sync-peer-http", "seconds": out.duration_ms as f64 / 1000.0,
            "objects_sent": out.objects_sent, "bytes_sent": out.bytes_sent, "skipped": out.objects_skipped})
    );
    peer.stop();
    Ok(())
}
