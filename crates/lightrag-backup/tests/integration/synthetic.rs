//! Generated LightRAG workspaces: round trip, incremental dedup, summary, diff, excludes.

use std::collections::HashSet;

use lightrag_backup::{BackupOptions, ChunkId, NoProgress, RestoreOptions};

use super::common::{
    Backend, TestEnv, assert_same_tree, backend_tests, gen_workspace, grow_workspace,
};

backend_tests!(
    cloud: round_trip_incremental_and_diff,
    different_graphs_back_up_in_parallel
);

fn chunk_set(m: &lightrag_backup::Manifest) -> HashSet<ChunkId> {
    m.files
        .iter()
        .flat_map(|f| f.chunks.iter().copied())
        .collect()
}

fn round_trip_incremental_and_diff(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let src = tmp.path().join("ws");
    gen_workspace(&src, 20, &[]);
    std::fs::create_dir(src.join("logs")).unwrap();
    std::fs::write(src.join("logs/lightrag.log"), b"plain file, not a store\n").unwrap();
    std::fs::write(src.join("notes.txt"), b"operator notes").unwrap();
    std::fs::write(src.join("scratch.tmp"), b"excluded").unwrap();
    let repo = tmp.new_repo(None);
    let opts = BackupOptions {
        excludes: vec!["*.tmp".into()],
        ..Default::default()
    };

    let s1 = repo
        .backup("ws", &src, &opts, &NoProgress)
        .unwrap()
        .snapshot;
    let m1 = repo.snapshot(&s1.id).unwrap();
    assert!(m1.files.iter().any(|f| f.path == "logs/lightrag.log"));
    assert!(!m1.files.iter().any(|f| f.path == "scratch.tmp"));
    assert_eq!(s1.summary.stores.len(), 8);
    assert_eq!(s1.totals.new_chunks as usize, chunk_set(&m1).len());
    assert_eq!(s1.summary.docs(), Some(20));

    // No change: nothing re-read, nothing stored.
    let packs_before = tmp.packs().len();
    let s2 = repo
        .backup("ws", &src, &opts, &NoProgress)
        .unwrap()
        .snapshot;
    assert_eq!(s2.parent.as_deref(), Some(s1.id.as_str()));
    assert_eq!((s2.totals.new_chunks, s2.totals.bytes_read), (0, 0));
    assert_eq!(s2.totals.files_unchanged, s2.totals.files);
    assert_eq!(tmp.packs().len(), packs_before);
    assert_eq!(s2.summary, s1.summary);

    // Growth: only chunks absent from the first snapshot are stored.
    grow_workspace(&src, 10);
    let s3 = repo
        .backup("ws", &src, &opts, &NoProgress)
        .unwrap()
        .snapshot;
    let m3 = repo.snapshot(&s3.id).unwrap();
    let new: HashSet<_> = chunk_set(&m3)
        .difference(&chunk_set(&m1))
        .copied()
        .collect();
    assert_eq!(s3.totals.new_chunks as usize, new.len());
    assert!(
        s3.totals.new_chunks < chunk_set(&m3).len() as u64 / 2,
        "dedup failed: {:?}",
        s3.totals
    );
    assert_eq!(s3.summary.docs(), Some(22));
    assert!(s3.summary.entities() > s1.summary.entities());

    let d = repo.diff(&s1.id, &s3.id).unwrap();
    assert!(d.added.is_empty() && d.removed.is_empty());
    assert_eq!(d.changed.len(), 8, "{:?}", d.changed);
    assert_eq!(d.unchanged, 2);
    let docs = d.graph.iter().find(|c| c.name == "docs").unwrap();
    assert_eq!(docs.delta, Some(2));
    assert!(
        d.stores
            .iter()
            .any(|c| c.name == "vdb_entities.json records" && c.delta.unwrap() > 0)
    );

    // Both snapshots restore byte-identically (the old one from deduplicated chunks).
    let out = tmp.path().join("out3");
    repo.restore(&s3.id, &out, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    std::fs::remove_file(src.join("scratch.tmp")).unwrap();
    assert_same_tree(&src, &out);
    let out1 = tmp.path().join("out1");
    repo.restore(&s1.id[..12], &out1, &RestoreOptions::default(), &NoProgress)
        .unwrap_or_else(|e| {
            // a 12-char prefix may be ambiguous when two snapshots share the millisecond prefix
            assert!(
                matches!(e, lightrag_backup::BackupError::AmbiguousSnapshot(_)),
                "{e}"
            );
            repo.restore(&s1.id, &out1, &RestoreOptions::default(), &NoProgress)
                .unwrap()
        });
    assert_eq!(std::fs::read_dir(&out1).unwrap().count(), 10);
}

#[test]
fn summary_matches_a_full_json_parse() {
    let tmp = TestEnv::new(Backend::Local);
    let src = tmp.path().join("ws");
    gen_workspace(&src, 20, &["--no-vector-field"]);
    let repo = tmp.new_repo(None);
    let s = repo
        .backup("ws", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot
        .summary;
    for (path, st) in &s.stores {
        let text = std::fs::read(src.join(path)).unwrap();
        if path.ends_with(".graphml") {
            let t = String::from_utf8(text).unwrap();
            assert_eq!(st.nodes, Some(t.matches("<node ").count() as u64));
            assert_eq!(st.edges, Some(t.matches("<edge ").count() as u64));
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let obj = v.as_object().unwrap();
        if path.starts_with("vdb_") {
            let n = obj["data"].as_array().unwrap().len() as u64;
            let dim = obj["embedding_dim"].as_u64().unwrap();
            assert_eq!(
                (st.records, st.embedding_dim, st.matrix_rows),
                (Some(n), Some(dim), Some(n)),
                "{path}"
            );
        } else {
            assert_eq!(st.records, Some(obj.len() as u64), "{path}");
        }
        if path == "kv_store_doc_status.json" {
            let processed = obj.values().filter(|r| r["status"] == "processed").count() as u64;
            assert_eq!(
                st.status_counts.get("processed").copied().unwrap_or(0),
                processed
            );
        }
    }
}

fn different_graphs_back_up_in_parallel(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    gen_workspace(&a, 8, &[]);
    gen_workspace(&b, 8, &["--seed", "2"]);
    let repo = tmp.new_repo(None);
    std::thread::scope(|s| {
        for (g, d) in [("ga", &a), ("gb", &b), ("ga", &a), ("gb", &b)] {
            let repo = &repo;
            s.spawn(move || {
                repo.backup(g, d, &BackupOptions::default(), &NoProgress)
                    .unwrap()
            });
        }
    });
    assert_eq!(repo.snapshots(Some("ga")).unwrap().len(), 2);
    assert_eq!(repo.snapshots(Some("gb")).unwrap().len(), 2);
    assert_eq!(repo.snapshots(None).unwrap().len(), 4);
    assert!(
        repo.backup("bad/id", &a, &BackupOptions::default(), &NoProgress)
            .is_err()
    );
}

#[derive(Default)]
struct Counting {
    begun: std::sync::Mutex<Vec<(String, u64, u64)>>,
    files: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
    ended: std::sync::atomic::AtomicU64,
}

impl lightrag_backup::Progress for Counting {
    fn begin(&self, op: &str, files: u64, bytes: u64) {
        self.begun
            .lock()
            .unwrap()
            .push((op.to_owned(), files, bytes));
        self.files.store(0, std::sync::atomic::Ordering::SeqCst);
        self.bytes.store(0, std::sync::atomic::Ordering::SeqCst);
    }
    fn advance(&self, files: u64, bytes: u64) {
        self.files
            .fetch_add(files, std::sync::atomic::Ordering::SeqCst);
        self.bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::SeqCst);
    }
    fn end(&self) {
        self.ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn progress_reports_totals_and_verify_subsets() {
    use std::sync::atomic::Ordering::SeqCst;
    let tmp = TestEnv::new(Backend::Local);
    let src = tmp.path().join("ws");
    gen_workspace(&src, 10, &[]);
    let repo = tmp.new_repo(None);
    let p = Counting::default();
    let s = repo
        .backup("ws", &src, &BackupOptions::default(), &p)
        .unwrap()
        .snapshot;
    let (op, files, bytes) = p.begun.lock().unwrap()[0].clone();
    assert_eq!(
        (op.as_str(), files, bytes),
        ("backup", s.totals.files, s.totals.bytes)
    );
    assert_eq!(
        (
            p.files.load(SeqCst),
            p.bytes.load(SeqCst),
            p.ended.load(SeqCst)
        ),
        (files, bytes, 1)
    );

    let p = Counting::default();
    let r = repo
        .restore(
            &s.id,
            &tmp.path().join("out"),
            &RestoreOptions::default(),
            &p,
        )
        .unwrap();
    assert_eq!(
        (p.files.load(SeqCst), p.bytes.load(SeqCst)),
        (r.files, r.bytes)
    );

    use lightrag_backup::{ReadData, VerifyOptions};
    let all = repo
        .verify(
            &VerifyOptions {
                read_data: ReadData::All,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    let none = repo.verify(&VerifyOptions::default(), &NoProgress).unwrap();
    let half = repo
        .verify(
            &VerifyOptions {
                read_data: ReadData::Percent(50),
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    assert!(all.is_ok() && none.is_ok() && half.is_ok());
    assert_eq!(none.chunks_read, 0);
    assert_eq!(
        all.chunks_read as usize,
        chunk_set(&repo.snapshot(&s.id).unwrap()).len()
    );
    assert!(half.packs_read <= all.packs_read);
    assert!(all.read_data_complete && half.read_data_complete);
    let budget = VerifyOptions {
        read_data: ReadData::All,
        read_data_budget: Some(std::time::Duration::ZERO),
        ..Default::default()
    };
    let cut = repo.verify(&budget, &NoProgress).unwrap();
    assert!(cut.is_ok() && !cut.read_data_complete);
    assert_eq!(cut.packs_read, 0);
}

#[test]
fn diff_records_counts_added_and_removed() {
    let tmp = TestEnv::new(Backend::Local);
    let src = tmp.path().join("ws");
    gen_workspace(&src, 20, &[]);
    let repo = tmp.new_repo(None);
    let s1 = repo
        .backup("ws", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    grow_workspace(&src, 10);
    // And an operator deletes one document and adds another by hand: same count, churn.
    let path = src.join("kv_store_full_docs.json");
    let mut docs: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let victim = docs.keys().next().unwrap().clone();
    docs.remove(&victim);
    docs.insert("doc-manual".into(), serde_json::json!({"content": "x"}));
    std::fs::write(&path, serde_json::to_vec_pretty(&docs).unwrap()).unwrap();
    let s2 = repo
        .backup("ws", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;

    let d = repo.diff_records(&s1.id, &s2.id, &NoProgress).unwrap();
    let rec = |p: &str| {
        d.records
            .iter()
            .find(|r| r.path == p)
            .unwrap_or_else(|| panic!("{p}: {:?}", d.records))
            .clone()
    };
    let docs = rec("kv_store_full_docs.json");
    assert_eq!((docs.added, docs.removed), (3, 1));
    let net = d.graph.iter().find(|c| c.name == "docs").unwrap();
    assert_eq!(net.delta, Some(2));
    let ents = rec("vdb_entities.json");
    assert!(ents.added > 0 && ents.removed == 0, "{ents:?}");
    assert_eq!(
        Some(ents.added),
        s2.summary.stores["vdb_entities.json"]
            .records
            .zip(s1.summary.stores["vdb_entities.json"].records)
            .map(|(b, a)| b - a)
    );
    assert!(rec("kv_store_text_chunks.json").added > 0);
    assert!(repo.diff(&s1.id, &s2.id).unwrap().records.is_empty());
}
