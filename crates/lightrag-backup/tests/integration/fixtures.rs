//! Every real LightRAG fixture: backup → restore is byte-identical, the summary matches the
//! figures in SOURCES.md, verify reads everything back clean.

use lightrag_backup::{
    BackupOptions, NoProgress, ReadData, RestoreOptions, StoreStats, VerifyOptions,
};

use super::common::{Backend, TestEnv, assert_same_tree, backend_tests, copy_dir, fixtures};

backend_tests!(cloud: every_fixture_round_trips_and_verifies);

fn store<'a>(s: &'a lightrag_backup::LightRagSummary, name: &str) -> &'a StoreStats {
    s.stores
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing from summary"))
}

fn every_fixture_round_trips_and_verifies(backend: Backend) {
    for fx in fixtures() {
        let tmp = TestEnv::new(backend);
        let src = tmp.path().join("graph");
        copy_dir(&fx, &src);
        let repo = tmp.new_repo(None);
        let snap = repo
            .backup("fixture", &src, &BackupOptions::default(), &NoProgress)
            .unwrap();
        assert!(
            snap.retried.is_empty(),
            "{}: retried {:?}",
            fx.display(),
            snap.retried
        );
        // Every JSON/GraphML file of the fixture is a LightRAG store with stats.
        let n_files = std::fs::read_dir(&src).unwrap().count();
        assert_eq!(
            snap.snapshot.summary.stores.len(),
            n_files,
            "{}",
            fx.display()
        );
        for (path, st) in &snap.snapshot.summary.stores {
            if let Some(ok) = st.vdb_consistent() {
                assert!(ok, "{path}: matrix rows != records");
            }
        }
        let out = tmp.path().join("restored");
        repo.restore(
            &snap.snapshot.id,
            &out,
            &RestoreOptions::default(),
            &NoProgress,
        )
        .unwrap();
        assert_same_tree(&src, &out);
        let report = repo
            .verify(
                &VerifyOptions {
                    read_data: ReadData::All,
                    ..Default::default()
                },
                &NoProgress,
            )
            .unwrap();
        assert!(report.is_ok(), "{report:?}");
        assert!(report.chunks_read > 0);
    }
}

#[test]
fn dickens_g2_summary_matches_sources() {
    let fx = fixtures()
        .into_iter()
        .find(|p| p.ends_with("adamaslan-dickens"))
        .unwrap();
    let tmp = TestEnv::new(Backend::Local);
    let src = tmp.path().join("g");
    copy_dir(&fx, &src);
    let repo = tmp.new_repo(None);
    let s = repo
        .backup("dickens", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot
        .summary;
    let g = store(&s, "graph_chunk_entity_relation.graphml");
    assert_eq!((g.nodes, g.edges), (Some(9), Some(3)));
    assert_eq!(store(&s, "kv_store_doc_status.json").records, Some(1));
    assert_eq!(
        store(&s, "kv_store_doc_status.json")
            .status_counts
            .get("processed"),
        Some(&1)
    );
    assert_eq!(store(&s, "kv_store_full_docs.json").records, Some(1));
    assert_eq!(
        store(&s, "kv_store_llm_response_cache.json").records,
        Some(5)
    );
    assert_eq!(store(&s, "kv_store_text_chunks.json").records, Some(4));
    for (name, n) in [
        ("vdb_chunks.json", 4),
        ("vdb_entities.json", 5),
        ("vdb_relationships.json", 3),
    ] {
        let v = store(&s, name);
        assert_eq!(
            (v.embedding_dim, v.records, v.matrix_rows),
            (Some(768), Some(n), Some(n)),
            "{name}"
        );
        assert_eq!(v.matrix_bytes, Some(n * 768 * 4));
    }
    assert_eq!(
        (
            s.docs(),
            s.chunks(),
            s.entities(),
            s.relations(),
            s.vectors()
        ),
        (Some(1), Some(4), Some(9), Some(3), Some(12))
    );
}

#[test]
fn bingofhy_g4_summary_matches_sources() {
    let fx = fixtures()
        .into_iter()
        .find(|p| p.ends_with("bingofhy-rag_storage"))
        .unwrap();
    let tmp = TestEnv::new(Backend::Local);
    let src = tmp.path().join("g");
    copy_dir(&fx, &src);
    let repo = tmp.new_repo(None);
    let s = repo
        .backup("bingofhy", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot
        .summary;
    let g = store(&s, "graph_chunk_entity_relation.graphml");
    assert_eq!((g.nodes, g.edges), (Some(111), Some(92)));
    let ds = store(&s, "kv_store_doc_status.json");
    assert_eq!(ds.records, Some(11));
    assert_eq!(ds.status_counts.get("processed"), Some(&1));
    assert_eq!(ds.status_counts.get("failed"), Some(&10));
    for (name, n) in [
        ("kv_store_entity_chunks.json", 47),
        ("kv_store_full_docs.json", 1),
        ("kv_store_full_entities.json", 1),
        ("kv_store_full_relations.json", 1),
        ("kv_store_llm_response_cache.json", 24),
        ("kv_store_relation_chunks.json", 42),
        ("kv_store_text_chunks.json", 2),
    ] {
        assert_eq!(store(&s, name).records, Some(n), "{name}");
    }
    for (name, n) in [
        ("vdb_chunks.json", 2),
        ("vdb_entities.json", 47),
        ("vdb_relationships.json", 42),
    ] {
        let v = store(&s, name);
        assert_eq!(
            (v.embedding_dim, v.records, v.matrix_rows),
            (Some(512), Some(n), Some(n)),
            "{name}"
        );
    }
    assert_eq!(s.doc_status().get("failed"), Some(&10));
}

#[test]
fn fixture_variants_crlf_and_truncation() {
    // CRLF line endings and an empty `{}` cache parse; a truncated copy is never stored.
    let fx = fixtures()
        .into_iter()
        .find(|p| p.ends_with("bingofhy-rag_storage"))
        .unwrap();
    let tmp = TestEnv::new(Backend::Local);
    let src = tmp.path().join("g");
    copy_dir(&fx, &src);
    let ds = std::fs::read(src.join("kv_store_doc_status.json")).unwrap();
    let crlf: Vec<u8> = ds
        .iter()
        .flat_map(|&b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    std::fs::write(src.join("kv_store_doc_status.json"), crlf).unwrap();
    std::fs::write(src.join("kv_store_llm_response_cache.json"), b"{}").unwrap();
    let repo = tmp.new_repo(None);
    let s = repo
        .backup("v", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot
        .summary;
    assert_eq!(
        store(&s, "kv_store_doc_status.json")
            .status_counts
            .get("failed"),
        Some(&10)
    );
    assert_eq!(
        store(&s, "kv_store_llm_response_cache.json").records,
        Some(0)
    );

    let vdb = std::fs::read(src.join("vdb_entities.json")).unwrap();
    std::fs::write(src.join("vdb_entities.json"), &vdb[..vdb.len() / 2]).unwrap();
    let opts = BackupOptions {
        max_retries: 1,
        retry_backoff: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    let err = repo.backup("v", &src, &opts, &NoProgress).unwrap_err();
    assert!(
        matches!(err, lightrag_backup::BackupError::FileUnstable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("vdb_entities.json"), "{err}");
    assert_eq!(repo.snapshots(Some("v")).unwrap().len(), 1);
}
