//! Health: real checks, transitions stored once.

use std::{sync::Arc, time::Duration};

use lightrag_recovery::{HealthMonitor, HealthOptions, ManualClock};
use lightrag_recovery_db::{
    BackupRecord, BackupStatus, BackupTrigger, ComponentType, GraphSource, HealthCheckFilter,
    HealthStatus, NewGraph, NewReplicationTarget, Order, Page, TargetKind, create_backup,
    create_replication_target, list_health_checks, record_sync_failure, upsert_graph,
};
use time::OffsetDateTime;

use super::common::{Env, copy_fixture};
use super::support::TestDb;

crate::both_backends!(
    graph_walks_healthy_degraded_offline_healthy,
    degraded_and_offline_reasons
);

fn register(t: &TestDb, env: &Env, id: &str) {
    let g = NewGraph {
        id: id.into(),
        path: env.work.join(id).display().to_string(),
        source: GraphSource::Api,
    };
    upsert_graph(&mut t.db().conn().unwrap(), &g).unwrap();
}

fn statuses(t: &TestDb, ty: ComponentType, id: &str) -> Vec<HealthStatus> {
    let f = HealthCheckFilter {
        component_type: Some(ty),
        component_id: Some(id.into()),
        order: Order::OldestFirst,
        ..Default::default()
    };
    // By insertion order (the test's clock goes back in time for the last transition).
    let mut v = list_health_checks(&mut t.db().conn().unwrap(), &f, Page::default()).unwrap();
    v.sort_by_key(|e| e.id);
    v.into_iter().map(|e| e.status).collect()
}

fn opts() -> HealthOptions {
    HealthOptions {
        roots: vec![],
        rpo: Duration::from_secs(3600),
        max_replication_lag: Duration::from_secs(60),
    }
}

fn graph_walks_healthy_degraded_offline_healthy(t: &mut TestDb) {
    use HealthStatus::*;
    let env = Env::new().unwrap();
    register(t, &env, "alpha");
    env.manager(t.db().clone())
        .backup_graph(&env.repo, "alpha", BackupTrigger::Manual)
        .unwrap();
    let t0 = OffsetDateTime::now_utc();
    let clock = Arc::new(ManualClock::new(t0));
    let mon = HealthMonitor::new(t.db().clone(), opts()).with_clock(clock.clone());
    assert!(mon.latest().is_none());

    let status = |mon: &HealthMonitor| {
        let r = mon.check(Some(&env.repo));
        let again = mon.check(Some(&env.repo)); // a second tick stores nothing new
        assert_eq!(again.transitions, 0);
        let g = r.graph("alpha").unwrap().clone();
        assert_eq!(
            mon.latest().unwrap().graph("alpha").unwrap().status,
            g.status
        );
        (g, r.overall)
    };
    let (g, overall) = status(&mon);
    assert_eq!((g.status, overall), (Healthy, Healthy), "{:?}", g.reasons);

    clock.advance(Duration::from_secs(2 * 3600)); // backup now older than the RPO
    let (g, overall) = status(&mon);
    assert_eq!((g.status, overall), (Degraded, Degraded));
    assert!(g.reasons[0].contains("above the RPO"), "{:?}", g.reasons);

    std::fs::remove_dir_all(env.work.join("alpha")).unwrap();
    let (g, overall) = status(&mon);
    assert_eq!((g.status, overall), (Offline, Offline));
    assert!(g.reasons[0].contains("not readable"), "{:?}", g.reasons);

    copy_fixture("adamaslan-dickens", &env.work.join("alpha")).unwrap();
    // Thresholds driven by the test: an RPO of 3 h makes the 2 h old backup fresh again.
    let relaxed = HealthOptions {
        rpo: Duration::from_secs(3 * 3600),
        ..opts()
    };
    mon.set_options(relaxed.clone());
    let (g, _) = status(&mon);
    assert_eq!(g.status, Healthy, "{:?}", g.reasons);

    assert_eq!(
        statuses(t, ComponentType::Graph, "alpha"),
        vec![Healthy, Degraded, Offline, Healthy]
    );
    assert_eq!(
        statuses(t, ComponentType::Repository, "repository"),
        vec![Healthy]
    );
    assert_eq!(
        statuses(t, ComponentType::Database, "database"),
        vec![Healthy]
    );

    // A restarted monitor does not store the unchanged status again.
    let mon2 = HealthMonitor::new(t.db().clone(), relaxed).with_clock(clock.clone());
    assert_eq!(mon2.check(Some(&env.repo)).transitions, 0);
    assert_eq!(statuses(t, ComponentType::Graph, "alpha").len(), 4);
}

fn degraded_and_offline_reasons(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let m = env.manager(t.db().clone());
    for g in ["alpha", "beta", "gamma"] {
        register(t, &env, g);
    }
    m.backup_graph(&env.repo, "alpha", BackupTrigger::Manual)
        .unwrap();
    m.backup_graph(&env.repo, "beta", BackupTrigger::Manual)
        .unwrap();
    // beta: a newer failed backup, and a target whose sync failed with a large lag.
    let conn = &mut t.db().conn().unwrap();
    let mut failed = BackupRecord::new("failed-1", "beta", BackupTrigger::Scheduled);
    failed.status = BackupStatus::Failed;
    failed.created_at =
        lightrag_recovery_db::Timestamp::from(OffsetDateTime::now_utc() + Duration::from_secs(1));
    failed.error_message = Some("disk full".into());
    create_backup(conn, &failed).unwrap();
    let target = NewReplicationTarget {
        id: "t1".into(),
        name: "dr".into(),
        kind: TargetKind::Path,
        url: env.dir.path().join("missing").display().to_string(),
        secret: None,
        enabled: true,
    };
    create_replication_target(conn, &target).unwrap();
    record_sync_failure(conn, "t1", "beta", "connection refused", Some(600_000)).unwrap();
    // gamma: never backed up, and a torn file.
    let torn = env.work.join("gamma/vdb_entities.json");
    let bytes = std::fs::read(&torn).unwrap();
    std::fs::write(&torn, &bytes[..bytes.len() / 2]).unwrap();

    let mon = HealthMonitor::new(t.db().clone(), opts());
    let r = mon.check(Some(&env.repo));
    assert_eq!(
        r.graph("alpha").unwrap().status,
        HealthStatus::Healthy,
        "{:?}",
        r.graph("alpha")
    );
    let beta = r.graph("beta").unwrap();
    assert_eq!(beta.status, HealthStatus::Degraded);
    let text = beta.reasons.join(" | ");
    assert!(
        text.contains("last backup failed") && text.contains("disk full"),
        "{text}"
    );
    assert!(
        text.contains("replication lag to target t1 is 600 s"),
        "{text}"
    );
    assert!(
        text.contains("last sync to target t1 failed: connection refused"),
        "{text}"
    );
    let gamma = r.graph("gamma").unwrap();
    assert_eq!(gamma.status, HealthStatus::Offline);
    let text = gamma.reasons.join(" | ");
    assert!(
        text.contains("vdb_entities.json does not parse")
            && text.contains("no successful backup yet"),
        "{text}"
    );
    let t1 = r.components.iter().find(|c| c.id == "t1").unwrap();
    assert_eq!(t1.status, HealthStatus::Offline, "{:?}", t1.reasons);
    assert_eq!(r.overall, HealthStatus::Offline);

    // Repository gone: component OFFLINE, graphs at least DEGRADED with the reason.
    let r = mon.check(None);
    let repo = r
        .components
        .iter()
        .find(|c| c.component_type == ComponentType::Repository)
        .unwrap();
    assert_eq!(repo.status, HealthStatus::Offline);
    let alpha = r.graph("alpha").unwrap();
    assert_eq!(alpha.status, HealthStatus::Degraded);
    assert!(
        alpha
            .reasons
            .iter()
            .any(|s| s.contains("repository unreachable")),
        "{:?}",
        alpha.reasons
    );
}

/// An event sink that holds the first event until opened: the check that emits it stays in
/// flight as long as the test wants.
#[derive(Debug, Default)]
struct Gate {
    state: std::sync::Mutex<(bool, bool)>, // (a check is held, open)
    cv: std::sync::Condvar,
}

impl lightrag_recovery::EventSink for Gate {
    fn emit(&self, _event: lightrag_recovery_db::NewEvent) {
        let mut s = self.state.lock().unwrap();
        s.0 = true;
        self.cv.notify_all();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !s.1 && std::time::Instant::now() < deadline {
            s = self
                .cv
                .wait_timeout(s, Duration::from_millis(50))
                .unwrap()
                .0;
        }
    }
}

/// Issue 14 #4: one health check at a time. Callers arriving while a check runs wait for it
/// and share its report; none runs a check of its own.
#[test]
fn concurrent_checks_share_the_one_in_flight() {
    let t = TestDb::sqlite();
    let env = Env::new().unwrap();
    register(&t, &env, "alpha");
    let gate = Arc::new(Gate::default());
    let mon = Arc::new(HealthMonitor::new(t.db().clone(), opts()).with_event_sink(gate.clone()));
    let first = {
        let (mon, repo) = (
            mon.clone(),
            super::common::open_repo(&env.repo_path).unwrap(),
        );
        std::thread::spawn(move || mon.check_shared(Some(&repo)))
    };
    // The first check is in flight, held at its first transition event.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !gate.state.lock().unwrap().0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first check never ran"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let others: Vec<_> = (0..16)
        .map(|_| {
            let mon = mon.clone();
            std::thread::spawn(move || mon.check_shared(None))
        })
        .collect();
    while mon.waiting() < 16 {
        assert!(std::time::Instant::now() < deadline, "callers did not wait");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(mon.checks_run(), 0, "nothing landed yet");
    {
        let mut s = gate.state.lock().unwrap();
        s.1 = true;
        gate.cv.notify_all();
    }
    let first = first.join().unwrap();
    assert!(first.ran);
    for o in others {
        let o = o.join().unwrap();
        assert!(!o.ran, "a caller ran its own check");
        assert!(Arc::ptr_eq(&o.report, &first.report));
    }
    assert_eq!(mon.checks_run(), 1);
    assert!(Arc::ptr_eq(&mon.latest().unwrap(), &first.report));
    // A later call runs a new check.
    assert!(mon.check_shared(None).ran);
    assert_eq!(mon.checks_run(), 2);
}
