//! Damage must not spread into new backups; repair; damage messages (issue 13, defect 13).

use std::path::Path;

use lightrag_backup::{
    BackupOptions, NoProgress, ReadData, RepairOptions, Repository, RestoreOptions, VerifyOptions,
};

use super::common::{Backend, TestEnv, pack_files};

fn write(p: &Path, body: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

/// Flip every byte of every pack's blob area (size and trailer stay intact).
fn damage_all_packs(repo_dir: &Path) {
    let packs = pack_files(repo_dir);
    assert!(!packs.is_empty());
    for p in packs {
        let mut d = std::fs::read(&p).unwrap();
        let n = d.len();
        let tl = u32::from_le_bytes(d[n - 4..].try_into().unwrap()) as usize;
        for x in &mut d[..n - 4 - tl] {
            *x ^= 0x5a;
        }
        std::fs::write(&p, d).unwrap();
    }
}

fn read_all(snapshots: &[&str]) -> VerifyOptions {
    VerifyOptions {
        snapshots: snapshots.iter().map(|s| (*s).to_owned()).collect(),
        read_data: ReadData::All,
        ..Default::default()
    }
}

#[test]
fn damage_does_not_spread_into_new_backups() {
    let env = TestEnv::new(Backend::Local);
    let g = env.path().join("g");
    write(&g.join("kv_store_a.json"), b"{\"a\": \"first version\"}");
    write(&g.join("kv_store_b.json"), b"{\"b\": \"never changes\"}");
    let repo = env.new_repo(None);
    let s1 = repo
        .backup("g", &g, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    damage_all_packs(&env.repo_dir());

    let v = repo.verify(&read_all(&[]), &NoProgress).unwrap();
    assert!(v.damaged_snapshots.contains(&s1.id), "{v:?}");
    assert!(v.chunks_marked_bad >= 2, "{v:?}");

    // LightRAG moves on; b is unchanged and its only stored copy is damaged.
    std::fs::write(g.join("kv_store_a.json"), b"{\"a\": \"second version\"}").unwrap();
    let s2 = repo
        .backup("g", &g, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    let v2 = repo.verify(&read_all(&[&s2.id]), &NoProgress).unwrap();
    assert!(v2.is_ok(), "the new snapshot was born damaged: {v2:?}");
    let out = env.path().join("out");
    repo.restore(&s2.id, &out, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(
        std::fs::read(out.join("kv_store_b.json")).unwrap(),
        b"{\"b\": \"never changes\"}"
    );

    // Repair names the snapshot that stays damaged (its old `a` is gone for good), not s2.
    let r = repo
        .repair(&RepairOptions { read_data: true }, &NoProgress)
        .unwrap();
    assert!(r.damaged_snapshots.contains_key(&s1.id), "{r:?}");
    assert!(!r.damaged_snapshots.contains_key(&s2.id), "{r:?}");
    assert!(r.chunks_marked_bad >= 1, "{r:?}");
    let v3 = repo.verify(&read_all(&[]), &NoProgress).unwrap();
    assert_eq!(
        v3.damaged_snapshots.iter().collect::<Vec<_>>(),
        [&s1.id],
        "{:?}",
        v3.damage
    );
    // The next backup after repair is clean too.
    let s3 = repo
        .backup("g", &g, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    assert!(
        repo.verify(&read_all(&[&s3.id]), &NoProgress)
            .unwrap()
            .is_ok()
    );
}

#[test]
fn truncated_pack_is_reported_damaged_and_garbage_config_gives_the_right_advice() {
    let env = TestEnv::new(Backend::Local);
    let g = env.path().join("g");
    write(&g.join("kv_store_a.json"), b"{\"a\": 1}");
    let repo = env.new_repo(None);
    let s1 = repo
        .backup("g", &g, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    for p in pack_files(&env.repo_dir()) {
        let d = std::fs::read(&p).unwrap();
        std::fs::write(&p, &d[..1]).unwrap();
    }
    let err = repo
        .restore(
            &s1.id,
            &env.path().join("out"),
            &RestoreOptions::default(),
            &NoProgress,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("damaged"), "{err}");
    assert!(!err.contains("reachable"), "{err}");
    // repair: the truncated pack keeps what it still holds; the snapshot stays damaged.
    let r = repo.repair(&RepairOptions::default(), &NoProgress).unwrap();
    assert!(r.damaged_snapshots.contains_key(&s1.id), "{r:?}");

    std::fs::write(env.repo_dir().join("config"), b"garbage").unwrap();
    let err = Repository::open(env.storage(), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("config"), "{err}");
    assert!(
        !err.contains("run `verify`") && !err.contains("(init)"),
        "{err}"
    );
}
