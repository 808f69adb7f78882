//! Encryption at rest: round trip, wrong/missing key fail cleanly, nothing readable leaks.

use lightrag_backup::{
    BackupError, BackupOptions, NoProgress, ReadData, Repository, RestoreOptions, VerifyOptions,
};

use super::common::{Backend, TestEnv, assert_same_tree, backend_tests, copy_dir, fixtures};

backend_tests!(encrypted_round_trip_and_key_errors, check_writable_probe);

const KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

fn all_repo_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.extend(std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

fn encrypted_round_trip_and_key_errors(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let src = tmp.path().join("g");
    copy_dir(&fixtures()[0], &src);
    // An incompressible, recognisable plain file: visible in a plain repo, not in an encrypted one.
    let marker = b"LIGHTRAG-SECRET-MARKER-6f1c";
    let mut plain = Vec::new();
    for i in 0u32..2000 {
        plain.extend_from_slice(marker);
        plain.extend_from_slice(blake3::hash(&i.to_le_bytes()).as_bytes());
    }
    std::fs::write(src.join("secret.bin"), &plain).unwrap();
    let repo_dir = tmp.repo_dir();
    let repo = tmp.new_repo(Some(KEY));
    assert!(repo.is_encrypted());
    let snap = repo
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    let out = tmp.path().join("out");
    repo.restore(&snap.id, &out, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    assert_same_tree(&src, &out);
    let r = repo
        .verify(
            &VerifyOptions {
                read_data: ReadData::All,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    assert!(r.is_ok(), "{r:?}");

    // Forget + prune (repacking sealed blobs) keep an encrypted repository intact.
    std::fs::write(src.join("kv_store_full_docs.json"), b"{\"d\": {}}").unwrap();
    let snap2 = repo
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    let keep = lightrag_backup::RetentionPolicy {
        keep_last: 1,
        ..Default::default()
    };
    let forgotten = repo
        .forget(None, &keep, &Default::default(), false)
        .unwrap();
    assert_eq!(forgotten.removed, std::slice::from_ref(&snap.id));
    let pr = repo
        .prune(
            &lightrag_backup::PruneOptions {
                repack_threshold: 0.0,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    assert!(pr.chunks_removed > 0, "{pr:?}");
    let r = repo
        .verify(
            &VerifyOptions {
                read_data: ReadData::All,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    let out2 = tmp.path().join("out2");
    repo.restore(&snap2.id, &out2, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    assert_same_tree(&src, &out2);
    let snap = snap2;

    let bytes = all_repo_bytes(&repo_dir);
    assert!(
        !bytes.windows(marker.len()).any(|w| w == marker),
        "plaintext leaked into the repository"
    );
    assert!(
        !bytes.windows(7).any(|w| w == b"SCROOGE"),
        "graph content leaked"
    );

    // Reopen: right key works, wrong or missing key fails with a typed error.
    let again = Repository::open(tmp.storage(), Some(KEY)).unwrap();
    assert_eq!(again.snapshots(None).unwrap().len(), 1);
    let wrong =
        Repository::open(tmp.storage(), Some(b"another key entirely, 32 bytes!!")).unwrap_err();
    assert!(matches!(wrong, BackupError::WrongKey), "{wrong}");
    assert!(matches!(
        Repository::open(tmp.storage(), None).unwrap_err(),
        BackupError::KeyRequired
    ));

    // Tampering with the manifest is an authentication error, never garbage.
    let snaps_dir = repo_dir.join("snapshots/g");
    let mf = std::fs::read_dir(&snaps_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut m = std::fs::read(&mf).unwrap();
    let mid = m.len() / 2;
    m[mid] ^= 1;
    std::fs::write(&mf, m).unwrap();
    let err = again.snapshot(&snap.id).unwrap_err();
    assert!(matches!(err, BackupError::Corrupt { .. }), "{err}");

    // Chunk ids are keyed: the same data in a plain repository gets other ids.
    let plain_repo = tmp.new_repo_named("plain", None);
    let ps = plain_repo
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    let a = plain_repo.snapshot(&ps.id).unwrap();
    let secret_chunks = &a
        .files
        .iter()
        .find(|f| f.path == "secret.bin")
        .unwrap()
        .chunks;
    let enc_bytes = all_repo_bytes(&repo_dir);
    let id_hex = secret_chunks[0].to_string();
    assert!(
        !enc_bytes
            .windows(id_hex.len())
            .any(|w| w == id_hex.as_bytes())
    );
    assert!(matches!(
        Repository::open(tmp.storage_named("plain"), Some(KEY)).unwrap_err(),
        BackupError::KeyNotExpected
    ));
    assert!(matches!(
        Repository::open(tmp.storage_named("none"), None).unwrap_err(),
        BackupError::NotARepository { .. }
    ));
}

fn check_writable_probe(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let repo = tmp.new_repo(None);
    repo.check_writable().unwrap();
    let probe_dir = tmp.repo_dir().join("probe");
    assert!(!probe_dir.exists() || !probe_dir.read_dir().unwrap().any(|_| true));
    let check = lightrag_backup::check_storage(tmp.storage().as_ref()).unwrap();
    assert!(check.repository_exists, "{check:?}");
    assert_eq!(check.passed, ["access", "put", "get", "delete"]);
    assert_eq!(check.requests > 0, backend == Backend::S3, "{check:?}");
}

/// Issue 14 #3: a repository created with the default options derives its keys with Argon2id at
/// the default cost (64 MiB, 3 passes, 1 lane), recorded in its config with a random salt; the
/// config never holds the key, and the key still opens it.
#[test]
fn new_repositories_derive_keys_with_argon2id() {
    let dir = tempfile::tempdir().unwrap();
    let storage = std::sync::Arc::new(lightrag_backup::LocalStorage::new(dir.path()));
    let passphrase: &[u8] = b"correct horse battery staple";
    Repository::init(
        storage.clone(),
        &lightrag_backup::InitOptions::default(),
        Some(passphrase),
    )
    .unwrap();
    let text = std::fs::read_to_string(dir.path().join("config")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&text).unwrap();
    let enc = &config["encryption"];
    assert_eq!(enc["kdf"], "argon2id", "{config}");
    assert_eq!(enc["kdf_params"]["memory_kib"], 65536, "{config}");
    assert_eq!(enc["kdf_params"]["iterations"], 3, "{config}");
    assert_eq!(enc["kdf_params"]["parallelism"], 1, "{config}");
    assert_eq!(
        enc["kdf_params"]["salt"].as_str().map(str::len),
        Some(32),
        "{config}"
    );
    assert!(!text.contains("horse"));
    assert!(Repository::open(storage.clone(), Some(passphrase)).is_ok());
    assert!(matches!(
        Repository::open(storage, Some(b"correct horse battery stapler".as_slice())),
        Err(BackupError::WrongKey)
    ));
}
