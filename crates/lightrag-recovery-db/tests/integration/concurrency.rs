//! Concurrent writers through one pool lose nothing.

use std::collections::BTreeSet;
use std::thread;

use lightrag_recovery_db::*;

use super::support::TestDb;

crate::both_backends!(
    eight_threads_hundred_events_each,
    concurrent_batches_and_transactions
);

const THREADS: usize = 8;
const PER_THREAD: usize = 100;

fn eight_threads_hundred_events_each(t: &mut TestDb) {
    let db = t.db().clone();
    let handles: Vec<_> = (0..THREADS)
        .map(|th| {
            let db = db.clone();
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    // One checkout per insert: exercises the pool as handlers would.
                    let mut conn = db.conn().expect("checkout");
                    let ev = NewEvent::new(
                        EventKind::Backup,
                        "backup.tick",
                        Severity::Info,
                        format!("{th}:{i}"),
                    )
                    .graph(format!("g{th}"));
                    insert_event(&mut conn, &ev).expect("insert");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread panicked");
    }
    let conn = &mut *db.conn().unwrap();
    assert_eq!(
        count_events(conn, &EventFilter::default()).unwrap(),
        (THREADS * PER_THREAD) as i64
    );
    let all = list_events(conn, &EventFilter::default(), Page::new(MAX_PAGE_SIZE, 0)).unwrap();
    let messages: BTreeSet<String> = all.iter().map(|e| e.message.clone()).collect();
    assert_eq!(
        messages.len(),
        THREADS * PER_THREAD,
        "every event is there exactly once"
    );
    let ids: BTreeSet<i64> = all.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), THREADS * PER_THREAD);
    for th in 0..THREADS {
        let f = EventFilter {
            graph_id: Some(format!("g{th}")),
            ..Default::default()
        };
        assert_eq!(count_events(conn, &f).unwrap(), PER_THREAD as i64);
    }
}

fn concurrent_batches_and_transactions(t: &mut TestDb) {
    let db = t.db().clone();
    {
        let conn = &mut *db.conn().unwrap();
        let mut rec = BackupRecord::new("shared", "alpha", BackupTrigger::Manual);
        rec.status = BackupStatus::Completed;
        create_backup(conn, &rec).unwrap();
        create_replication_target(
            conn,
            &NewReplicationTarget {
                id: "t".into(),
                name: "t".into(),
                kind: TargetKind::Path,
                url: "/mnt/replica".into(),
                secret: None,
                enabled: true,
            },
        )
        .unwrap();
    }
    let handles: Vec<_> = (0..THREADS)
        .map(|th| {
            let db = db.clone();
            thread::spawn(move || {
                for b in 0..10 {
                    let mut conn = db.conn().expect("checkout");
                    let batch: Vec<NewEvent> = (0..10)
                        .map(|i| {
                            NewEvent::new(
                                EventKind::Replication,
                                "sync",
                                Severity::Info,
                                format!("{th}:{b}:{i}"),
                            )
                        })
                        .collect();
                    assert_eq!(insert_events(&mut conn, &batch).expect("batch"), 10);
                    // A multi-row transaction, concurrently with the others.
                    create_recovery_point(
                        &mut conn,
                        &NewRecoveryPoint {
                            id: format!("rp-{th}-{b}"),
                            description: String::new(),
                            created_by: None,
                            snapshots: vec![("alpha".into(), "shared".into())],
                        },
                    )
                    .expect("recovery point");
                    // Read-modify-write of one row per thread.
                    record_sync_success(
                        &mut conn,
                        "t",
                        &format!("g{th}"),
                        "shared",
                        Timestamp::now(),
                        1,
                        0,
                    )
                    .expect("sync state");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread panicked");
    }
    let conn = &mut *db.conn().unwrap();
    assert_eq!(
        count_events(conn, &EventFilter::default()).unwrap(),
        (THREADS * 100) as i64
    );
    let rps =
        list_recovery_points(conn, &RecoveryPointFilter::default(), Page::new(1_000, 0)).unwrap();
    assert_eq!(rps.len(), THREADS * 10);
    assert!(rps.iter().all(|rp| rp.snapshots.len() == 1));
    let states =
        list_replication_states(conn, &ReplicationStateFilter::default(), Page::default()).unwrap();
    assert_eq!(states.len(), THREADS);
    assert!(states.iter().all(|s| s.bytes_synced == 10));
}
