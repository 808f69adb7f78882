//! Health re-checks only what changed: an unchanged file is parsed once, a changed one again,
//! even when LightRAG's save keeps its size and mtime.

use std::{io::Write, time::Duration};

use lightrag_recovery::{HealthMonitor, HealthOptions, lightrag_files};
use lightrag_recovery_db::HealthStatus;

use super::common::{Env, GRAPHS};
use super::support::TestDb;

crate::both_backends!(health_parses_only_changed_files);

fn health_parses_only_changed_files(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let mon = HealthMonitor::new(
        t.db().clone(),
        HealthOptions {
            roots: vec![env.work.clone()],
            ..HealthOptions::default()
        },
    );
    let files: u64 = GRAPHS
        .iter()
        .map(|g| lightrag_files(&env.work.join(g)).unwrap().len() as u64)
        .sum();
    assert!(files >= 24, "{files}");
    let alpha = |mon: &HealthMonitor| mon.check(Some(&env.repo)).graph("alpha").unwrap().clone();
    // No backup yet: DEGRADED, not OFFLINE (every file parses).
    assert_eq!(alpha(&mon).status, HealthStatus::Degraded);
    assert_eq!(mon.files_parsed(), files);
    assert_eq!(alpha(&mon).status, HealthStatus::Degraded);
    assert_eq!(
        mon.files_parsed(),
        files,
        "an unchanged file was parsed again"
    );

    // LightRAG saves a store (temp file, then rename) with the same size and mtime but a
    // broken end: only the inode and ctime tell. The file is parsed again and found broken.
    let store = env.work.join("alpha/vdb_entities.json");
    let good = std::fs::read(&store).unwrap();
    let before = std::fs::metadata(&store).unwrap();
    let end = good.iter().rposition(|&b| b == b'}').unwrap();
    let mut bad = good.clone();
    bad[end] = b' ';
    let temp = env.work.join("alpha/vdb_entities.json.tmp.7.8.9");
    std::fs::write(&temp, &bad).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&temp)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    std::fs::rename(&temp, &store).unwrap();
    let after = std::fs::metadata(&store).unwrap();
    assert_eq!(
        (after.len(), after.modified().unwrap()),
        (before.len(), before.modified().unwrap())
    );
    let g = alpha(&mon);
    assert_eq!(g.status, HealthStatus::Offline, "{:?}", g.reasons);
    assert!(
        g.reasons
            .iter()
            .any(|r| r.contains("vdb_entities.json does not parse") && r.contains("truncated")),
        "{:?}",
        g.reasons
    );
    assert_eq!(mon.files_parsed(), files + 1);
    // The verdict is kept while the file stays the same.
    assert_eq!(alpha(&mon).status, HealthStatus::Offline);
    assert_eq!(mon.files_parsed(), files + 1);

    // Rewritten in place (same inode, size and mtime): the ctime tells.
    std::thread::sleep(Duration::from_millis(20));
    let mut f = std::fs::File::options().write(true).open(&store).unwrap();
    f.write_all(&good).unwrap();
    f.set_modified(before.modified().unwrap()).unwrap();
    drop(f);
    let g = alpha(&mon);
    assert_eq!(g.status, HealthStatus::Degraded, "{:?}", g.reasons);
    assert_eq!(mon.files_parsed(), files + 2);

    // A graph that disappears leaves the cache; when it comes back its files are parsed anew.
    let gone = env.dir.path().join("gamma-away");
    std::fs::rename(env.work.join("gamma"), &gone).unwrap();
    assert!(mon.check(Some(&env.repo)).graph("gamma").is_none());
    std::fs::rename(&gone, env.work.join("gamma")).unwrap();
    mon.check(Some(&env.repo));
    let gamma = lightrag_files(&env.work.join("gamma")).unwrap().len() as u64;
    assert_eq!(mon.files_parsed(), files + 2 + gamma);
}
