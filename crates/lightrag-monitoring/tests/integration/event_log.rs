//! The event logger: concurrency, time ranges, flush/shutdown, full queue, purge.

use std::time::Duration;

use lightrag_monitoring::{EventDetails, EventLogger, EventLoggerConfig, EventType, TimeRange};
use lightrag_recovery_db::{
    ComponentType, EventFilter, EventKind, HealthStatus, NewEvent, Page, Severity, Timestamp,
    count_events, insert_events, list_events,
};

use super::support::{TestDb, runtime};

crate::both_backends!(
    events_from_16_concurrent_tasks_are_all_queryable,
    time_range_is_since_inclusive_until_exclusive,
    shutdown_drains_the_queue_and_later_events_are_counted,
    shutdown_within_drains_in_time_or_counts_what_it_drops,
    full_queue_drops_are_counted_never_silent,
    purge_removes_exactly_the_expired_events,
    typed_events_carry_kind_severity_and_references,
    invalid_event_does_not_sink_its_batch,
);

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

fn events_from_16_concurrent_tasks_are_all_queryable(t: &TestDb) {
    let db = t.db().clone();
    multi_thread().block_on(async move {
        let logger = EventLogger::start(db.clone(), EventLoggerConfig::default());
        let mut tasks = Vec::new();
        for task in 0..16 {
            let logger = logger.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..100u64 {
                    let graph = format!("graph-{task}");
                    let ty = if i % 10 == 0 {
                        EventType::BackupFailed
                    } else {
                        EventType::BackupCompleted
                    };
                    let details = EventDetails {
                        duration: Some(Duration::from_millis(i)),
                        bytes: Some(i),
                        extra: Some(serde_json::json!({ "task": task, "i": i })),
                        ..EventDetails::default()
                    };
                    assert!(logger.log_backup_event(&graph, ty, details));
                    if i % 7 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        logger.flush().await.unwrap();
        assert_eq!(logger.dropped(), 0);
        assert_eq!(logger.written(), 1_600);
        let total = db
            .run(|c| count_events(c, &EventFilter::default()))
            .await
            .unwrap();
        assert_eq!(total, 1_600);
        for task in 0..16 {
            let events = logger
                .get_events_for_graph(
                    &format!("graph-{task}"),
                    TimeRange::default(),
                    Page::new(1_000, 0),
                )
                .await
                .unwrap();
            assert_eq!(events.len(), 100, "graph-{task}");
            let mut seen: Vec<u64> = events
                .iter()
                .map(|e| e.details_json().unwrap()["i"].as_u64().unwrap())
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..100).collect::<Vec<_>>());
            assert_eq!(
                events
                    .iter()
                    .filter(|e| e.event_type == "backup.failed")
                    .count(),
                10
            );
        }
        logger.shutdown().await;
    });
}

fn time_range_is_since_inclusive_until_exclusive(t: &TestDb) {
    let db = t.db().clone();
    runtime().block_on(async move {
        let logger = EventLogger::start(db, EventLoggerConfig::default());
        for ms in [1_000, 2_000, 3_000] {
            let details = EventDetails {
                at: Some(Timestamp::from_unix_millis(ms)),
                ..EventDetails::default()
            };
            logger.log_backup_event("g", EventType::BackupCompleted, details);
        }
        logger.log_backup_event(
            "other",
            EventType::BackupCompleted,
            EventDetails {
                at: Some(Timestamp::from_unix_millis(2_000)),
                ..EventDetails::default()
            },
        );
        logger.flush().await.unwrap();
        let at = |ms| Some(Timestamp::from_unix_millis(ms));
        let times = |range| {
            let logger = logger.clone();
            async move {
                logger
                    .get_events_for_graph("g", range, Page::default())
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| e.occurred_at.unix_millis())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            times(TimeRange {
                since: at(1_000),
                until: at(3_000)
            })
            .await,
            [2_000, 1_000]
        );
        assert_eq!(
            times(TimeRange {
                since: at(2_000),
                until: None
            })
            .await,
            [3_000, 2_000]
        );
        assert_eq!(
            times(TimeRange {
                since: None,
                until: at(1_000)
            })
            .await,
            Vec::<i64>::new()
        );
        assert_eq!(
            times(TimeRange {
                since: at(1_001),
                until: at(3_001)
            })
            .await,
            [3_000, 2_000]
        );
        assert_eq!(times(TimeRange::default()).await, [3_000, 2_000, 1_000]);
        logger.shutdown().await;
    });
}

fn shutdown_drains_the_queue_and_later_events_are_counted(t: &TestDb) {
    let db = t.db().clone();
    runtime().block_on(async move {
        let logger = EventLogger::start(db.clone(), EventLoggerConfig::default());
        // Current-thread runtime: the writer cannot run before the first await, so all 5 000
        // events are still queued when shutdown starts.
        for i in 0..5_000u64 {
            assert!(logger.log_replication_event(
                Some("g"),
                "offsite",
                EventType::ReplicationCompleted,
                EventDetails {
                    bytes: Some(i),
                    ..EventDetails::default()
                },
            ));
        }
        logger.shutdown().await;
        let n = db
            .run(|c| count_events(c, &EventFilter::default()))
            .await
            .unwrap();
        assert_eq!(n, 5_000);
        assert_eq!(logger.written(), 5_000);
        assert!(!logger.log_backup_event("g", EventType::BackupStarted, EventDetails::default()));
        assert_eq!(logger.dropped(), 1);
        assert!(logger.flush().await.is_err());
        logger.shutdown().await; // idempotent
    });
}

/// Defect 13.11: the bounded drain at shutdown stores everything when the database answers,
/// and when it stalls returns by the deadline with every unwritten event counted as dropped.
fn shutdown_within_drains_in_time_or_counts_what_it_drops(t: &TestDb) {
    // A database that answers: all 300 queued events are stored within the deadline.
    let db = t.db().clone();
    runtime().block_on(async move {
        let logger = EventLogger::start(db.clone(), EventLoggerConfig::default());
        for _ in 0..300 {
            assert!(logger.log_backup_event(
                "g",
                EventType::BackupStarted,
                EventDetails::default()
            ));
        }
        assert_eq!(logger.pending(), 300);
        let report = logger.shutdown_within(Duration::from_secs(20)).await;
        assert_eq!(
            (report.written, report.dropped, report.completed),
            (300, 0, true)
        );
        assert_eq!(logger.pending(), 0);
        let n = db
            .run(|c| count_events(c, &EventFilter::default()))
            .await
            .unwrap();
        assert_eq!(n, 300);
    });

    // A stalled database (every pooled connection is held, so the writer waits for a
    // checkout): the drain gives up at the deadline and counts the 120 events as dropped.
    let mut config = t.config.clone();
    config.max_connections = 1;
    config.connect_timeout = Duration::from_secs(30);
    let stalled = lightrag_recovery_db::Db::connect(&config).unwrap();
    let mut held = stalled.conn().unwrap();
    let before = count_events(&mut held, &EventFilter::default()).unwrap();
    let rt = multi_thread();
    rt.block_on(async move {
        let logger = EventLogger::start(stalled.clone(), EventLoggerConfig::default());
        for _ in 0..120 {
            assert!(logger.log_backup_event(
                "g",
                EventType::BackupStarted,
                EventDetails::default()
            ));
        }
        let started = std::time::Instant::now();
        let report = logger.shutdown_within(Duration::from_millis(300)).await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "drain took {took:?}");
        assert!(took >= Duration::from_millis(300), "drain took {took:?}");
        assert_eq!(
            (report.written, report.dropped, report.completed),
            (0, 120, false)
        );
        assert_eq!(
            (logger.written(), logger.dropped(), logger.pending()),
            (0, 120, 0)
        );
        // Later events are counted too; a second drain reports nothing more.
        assert!(!logger.log_backup_event("g", EventType::BackupStarted, EventDetails::default()));
        assert_eq!(logger.dropped(), 121);
        let again = logger.shutdown_within(Duration::from_millis(10)).await;
        assert_eq!((again.written, again.dropped), (0, 0));
    });
    // The aborted writer's checkout is still waiting in a blocking thread: do not wait for it.
    rt.shutdown_background();
    assert_eq!(
        count_events(&mut held, &EventFilter::default()).unwrap(),
        before,
        "nothing was written while the pool was held"
    );
}

fn full_queue_drops_are_counted_never_silent(t: &TestDb) {
    let db = t.db().clone();
    runtime().block_on(async move {
        let config = EventLoggerConfig {
            capacity: 10,
            enqueue_timeout: Duration::from_millis(20),
            ..EventLoggerConfig::default()
        };
        let logger = EventLogger::start(db.clone(), config);
        let accepted = (0..25)
            .filter(|_| {
                logger.log_backup_event("g", EventType::BackupStarted, EventDetails::default())
            })
            .count();
        assert_eq!(accepted, 10);
        assert_eq!(logger.dropped(), 15);
        // log_wait applies bounded backpressure: the writer drains meanwhile, so it succeeds.
        assert!(
            logger
                .log_wait(NewEvent::new(
                    EventKind::System,
                    "system.test",
                    Severity::Info,
                    "waited"
                ))
                .await
        );
        logger.flush().await.unwrap();
        let n = db
            .run(|c| count_events(c, &EventFilter::default()))
            .await
            .unwrap();
        assert_eq!(n, 11);
        assert_eq!(logger.written(), 11);
        logger.shutdown().await;
    });
}

fn purge_removes_exactly_the_expired_events(t: &TestDb) {
    let db = t.db().clone();
    runtime().block_on(async move {
        let logger = EventLogger::start(db.clone(), EventLoggerConfig::default());
        let cutoff = 10_000_000i64;
        let rows: Vec<NewEvent> = [
            cutoff - 5_000,
            cutoff - 1,
            cutoff,
            cutoff + 1,
            cutoff + 9_000,
        ]
        .into_iter()
        .map(|ms| {
            NewEvent::new(EventKind::Backup, "backup.completed", Severity::Info, "x")
                .at(Timestamp::from_unix_millis(ms))
        })
        .collect();
        db.run(move |c| insert_events(c, &rows)).await.unwrap();
        assert_eq!(
            logger
                .purge_before(Timestamp::from_unix_millis(cutoff))
                .await
                .unwrap(),
            2
        );
        let left: Vec<i64> = db
            .run(|c| list_events(c, &EventFilter::default(), Page::default()))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.occurred_at.unix_millis())
            .collect();
        assert_eq!(left, [cutoff + 9_000, cutoff + 1, cutoff]);

        // Retention relative to now: 30 days keeps a 29-day-old event, removes 31-day-old ones.
        let day = 86_400_000i64;
        let now = Timestamp::now().unix_millis();
        let rows: Vec<NewEvent> = [now - 31 * day, now - 29 * day, now - 40 * day]
            .into_iter()
            .map(|ms| {
                NewEvent::new(EventKind::Health, "health.changed", Severity::Warning, "y")
                    .at(Timestamp::from_unix_millis(ms))
            })
            .collect();
        db.run(move |c| insert_events(c, &rows)).await.unwrap();
        let removed = logger
            .purge_expired(Duration::from_secs(30 * 86_400))
            .await
            .unwrap();
        // The three old test rows above (near the epoch) are expired too.
        assert_eq!(removed, 2 + 3);
        let n = db
            .run(|c| count_events(c, &EventFilter::default()))
            .await
            .unwrap();
        assert_eq!(n, 1);
        logger.shutdown().await;
    });
}

fn typed_events_carry_kind_severity_and_references(t: &TestDb) {
    let db = t.db().clone();
    runtime().block_on(async move {
        let logger = EventLogger::start(db.clone(), EventLoggerConfig::default());
        logger.log_backup_event(
            "g",
            EventType::BackupCompleted,
            EventDetails {
                snapshot_id: Some("snap-9".into()),
                duration: Some(Duration::from_millis(1_500)),
                bytes: Some(4_096),
                message: Some("Backup completed".into()),
                ..EventDetails::default()
            },
        );
        logger.log_replication_event(
            None,
            "offsite",
            EventType::TargetUnreachable,
            EventDetails::default(),
        );
        logger.log_recovery_event(
            "rp-1",
            Some("g"),
            EventType::ValidationFailed,
            EventDetails::default(),
        );
        logger.log_health_event(
            ComponentType::Graph,
            "g",
            Some(HealthStatus::Healthy),
            HealthStatus::Offline,
            "Graph offline",
        );
        logger.flush().await.unwrap();
        let mut events = db
            .run(|c| list_events(c, &EventFilter::default(), Page::default()))
            .await
            .unwrap();
        events.sort_by_key(|e| e.id);
        let e = &events[0];
        assert_eq!(
            (e.kind, e.event_type.as_str(), e.severity),
            (EventKind::Backup, "backup.completed", Severity::Info)
        );
        assert_eq!(
            (e.snapshot_id.as_deref(), e.duration_ms, e.bytes),
            (Some("snap-9"), Some(1_500), Some(4_096))
        );
        assert_eq!(e.message, "Backup completed");
        let e = &events[1];
        assert_eq!(
            (
                e.kind,
                e.severity,
                e.target_id.as_deref(),
                e.graph_id.as_deref()
            ),
            (
                EventKind::Replication,
                Severity::Error,
                Some("offsite"),
                None
            )
        );
        let e = &events[2];
        assert_eq!(
            (e.kind, e.severity, e.recovery_point_id.as_deref()),
            (EventKind::Validation, Severity::Critical, Some("rp-1"))
        );
        let e = &events[3];
        assert_eq!(
            (e.kind, e.severity, e.graph_id.as_deref()),
            (EventKind::Health, Severity::Critical, Some("g"))
        );
        assert_eq!(e.details_json().unwrap()["to"], "OFFLINE");
        assert_eq!(e.details_json().unwrap()["from"], "HEALTHY");
        logger.shutdown().await;
    });
}

fn invalid_event_does_not_sink_its_batch(t: &TestDb) {
    let db = t.db().clone();
    runtime().block_on(async move {
        let logger = EventLogger::start(db.clone(), EventLoggerConfig::default());
        logger.log_backup_event("good", EventType::BackupStarted, EventDetails::default());
        logger.log_backup_event(
            "bad\0graph",
            EventType::BackupStarted,
            EventDetails::default(),
        );
        logger.log_backup_event("good", EventType::BackupCompleted, EventDetails::default());
        logger.flush().await.unwrap();
        assert_eq!(logger.written(), 2);
        assert_eq!(logger.dropped(), 1);
        let n = db
            .run(|c| count_events(c, &EventFilter::default()))
            .await
            .unwrap();
        assert_eq!(n, 2);
        logger.shutdown().await;
    });
}
