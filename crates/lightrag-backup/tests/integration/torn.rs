//! A writer thread rewriting a LightRAG file in place (as LightRAG does on save) while
//! backups run: no snapshot ever holds a torn file.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use lightrag_backup::{BackupError, BackupOptions, NoProgress, RestoreOptions};

use super::common::new_repo;

fn kv_doc(n: usize, tag: &str) -> Vec<u8> {
    let mut s = String::from("{\n");
    for i in 0..n {
        if i > 0 {
            s.push_str(",\n");
        }
        s.push_str(&format!("  \"doc-{i}\": {{\n    \"content\": \"{tag} {}\",\n    \"status\": \"processed\"\n  }}", "lorem ipsum ".repeat(20)));
    }
    s.push_str("\n}");
    s.into_bytes()
}

#[test]
fn file_rewritten_during_backup_is_never_stored_torn() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("g");
    std::fs::create_dir(&src).unwrap();
    let path = src.join("kv_store_full_docs.json");
    let versions = [kv_doc(4000, "alpha"), kv_doc(3000, "beta")];
    std::fs::write(&path, &versions[0]).unwrap();
    std::fs::write(
        src.join("vdb_chunks.json"),
        br#"{"embedding_dim": 1, "data": [], "matrix": ""}"#,
    )
    .unwrap();
    let repo = new_repo(&tmp.path().join("repo"), None);
    let stop = Arc::new(AtomicBool::new(false));
    let rewrites = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, path, versions, rewrites) = (
            stop.clone(),
            path.clone(),
            versions.clone(),
            rewrites.clone(),
        );
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                // In-place rewrite: truncate, then write in pieces with pauses.
                let mut f = std::fs::File::create(&path).unwrap();
                for piece in versions[i % 2].chunks(64 * 1024) {
                    f.write_all(piece).unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                }
                drop(f);
                rewrites.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    let opts = BackupOptions {
        max_retries: 200,
        retry_backoff: Duration::from_millis(2),
        force_reread: true,
        ..Default::default()
    };
    let mut ids = Vec::new();
    let mut retried = 0;
    // Back-to-back backups while the writer completes several rewrites: every rewrite
    // lands during some backup.
    while rewrites.load(Ordering::Relaxed) < 6 {
        let s = repo.backup("g", &src, &opts, &NoProgress).unwrap();
        retried += s.retried.len();
        ids.push(s.snapshot.id);
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        retried > 0,
        "the writer never overlapped a read; the test proves nothing"
    );
    for (n, id) in ids.iter().enumerate() {
        let out = tmp.path().join(format!("out{n}"));
        repo.restore(id, &out, &RestoreOptions::default(), &NoProgress)
            .unwrap();
        let got = std::fs::read(out.join("kv_store_full_docs.json")).unwrap();
        assert!(
            got == versions[0] || got == versions[1],
            "snapshot {id} holds a torn file ({} bytes)",
            got.len()
        );
        let m = repo.snapshot(id).unwrap();
        let recs = m.summary.stores["kv_store_full_docs.json"].records;
        assert!(recs == Some(4000) || recs == Some(3000));
    }
}

#[test]
fn file_that_never_settles_fails_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("g");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("kv_store_text_chunks.json"), b"{\"a\": 1}").unwrap();
    std::fs::write(
        src.join("kv_store_full_docs.json"),
        b"{\"a\": {\"content\": \"half",
    )
    .unwrap();
    let repo = new_repo(&tmp.path().join("repo"), None);
    let opts = BackupOptions {
        max_retries: 2,
        retry_backoff: Duration::from_millis(1),
        ..Default::default()
    };
    let err = repo.backup("g", &src, &opts, &NoProgress).unwrap_err();
    match &err {
        BackupError::FileUnstable { path, attempts, .. } => {
            assert!(path.ends_with("kv_store_full_docs.json"));
            assert_eq!(*attempts, 3);
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("kv_store_full_docs.json"));
    assert!(
        repo.snapshots(None).unwrap().is_empty(),
        "nothing may be published"
    );
    // Plain (non-LightRAG) files are not parse-checked.
    std::fs::remove_file(src.join("kv_store_full_docs.json")).unwrap();
    std::fs::write(src.join("notes.json.bak"), b"{ not json").unwrap();
    repo.backup("g", &src, &opts, &NoProgress).unwrap();
}

#[test]
fn rewrite_in_the_middle_of_a_read_is_detected_and_reread() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("g");
    std::fs::create_dir(&src).unwrap();
    let path = src.join("kv_store_full_docs.json");
    let (a, b) = (kv_doc(300, "alpha"), kv_doc(200, "beta"));
    std::fs::write(&path, &a).unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(60))
        .unwrap();
    drop(f);
    let repo = new_repo(&tmp.path().join("repo"), None);
    let hook_b = b.clone();
    let hook = lightrag_backup::ReadHook(Arc::new(move |p: &std::path::Path, attempt: u32| {
        if attempt == 0 && p.ends_with("kv_store_full_docs.json") {
            // LightRAG saves in place while we are reading.
            std::fs::write(p, &hook_b).unwrap();
        }
    }));
    let opts = BackupOptions {
        read_hook: Some(hook),
        retry_backoff: Duration::from_millis(1),
        ..Default::default()
    };
    let s = repo.backup("g", &src, &opts, &NoProgress).unwrap();
    assert_eq!(s.retried, ["kv_store_full_docs.json"]);
    let out = tmp.path().join("out");
    repo.restore(
        &s.snapshot.id,
        &out,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert!(std::fs::read(out.join("kv_store_full_docs.json")).unwrap() == b);
    assert_eq!(
        s.snapshot.summary.stores["kv_store_full_docs.json"].records,
        Some(200)
    );
}
