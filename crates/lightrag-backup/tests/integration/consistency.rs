//! Issue 16, item 2: save-consistent snapshots. A LightRAG save rewrites its stores one after
//! another (each through `<file>.tmp.<pid>.<tid>.<ns>` and a rename); a snapshot records
//! whether it holds one quiescent state, and the whole graph is read again (bounded) when a
//! save overlapped the reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lightrag_backup::{BackupOptions, NoProgress, ReadHook, Repository, RestoreOptions};

use super::common::new_repo;

/// Saves `content` into `dir/name` the way LightRAG ≥ 1.5 does: a temp file, then a rename.
/// Each save has its own temp name (read hooks run on several reader threads at once).
fn lightrag_save(dir: &Path, name: &str, content: &str) {
    static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SAVES.fetch_add(1, Ordering::SeqCst);
    let tmp = dir.join(format!("{name}.tmp.4242.{n}.{}", std::process::id()));
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// A graph with two stores, last changed `age` ago (mtime and ctime cannot be set back, so the
/// test waits instead).
fn graph(tmp: &Path, age: Duration) -> PathBuf {
    let g = tmp.join("g");
    std::fs::create_dir(&g).unwrap();
    lightrag_save(
        &g,
        "kv_store_full_docs.json",
        r#"{"doc-1": {"content": "one"}}"#,
    );
    lightrag_save(
        &g,
        "kv_store_doc_status.json",
        r#"{"doc-1": {"status": "processed"}}"#,
    );
    std::thread::sleep(age);
    g
}

fn opts(settle_ms: u64, retries: u32) -> BackupOptions {
    BackupOptions {
        settle: Duration::from_millis(settle_ms),
        consistency_retries: retries,
        ..BackupOptions::default()
    }
}

fn restored(repo: &Repository, snapshot: &str, tmp: &Path) -> (PathBuf, Option<String>) {
    let to = tmp.join(format!("restore-{snapshot}"));
    let s = repo
        .restore(snapshot, &to, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    (to, s.warning)
}

#[test]
fn a_still_graph_is_consistent_on_the_first_read() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph(tmp.path(), Duration::from_millis(250));
    let repo = new_repo(&tmp.path().join("repo"), None);
    let s = repo.backup("g", &g, &opts(200, 3), &NoProgress).unwrap();
    assert_eq!(s.attempts, 1);
    assert_eq!(s.snapshot.consistent, Some(true), "{:?}", s.snapshot);
    assert_eq!(s.snapshot.inconsistency, None);
    // The flag is in the manifest: a listing (and a catalog rebuild) reads it back.
    let listed = repo.snapshots(Some("g")).unwrap();
    assert_eq!(listed[0].consistent, Some(true));
    let (_, warning) = restored(&repo, &s.snapshot.id, tmp.path());
    assert_eq!(warning, None);
}

#[test]
fn a_save_that_rewrites_a_store_during_the_reads_is_read_again() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph(tmp.path(), Duration::from_millis(250));
    let repo = new_repo(&tmp.path().join("repo"), None);
    // While the first store is read, "LightRAG" saves the other one (once).
    let saves = Arc::new(AtomicU32::new(0));
    let hook = {
        let (saves, g) = (saves.clone(), g.clone());
        move |path: &Path, _attempt: u32| {
            let (name, other) = if path.ends_with("kv_store_full_docs.json") {
                (
                    "kv_store_doc_status.json",
                    r#"{"doc-1": {"status": "processed"}, "doc-2": {"status": "processed"}}"#,
                )
            } else {
                (
                    "kv_store_full_docs.json",
                    r#"{"doc-1": {"content": "one"}, "doc-2": {"content": "two"}}"#,
                )
            };
            if saves.fetch_add(1, Ordering::SeqCst) == 0 {
                lightrag_save(&g, name, other);
            }
        }
    };
    let o = BackupOptions {
        read_hook: Some(ReadHook(Arc::new(hook))),
        ..opts(200, 3)
    };
    let s = repo.backup("g", &g, &o, &NoProgress).unwrap();
    assert_eq!(s.attempts, 2, "the overlapped read is repeated once");
    assert_eq!(s.snapshot.consistent, Some(true), "{:?}", s.snapshot);
    // The snapshot holds the folder as it is now: both stores after the save.
    let (to, _) = restored(&repo, &s.snapshot.id, tmp.path());
    for f in ["kv_store_full_docs.json", "kv_store_doc_status.json"] {
        assert_eq!(
            std::fs::read(to.join(f)).unwrap(),
            std::fs::read(g.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn a_graph_saved_on_every_read_is_published_marked_not_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph(tmp.path(), Duration::from_millis(250));
    let repo = new_repo(&tmp.path().join("repo"), None);
    let n = Arc::new(AtomicU32::new(0));
    let hook = {
        let (n, g) = (n.clone(), g.clone());
        move |path: &Path, _attempt: u32| {
            if path.ends_with("kv_store_full_docs.json") {
                let i = n.fetch_add(1, Ordering::SeqCst);
                lightrag_save(
                    &g,
                    "kv_store_doc_status.json",
                    &format!("{{\"save\": {i}}}"),
                );
            }
        }
    };
    let o = BackupOptions {
        read_hook: Some(ReadHook(Arc::new(hook))),
        ..opts(50, 2)
    };
    let s = repo.backup("g", &g, &o, &NoProgress).unwrap();
    assert_eq!(s.attempts, 3, "1 read + 2 retries, then published");
    assert_eq!(s.snapshot.consistent, Some(false));
    let reason = s.snapshot.inconsistency.clone().unwrap();
    assert!(reason.contains("kv_store_doc_status.json"), "{reason}");
    assert_eq!(
        repo.snapshots(Some("g")).unwrap()[0].consistent,
        Some(false)
    );
    // Restoring it says so.
    let (_, warning) = restored(&repo, &s.snapshot.id, tmp.path());
    let warning = warning.expect("a restore of an inconsistent snapshot warns");
    assert!(warning.contains("not save-consistent"), "{warning}");
    assert!(warning.contains(&s.snapshot.id), "{warning}");
}

#[test]
fn a_pending_lightrag_temp_file_means_a_save_is_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph(tmp.path(), Duration::from_millis(250));
    let temp = g.join("vdb_chunks.json.tmp.77.140212.1733222222000000000");
    // Being written: half a vdb so far.
    std::fs::write(&temp, b"{\"embedding_dim\": 4, \"da").unwrap();
    let repo = new_repo(&tmp.path().join("repo"), None);
    let s = repo.backup("g", &g, &opts(50, 1), &NoProgress).unwrap();
    assert_eq!(s.attempts, 2);
    assert_eq!(s.snapshot.consistent, Some(false));
    let reason = s.snapshot.inconsistency.unwrap();
    assert!(
        reason.contains("pending") && reason.contains("vdb_chunks.json.tmp"),
        "{reason}"
    );
    // The temp file itself is never captured.
    let (to, _) = restored(&repo, &s.snapshot.id, tmp.path());
    assert!(!to.join(temp.file_name().unwrap()).exists());
    // The save finished (its temp file written out and renamed over the store): the next
    // backup is consistent.
    std::fs::write(&temp, br#"{"embedding_dim": 4, "data": [], "matrix": ""}"#).unwrap();
    std::fs::rename(&temp, g.join("vdb_chunks.json")).unwrap();
    let s = repo.backup("g", &g, &opts(50, 1), &NoProgress).unwrap();
    assert_eq!(s.snapshot.consistent, Some(true), "{:?}", s.snapshot);
}

/// The gap between two files of one save: the reads may fall entirely between the rename of
/// one store and the temp file of the next, with no temp file pending at either end. Only the
/// settle time tells that the folder had not been still yet: the backup waits it out, sees the
/// next store change, and reads again.
#[test]
fn reads_between_two_files_of_one_save_are_not_consistent_until_it_settles() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph(tmp.path(), Duration::from_millis(250));
    let repo = new_repo(&tmp.path().join("repo"), None);
    // The save: the first store now, the second 300 ms later.
    lightrag_save(
        &g,
        "kv_store_full_docs.json",
        r#"{"doc-1": {}, "doc-2": {}}"#,
    );
    let second = {
        let g = g.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            lightrag_save(
                &g,
                "kv_store_doc_status.json",
                r#"{"doc-1": {"status": "processed"}, "doc-2": {"status": "processed"}}"#,
            );
        })
    };
    let s = repo.backup("g", &g, &opts(1000, 3), &NoProgress).unwrap();
    second.join().unwrap();
    assert!(s.attempts >= 2, "the first read saw half a save: {s:?}");
    assert_eq!(s.snapshot.consistent, Some(true), "{:?}", s.snapshot);
    let (to, _) = restored(&repo, &s.snapshot.id, tmp.path());
    let status = std::fs::read_to_string(to.join("kv_store_doc_status.json")).unwrap();
    assert!(status.contains("doc-2"), "both files of the save: {status}");
}

#[test]
fn excluded_and_nested_folders_do_not_count_as_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph(tmp.path(), Duration::from_millis(10));
    std::fs::create_dir(g.join("nested")).unwrap();
    std::thread::sleep(Duration::from_millis(250));
    let repo = new_repo(&tmp.path().join("repo"), None);
    // A nested graph and a log file written on every read: neither is part of this graph.
    let hook = {
        let g = g.clone();
        move |_: &Path, _: u32| {
            lightrag_save(&g.join("nested"), "kv_store_full_docs.json", "{}");
            std::fs::write(g.join("lightrag.log"), b"busy\n").unwrap();
        }
    };
    let o = BackupOptions {
        read_hook: Some(ReadHook(Arc::new(hook))),
        exclude_paths: vec!["nested".into()],
        excludes: vec!["*.log".into()],
        ..opts(50, 3)
    };
    // The first write of the log creates it (a change of the graph folder itself); after
    // that the writes are in place and invisible to the rule.
    std::fs::write(g.join("lightrag.log"), b"start\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let s = repo.backup("g", &g, &o, &NoProgress).unwrap();
    assert_eq!(s.snapshot.consistent, Some(true), "{:?}", s.snapshot);
    assert_eq!(s.attempts, 1);
}

#[test]
fn manifests_written_before_the_flag_read_as_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph(tmp.path(), Duration::from_millis(60));
    let repo = new_repo(&tmp.path().join("repo"), None);
    let s = repo.backup("g", &g, &opts(50, 0), &NoProgress).unwrap();
    let mut m = serde_json::to_value(repo.snapshot(&s.snapshot.id).unwrap()).unwrap();
    let obj = m.as_object_mut().unwrap();
    assert!(obj.remove("consistent").is_some());
    obj.remove("inconsistency");
    let old: lightrag_backup::Manifest = serde_json::from_value(m).unwrap();
    assert_eq!(old.consistent, None);
    assert_eq!(lightrag_backup::SnapshotInfo::from(&old).consistent, None);
}

/// With a real embedding model the folder can be still for seconds in the middle of one save
/// (the vector stores are written after their embeddings are computed): LightRAG's own marker
/// in doc_status says a save is under way whatever the timing.
#[test]
fn a_document_whose_derived_stores_are_being_written_means_mid_save() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph(tmp.path(), Duration::from_millis(10));
    lightrag_save(
        &g,
        "kv_store_doc_status.json",
        r#"{"doc-1": {"status": "processed", "metadata": {"kg_write_state": "graph_mutation_started"}},
            "doc-2": {"status": "processing", "chunks_count": 1, "metadata": {"kg_write_state": "graph_mutation_started"}}}"#,
    );
    std::thread::sleep(Duration::from_millis(120));
    let repo = new_repo(&tmp.path().join("repo"), None);
    let s = repo.backup("g", &g, &opts(50, 1), &NoProgress).unwrap();
    assert_eq!(s.attempts, 2);
    assert_eq!(s.snapshot.consistent, Some(false));
    let reason = s.snapshot.inconsistency.unwrap();
    assert!(
        reason.contains("graph_mutation_started") && reason.contains("1 document"),
        "{reason}"
    );
    // The flush ends: the status turns `processed` (the write state stays).
    lightrag_save(
        &g,
        "kv_store_doc_status.json",
        r#"{"doc-1": {"status": "processed", "metadata": {"kg_write_state": "graph_mutation_started"}},
            "doc-2": {"status": "processed", "chunks_count": 1, "metadata": {"kg_write_state": "graph_mutation_started"}}}"#,
    );
    let s = repo.backup("g", &g, &opts(50, 1), &NoProgress).unwrap();
    assert_eq!(s.snapshot.consistent, Some(true), "{:?}", s.snapshot);
    assert_eq!(s.attempts, 1);
}
