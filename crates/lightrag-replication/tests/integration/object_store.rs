//! Object-store targets (S3 through an `s3s-fs` server on loopback): the core suite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lightrag_backup::{ObjectStoreOptions, Storage};
use lightrag_recovery_db::HealthStatus;
use lightrag_replication::{
    HealthOptions, ReplicaStore, SyncHooks, SyncOptions, TargetOpenOptions, TargetSpec,
    check_target_health, open_spec, open_target_repository, sync_graph, target_snapshot_ids,
};

use super::support::*;

const BUCKET: &str = "replica-test";
const ACCESS: &str = "replication-test-access";
const SECRET: &str = "replication-test-secret-key";

fn s3s_fs() -> PathBuf {
    let mut dirs: Vec<PathBuf> =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
        .expect("s3s-fs not on PATH: cargo install s3s-fs@0.14.1 --locked --features binary")
}

struct S3 {
    child: Child,
    port: u16,
}

impl S3 {
    fn start(root: &Path) -> S3 {
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(s3s_fs())
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS, "--secret-key", SECRET])
                .arg(root)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return S3 { child, port };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("s3s-fs did not start");
    }

    fn open_options(&self) -> TargetOpenOptions {
        TargetOpenOptions {
            timeout: Duration::from_secs(30),
            object_store: ObjectStoreOptions {
                endpoint: Some(format!("http://127.0.0.1:{}", self.port)),
                region: Some("us-east-1".into()),
                path_style: true,
                allow_http: true,
                max_retries: 2,
                retry_timeout: Duration::from_secs(5),
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(200),
                ..ObjectStoreOptions::default()
            },
            ..TargetOpenOptions::default()
        }
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spec(access: &str) -> TargetSpec {
    TargetSpec::ObjectStore {
        url: format!("s3://{BUCKET}/replica"),
        credentials: BTreeMap::from([
            ("aws_access_key_id".to_owned(), access.to_owned()),
            ("aws_secret_access_key".to_owned(), SECRET.to_owned()),
        ]),
    }
}

#[test]
fn object_store_target_core_suite() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 4_500_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    let snap1 = backup(&repo, "g", &graph);
    let primary: Arc<dyn Storage> = repo.storage().clone();
    let s3 = S3::start(&tmp.path().join("s3"));
    let target: Arc<dyn ReplicaStore> = open_spec(&spec(ACCESS), &s3.open_options()).unwrap();
    let total = objects(primary.as_ref()).len() as u64;

    // Interrupted, then resumed without re-sending.
    let broken = sync_graph(
        &primary,
        target.as_ref(),
        "g",
        &SyncOptions {
            hooks: SyncHooks {
                fail_after_objects: Some(3),
                ..SyncHooks::default()
            },
            ..SyncOptions::default()
        },
    );
    assert_eq!(broken.objects_sent, 3, "{broken:?}");
    assert!(target_snapshot_ids(target.as_ref()).unwrap().is_empty());
    let out = sync_graph(&primary, target.as_ref(), "g", &SyncOptions::default());
    assert!(out.is_success(), "{out:?}");
    assert_eq!(out.objects_sent, total - 3);
    assert_eq!(out.lag_ms, 0);

    let again = sync_graph(&primary, target.as_ref(), "g", &SyncOptions::default());
    assert_eq!((again.objects_sent, again.bytes_sent), (0, 0), "{again:?}");

    let before = objects(primary.as_ref());
    grow_graph(&graph, 1);
    let snap2 = backup(&repo, "g", &graph);
    let after = objects(primary.as_ref());
    let new_bytes: u64 = after
        .iter()
        .filter(|(k, _)| !before.contains_key(*k))
        .map(|(_, s)| *s)
        .sum();
    let inc = sync_graph(&primary, target.as_ref(), "g", &SyncOptions::default());
    assert!(inc.is_success(), "{inc:?}");
    assert_eq!(inc.bytes_sent, new_bytes);

    // Corruption in transit is rejected.
    grow_graph(&graph, 2);
    let snap3 = backup(&repo, "g", &graph);
    let bad = sync_graph(
        &primary,
        target.as_ref(),
        "g",
        &SyncOptions {
            hooks: SyncHooks {
                corrupt_keys_containing: Some("data/".into()),
                ..SyncHooks::default()
            },
            ..SyncOptions::default()
        },
    );
    assert!(bad.error.unwrap_or_default().contains("hash check"));
    assert_eq!(target_snapshot_ids(target.as_ref()).unwrap()["g"].len(), 2);
    assert!(sync_graph(&primary, target.as_ref(), "g", &SyncOptions::default()).is_success());

    let copy = open_target_repository(target.clone(), None).unwrap();
    assert_eq!(copy.snapshots(Some("g")).unwrap().len(), 3);
    let ids: Vec<String> = copy
        .snapshots(Some("g"))
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec![snap1, snap2, snap3.clone()]);
    assert_restores_identical(&copy, &snap3, &graph, tmp.path());

    let h = check_target_health(target.as_ref(), true, &[], &HealthOptions::default());
    assert_eq!(h.status, HealthStatus::Healthy, "{h:?}");
    let wrong = open_spec(&spec("unknown-access-key"), &s3.open_options()).unwrap();
    let h = check_target_health(wrong.as_ref(), true, &[], &HealthOptions::default());
    assert_eq!(
        (h.status, h.authenticated),
        (HealthStatus::Offline, Some(false)),
        "{h:?}"
    );
}
