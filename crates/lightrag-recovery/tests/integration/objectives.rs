//! RPO / RTO reporting.

use std::time::Duration;

use lightrag_recovery::{CreatePointRequest, RestorePointOptions};
use lightrag_recovery_db::{
    NewReplicationTarget, TargetKind, Timestamp, create_replication_target, record_sync_success,
};
use time::OffsetDateTime;

use super::common::Env;
use super::support::TestDb;

crate::both_backends!(rpo_and_rto_per_graph);

fn rpo_and_rto_per_graph(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let m = env.manager(t.db().clone());
    let req = CreatePointRequest {
        graph_ids: vec!["alpha".into(), "beta".into()],
        fresh_backup: true,
        ..Default::default()
    };
    let p = m.create_point(&env.repo, &req).unwrap();
    m.validate_point(&env.repo, &p.point.id).unwrap();
    // A later real restore of alpha (into a new id) gives alpha a newer RTO from a restore.
    let only_alpha = CreatePointRequest {
        graph_ids: vec!["alpha".into()],
        ..Default::default()
    };
    let pa = m.create_point(&env.repo, &only_alpha).unwrap();
    let opts = RestorePointOptions {
        id_suffix: Some("-copy".into()),
        ..Default::default()
    };
    let restored = m
        .restore_point(&env.repo, None, &pa.point.id, &opts)
        .unwrap();
    // alpha is on a replication target.
    let conn = &mut t.db().conn().unwrap();
    let target = NewReplicationTarget {
        id: "t1".into(),
        name: "dr".into(),
        kind: TargetKind::Path,
        url: "/nowhere".into(),
        secret: None,
        enabled: true,
    };
    create_replication_target(conn, &target).unwrap();
    let alpha_snap = p.snapshots[0].snapshot_id.clone();
    record_sync_success(conn, "t1", "alpha", &alpha_snap, Timestamp::now(), 1, 0).unwrap();

    let now = OffsetDateTime::now_utc() + Duration::from_secs(100);
    let o = m.objectives(&[], now).unwrap();
    let ids: Vec<_> = o.iter().map(|g| g.graph_id.as_str()).collect();
    assert_eq!(ids, ["alpha", "alpha-copy", "beta", "gamma"]);
    let alpha = &o[0];
    assert_eq!(alpha.snapshot_id.as_deref(), Some(alpha_snap.as_str()));
    assert!(alpha.rpo_seconds.unwrap() >= 100);
    assert_eq!(alpha.replicas.len(), 1);
    assert_eq!(
        alpha.replicas[0].snapshot_id.as_deref(),
        Some(alpha_snap.as_str())
    );
    assert!(alpha.replicas[0].rpo_seconds.unwrap() >= 100);
    // alpha's own RTO comes from the drill (the restore went to alpha-copy).
    assert_eq!(alpha.last_rto_kind.as_deref(), Some("validation.drill"));
    assert!(alpha.last_rto_ms.is_some());
    let copy = &o[1];
    assert_eq!(copy.last_rto_kind.as_deref(), Some("restore.completed"));
    assert_eq!(
        copy.last_rto_ms,
        Some(restored.graphs[0].duration_ms as i64)
    );
    assert_eq!(copy.rpo_seconds, None, "no snapshot of the copy yet");
    assert_eq!(o[2].last_rto_kind.as_deref(), Some("validation.drill"));
    let gamma = &o[3];
    assert_eq!((gamma.rpo_seconds, gamma.last_rto_ms), (None, None));
    // Only some graphs.
    assert_eq!(m.objectives(&["beta".into()], now).unwrap().len(), 1);
}
