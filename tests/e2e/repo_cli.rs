//! The repository subcommands of the real binary on copies of real LightRAG working dirs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/lightrag-real")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A working dir with both real fixtures as workspaces, a repository and a catalog.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("rag_storage");
        copy_dir(&fixtures().join("adamaslan-dickens"), &work.join("dickens"));
        copy_dir(
            &fixtures().join("bingofhy-rag_storage"),
            &work.join("bingofhy"),
        );
        Self { dir }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("rag_storage")
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new(crate::common::bin_path());
        for (k, _) in std::env::vars() {
            if k.starts_with("LIGHTRAG_") {
                c.env_remove(k);
            }
        }
        c.current_dir(self.dir.path())
            .env("LIGHTRAG_WORKING_DIR", self.work())
            .env("LIGHTRAG_BACKUP_STORAGE", self.dir.path().join("repo"))
            .env(
                "LIGHTRAG_RECOVERY_DB_URL",
                format!("sqlite:///{}", self.dir.path().join("cat.db").display()),
            )
            .args(args)
            .output()
            .unwrap()
    }

    fn ok_json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.run(&full);
        assert!(
            out.status.success(),
            "{args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

fn same_tree(a: &Path, b: &Path) {
    let mut names: Vec<_> = std::fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut other: Vec<_> = std::fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    other.sort();
    assert_eq!(names, other);
    for n in names {
        assert_eq!(
            std::fs::read(a.join(&n)).unwrap(),
            std::fs::read(b.join(&n)).unwrap(),
            "{n:?} differs"
        );
    }
}

#[test]
fn backup_list_verify_restore_diff_on_real_fixtures() {
    let env = Env::new();
    let backups = env.ok_json(&["backup", "--all", "--tag", "first"]);
    let backups = backups.as_array().unwrap();
    assert_eq!(backups.len(), 2);
    let bingo = backups
        .iter()
        .find(|b| b["snapshot"]["graph_id"] == "bingofhy")
        .expect("bingofhy backed up");
    assert_eq!(bingo["snapshot"]["totals"]["files"], 12);
    let first_id = bingo["snapshot"]["id"].as_str().unwrap().to_owned();

    let list = env.ok_json(&["snapshots", "bingofhy"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["tags"][0], "first");

    let report = env.ok_json(&["verify", "--read-data"]);
    assert_eq!(report["snapshots_checked"], 2);
    assert!(report["damage"].as_array().unwrap().is_empty());

    // Restore into a new directory: byte-identical.
    let target = env.dir.path().join("restored");
    let r = env.ok_json(&["restore", &first_id, "--to", target.to_str().unwrap()]);
    assert_eq!(r["files"], 12);
    same_tree(&env.work().join("bingofhy"), &target);

    // Change the graph, back up again, diff at the graph level.
    let graphml = env
        .work()
        .join("bingofhy/graph_chunk_entity_relation.graphml");
    let text = std::fs::read_to_string(&graphml).unwrap();
    let text = text.replacen("<node id=", "<node id=\"EXTRA_NODE\"/>\n<node id=", 1);
    std::fs::write(&graphml, text).unwrap();
    let second = env.ok_json(&["backup", "bingofhy"]);
    let second_id = second[0]["snapshot"]["id"].as_str().unwrap().to_owned();
    let d = env.ok_json(&["diff", &first_id, &second_id]);
    assert_eq!(d["changed"].as_array().unwrap().len(), 1, "{d}");
    assert_eq!(
        d["changed"][0]["path"],
        "graph_chunk_entity_relation.graphml"
    );
    let nodes = d["stores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().ends_with("nodes"))
        .unwrap_or_else(|| panic!("no node delta in {d}"));
    assert_eq!(nodes["a"], 111);
    assert_eq!(nodes["delta"], 1);

    // Documents are counted as LightRAG counts them, from doc_status: a document LightRAG
    // knows (pending) before full_docs has it counts.
    let status = env.work().join("bingofhy/kv_store_doc_status.json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&status).unwrap()).unwrap();
    let before = v.as_object().unwrap().len() as u64;
    v["doc-pending"] = serde_json::json!({"status": "pending", "content_summary": "x"});
    std::fs::write(&status, serde_json::to_vec(&v).unwrap()).unwrap();
    let third = env.ok_json(&["backup", "bingofhy"]);
    let third_id = third[0]["snapshot"]["id"].as_str().unwrap().to_owned();
    let d = env.ok_json(&["diff", &second_id, &third_id]);
    let docs = d["graph"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "docs")
        .unwrap_or_else(|| panic!("no docs count in {d}"));
    assert_eq!(
        (&docs["a"], &docs["b"]),
        (&before.into(), &(before + 1).into()),
        "{d}"
    );

    // Text output works too, with nouns in the right number.
    let out = env.run(&["stats"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("4 snapshots,"), "{text}");
    assert!(text.contains("dickens: 1 snapshot,"), "{text}");
    // The listing says whether each snapshot is save-consistent.
    let out = env.run(&["snapshots", "bingofhy"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().next().unwrap().contains("consistent"),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.contains(" yes ")).count(),
        3,
        "{text}"
    );
}

#[test]
fn in_place_restore_refuses_a_live_graph_unless_forced() {
    let env = Env::new();
    let b = env.ok_json(&["backup", "dickens"]);
    let id = b[0]["snapshot"]["id"].as_str().unwrap().to_owned();
    let original = std::fs::read(env.work().join("dickens/kv_store_full_docs.json")).unwrap();
    std::fs::write(env.work().join("dickens/kv_store_full_docs.json"), b"{}").unwrap();

    // The files were just written: the graph looks live.
    let out = env.run(&["restore", &id, "--in-place"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.to_lowercase().contains("live") || err.contains("modified"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(env.work().join("dickens/kv_store_full_docs.json")).unwrap(),
        b"{}"
    );

    let out = env.run(&["restore", &id, "--in-place", "--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("restart LightRAG"), "{stdout}");
    assert!(stdout.contains("safety snapshot"), "{stdout}");
    assert_eq!(
        std::fs::read(env.work().join("dickens/kv_store_full_docs.json")).unwrap(),
        original
    );
    // The safety snapshot is listed with its trigger.
    let list = env.ok_json(&["snapshots", "dickens"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["trigger"] == "pre_restore"),
        "{list}"
    );
}

#[test]
fn verify_exits_3_naming_damage_and_forget_keeps_rules() {
    let env = Env::new();
    env.ok_json(&["backup", "dickens"]);
    env.ok_json(&["backup", "dickens"]);
    env.ok_json(&["backup", "dickens"]);

    let f = env.ok_json(&[
        "forget",
        "--keep-last",
        "1",
        "--keep-within-days",
        "0",
        "--prune",
    ]);
    assert_eq!(f["forget"]["removed"].as_array().unwrap().len(), 2, "{f}");
    assert_eq!(env.ok_json(&["snapshots"]).as_array().unwrap().len(), 1);

    // Flip one byte in every pack file: verify --read-data reports damage, exit code 3.
    let mut flipped = 0;
    let mut stack = vec![env.dir.path().join("repo")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains("/data/") {
                let mut bytes = std::fs::read(&p).unwrap();
                if bytes.len() > 100 {
                    bytes[50] ^= 0xff;
                    std::fs::write(&p, bytes).unwrap();
                    flipped += 1;
                }
            }
        }
    }
    assert!(flipped > 0, "no data (pack) file found to damage");
    let out = env.run(&["verify", "--read-data"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("DAMAGED"), "{stdout}");
    let damaged = env.ok_json(&["snapshots"])[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Issue 13 #13: damage does not spread. Verify marked the bad chunks, so the next backup of
    // the unchanged graph stores them again instead of deduplicating against them; `repair`
    // then routes the index around the bad copies, which heals the old snapshot too.
    let fresh = env.ok_json(&["backup", "dickens"])[0]["snapshot"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = env.ok_json(&["verify", "--read-data", &fresh]);
    assert!(v["damage"].as_array().unwrap().is_empty(), "{v}");
    let report = env.ok_json(&["repair"]);
    assert!(
        report["chunks_marked_bad"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert!(
        report["damaged_snapshots"].as_object().unwrap().is_empty(),
        "{report}"
    );
    for id in [&damaged, &fresh] {
        let restored = env.dir.path().join(format!("after-repair-{id}"));
        env.ok_json(&["restore", id, "--to", restored.to_str().unwrap()]);
        same_tree(&env.work().join("dickens"), &restored);
    }
    let v = env.ok_json(&["verify", "--read-data", &damaged]);
    assert!(v["damage"].as_array().unwrap().is_empty(), "{v}");

    // A lost pack with no second copy: repair names the snapshots that stay damaged, exit 3.
    for e in walk_files(&env.dir.path().join("repo")) {
        if e.to_string_lossy().contains("/data/") {
            std::fs::remove_file(&e).unwrap();
        }
    }
    let out = env.run(&["--json", "repair"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let still = report["damaged_snapshots"].as_object().unwrap();
    assert!(
        still.contains_key(&damaged) && still.contains_key(&fresh),
        "{report}"
    );
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn unknown_graph_and_missing_repository_are_clear_errors() {
    let env = Env::new();
    let out = env.run(&["snapshots"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LIGHTRAG_BACKUP_STORAGE"));
    let out = env.run(&["backup", "no-such-graph"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-graph"));
    let out = env.run(&["backup", "../etc"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn catalog_rebuild_and_recovery_points_from_the_cli() {
    let env = Env::new();
    env.ok_json(&["backup", "--all"]);
    let p = env.ok_json(&["recovery", "create", "dickens", "bingofhy", "-m", "nightly"]);
    let id = p["id"].as_str().unwrap().to_owned();
    let v = env.ok_json(&["recovery", "validate", &id]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        env.ok_json(&["recovery", "list"]).as_array().unwrap().len(),
        1
    );

    // Lose the catalog: the rebuild lists every snapshot again (recovery points are gone).
    std::fs::remove_file(env.dir.path().join("cat.db")).unwrap();
    let _ = std::fs::remove_file(env.dir.path().join("cat.db-wal"));
    let _ = std::fs::remove_file(env.dir.path().join("cat.db-shm"));
    let r = env.ok_json(&["catalog", "rebuild"]);
    assert_eq!(r["snapshots"], 2, "{r}");
    assert_eq!(r["inserted"], 2, "{r}");
    assert_eq!(
        env.ok_json(&["recovery", "list"]).as_array().unwrap().len(),
        0
    );

    // A recovery point on a damaged repository does not validate: exit code 3.
    let p = env.ok_json(&["recovery", "create", "dickens"]);
    let id = p["id"].as_str().unwrap().to_owned();
    let mut stack = vec![env.dir.path().join("repo/data")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let mut b = std::fs::read(&p).unwrap();
                let mid = b.len() / 2;
                b[mid] ^= 0x55;
                std::fs::write(&p, b).unwrap();
            }
        }
    }
    let out = env.run(&["recovery", "validate", &id]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("does NOT restore"));
}

#[test]
fn replicate_to_a_directory_then_fail_over_with_the_primary_gone() {
    let env = Env::new();
    let b = env.ok_json(&["backup", "bingofhy"]);
    let snap = b[0]["snapshot"]["id"].as_str().unwrap().to_owned();
    let copy = env.dir.path().join("offsite");
    let out = env.run(&["targets", "add-path", "offsite", copy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = env.ok_json(&["replicate"]);
    assert!(r[0]["objects_sent"].as_u64().unwrap() > 0, "{r}");
    let again = env.ok_json(&["replicate"]);
    assert_eq!(
        again[0]["objects_sent"], 0,
        "incremental: nothing to resend: {again}"
    );

    // The primary repository is lost.
    std::fs::remove_dir_all(env.dir.path().join("repo")).unwrap();
    let out = env.run(&["snapshots"]);
    assert_eq!(out.status.code(), Some(1));
    let list = env.ok_json(&["snapshots", "--from-target", "offsite"]);
    assert_eq!(list[0]["id"], snap.as_str(), "{list}");
    let to = env.dir.path().join("failover");
    env.ok_json(&[
        "restore",
        &snap,
        "--from-target",
        "offsite",
        "--to",
        to.to_str().unwrap(),
    ]);
    same_tree(&env.work().join("bingofhy"), &to);
}

/// An `s3s-fs` server on a loopback port (installed by scripts/test), killed on drop.
struct S3 {
    child: std::process::Child,
    port: u16,
    _root: tempfile::TempDir,
}

impl S3 {
    fn start() -> S3 {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("bkt")).unwrap();
        let port = crate::common::free_port();
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--access-key",
                "ops-access",
                "--secret-key",
                "ops-secret-value",
            ])
            .arg(root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("s3s-fs must be on PATH (scripts/test installs it)");
        crate::common::eventually(20, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        S3 {
            child,
            port,
            _root: root,
        }
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn s3_repository_from_the_cli() {
    let env = Env::new();
    let s3 = S3::start();
    let run = |secret: &str, args: &[&str]| {
        let mut c = Command::new(crate::common::bin_path());
        c.current_dir(env.dir.path())
            .env("LIGHTRAG_WORKING_DIR", env.work())
            .env("LIGHTRAG_BACKUP_STORAGE", "s3://bkt/lightrag")
            .env(
                "LIGHTRAG_S3_ENDPOINT",
                format!("http://127.0.0.1:{}", s3.port),
            )
            .env("LIGHTRAG_S3_PATH_STYLE", "true")
            .env("LIGHTRAG_S3_ALLOW_HTTP", "true")
            .env(
                "LIGHTRAG_RECOVERY_DB_URL",
                format!("sqlite:///{}", env.dir.path().join("cat.db").display()),
            )
            .env("AWS_ACCESS_KEY_ID", "ops-access")
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1")
            .args(args)
            .output()
            .unwrap()
    };
    // Wrong credentials: a clear error, and the secret never printed.
    let out = run("wrong-secret-xyz", &["repo", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LIGHTRAG_BACKUP_STORAGE") || err.contains("s3://bkt"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret-xyz"), "{err}");

    let out = run("ops-secret-value", &["--json", "repo", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b = run("ops-secret-value", &["--json", "backup", "bingofhy"]);
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let b: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    let snap = b[0]["snapshot"]["id"].as_str().unwrap().to_owned();
    // Operators pay per request: the count is in the JSON output.
    assert!(b[0]["requests"]["requests"].as_u64().unwrap() > 0, "{b}");
    let v = run("ops-secret-value", &["verify", "--read-data"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let to = env.dir.path().join("from-s3");
    let r = run(
        "ops-secret-value",
        &["restore", &snap, "--to", to.to_str().unwrap()],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    same_tree(&env.work().join("bingofhy"), &to);
}
