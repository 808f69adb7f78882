//! Analytics latency at 1M events and scrape latency/size with 100 graphs × 3 targets.
//!
//! ```text
//! cargo run --release -p lightrag-monitoring --example bench_monitoring -- [sqlite|postgres|all] [ROWS]
//! ```
//!
//! Per backend, on a fresh database (SQLite: temp file; PostgreSQL: a new database created via
//! `LIGHTRAG_TEST_PG_URL`, default `postgres://root:root@127.0.0.1:5432/postgres`, dropped at
//! the end):
//! 1. batched insert of ROWS events (default 1 000 000; 20 graphs over 30 days, every kind),
//!    then `ANALYZE` (what autovacuum / `PRAGMA optimize` do in a running system);
//! 2. `analytics()` over windows of 1 h, 1 d, 7 d and 30 d (all rows), over all graphs and over
//!    one graph: 7 runs each, median and max;
//! 3. 100 graphs × 3 targets in the catalog, every series recorded, then
//!    `export_to_prometheus()` with a catalog refresh on every scrape: 20 scrapes, median and
//!    max latency, exposition size.

use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use lightrag_monitoring::record::{self, BackupOutcome};
use lightrag_monitoring::{
    EventWindow, MetricsCollector, analytics, describe_all, prometheus_builder,
};
use lightrag_recovery_db::{
    BackupRecord, BackupStatus, BackupTrigger, BackupUpdate, ComponentType, Db, DbConfig, DbConn,
    EventKind, HealthStatus, NewEvent, NewHealthCheckEvent, NewReplicationTarget, ReplicationState,
    Severity, TargetKind, Timestamp, create_backup, create_replication_target, insert_events,
    insert_health_check, update_backup, upsert_replication_state,
};

const GRAPHS: u64 = 20;
const DAY_MS: i64 = 24 * 3600 * 1000;
const SPAN_MS: i64 = 30 * DAY_MS;

fn event(i: u64, rows: u64, end_ms: i64) -> NewEvent {
    // Cheap deterministic pseudo-random numbers.
    let r = i
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407)
        >> 20;
    let (kind, base) = match r % 20 {
        0..=5 => (EventKind::Backup, "backup"),
        6..=11 => (EventKind::Replication, "replication"),
        12..=15 => (EventKind::Health, "health"),
        16..=17 => (EventKind::Validation, "validation"),
        18 => (EventKind::Restore, "restore"),
        _ => (EventKind::RecoveryPoint, "recovery_point"),
    };
    let failed = (r >> 8).is_multiple_of(10);
    let (ty, sev) = match kind {
        EventKind::Health => (
            "health.changed".to_owned(),
            if failed {
                Severity::Critical
            } else {
                Severity::Warning
            },
        ),
        EventKind::RecoveryPoint => ("recovery_point.created".to_owned(), Severity::Info),
        _ if failed => (format!("{base}.failed"), Severity::Error),
        _ => (format!("{base}.completed"), Severity::Info),
    };
    #[allow(clippy::cast_possible_wrap)]
    let at = end_ms - SPAN_MS + (i as i64) * (SPAN_MS / rows as i64);
    let mut e = NewEvent::new(kind, ty, sev, "benchmark event")
        .graph(format!("graph-{}", i % GRAPHS))
        .at(Timestamp::from_unix_millis(at));
    if !matches!(kind, EventKind::Health | EventKind::RecoveryPoint) {
        #[allow(clippy::cast_possible_wrap)]
        let d = ((r >> 12) % 600_000) as i64;
        e = e.duration_ms(d).bytes(d * 1_000);
    }
    if kind == EventKind::Backup {
        e = e.with_details(&serde_json::json!({"files": 12, "chunks": r % 500}));
    }
    e
}

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(v[v.len() / 2]), ms(v[v.len() - 1]))
}

fn pg_admin_url() -> String {
    std::env::var("LIGHTRAG_TEST_PG_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "postgres://root:root@127.0.0.1:5432/postgres".to_owned())
}

fn pg_url_with_db(url: &str, db: &str) -> Result<String> {
    let (scheme, rest) = url.split_once("://").context("postgres URL")?;
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    Ok(format!("{scheme}://{}/{db}", &rest[..auth_end]))
}

fn seed_catalog(conn: &mut DbConn) -> Result<()> {
    for t in 0..3 {
        create_replication_target(
            conn,
            &NewReplicationTarget {
                id: format!("t{t}"),
                name: format!("target-{t}"),
                kind: TargetKind::Path,
                url: format!("/mnt/replica-{t}"),
                secret: None,
                enabled: true,
            },
        )?;
    }
    for g in 0..100 {
        let graph = format!("graph-{g:03}");
        let snap = format!("snap-{g:03}");
        create_backup(
            conn,
            &BackupRecord::new(&snap, &graph, BackupTrigger::Scheduled),
        )?;
        update_backup(
            conn,
            &snap,
            &BackupUpdate {
                status: Some(BackupStatus::Completed),
                finished_at: Some(Timestamp::now()),
                logical_size_bytes: Some(1_000_000 + g),
                ..BackupUpdate::default()
            },
        )?;
        for t in 0..3 {
            let mut s = ReplicationState::new(format!("t{t}"), &graph);
            s.lag_ms = Some(g * 1_000 + t);
            upsert_replication_state(conn, &s)?;
        }
        insert_health_check(
            conn,
            &NewHealthCheckEvent {
                checked_at: Timestamp::now(),
                component_type: ComponentType::Graph,
                component_id: graph.clone(),
                status: HealthStatus::Healthy,
                message: None,
                details: None,
            },
        )?;
    }
    Ok(())
}

fn bench(name: &str, url: &str, rows: u64) -> Result<()> {
    let db = Db::connect(&DbConfig::new(url))?;
    db.migrate()?;
    println!("== {name} ({})", db.describe());
    let end_ms = Timestamp::now().unix_millis();
    let started = Instant::now();
    {
        let conn = &mut *db.conn()?;
        let mut batch = Vec::with_capacity(1_000);
        for i in 0..rows {
            batch.push(event(i, rows, end_ms));
            if batch.len() == 1_000 {
                insert_events(conn, &batch)?;
                batch.clear();
            }
        }
        insert_events(conn, &batch)?;
        match conn {
            DbConn::Sqlite(c) => c.batch_execute("ANALYZE")?,
            DbConn::Postgres(c) => c.batch_execute("VACUUM ANALYZE events")?,
        }
    }
    println!(
        "insert {rows} events + ANALYZE: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let end = Timestamp::from_unix_millis(end_ms + 1);
    let windows = [
        ("1h", 3_600_000),
        ("1d", DAY_MS),
        ("2d", 2 * DAY_MS),
        ("3d", 3 * DAY_MS),
        ("7d", 7 * DAY_MS),
        ("14d", 14 * DAY_MS),
        ("30d", SPAN_MS + 1),
    ];
    println!("analytics (median / max of 7 runs):");
    for graph in [None, Some("graph-7")] {
        for (label, span) in windows {
            let mut w =
                EventWindow::new(Timestamp::from_unix_millis(end.unix_millis() - span), end);
            if let Some(g) = graph {
                w = w.graph(g);
            }
            let mut times = Vec::new();
            let mut total = 0;
            for _ in 0..7 {
                let t = Instant::now();
                let r = rt.block_on(analytics(&db, w.clone(), 10))?;
                times.push(t.elapsed());
                total = r.total;
            }
            let (med, max) = stats(times);
            println!(
                "  window {label:>3} graph {:<8} events {total:>8}: {med:7.1} ms / {max:7.1} ms",
                graph.unwrap_or("all")
            );
        }
    }

    // Scrape with 100 graphs × 3 targets.
    seed_catalog(&mut *db.conn()?)?;
    let recorder = prometheus_builder()?.build_recorder();
    let handle = recorder.handle();
    let (med, max, size, render_med) = metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            describe_all();
            record::record_build_info("0.1.0", "bench");
            let collector = MetricsCollector::new(handle.clone(), db.clone(), Duration::ZERO);
            for g in 0..100 {
                let graph = format!("graph-{g:03}");
                collector.register_graph(&graph);
                record::record_backup(
                    &graph,
                    &BackupOutcome {
                        status: BackupStatus::Completed,
                        trigger: BackupTrigger::Scheduled,
                        duration: Duration::from_secs(12),
                        logical_bytes: 1_000_000,
                        written_bytes: 10_000,
                        finished_at: SystemTime::now(),
                    },
                );
                record::record_health_check(ComponentType::Graph, &graph, HealthStatus::Healthy);
                for t in 0..3 {
                    let target = format!("target-{t}");
                    collector.register_target(&graph, &target);
                    record::record_sync(&graph, &target, true, Duration::from_secs(2), 1_000, None);
                }
            }
            for r in 0..20 {
                record::record_http_request(
                    "GET",
                    &format!("/api/v1/route-{r}"),
                    200,
                    Duration::from_millis(2),
                );
            }
            let mut times = Vec::new();
            let mut size = 0;
            for _ in 0..20 {
                let t = Instant::now();
                let body = collector.export_to_prometheus().await;
                times.push(t.elapsed());
                size = body.len();
            }
            let mut render = Vec::new();
            for _ in 0..20 {
                let t = Instant::now();
                let body = collector.render();
                render.push(t.elapsed());
                size = size.max(body.len());
            }
            let (med, max) = stats(times);
            let (render_med, _) = stats(render);
            (med, max, size, render_med)
        })
    });
    println!(
        "scrape 100 graphs x 3 targets, refresh from DB every scrape: {med:.2} ms median, {max:.2} ms max; render only {render_med:.2} ms; {size} bytes ({:.1} KiB)",
        size as f64 / 1024.0
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("all", String::as_str);
    let rows: u64 = args.get(2).map_or(Ok(1_000_000), |s| s.parse())?;
    if matches!(which, "sqlite" | "all") {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite:///{}", dir.path().join("bench.db").display());
        bench("sqlite", &url, rows)?;
    }
    if matches!(which, "postgres" | "all") {
        let admin = pg_admin_url();
        let name = format!("lrmon_bench_{}", std::process::id());
        PgConnection::establish(&admin)?.batch_execute(&format!("CREATE DATABASE \"{name}\""))?;
        let result = bench("postgres", &pg_url_with_db(&admin, &name)?, rows);
        PgConnection::establish(&admin)?
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))?;
        result?;
    }
    if !matches!(which, "sqlite" | "postgres" | "all") {
        bail!("usage: bench_monitoring [sqlite|postgres|all] [ROWS]");
    }
    Ok(())
}
