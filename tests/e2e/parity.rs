//! Issue 12 #6: one operation, one result. Each operation run through the CLI (the real
//! binary) and through the HTTP API on the same fixtures yields the same snapshot contents,
//! the same catalog rows and the same events.

use std::path::Path;
use std::process::Command;

use lightrag_recovery_db::{BackupFilter, Db, DbConfig, EventFilter, GraphFilter, Order, Page};
use serde_json::{Value, json};

use crate::common::{TestServer, catalog_url, copy_fixture, post, test_config};

/// Everything that may differ between two runs of the same operations (ids, times, host,
/// paths) is left out; what remains must be equal.
#[derive(Debug, PartialEq)]
struct Outcome {
    snapshots: Vec<Value>,
    backups: Vec<Value>,
    events: Vec<Value>,
    graphs: Vec<Value>,
    points: Vec<Value>,
}

/// Settings shared by both sides: every background task off (the server would otherwise add
/// scheduled backups and health events), keep only the newest snapshot of each graph.
const SETTINGS: &[(&str, &str)] = &[
    ("LIGHTRAG_AUTO_BACKUP_INTERVAL", "0"),
    ("LIGHTRAG_HEALTH_CHECK_INTERVAL", "0"),
    ("LIGHTRAG_RETENTION_INTERVAL", "0"),
    ("LIGHTRAG_VERIFY_INTERVAL", "0"),
    ("LIGHTRAG_BACKUP_KEEP_LAST", "1"),
    ("LIGHTRAG_BACKUP_KEEP_HOURLY", "0"),
    ("LIGHTRAG_BACKUP_KEEP_DAILY", "0"),
    ("LIGHTRAG_BACKUP_KEEP_WEEKLY", "0"),
    ("LIGHTRAG_BACKUP_KEEP_MONTHLY", "0"),
    ("LIGHTRAG_BACKUP_RETENTION_DAYS", "0"),
];

fn fixtures(dir: &Path) {
    let work = dir.join("rag_storage");
    copy_fixture("adamaslan-dickens", &work.join("dickens"));
    copy_fixture("bingofhy-rag_storage", &work.join("bingofhy"));
}

/// A change between the two backups of `dickens`: a new document status store.
fn change(dir: &Path) {
    let f = dir.join("rag_storage/dickens/kv_store_doc_status.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    v["doc-parity"] = json!({"status": "processed", "content_summary": "parity"});
    std::fs::write(&f, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn cli(dir: &Path, args: &[&str]) -> Value {
    cli_with(dir, &catalog_url(dir), args)
}

fn cli_with(dir: &Path, catalog: &str, args: &[&str]) -> Value {
    let mut c = Command::new(crate::common::bin_path());
    for (k, _) in std::env::vars() {
        if k.starts_with("LIGHTRAG_") {
            c.env_remove(k);
        }
    }
    c.current_dir(dir)
        .env("LIGHTRAG_WORKING_DIR", dir.join("rag_storage"))
        .env("LIGHTRAG_BACKUP_STORAGE", dir.join("backups"))
        .env("LIGHTRAG_RECOVERY_DB_URL", catalog)
        .envs(SETTINGS.iter().copied())
        .arg("--json")
        .args(args);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "lightrag-ops {args:?} ended with {}: stdout {} stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn ok(r: crate::common::Resp) -> Value {
    assert!(r.status < 300, "{} {}", r.status, r.body);
    r.json()
}

/// The newest snapshot of `graph` in the repository at `dir/backups`.
fn newest(dir: &Path, graph: &str) -> String {
    let repo = repo(dir);
    let mut list = repo.snapshots(Some(graph)).unwrap();
    list.sort_by_key(|s| s.created_at);
    list.last().unwrap().id.clone()
}

fn repo(dir: &Path) -> lightrag_backup::Repository {
    let storage = lightrag_backup::open_storage(
        &dir.join("backups").display().to_string(),
        &lightrag_backup::ObjectStoreOptions::default(),
    )
    .unwrap();
    lightrag_backup::Repository::open(storage, None).unwrap()
}

fn outcome(dir: &Path) -> Outcome {
    let repo = repo(dir);
    let mut list = repo.snapshots(None).unwrap();
    list.sort_by_key(|s| (s.graph_id.clone(), s.created_at));
    let snapshots = list
        .iter()
        .map(|s| {
            let m = repo.snapshot_exact(&s.id).unwrap();
            let files: Vec<Value> = m
                .files
                .iter()
                .map(|f| json!([f.path, f.size, f.hash]))
                .collect();
            json!({"graph": m.graph_id, "trigger": m.trigger, "tags": m.tags, "files": files,
                   "summary": m.summary})
        })
        .collect();
    let db = Db::connect(&DbConfig::new(catalog_url(dir))).unwrap();
    let mut c = db.conn().unwrap();
    let page = Page::new(10_000, 0);
    let mut backups: Vec<Value> = lightrag_recovery_db::list_backups(
        &mut c,
        &BackupFilter {
            order: Order::OldestFirst,
            ..BackupFilter::default()
        },
        page,
    )
    .unwrap()
    .into_iter()
    .map(|b| {
        json!([
            b.graph_id,
            b.status,
            b.trigger,
            b.logical_size_bytes,
            b.file_count,
            b.chunk_count,
            b.error_message
        ])
    })
    .collect();
    backups.sort_by_key(|v| v.to_string());
    let events = lightrag_recovery_db::list_events(
        &mut c,
        &EventFilter {
            order: Order::OldestFirst,
            ..EventFilter::default()
        },
        page,
    )
    .unwrap()
    .into_iter()
    .map(|e| {
        json!([
            e.kind,
            e.event_type,
            e.severity,
            e.graph_id,
            e.bytes.is_some()
        ])
    })
    .collect();
    let graphs = lightrag_recovery_db::list_graphs(&mut c, &GraphFilter::default(), page)
        .unwrap()
        .into_iter()
        .map(|g| json!([g.id, g.source]))
        .collect();
    let points = lightrag_recovery_db::list_recovery_points(
        &mut c,
        &lightrag_recovery_db::RecoveryPointFilter::default(),
        page,
    )
    .unwrap()
    .into_iter()
    .map(|p| {
        let mut graphs: Vec<String> = p.snapshots.iter().map(|s| s.graph_id.clone()).collect();
        graphs.sort();
        json!([graphs, p.point.validated])
    })
    .collect();
    Outcome {
        snapshots,
        backups,
        events,
        graphs,
        points,
    }
}

#[test]
fn every_operation_through_the_cli_and_the_api_yields_the_same_state() {
    // The CLI side.
    let a = tempfile::tempdir().unwrap();
    fixtures(a.path());
    cli(a.path(), &["backup", "dickens"]);
    cli(a.path(), &["backup", "bingofhy", "--tag", "t1"]);
    change(a.path());
    cli(a.path(), &["backup", "dickens"]);
    cli(a.path(), &["verify"]);
    cli(a.path(), &["recovery", "create", "dickens", "bingofhy"]);
    cli(a.path(), &["forget", "--prune"]);
    let snap = newest(a.path(), "dickens");
    cli(a.path(), &["restore", &snap, "--in-place", "--force"]);

    // The API side, on the same fixtures.
    let b = tempfile::tempdir().unwrap();
    fixtures(b.path());
    let cfg = test_config(b.path(), SETTINGS);
    let s = TestServer::start_with(cfg, b);
    ok(post(
        &s.url("/api/v1/graphs/dickens/backups?wait=true"),
        None,
    ));
    // The API has no tags on a backup; the CLI's tag is the one difference, set aside below.
    ok(post(
        &s.url("/api/v1/graphs/bingofhy/backups?wait=true"),
        None,
    ));
    let dir = s.dir().to_owned();
    change(&dir);
    ok(post(
        &s.url("/api/v1/graphs/dickens/backups?wait=true"),
        None,
    ));
    ok(post(&s.url("/api/v1/backups/verify?wait=true"), None));
    ok(post(
        &s.url("/api/v1/recovery/points"),
        Some(json!({"graph_ids": ["dickens", "bingofhy"]})),
    ));
    ok(post(
        &s.url("/api/v1/backups/retention/run?wait=true"),
        Some(json!({"prune": true})),
    ));
    let snap = newest(&dir, "dickens");
    ok(post(
        &s.url("/api/v1/restore?wait=true"),
        Some(json!({"snapshot_id": snap, "in_place": true, "force": true})),
    ));
    // Stopping drains the event log into the catalog.
    let b = s.stop();

    let mut cli_side = outcome(a.path());
    let api_side = outcome(b.path());
    // The tag the CLI put on bingofhy's snapshot (the API's backup route takes no tags).
    for s in &mut cli_side.snapshots {
        if s["tags"] == json!(["t1"]) {
            s["tags"] = json!([]);
        }
    }
    assert!(!cli_side.snapshots.is_empty() && !cli_side.events.is_empty());
    assert_eq!(cli_side.snapshots, api_side.snapshots, "snapshot contents");
    assert_eq!(cli_side.backups, api_side.backups, "catalog rows");
    assert_eq!(cli_side.graphs, api_side.graphs, "graphs");
    assert_eq!(cli_side.points, api_side.points, "recovery points");
    assert_eq!(cli_side.events, api_side.events, "events");
    // What the operations must have produced on both sides: the retention removed dickens'
    // first snapshot (pinned ones kept), the restore took a safety snapshot first.
    let kinds: Vec<&str> = api_side
        .events
        .iter()
        .filter_map(|e| e[1].as_str())
        .collect();
    for ty in [
        "backup.started",
        "backup.completed",
        "validation.completed",
        "recovery_point.created",
        "retention.completed",
        "restore.completed",
    ] {
        assert!(kinds.contains(&ty), "{ty} missing from {kinds:?}");
    }
}

/// Review of issue 12: the CLI goes through the service, which opens the catalog; commands
/// that need only the repository must still work (quickly) while the catalog is down.
#[test]
fn repository_commands_work_while_the_catalog_is_down() {
    let a = tempfile::tempdir().unwrap();
    fixtures(a.path());
    // Nothing listens on port 1.
    let down = "postgres://u:secretpw@127.0.0.1:1/x";
    let started = std::time::Instant::now();
    let b = cli_with(a.path(), down, &["backup", "dickens"]);
    let id = b[0]["snapshot"]["id"].as_str().unwrap().to_owned();
    let list = cli_with(a.path(), down, &["snapshots"]);
    assert_eq!(list[0]["id"], id.as_str(), "{list}");
    let v = cli_with(a.path(), down, &["verify"]);
    assert_eq!(v["snapshots_checked"], 1, "{v}");
    cli_with(a.path(), down, &["stats"]);
    let to = a.path().join("copy");
    cli_with(
        a.path(),
        down,
        &["restore", &id, "--to", to.to_str().unwrap()],
    );
    assert!(to.join("kv_store_doc_status.json").is_file());
    // Five commands, each waiting at most one short probe for the catalog.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
}
