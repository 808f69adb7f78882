//! The exposition after real operations: promtool-clean, complete, typed, labelled, monotonic.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use lightrag_monitoring::Metric;
use lightrag_monitoring::record::{self, BackupOutcome};
use lightrag_monitoring::{
    MetricType, MetricsCollector, PROCESS_METRICS, describe_all, prometheus_builder,
};
use lightrag_recovery_db::{
    BackupRecord, BackupStatus, BackupTrigger, BackupUpdate, ComponentType, HealthStatus,
    NewHealthCheckEvent, NewRecoveryPoint, NewReplicationTarget, ReplicationState, TargetKind,
    Timestamp, create_backup, create_recovery_point, create_replication_target,
    insert_health_check, update_backup, upsert_replication_state,
};

use super::support::{TestDb, promtool, runtime};

crate::both_backends!(exposition_after_operations_is_complete_and_promtool_clean);

/// One parsed sample.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// `# TYPE` per family and every sample.
pub fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap();
            assert!(
                types.insert(name.to_owned(), ty.to_owned()).is_none(),
                "duplicate TYPE for {name}"
            );
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match head.split_once('{') {
            Some((n, l)) => {
                let l = l.strip_suffix('}').unwrap();
                let labels = l
                    .split("\",")
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").unwrap();
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (n.to_owned(), labels)
            }
            None => (head.to_owned(), BTreeMap::new()),
        };
        samples.push(Sample {
            name,
            labels,
            value: value.parse().unwrap_or_else(|_| panic!("value of {line}")),
        });
    }
    (types, samples)
}

/// Runs `promtool check metrics` on `text`; returns (success, output).
pub fn promtool_check_metrics(text: &str) -> (bool, String) {
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut msg = String::from_utf8_lossy(&out.stdout).into_owned();
    msg.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), msg)
}

fn family_of(sample: &str, types: &BTreeMap<String, String>) -> String {
    if types.contains_key(sample) {
        return sample.to_owned();
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix)
            && types.get(base).map(String::as_str) == Some("histogram")
        {
            return base.to_owned();
        }
    }
    panic!("sample {sample} has no TYPE line");
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
        .value
}

fn seed_catalog(t: &TestDb) -> i64 {
    let conn = &mut *t.db().conn().unwrap();
    let mut b = BackupRecord::new("snap-1", "alpha", BackupTrigger::Scheduled);
    b.created_at = Timestamp::from_unix_millis(1_764_000_000_000);
    create_backup(conn, &b).unwrap();
    let finished = Timestamp::from_unix_millis(1_764_000_060_000);
    update_backup(
        conn,
        "snap-1",
        &BackupUpdate {
            status: Some(BackupStatus::Completed),
            finished_at: Some(finished),
            logical_size_bytes: Some(123_456),
            ..BackupUpdate::default()
        },
    )
    .unwrap();
    let target = create_replication_target(
        conn,
        &NewReplicationTarget {
            id: "t-1".into(),
            name: "offsite".into(),
            kind: TargetKind::Path,
            url: "/mnt/offsite".into(),
            secret: None,
            enabled: true,
        },
    )
    .unwrap();
    let mut s = ReplicationState::new(&target.id, "alpha");
    s.lag_ms = Some(42_500);
    upsert_replication_state(conn, &s).unwrap();
    insert_health_check(
        conn,
        &NewHealthCheckEvent {
            checked_at: Timestamp::now(),
            component_type: ComponentType::Graph,
            component_id: "beta".into(),
            status: HealthStatus::Offline,
            message: Some("directory unreadable".into()),
            details: None,
        },
    )
    .unwrap();
    create_recovery_point(
        conn,
        &NewRecoveryPoint {
            id: "rp-1".into(),
            description: "before upgrade".into(),
            created_by: None,
            snapshots: vec![("alpha".into(), "snap-1".into())],
        },
    )
    .unwrap();
    finished.unix_millis()
}

fn exposition_after_operations_is_complete_and_promtool_clean(t: &TestDb) {
    let finished_ms = seed_catalog(t);
    let recorder = prometheus_builder().unwrap().build_recorder();
    let handle = recorder.handle();
    let db = t.db().clone();
    let (first, second) = metrics::with_local_recorder(&recorder, || {
        runtime().block_on(async {
            describe_all();
            record::record_build_info("0.1.0", "abc123");
            let collector = MetricsCollector::new(handle.clone(), db, Duration::ZERO);
            for g in ["alpha", "beta"] {
                collector.register_graph(g);
                collector.register_target(g, "offsite");
            }
            // Operations.
            record::record_backup(
                "alpha",
                &BackupOutcome {
                    status: BackupStatus::Completed,
                    trigger: BackupTrigger::Manual,
                    duration: Duration::from_millis(2_500),
                    logical_bytes: 1_000,
                    written_bytes: 300,
                    finished_at: SystemTime::now(),
                },
            );
            record::record_backup(
                "beta",
                &BackupOutcome {
                    status: BackupStatus::Failed,
                    trigger: BackupTrigger::Scheduled,
                    duration: Duration::from_millis(100),
                    logical_bytes: 0,
                    written_bytes: 0,
                    finished_at: SystemTime::now(),
                },
            );
            record::set_repository_stored_bytes(9_999);
            record::record_sync(
                "alpha",
                "offsite",
                true,
                Duration::from_secs(3),
                4_096,
                None,
            );
            record::record_sync("beta", "offsite", false, Duration::from_secs(1), 0, None);
            record::record_target_health("offsite", true);
            record::record_recovery_point_created();
            record::record_restore(true, Duration::from_secs(20));
            record::record_validation(false);
            record::record_health_check(ComponentType::Graph, "alpha", HealthStatus::Degraded);
            record::record_unprotected_folders(1);
            record::record_health_check(
                ComponentType::Repository,
                "primary",
                HealthStatus::Healthy,
            );
            record::record_http_request(
                "GET",
                "/api/v1/graphs/{id}",
                200,
                Duration::from_millis(3),
            );
            let first = collector.export_to_prometheus().await;
            record::record_backup(
                "alpha",
                &BackupOutcome {
                    status: BackupStatus::Completed,
                    trigger: BackupTrigger::Manual,
                    duration: Duration::from_secs(1),
                    logical_bytes: 2_000,
                    written_bytes: 10,
                    finished_at: SystemTime::now(),
                },
            );
            record::record_sync("alpha", "offsite", false, Duration::from_secs(3), 10, None);
            record::record_http_request(
                "GET",
                "/api/v1/graphs/{id}",
                200,
                Duration::from_millis(1),
            );
            let second = collector.export_to_prometheus().await;
            (first, second)
        })
    });

    // promtool: no findings, on both scrapes.
    for text in [&first, &second] {
        let (ok, msg) = promtool_check_metrics(text);
        assert!(
            ok && msg.trim().is_empty(),
            "promtool check metrics: {msg}\n{text}"
        );
    }

    let (types, samples) = parse(&first);
    // Every catalogue metric has the right type and exactly its labels.
    for m in Metric::ALL {
        assert_eq!(
            types.get(m.name()).map(String::as_str),
            Some(m.metric_type().as_str()),
            "TYPE of {}",
            m.name()
        );
        let expected: BTreeSet<&str> = m.labels().iter().copied().collect();
        let of_metric: Vec<&Sample> = samples
            .iter()
            .filter(|s| family_of(&s.name, &types) == m.name())
            .collect();
        assert!(!of_metric.is_empty(), "no samples of {}", m.name());
        for s in of_metric {
            let got: BTreeSet<&str> = s
                .labels
                .keys()
                .map(String::as_str)
                .filter(|k| !(m.metric_type() == MetricType::Histogram && *k == "le"))
                .collect();
            assert_eq!(got, expected, "labels of {s:?}");
        }
        if m.metric_type() == MetricType::Histogram {
            assert!(
                samples
                    .iter()
                    .any(|s| s.name == format!("{}_bucket", m.name())),
                "{} has buckets",
                m.name()
            );
        }
    }
    for (name, ty, _) in PROCESS_METRICS {
        assert_eq!(
            types.get(*name).map(String::as_str),
            Some(ty.as_str()),
            "{name}"
        );
    }
    // HELP exactly once per family.
    for name in types.keys() {
        let n = first
            .lines()
            .filter(|l| l.starts_with(&format!("# HELP {name} ")))
            .count();
        assert_eq!(n, 1, "HELP lines of {name}");
    }

    // Values from operations and from the catalog refresh.
    let v = |name, labels: &[(&str, &str)]| value(&samples, name, labels);
    assert_eq!(
        v(
            "lightrag_backup_snapshots_total",
            &[
                ("graph", "alpha"),
                ("status", "completed"),
                ("trigger", "manual")
            ]
        ),
        1.0
    );
    assert_eq!(
        v(
            "lightrag_backup_snapshots_total",
            &[
                ("graph", "beta"),
                ("status", "completed"),
                ("trigger", "manual")
            ]
        ),
        0.0,
        "registered series start at 0"
    );
    // The collector refresh overrides the gauges with the catalog's latest completed backup.
    assert_eq!(
        v("lightrag_backup_size_bytes", &[("graph", "alpha")]),
        123_456.0
    );
    #[allow(clippy::cast_precision_loss)]
    let expected_ts = finished_ms as f64 / 1000.0;
    assert_eq!(
        v(
            "lightrag_backup_last_success_timestamp_seconds",
            &[("graph", "alpha")]
        ),
        expected_ts
    );
    assert_eq!(
        v(
            "lightrag_backup_last_success_timestamp_seconds",
            &[("graph", "beta")]
        ),
        0.0
    );
    assert_eq!(v("lightrag_backup_stored_bytes", &[]), 9_999.0);
    assert_eq!(
        v("lightrag_backup_written_bytes_total", &[("graph", "alpha")]),
        300.0
    );
    assert_eq!(
        v(
            "lightrag_replication_lag_seconds",
            &[("graph", "alpha"), ("target", "offsite")]
        ),
        42.5
    );
    assert_eq!(
        v(
            "lightrag_replication_errors_total",
            &[("graph", "beta"), ("target", "offsite")]
        ),
        1.0
    );
    assert_eq!(
        v("lightrag_replication_bytes_total", &[("target", "offsite")]),
        4_096.0
    );
    assert_eq!(
        v("lightrag_graph_health_status", &[("graph", "beta")]),
        2.0,
        "OFFLINE = 2"
    );
    assert_eq!(
        v("lightrag_graph_health_status", &[("graph", "alpha")]),
        1.0,
        "DEGRADED = 1"
    );
    assert_eq!(v("lightrag_recovery_points", &[]), 1.0);
    assert_eq!(v("lightrag_recovery_points_total", &[]), 1.0);
    assert_eq!(
        v(
            "lightrag_health_check_failures_total",
            &[("component", "graph")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "lightrag_health_check_failures_total",
            &[("component", "repository")]
        ),
        0.0
    );
    assert_eq!(
        v(
            "lightrag_recovery_validations_total",
            &[("result", "failure")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "lightrag_build_info",
            &[("version", "0.1.0"), ("revision", "abc123")]
        ),
        1.0
    );
    assert!(v("lightrag_db_pool_max_connections", &[]) >= 1.0);
    assert!(v("process_resident_memory_bytes", &[]) > 0.0);
    assert_eq!(
        v(
            "lightrag_http_request_duration_seconds_count",
            &[
                ("method", "GET"),
                ("route", "/api/v1/graphs/{id}"),
                ("status", "200")
            ]
        ),
        1.0
    );

    // Counters (and histogram counts/sums) never go down between scrapes; the ones touched
    // in between went up.
    let (_, later) = parse(&second);
    let key = |s: &Sample| format!("{}{:?}", s.name, s.labels);
    let later: BTreeMap<String, f64> = later.iter().map(|s| (key(s), s.value)).collect();
    let mut checked = 0;
    for s in &samples {
        let fam = family_of(&s.name, &types);
        let ty = types[&fam].as_str();
        if ty == "counter" || (ty == "histogram" && s.name != fam) {
            let after = later[&key(s)];
            if s.name == "process_cpu_seconds_total" {
                assert!(after >= s.value);
                continue;
            }
            assert!(
                after >= s.value,
                "{} went down: {} -> {after}",
                key(s),
                s.value
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} counter samples compared");
    let (_, later_samples) = parse(&second);
    let v2 = |name, labels: &[(&str, &str)]| value(&later_samples, name, labels);
    assert_eq!(
        v2(
            "lightrag_backup_snapshots_total",
            &[
                ("graph", "alpha"),
                ("status", "completed"),
                ("trigger", "manual")
            ]
        ),
        2.0
    );
    assert_eq!(
        v2(
            "lightrag_replication_errors_total",
            &[("graph", "alpha"), ("target", "offsite")]
        ),
        1.0
    );
    assert_eq!(
        v2(
            "lightrag_http_request_duration_seconds_count",
            &[
                ("method", "GET"),
                ("route", "/api/v1/graphs/{id}"),
                ("status", "200")
            ]
        ),
        2.0
    );
}

/// Without a recorder (`LIGHTRAG_METRICS_ENABLED=false`) recording is a no-op, not an error.
#[test]
fn recording_without_a_recorder_is_a_no_op() {
    record::record_sync(
        "g",
        "t",
        true,
        Duration::from_secs(1),
        1,
        Some(Duration::ZERO),
    );
    record::register_graph("g");
}
