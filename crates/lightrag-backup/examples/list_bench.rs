//! Listing benchmark for `bench/list.sh`: a local repository with many snapshots, listed from
//! every manifest (the path before the snapshot header index) and from the index.
//!
//! ```text
//! list_bench <empty dir> [snapshots = 10000] [graphs = 100] [runs = 5] [chunks = 1000]
//! ```
//!
//! Makes one real backup of a small graph folder, then writes `snapshots - 1` more manifests
//! modelled on it (time-ordered ids, spread over `graphs` graphs, a 12-store LightRAG summary
//! and 12 files of `chunks` chunk ids in all, as a ~32 MB graph has at 32 KiB chunks; the
//! default 584 MB workspace has ~13 400) straight into `snapshots/` without headers — as a
//! writer that predates the index would leave them. Then, each in a freshly opened repository and timed:
//!
//! - `list_only`: the LIST of `snapshots/` alone (what every listing starts with; median);
//! - `manifests`: `snapshots_from_manifests(None)` (one GET per snapshot);
//! - `first`: `snapshots(None)` with no index yet (reads every manifest, writes one segment);
//! - `indexed`: `snapshots(None)` answered from the index (median of `runs`);
//! - `one_graph`: `snapshots(Some(g))` from the index (median);
//! - `stats`: `stats()` (median).
//!
//! Prints one JSON line per step: wall milliseconds, GETs and LISTs the storage saw. With
//! `runs = 0` it only writes the repository (`<dir>/repo`) and stops: `bench/scale.sh` serves
//! that one to the dashboard.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use lightrag_backup::{
    BackupOptions, InitOptions, LocalStorage, NoProgress, ObjectInfo, Repository, Storage,
};

/// Counts GETs and LISTs on the way to a local directory.
#[derive(Debug)]
struct Counting {
    inner: LocalStorage,
    gets: AtomicU64,
    lists: AtomicU64,
}

impl Storage for Counting {
    fn put(&self, key: &str, data: Vec<u8>) -> lightrag_backup::Result<()> {
        self.inner.put(key, data)
    }
    fn get(&self, key: &str) -> lightrag_backup::Result<Vec<u8>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key)
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> lightrag_backup::Result<Vec<u8>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get_range(key, offset, len)
    }
    fn exists(&self, key: &str) -> lightrag_backup::Result<bool> {
        self.inner.exists(key)
    }
    fn list(&self, prefix: &str) -> lightrag_backup::Result<Vec<ObjectInfo>> {
        self.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list(prefix)
    }
    fn list_modified(
        &self,
        prefix: &str,
    ) -> lightrag_backup::Result<Vec<(ObjectInfo, Option<SystemTime>)>> {
        self.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list_modified(prefix)
    }
    fn delete(&self, key: &str) -> lightrag_backup::Result<()> {
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

fn open(dir: &Path) -> anyhow::Result<(Repository, Arc<Counting>)> {
    let c = Arc::new(Counting {
        inner: LocalStorage::new(dir),
        gets: AtomicU64::new(0),
        lists: AtomicU64::new(0),
    });
    Ok((Repository::open(c.clone(), None)?, c))
}

fn step<T>(
    name: &str,
    dir: &Path,
    runs: usize,
    f: impl Fn(&Repository) -> anyhow::Result<T>,
    count: impl Fn(&T) -> usize,
) -> anyhow::Result<()> {
    let mut times = Vec::new();
    let mut last = (0, 0, 0);
    for _ in 0..runs {
        let (repo, c) = open(dir)?;
        let t = Instant::now();
        let out = f(&repo)?;
        times.push(t.elapsed());
        last = (
            count(&out),
            c.gets.load(Ordering::Relaxed),
            c.lists.load(Ordering::Relaxed),
        );
    }
    times.sort();
    let median: Duration = times[times.len() / 2];
    println!(
        "{{\"step\": \"{name}\", \"snapshots\": {}, \"ms\": {:.1}, \"runs\": {runs}, \"gets\": {}, \"lists\": {}}}",
        last.0,
        median.as_secs_f64() * 1000.0,
        last.1,
        last.2
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = Path::new(args.first().ok_or_else(|| {
        anyhow::anyhow!("usage: list_bench <empty dir> [snapshots] [graphs] [runs] [chunks]")
    })?);
    let n: u64 = args.get(1).map_or(Ok(10_000), |s| s.parse())?;
    let graphs: u64 = args.get(2).map_or(Ok(100), |s| s.parse())?;
    let runs: usize = args.get(3).map_or(Ok(5), |s| s.parse())?;
    let chunks: usize = args.get(4).map_or(Ok(1000), |s| s.parse())?;
    anyhow::ensure!(n >= 1 && graphs >= 1, "counts must be positive");

    let repo_dir = dir.join("repo");
    let graph_dir = dir.join("graph");
    std::fs::create_dir_all(&graph_dir)?;
    std::fs::write(
        graph_dir.join("kv_store_full_docs.json"),
        br#"{"doc-1": {"content": "some text"}}"#,
    )?;
    let repo = Repository::init(
        Arc::new(LocalStorage::new(&repo_dir)),
        &InitOptions::default(),
        None,
    )?;
    let first = repo.backup("g0", &graph_dir, &BackupOptions::default(), &NoProgress)?;
    let mut template = repo.snapshot(&first.snapshot.id)?;
    // A real graph's summary has a dozen stores.
    let store = template
        .summary
        .stores
        .values()
        .next()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no store in the summary"))?;
    for name in [
        "kv_store_full_docs.json",
        "kv_store_text_chunks.json",
        "kv_store_llm_response_cache.json",
        "kv_store_doc_status.json",
        "kv_store_full_entities.json",
        "kv_store_full_relations.json",
        "kv_store_entity_chunks.json",
        "kv_store_relation_chunks.json",
        "vdb_entities.json",
        "vdb_relationships.json",
        "vdb_chunks.json",
        "graph_chunk_entity_relation.graphml",
    ] {
        template.summary.stores.insert(name.into(), store.clone());
    }

    // 12 files sharing `chunks` chunk ids (distinct ids: hex compresses as in real manifests).
    let file = template
        .files
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no file in the snapshot"))?;
    template.files = (0..12)
        .map(|f| {
            let mut e = file.clone();
            e.path = format!("store-{f:02}.json");
            e.chunks = (0..chunks)
                .filter(|c| c % 12 == f)
                .map(|c| {
                    let id = blake3::hash(&(c as u64).to_le_bytes()).to_hex();
                    serde_json::from_value(serde_json::Value::String(id.to_string()))
                })
                .collect::<Result<_, _>>()?;
            Ok(e)
        })
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    let base = template.created_at;
    for i in 1..n {
        let mut m = template.clone();
        let at = base + time::Duration::milliseconds(i as i64);
        m.created_at = at;
        m.id = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}{:03}Z-{:08x}",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.millisecond(),
            i
        );
        m.graph_id = format!("g{}", i % graphs);
        let json = serde_json::to_vec(&m)?;
        // The object codec of an unencrypted repository: flag 1 (zstd) || zstd frame.
        let mut body = vec![1u8];
        body.extend(zstd::bulk::compress(&json, 3)?);
        let path = repo_dir.join("snapshots").join(&m.graph_id).join(&m.id);
        std::fs::create_dir_all(path.parent().unwrap_or(&repo_dir))?;
        std::fs::write(path, body)?;
    }
    // Only the first snapshot has a header; the rest were written without one.
    eprintln!(
        "{n} snapshots over {graphs} graphs written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if runs == 0 {
        // Only the repository was wanted (`bench/scale.sh` serves it to the dashboard).
        return Ok(());
    }

    step(
        "list_only",
        &repo_dir,
        runs,
        |r| Ok(r.storage().list("snapshots/")?),
        Vec::len,
    )?;
    step(
        "manifests",
        &repo_dir,
        1,
        |r| Ok(r.snapshots_from_manifests(None)?),
        Vec::len,
    )?;
    step("first", &repo_dir, 1, |r| Ok(r.snapshots(None)?), Vec::len)?;
    step(
        "indexed",
        &repo_dir,
        runs,
        |r| Ok(r.snapshots(None)?),
        Vec::len,
    )?;
    step(
        "one_graph",
        &repo_dir,
        runs,
        |r| Ok(r.snapshots(Some("g7"))?),
        Vec::len,
    )?;
    step(
        "stats",
        &repo_dir,
        runs,
        |r| Ok(r.stats()?),
        |s| s.snapshots as usize,
    )?;
    let seg_bytes: u64 = std::fs::read_dir(repo_dir.join("headers/v1"))?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!("{{\"step\": \"index_size\", \"bytes\": {seg_bytes}}}");
    Ok(())
}
