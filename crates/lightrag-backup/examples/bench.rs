//! Benchmark driver for `bench/backup.sh`: one repository operation per invocation, timings
//! and sizes printed as one JSON line (peak RSS is measured by the caller).
//!
//! ```text
//! bench init    <repo> [avg_kib] [zstd_level] [fine_avg_kib]   # fine: 0 = none
//! bench backup  <repo> <graph_dir> [graph_id]
//! bench restore <repo> <target_dir> [graph_id]      # latest snapshot of the graph
//! bench verify  <repo>                              # read all data
//! ```
//!
//! `<repo>` is a path or a repository URL (`s3://bucket/prefix`, ...). For S3-compatible
//! servers the driver reads, as the CLI does, `LIGHTRAG_S3_ENDPOINT`, `LIGHTRAG_S3_REGION`,
//! `LIGHTRAG_S3_PATH_STYLE` and `LIGHTRAG_S3_ALLOW_HTTP`; credentials come from `AWS_*`.
//! Backup and restore lines include `requests` (HTTP requests sent; 0 for a directory).

use std::path::Path;
use std::time::Instant;

use lightrag_backup::{
    BackupOptions, ChunkerParams, InitOptions, NoProgress, ObjectStoreOptions, ReadData,
    Repository, RestoreOptions, VerifyOptions, open_storage,
};

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"))
}

fn object_store_options() -> ObjectStoreOptions {
    ObjectStoreOptions {
        endpoint: std::env::var("LIGHTRAG_S3_ENDPOINT").ok(),
        region: std::env::var("LIGHTRAG_S3_REGION").ok(),
        path_style: env_flag("LIGHTRAG_S3_PATH_STYLE"),
        allow_http: env_flag("LIGHTRAG_S3_ALLOW_HTTP"),
        ..ObjectStoreOptions::default()
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let repo_location = arg(1).ok_or_else(|| anyhow::anyhow!("usage: bench <cmd> <repo> ..."))?;
    let storage = open_storage(repo_location, &object_store_options())?;
    let t = Instant::now();
    match arg(0) {
        Some("init") => {
            let mut init = InitOptions::default();
            if let Some(avg) = arg(2) {
                let avg = avg.parse::<u32>()? * 1024;
                init.chunker = ChunkerParams {
                    min_size: avg / 4,
                    avg_size: avg,
                    max_size: avg * 4,
                };
            }
            if let Some(level) = arg(3) {
                init.compression_level = level.parse()?;
            }
            if let Some(fine) = arg(4) {
                // Average KiB of the fine chunker (stores rewritten in place); 0: none.
                let avg = fine.parse::<u32>()? * 1024;
                init.fine_chunker = (avg > 0).then_some(ChunkerParams {
                    min_size: avg / 4,
                    avg_size: avg,
                    max_size: avg * 4,
                });
            }
            Repository::init(storage, &init, None)?;
            println!(
                "{{\"op\":\"init\",\"avg_kib\":{},\"fine_avg_kib\":{},\"level\":{}}}",
                init.chunker.avg_size / 1024,
                init.fine_chunker.map_or(0, |f| f.avg_size / 1024),
                init.compression_level
            );
        }
        Some("backup") => {
            let repo = Repository::open(storage, None)?;
            let dir = Path::new(arg(2).ok_or_else(|| anyhow::anyhow!("graph dir missing"))?);
            let s = repo.backup(
                arg(3).unwrap_or("bench"),
                dir,
                &BackupOptions::default(),
                &NoProgress,
            )?;
            let tt = &s.snapshot.totals;
            println!(
                "{{\"op\":\"backup\",\"wall_s\":{:.3},\"files\":{},\"bytes\":{},\"chunks\":{},\"new_chunks\":{},\"new_bytes\":{},\"new_bytes_stored\":{},\"bytes_read\":{},\"requests\":{}}}",
                t.elapsed().as_secs_f64(),
                tt.files,
                tt.bytes,
                tt.chunks,
                tt.new_chunks,
                tt.new_bytes,
                tt.new_bytes_stored,
                tt.bytes_read,
                s.requests.requests
            );
        }
        Some("restore") => {
            let before = storage.stats();
            let repo = Repository::open(storage.clone(), None)?;
            let target = Path::new(arg(2).ok_or_else(|| anyhow::anyhow!("target missing"))?);
            let latest = repo.latest()?;
            let id = latest
                .get(arg(3).unwrap_or("bench"))
                .ok_or_else(|| anyhow::anyhow!("no snapshot"))?;
            let r = repo.restore(id, target, &RestoreOptions::default(), &NoProgress)?;
            println!(
                "{{\"op\":\"restore\",\"wall_s\":{:.3},\"files\":{},\"bytes\":{},\"requests\":{}}}",
                t.elapsed().as_secs_f64(),
                r.files,
                r.bytes,
                storage.stats().since(&before).requests
            );
        }
        Some("verify") => {
            let repo = Repository::open(storage, None)?;
            let r = repo.verify(
                &VerifyOptions {
                    read_data: ReadData::All,
                    ..Default::default()
                },
                &NoProgress,
            )?;
            println!(
                "{{\"op\":\"verify\",\"wall_s\":{:.3},\"ok\":{},\"packs\":{},\"chunks\":{},\"bytes_read\":{}}}",
                t.elapsed().as_secs_f64(),
                r.is_ok(),
                r.packs_read,
                r.chunks_read,
                r.bytes_read
            );
            if !r.is_ok() {
                std::process::exit(3);
            }
        }
        _ => anyhow::bail!("usage: bench (init|backup|restore|verify) <repo> ..."),
    }
    Ok(())
}
