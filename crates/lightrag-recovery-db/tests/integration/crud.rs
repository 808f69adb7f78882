//! Create / get / list / update / delete of every table, with filters and pagination.

use lightrag_recovery_db::*;
use serde_json::json;

use super::support::TestDb;

crate::both_backends!(
    graphs_crud,
    backups_crud,
    recovery_points_crud,
    recovery_point_creation_is_atomic,
    replication_targets_crud_and_secret_hiding,
    replication_state_crud,
    health_checks_crud,
    events_crud_filters_and_batches,
    nul_bytes_rejected_or_escaped,
    timestamps_round_trip_exactly,
    persistence_across_pool_reopen,
    async_helper_runs_on_blocking_pool,
    events_per_day_by_severity,
);

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

fn new_graph(id: &str) -> NewGraph {
    NewGraph {
        id: id.into(),
        path: format!("/srv/rag/{id}"),
        source: GraphSource::Discovered,
    }
}

fn completed_backup(conn: &mut DbConn, snapshot: &str, graph: &str, at: i64) -> BackupRecord {
    let mut rec = BackupRecord::new(snapshot, graph, BackupTrigger::Scheduled);
    rec.created_at = ts(at);
    rec.status = BackupStatus::Completed;
    rec.finished_at = Some(ts(at + 1_000));
    rec.logical_size_bytes = 1_000_000;
    rec.stored_size_bytes = 250_000;
    rec.file_count = 12;
    rec.chunk_count = 40;
    rec.manifest_hash = Some(format!("blake3:{snapshot}"));
    create_backup(conn, &rec).expect("create backup")
}

fn graphs_crud(t: &mut TestDb) {
    let conn = &mut *t.db().conn().unwrap();
    let g = create_graph(conn, &new_graph("alpha")).unwrap();
    assert_eq!(g.source, GraphSource::Discovered);
    create_graph(
        conn,
        &NewGraph {
            source: GraphSource::Api,
            ..new_graph("beta")
        },
    )
    .unwrap();
    create_graph(
        conn,
        &NewGraph {
            source: GraphSource::Config,
            ..new_graph("gamma")
        },
    )
    .unwrap();

    let err = create_graph(conn, &new_graph("alpha")).unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("alpha"), "{err}");

    assert_eq!(get_graph(conn, "alpha").unwrap(), g);
    assert!(get_graph(conn, "nope").unwrap_err().is_not_found());
    assert_eq!(find_graph(conn, "nope").unwrap(), None);

    let all = list_graphs(conn, &GraphFilter::default(), Page::default()).unwrap();
    assert_eq!(
        all.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        ["alpha", "beta", "gamma"]
    );
    let page2 = list_graphs(conn, &GraphFilter::default(), Page::new(2, 1)).unwrap();
    assert_eq!(
        page2.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        ["beta", "gamma"]
    );
    let api = list_graphs(
        conn,
        &GraphFilter {
            source: Some(GraphSource::Api),
        },
        Page::default(),
    )
    .unwrap();
    assert_eq!(api.len(), 1);
    assert_eq!(api[0].id, "beta");

    let u = update_graph(
        conn,
        "alpha",
        &GraphUpdate {
            path: Some("/new/alpha".into()),
            source: None,
        },
    )
    .unwrap();
    assert_eq!(u.path, "/new/alpha");
    assert_eq!(u.source, GraphSource::Discovered);
    assert_eq!(u.created_at, g.created_at);
    assert!(
        update_graph(conn, "nope", &GraphUpdate::default())
            .unwrap_err()
            .is_not_found()
    );

    let up = upsert_graph(
        conn,
        &NewGraph {
            id: "alpha".into(),
            path: "/again".into(),
            source: GraphSource::Config,
        },
    )
    .unwrap();
    assert_eq!(
        (up.path.as_str(), up.source, up.created_at),
        ("/again", GraphSource::Config, g.created_at)
    );
    let fresh = upsert_graph(conn, &new_graph("delta")).unwrap();
    assert_eq!(fresh.id, "delta");

    delete_graph(conn, "beta").unwrap();
    assert!(delete_graph(conn, "beta").unwrap_err().is_not_found());
    assert_eq!(
        list_graphs(conn, &GraphFilter::default(), Page::default())
            .unwrap()
            .len(),
        3
    );
}

fn backups_crud(t: &mut TestDb) {
    let conn = &mut *t.db().conn().unwrap();
    let mut rec = BackupRecord::new("snap-1", "alpha", BackupTrigger::Manual);
    rec.created_at = ts(1_000);
    rec.summary_json = Some(
        r#"{ "docs": 3, "chunks": 10, "vdb": {"entities": {"count": 7, "dim": 1024}} }"#.into(),
    );
    let stored = create_backup(conn, &rec).unwrap();
    assert_eq!(
        stored.summary(),
        Some(json!({"docs": 3, "chunks": 10, "vdb": {"entities": {"count": 7, "dim": 1024}}}))
    );
    assert_eq!(get_backup(conn, "snap-1").unwrap(), stored);
    assert!(create_backup(conn, &rec).unwrap_err().is_conflict());

    completed_backup(conn, "snap-2", "alpha", 2_000);
    completed_backup(conn, "snap-3", "beta", 3_000);
    completed_backup(conn, "snap-4", "alpha", 4_000);

    let update = BackupUpdate {
        status: Some(BackupStatus::Failed),
        finished_at: Some(ts(1_500)),
        error_message: Some("disk full".into()),
        duration_ms: Some(500),
        retention_until: Some(ts(10_000)),
        ..BackupUpdate::default()
    };
    let failed = update_backup(conn, "snap-1", &update).unwrap();
    assert_eq!(failed.status, BackupStatus::Failed);
    assert_eq!(failed.error_message.as_deref(), Some("disk full"));
    assert_eq!(failed.retention_until, Some(ts(10_000)));
    assert_eq!(
        failed.summary_json, stored.summary_json,
        "untouched columns stay"
    );
    assert!(
        update_backup(conn, "nope", &update)
            .unwrap_err()
            .is_not_found()
    );
    let neg = BackupUpdate {
        logical_size_bytes: Some(-1),
        ..BackupUpdate::default()
    };
    assert!(matches!(
        update_backup(conn, "snap-1", &neg),
        Err(RecoveryDbError::InvalidInput { .. })
    ));

    let v = record_backup_verification(conn, "snap-2", ts(5_000), None).unwrap();
    assert_eq!(
        (v.verified_at, v.verification_ok, v.verification_error),
        (Some(ts(5_000)), Some(true), None)
    );
    let v =
        record_backup_verification(conn, "snap-2", ts(6_000), Some("chunk abc missing")).unwrap();
    assert_eq!(v.verification_ok, Some(false));
    assert_eq!(v.verification_error.as_deref(), Some("chunk abc missing"));

    let alpha = BackupFilter {
        graph_id: Some("alpha".into()),
        ..BackupFilter::default()
    };
    let ids = |v: Vec<BackupRecord>| v.into_iter().map(|b| b.snapshot_id).collect::<Vec<_>>();
    assert_eq!(
        ids(list_backups(conn, &alpha, Page::default()).unwrap()),
        ["snap-4", "snap-2", "snap-1"]
    );
    let oldest = BackupFilter {
        order: Order::OldestFirst,
        ..alpha.clone()
    };
    assert_eq!(
        ids(list_backups(conn, &oldest, Page::new(2, 0)).unwrap()),
        ["snap-1", "snap-2"]
    );
    let completed_in_range = BackupFilter {
        status: Some(BackupStatus::Completed),
        since: Some(ts(2_000)),
        until: Some(ts(4_000)),
        ..BackupFilter::default()
    };
    assert_eq!(
        ids(list_backups(conn, &completed_in_range, Page::default()).unwrap()),
        ["snap-3", "snap-2"]
    );
    let manual = BackupFilter {
        trigger: Some(BackupTrigger::Manual),
        ..BackupFilter::default()
    };
    assert_eq!(count_backups(conn, &manual).unwrap(), 1);
    let expired = BackupFilter {
        retention_before: Some(ts(20_000)),
        ..BackupFilter::default()
    };
    assert_eq!(
        ids(list_backups(conn, &expired, Page::default()).unwrap()),
        ["snap-1"]
    );
    assert_eq!(count_backups(conn, &BackupFilter::default()).unwrap(), 4);

    delete_backup(conn, "snap-1").unwrap();
    assert!(delete_backup(conn, "snap-1").unwrap_err().is_not_found());
    assert!(find_backup(conn, "snap-1").unwrap().is_none());
}

fn recovery_points_crud(t: &mut TestDb) {
    let conn = &mut *t.db().conn().unwrap();
    completed_backup(conn, "a-1", "alpha", 1_000);
    completed_backup(conn, "b-1", "beta", 1_100);
    completed_backup(conn, "a-2", "alpha", 2_000);

    let rp = create_recovery_point(
        conn,
        &NewRecoveryPoint {
            id: "rp-1".into(),
            description: "before upgrade".into(),
            created_by: Some("ops".into()),
            snapshots: vec![
                ("beta".into(), "b-1".into()),
                ("alpha".into(), "a-1".into()),
            ],
        },
    )
    .unwrap();
    assert!(!rp.point.validated);
    assert_eq!(
        rp.snapshots
            .iter()
            .map(|s| s.graph_id.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
    assert_eq!(get_recovery_point(conn, "rp-1").unwrap(), rp);

    create_recovery_point(
        conn,
        &NewRecoveryPoint {
            id: "rp-2".into(),
            description: "alpha only".into(),
            created_by: None,
            snapshots: vec![("alpha".into(), "a-2".into())],
        },
    )
    .unwrap();

    let dup = NewRecoveryPoint {
        id: "rp-1".into(),
        description: String::new(),
        created_by: None,
        snapshots: vec![("alpha".into(), "a-2".into())],
    };
    assert!(create_recovery_point(conn, &dup).unwrap_err().is_conflict());

    // Pinned snapshots cannot be deleted.
    let err = delete_backup(conn, "a-1").unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("rp-1"), "{err}");
    assert_eq!(recovery_points_pinning(conn, "a-1").unwrap(), ["rp-1"]);
    assert_eq!(pinned_snapshot_ids(conn).unwrap(), ["a-1", "a-2", "b-1"]);

    let all = list_recovery_points(conn, &RecoveryPointFilter::default(), Page::default()).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|p| !p.snapshots.is_empty()));
    let beta = RecoveryPointFilter {
        graph_id: Some("beta".into()),
        ..RecoveryPointFilter::default()
    };
    let beta = list_recovery_points(conn, &beta, Page::default()).unwrap();
    assert_eq!(beta.len(), 1);
    assert_eq!(beta[0].point.id, "rp-1");
    assert_eq!(beta[0].snapshots.len(), 2);

    let v = record_recovery_point_validation(conn, "rp-1", ts(9_000), None).unwrap();
    assert!(v.point.validated);
    assert_eq!(v.point.validated_at, Some(ts(9_000)));
    let v = record_recovery_point_validation(conn, "rp-2", ts(9_500), Some("vdb rows != records"))
        .unwrap();
    assert!(!v.point.validated);
    assert_eq!(
        v.point.validation_error.as_deref(),
        Some("vdb rows != records")
    );
    let validated = RecoveryPointFilter {
        validated: Some(true),
        ..RecoveryPointFilter::default()
    };
    assert_eq!(
        list_recovery_points(conn, &validated, Page::default())
            .unwrap()
            .len(),
        1
    );
    assert!(
        record_recovery_point_validation(conn, "nope", ts(1), None)
            .unwrap_err()
            .is_not_found()
    );

    let d = update_recovery_point_description(conn, "rp-2", "renamed").unwrap();
    assert_eq!(d.point.description, "renamed");

    let one = list_recovery_points(conn, &RecoveryPointFilter::default(), Page::new(1, 1)).unwrap();
    assert_eq!(one.len(), 1);

    delete_recovery_point(conn, "rp-1").unwrap();
    assert!(get_recovery_point(conn, "rp-1").unwrap_err().is_not_found());
    assert!(
        delete_recovery_point(conn, "rp-1")
            .unwrap_err()
            .is_not_found()
    );
    assert!(recovery_points_pinning(conn, "a-1").unwrap().is_empty());
    delete_backup(conn, "a-1").unwrap();
}

fn recovery_point_creation_is_atomic(t: &mut TestDb) {
    let conn = &mut *t.db().conn().unwrap();
    completed_backup(conn, "a-1", "alpha", 1_000);
    let mut running = BackupRecord::new("r-1", "gamma", BackupTrigger::Manual);
    running.created_at = ts(1_000);
    create_backup(conn, &running).unwrap();

    let base = |snapshots: Vec<(&str, &str)>| NewRecoveryPoint {
        id: "rp".into(),
        description: "x".into(),
        created_by: None,
        snapshots: snapshots
            .into_iter()
            .map(|(g, s)| (g.to_owned(), s.to_owned()))
            .collect(),
    };
    let missing = create_recovery_point(conn, &base(vec![("alpha", "a-1"), ("beta", "missing")]))
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    let wrong_graph = create_recovery_point(conn, &base(vec![("beta", "a-1")])).unwrap_err();
    assert!(
        matches!(wrong_graph, RecoveryDbError::InvalidInput { .. }),
        "{wrong_graph}"
    );
    let not_done = create_recovery_point(conn, &base(vec![("gamma", "r-1")])).unwrap_err();
    assert!(not_done.to_string().contains("running"), "{not_done}");
    let twice =
        create_recovery_point(conn, &base(vec![("alpha", "a-1"), ("alpha", "a-1")])).unwrap_err();
    assert!(
        matches!(twice, RecoveryDbError::InvalidInput { .. }),
        "{twice}"
    );
    assert!(create_recovery_point(conn, &base(vec![])).is_err());

    // Nothing of the failed attempts was kept.
    assert!(
        list_recovery_points(conn, &RecoveryPointFilter::default(), Page::default())
            .unwrap()
            .is_empty()
    );
    assert!(pinned_snapshot_ids(conn).unwrap().is_empty());
    create_recovery_point(conn, &base(vec![("alpha", "a-1")])).unwrap();
}

fn new_target(id: &str, name: &str, secret: Option<&str>) -> NewReplicationTarget {
    NewReplicationTarget {
        id: id.into(),
        name: name.into(),
        kind: TargetKind::Peer,
        url: format!("https://{name}.example:9622"),
        secret: secret.map(str::to_owned),
        enabled: true,
    }
}

fn replication_targets_crud_and_secret_hiding(t: &mut TestDb) {
    let conn = &mut *t.db().conn().unwrap();
    let secret = "sk-very-secret-api-key";
    let new = new_target("t1", "offsite", Some(secret));
    assert!(!format!("{new:?}").contains(secret));
    let t1 = create_replication_target(conn, &new).unwrap();
    assert!(t1.has_secret);
    assert!(t1.last_status.is_none());
    create_replication_target(
        conn,
        &NewReplicationTarget {
            kind: TargetKind::Path,
            ..new_target("t2", "nas", None)
        },
    )
    .unwrap();

    // Same name or same id: conflict.
    assert!(
        create_replication_target(conn, &new_target("t3", "offsite", None))
            .unwrap_err()
            .is_conflict()
    );
    assert!(
        create_replication_target(conn, &new_target("t1", "other", None))
            .unwrap_err()
            .is_conflict()
    );

    let listed = list_replication_targets(conn, None, Page::default()).unwrap();
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["nas", "offsite"]
    );
    for shown in [
        serde_json::to_string(&listed).unwrap(),
        format!("{listed:?}"),
        serde_json::to_string(&get_replication_target(conn, "t1").unwrap()).unwrap(),
        format!(
            "{:?}",
            get_replication_target_by_name(conn, "offsite").unwrap()
        ),
    ] {
        assert!(!shown.contains(secret), "secret leaked: {shown}");
    }
    let s = get_replication_target_secret(conn, "t1").unwrap();
    assert_eq!(s.secret.as_deref(), Some(secret));
    assert!(!format!("{s:?}").contains(secret));
    assert_eq!(
        get_replication_target_secret(conn, "t2").unwrap().secret,
        None
    );
    assert!(
        get_replication_target_secret(conn, "nope")
            .unwrap_err()
            .is_not_found()
    );

    let upd = update_replication_target(
        conn,
        "t1",
        &ReplicationTargetUpdate {
            enabled: Some(false),
            secret: Some(None),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!upd.enabled && !upd.has_secret);
    assert_eq!(upd.name, "offsite");
    let upd = update_replication_target(
        conn,
        "t1",
        &ReplicationTargetUpdate {
            secret: Some(Some("new".into())),
            url: Some("s3://bucket/x".into()),
            kind: Some(TargetKind::ObjectStore),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(upd.has_secret);
    assert_eq!(
        (upd.kind, upd.url.as_str()),
        (TargetKind::ObjectStore, "s3://bucket/x")
    );
    let clash = ReplicationTargetUpdate {
        name: Some("nas".into()),
        ..Default::default()
    };
    assert!(
        update_replication_target(conn, "t1", &clash)
            .unwrap_err()
            .is_conflict()
    );
    assert!(update_replication_target(conn, "nope", &clash).is_err());

    let disabled = list_replication_targets(conn, Some(false), Page::default()).unwrap();
    assert_eq!(
        disabled.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["t1"]
    );
    assert_eq!(
        list_replication_targets(conn, Some(true), Page::default())
            .unwrap()
            .len(),
        1
    );

    let h = record_replication_target_health(
        conn,
        "t2",
        ts(7_000),
        HealthStatus::Offline,
        Some("unreachable"),
    )
    .unwrap();
    assert_eq!(
        (
            h.last_health_check_at,
            h.last_status,
            h.last_error.as_deref()
        ),
        (
            Some(ts(7_000)),
            Some(HealthStatus::Offline),
            Some("unreachable")
        )
    );
    assert!(
        record_replication_target_health(conn, "nope", ts(1), HealthStatus::Healthy, None)
            .unwrap_err()
            .is_not_found()
    );

    delete_replication_target(conn, "t2").unwrap();
    assert!(
        get_replication_target(conn, "t2")
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        delete_replication_target(conn, "t2")
            .unwrap_err()
            .is_not_found()
    );
}

fn replication_state_crud(t: &mut TestDb) {
    let conn = &mut *t.db().conn().unwrap();
    create_replication_target(conn, &new_target("t1", "offsite", None)).unwrap();
    create_replication_target(conn, &new_target("t2", "nas", None)).unwrap();

    let mut st = ReplicationState::new("t1", "alpha");
    st.lag_ms = Some(30_000);
    let st = upsert_replication_state(conn, &st).unwrap();
    assert_eq!(get_replication_state(conn, "t1", "alpha").unwrap(), st);

    let ok = record_sync_success(conn, "t1", "alpha", "snap-9", ts(8_000), 1_000, 0).unwrap();
    assert_eq!(
        (
            ok.last_synced_snapshot_id.as_deref(),
            ok.bytes_synced,
            ok.lag_ms
        ),
        (Some("snap-9"), 1_000, Some(0))
    );
    record_sync_success(conn, "t1", "alpha", "snap-10", ts(9_000), 500, 0).unwrap();
    record_sync_failure(conn, "t1", "alpha", "timeout", Some(60_000)).unwrap();
    let f = record_sync_failure(conn, "t1", "alpha", "timeout again", None).unwrap();
    assert_eq!(
        (f.consecutive_failures, f.bytes_synced, f.lag_ms),
        (2, 1_500, Some(60_000))
    );
    assert_eq!(f.last_error.as_deref(), Some("timeout again"));
    assert_eq!(f.last_synced_snapshot_id.as_deref(), Some("snap-10"));
    let back = record_sync_success(conn, "t1", "alpha", "snap-11", ts(10_000), 0, 0).unwrap();
    assert_eq!((back.consecutive_failures, back.last_error), (0, None));

    record_sync_failure(conn, "t2", "alpha", "denied", None).unwrap();
    record_sync_success(conn, "t1", "beta", "b-1", ts(10_000), 10, 0).unwrap();

    let by_graph = ReplicationStateFilter {
        graph_id: Some("alpha".into()),
        ..Default::default()
    };
    assert_eq!(
        list_replication_states(conn, &by_graph, Page::default())
            .unwrap()
            .len(),
        2
    );
    let by_target = ReplicationStateFilter {
        target_id: Some("t1".into()),
        ..Default::default()
    };
    let l = list_replication_states(conn, &by_target, Page::default()).unwrap();
    assert_eq!(
        l.iter().map(|s| s.graph_id.as_str()).collect::<Vec<_>>(),
        ["alpha", "beta"]
    );

    // Unknown target: not found, not a raw FK error.
    let err = upsert_replication_state(conn, &ReplicationState::new("ghost", "alpha")).unwrap_err();
    assert!(err.is_not_found(), "{err}");

    delete_replication_state(conn, "t1", "beta").unwrap();
    assert!(
        get_replication_state(conn, "t1", "beta")
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        delete_replication_state(conn, "t1", "beta")
            .unwrap_err()
            .is_not_found()
    );

    // Deleting a target deletes its state.
    delete_replication_target(conn, "t1").unwrap();
    assert_eq!(find_replication_state(conn, "t1", "alpha").unwrap(), None);
    assert_eq!(
        list_replication_states(conn, &ReplicationStateFilter::default(), Page::default())
            .unwrap()
            .len(),
        1
    );
}

fn health_checks_crud(t: &mut TestDb) {
    let conn = &mut *t.db().conn().unwrap();
    let check = |at: i64, ty: ComponentType, id: &str, status: HealthStatus| NewHealthCheckEvent {
        checked_at: ts(at),
        component_type: ty,
        component_id: id.into(),
        status,
        message: Some(format!("{id} is {status}")),
        details: Some(json!({"rpo_s": 3600, "last_backup_age_s": at / 1000}).to_string()),
    };
    insert_health_check(
        conn,
        &check(1_000, ComponentType::Graph, "alpha", HealthStatus::Healthy),
    )
    .unwrap();
    insert_health_check(
        conn,
        &check(2_000, ComponentType::Graph, "alpha", HealthStatus::Degraded),
    )
    .unwrap();
    insert_health_check(
        conn,
        &check(
            3_000,
            ComponentType::Database,
            "catalog",
            HealthStatus::Healthy,
        ),
    )
    .unwrap();
    insert_health_check(
        conn,
        &check(4_000, ComponentType::Target, "t1", HealthStatus::Offline),
    )
    .unwrap();
    let bad = NewHealthCheckEvent {
        details: Some("{oops".into()),
        ..check(1, ComponentType::Graph, "x", HealthStatus::Healthy)
    };
    assert!(matches!(
        insert_health_check(conn, &bad),
        Err(RecoveryDbError::InvalidInput {
            field: "details",
            ..
        })
    ));

    let alpha = HealthCheckFilter {
        component_type: Some(ComponentType::Graph),
        component_id: Some("alpha".into()),
        ..Default::default()
    };
    let rows = list_health_checks(conn, &alpha, Page::default()).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.status).collect::<Vec<_>>(),
        [HealthStatus::Degraded, HealthStatus::Healthy]
    );
    assert_eq!(get_health_check(conn, rows[0].id).unwrap(), rows[0]);
    assert!(get_health_check(conn, -5).unwrap_err().is_not_found());
    let offline = HealthCheckFilter {
        status: Some(HealthStatus::Offline),
        ..Default::default()
    };
    assert_eq!(
        list_health_checks(conn, &offline, Page::default()).unwrap()[0].component_id,
        "t1"
    );
    let window = HealthCheckFilter {
        since: Some(ts(2_000)),
        until: Some(ts(4_000)),
        order: Order::OldestFirst,
        ..Default::default()
    };
    let w = list_health_checks(conn, &window, Page::default()).unwrap();
    assert_eq!(
        w.iter()
            .map(|r| r.checked_at.unix_millis())
            .collect::<Vec<_>>(),
        [2_000, 3_000]
    );
    let d: serde_json::Value = serde_json::from_str(w[0].details.as_deref().unwrap()).unwrap();
    assert_eq!(d["rpo_s"], 3600);

    assert_eq!(delete_health_checks_before(conn, ts(3_000)).unwrap(), 2);
    assert_eq!(
        list_health_checks(conn, &HealthCheckFilter::default(), Page::default())
            .unwrap()
            .len(),
        2
    );
}

fn events_crud_filters_and_batches(t: &mut TestDb) {
    let conn = &mut *t.db().conn().unwrap();
    let e = NewEvent::new(
        EventKind::Backup,
        "backup.completed",
        Severity::Info,
        "Backup of alpha completed",
    )
    .graph("alpha")
    .snapshot("snap-1")
    .duration_ms(1234)
    .bytes(5_000_000)
    .at(ts(1_000))
    .with_details(&json!({"files": 12, "dedup_ratio": 0.25}));
    insert_event(conn, &e).unwrap();

    let mut batch = Vec::new();
    for i in 0..2_500_i64 {
        let (kind, sev, graph) = match i % 5 {
            0 => (EventKind::Replication, Severity::Warning, "alpha"),
            1 => (EventKind::Backup, Severity::Info, "beta"),
            2 => (EventKind::Restore, Severity::Error, "alpha"),
            3 => (EventKind::Health, Severity::Critical, "gamma"),
            _ => (EventKind::Validation, Severity::Info, "alpha"),
        };
        let mut ev = NewEvent::new(kind, format!("{kind}.tick"), sev, format!("event {i}"))
            .at(ts(10_000 + i));
        if i % 2 == 0 {
            ev = ev.graph(graph);
        }
        if i % 7 == 0 {
            ev = ev.target("t1").recovery_point("rp-1");
        }
        batch.push(ev);
    }
    assert_eq!(insert_events(conn, &batch).unwrap(), 2_500);
    assert_eq!(insert_events(conn, &[]).unwrap(), 0);
    assert_eq!(count_events(conn, &EventFilter::default()).unwrap(), 2_501);

    // A batch with one bad row inserts nothing.
    let mut bad = batch[..3].to_vec();
    bad[2].details = Some("not json".into());
    assert!(insert_events(conn, &bad).is_err());
    assert_eq!(count_events(conn, &EventFilter::default()).unwrap(), 2_501);

    let first = list_events(
        conn,
        &EventFilter {
            order: Order::OldestFirst,
            ..Default::default()
        },
        Page::new(1, 0),
    )
    .unwrap();
    let first = &first[0];
    assert_eq!(first.message, "Backup of alpha completed");
    assert_eq!(
        (first.duration_ms, first.bytes),
        (Some(1234), Some(5_000_000))
    );
    assert_eq!(
        first.details_json(),
        Some(json!({"files": 12, "dedup_ratio": 0.25}))
    );
    assert_eq!(get_event(conn, first.id).unwrap(), *first);
    assert!(get_event(conn, -1).unwrap_err().is_not_found());

    let f = EventFilter {
        graph_id: Some("alpha".into()),
        since: Some(ts(10_000)),
        until: Some(ts(10_100)),
        ..Default::default()
    };
    let rows = list_events(conn, &f, Page::new(1000, 0)).unwrap();
    let expected = (0..100)
        .filter(|i| i % 2 == 0 && [0, 2, 4].contains(&(i % 5)))
        .count();
    assert_eq!(rows.len(), expected);
    assert!(
        rows.windows(2)
            .all(|w| w[0].occurred_at >= w[1].occurred_at),
        "newest first"
    );
    assert!(rows.iter().all(|r| r.graph_id.as_deref() == Some("alpha")));
    assert_eq!(count_events(conn, &f).unwrap(), expected as i64);

    let paged: Vec<i64> = (0..3)
        .flat_map(|p| list_events(conn, &f, Page::new(10, p * 10)).unwrap())
        .map(|e| e.id)
        .collect();
    assert_eq!(
        paged,
        rows.iter().take(30).map(|e| e.id).collect::<Vec<_>>()
    );

    let kind = EventFilter {
        kind: Some(EventKind::Restore),
        ..Default::default()
    };
    assert_eq!(count_events(conn, &kind).unwrap(), 500);
    let sev = EventFilter {
        severity: Some(Severity::Critical),
        ..Default::default()
    };
    assert_eq!(count_events(conn, &sev).unwrap(), 500);
    let min = EventFilter {
        min_severity: Some(Severity::Error),
        ..Default::default()
    };
    assert_eq!(count_events(conn, &min).unwrap(), 1_000);
    let typ = EventFilter {
        event_type: Some("backup.tick".into()),
        ..Default::default()
    };
    assert_eq!(count_events(conn, &typ).unwrap(), 500);
    let tgt = EventFilter {
        target_id: Some("t1".into()),
        recovery_point_id: Some("rp-1".into()),
        ..Default::default()
    };
    assert_eq!(
        count_events(conn, &tgt).unwrap(),
        (0..2_500).filter(|i| i % 7 == 0).count() as i64
    );
    let snap = EventFilter {
        snapshot_id: Some("snap-1".into()),
        ..Default::default()
    };
    assert_eq!(count_events(conn, &snap).unwrap(), 1);

    let alpha = EventFilter {
        graph_id: Some("alpha".into()),
        ..Default::default()
    };
    let by_type = count_events_by_type(conn, &alpha).unwrap();
    assert_eq!(
        by_type.iter().map(|c| c.count).sum::<i64>(),
        count_events(conn, &alpha).unwrap()
    );
    let restores = by_type
        .iter()
        .find(|c| c.kind == EventKind::Restore)
        .unwrap();
    assert_eq!(
        (
            restores.event_type.as_str(),
            restores.severity,
            restores.count
        ),
        ("restore.tick", Severity::Error, 250)
    );
    assert!(
        by_type
            .iter()
            .any(|c| c.event_type == "backup.completed" && c.count == 1)
    );

    assert_eq!(delete_events_before(conn, ts(10_000)).unwrap(), 1);
    assert_eq!(count_events(conn, &EventFilter::default()).unwrap(), 2_500);
}

fn nul_bytes_rejected_or_escaped(t: &mut TestDb) {
    let conn = &mut *t.db().conn().unwrap();
    // Identifiers: rejected with a message naming the field.
    let err = create_graph(conn, &new_graph("bad\0id")).unwrap_err();
    assert!(
        matches!(
            err,
            RecoveryDbError::InvalidInput {
                field: "graph id",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("NUL"), "{err}");
    let err = create_replication_target(conn, &new_target("t", "n", Some("se\0cret"))).unwrap_err();
    assert!(matches!(err, RecoveryDbError::InvalidInput { .. }), "{err}");
    let err = insert_event(
        conn,
        &NewEvent::new(EventKind::System, "x", Severity::Info, "m").graph("g\0"),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            RecoveryDbError::InvalidInput {
                field: "graph id",
                ..
            }
        ),
        "{err}"
    );

    // Free text: NUL replaced by U+FFFD, the row is kept.
    let ev = NewEvent::new(
        EventKind::Backup,
        "backup.failed",
        Severity::Error,
        "entity \0name\0 broke",
    )
    .with_details(&json!({"raw": "a\u{0}b"}));
    insert_event(conn, &ev).unwrap();
    let got = &list_events(conn, &EventFilter::default(), Page::default()).unwrap()[0];
    assert_eq!(got.message, "entity \u{FFFD}name\u{FFFD} broke");
    assert_eq!(
        got.details_json().unwrap()["raw"],
        "a\u{0}b",
        "JSON keeps NUL as an escape"
    );

    let mut rec = BackupRecord::new("s", "g", BackupTrigger::Manual);
    rec.error_message = Some("bad\0file".into());
    assert_eq!(
        create_backup(conn, &rec).unwrap().error_message.as_deref(),
        Some("bad\u{FFFD}file")
    );
    // Other Unicode is stored as is.
    let text = "图谱 — ünïcödé 🚀 'quotes' \"dq\" \\ back";
    insert_event(
        conn,
        &NewEvent::new(EventKind::System, "unicode", Severity::Info, text),
    )
    .unwrap();
    let f = EventFilter {
        event_type: Some("unicode".into()),
        ..Default::default()
    };
    assert_eq!(
        list_events(conn, &f, Page::default()).unwrap()[0].message,
        text
    );
}

fn timestamps_round_trip_exactly(t: &mut TestDb) {
    let conn = &mut *t.db().conn().unwrap();
    let now = Timestamp::now();
    for (i, at) in [now, ts(0), ts(-86_400_000), ts(253_402_300_799_999)]
        .into_iter()
        .enumerate()
    {
        insert_event(
            conn,
            &NewEvent::new(EventKind::System, format!("t{i}"), Severity::Info, "t").at(at),
        )
        .unwrap();
        let f = EventFilter {
            event_type: Some(format!("t{i}")),
            ..Default::default()
        };
        assert_eq!(
            list_events(conn, &f, Page::default()).unwrap()[0].occurred_at,
            at
        );
    }
    let json = serde_json::to_string(&ts(1_764_100_800_123)).unwrap();
    assert_eq!(json, "\"2025-11-25T20:00:00.123Z\"");
    assert_eq!(
        serde_json::from_str::<Timestamp>(&json).unwrap(),
        ts(1_764_100_800_123)
    );
}

fn persistence_across_pool_reopen(t: &mut TestDb) {
    {
        let conn = &mut *t.db().conn().unwrap();
        create_graph(conn, &new_graph("alpha")).unwrap();
        completed_backup(conn, "a-1", "alpha", 1_000);
        create_recovery_point(
            conn,
            &NewRecoveryPoint {
                id: "rp-keep".into(),
                description: "survives restarts".into(),
                created_by: None,
                snapshots: vec![("alpha".into(), "a-1".into())],
            },
        )
        .unwrap();
    }
    // Drop the only pool on this database (closing every connection), then open a new one.
    drop(t.db.take());
    let reopened = t.connect();
    assert!(
        run_migrations(&mut reopened.conn().unwrap())
            .unwrap()
            .is_empty(),
        "already migrated"
    );
    let conn = &mut *reopened.conn().unwrap();
    let rp = get_recovery_point(conn, "rp-keep").unwrap();
    assert_eq!(rp.point.description, "survives restarts");
    assert_eq!(rp.snapshots[0].snapshot_id, "a-1");
    assert_eq!(get_graph(conn, "alpha").unwrap().id, "alpha");
    assert_eq!(
        get_backup(conn, "a-1").unwrap().status,
        BackupStatus::Completed
    );
}

fn async_helper_runs_on_blocking_pool(t: &mut TestDb) {
    let db = t.db().clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        db.run(|conn| create_graph(conn, &new_graph("alpha")))
            .await
            .unwrap();
        let err = db
            .run(|conn| create_graph(conn, &new_graph("alpha")))
            .await
            .unwrap_err();
        assert!(err.is_conflict());
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.run(move |conn| {
                        insert_event(
                            conn,
                            &NewEvent::new(
                                EventKind::System,
                                "async",
                                Severity::Info,
                                format!("n{i}"),
                            ),
                        )
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let n = db
            .run(|conn| count_events(conn, &EventFilter::default()))
            .await
            .unwrap();
        assert_eq!(n, 16);
        let state = db.state();
        assert!(
            state.connections >= 1 && state.connections <= state.max_connections,
            "{state:?}"
        );
    });
}

fn events_per_day_by_severity(t: &mut TestDb) {
    const DAY: i64 = 86_400_000;
    let conn = &mut *t.db().conn().unwrap();
    let day0 = 20_000 * DAY; // 2024-10-04
    let ev = |sev, graph: Option<&str>, at: i64| {
        let e = NewEvent::new(EventKind::Backup, "backup.completed", sev, "m").at(ts(at));
        match graph {
            Some(g) => e.graph(g),
            None => e,
        }
    };
    let batch = [
        ev(Severity::Info, Some("a"), day0 + 5),
        ev(Severity::Info, Some("b"), day0 + DAY - 1),
        ev(Severity::Error, Some("a"), day0 + 3_600_000),
        ev(Severity::Warning, None, day0 + DAY),
        ev(Severity::Info, Some("a"), day0 + 2 * DAY + 17),
        ev(Severity::Critical, Some("a"), day0 - 1), // the day before `since`'s day
    ];
    insert_events(conn, &batch).unwrap();
    let rows = |conn: &mut DbConn, g: Option<&str>| -> Vec<(i64, Severity, i64)> {
        events_per_day(conn, ts(day0 + 1234), g)
            .unwrap()
            .into_iter()
            .map(|r| ((r.day.unix_millis() - day0) / DAY, r.severity, r.count))
            .collect()
    };
    let all = rows(conn, None);
    assert!(all.contains(&(0, Severity::Info, 2)), "{all:?}");
    assert!(all.contains(&(0, Severity::Error, 1)), "{all:?}");
    assert!(all.contains(&(1, Severity::Warning, 1)), "{all:?}");
    assert!(all.contains(&(2, Severity::Info, 1)), "{all:?}");
    assert_eq!(all.len(), 4, "the day before `since` is left out: {all:?}");
    let a = rows(conn, Some("a"));
    assert_eq!(a.len(), 3, "{a:?}");
    assert!(a.contains(&(0, Severity::Info, 1)), "{a:?}");
    // A deleted event leaves the counts (rollups follow deletes).
    delete_events_before(conn, ts(day0 + DAY)).unwrap();
    let after = rows(conn, None);
    assert!(!after.iter().any(|r| r.0 == 0), "{after:?}");
    assert!(events_per_day(conn, ts(day0), Some("a\0b")).is_err());
}
