//! Event-log benchmark on SQLite and PostgreSQL.
//!
//! ```text
//! cargo run --release -p lightrag-recovery-db --example bench_events -- [sqlite|postgres|all] [ROWS]
//! ```
//!
//! Per backend, on a fresh database (SQLite: temp file; PostgreSQL: a new database created via
//! `LIGHTRAG_TEST_PG_URL`, default `postgres://root:root@127.0.0.1:5432/postgres`, dropped at
//! the end): batched insert of ROWS events (default 100 000; 20 graphs over 30 days), list
//! latency for one graph and a one-day window (page of 100, newest first) and the count for the
//! same filter, then single-row inserts (one autocommit INSERT per event) from one thread and
//! from 8 threads.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use lightrag_recovery_db::{
    Db, DbConfig, EventFilter, EventKind, NewEvent, Page, Severity, Timestamp, count_events,
    insert_event, insert_events, list_events,
};

const GRAPHS: i64 = 20;
const SPAN_MS: i64 = 30 * 24 * 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;
const BASE_MS: i64 = 1_764_000_000_000;
const SINGLE_ROWS: usize = 5_000;
const BATCH: usize = 1_000;

fn event(i: i64, rows: i64) -> NewEvent {
    let kinds = [
        EventKind::Backup,
        EventKind::Replication,
        EventKind::Health,
        EventKind::Validation,
    ];
    let sev = [
        Severity::Info,
        Severity::Info,
        Severity::Warning,
        Severity::Error,
    ];
    let kind = kinds[(i % 4) as usize];
    NewEvent::new(
        kind,
        format!("{kind}.completed"),
        sev[(i % 4) as usize],
        format!("event number {i} for the benchmark"),
    )
    .graph(format!("graph-{}", i % GRAPHS))
    .at(Timestamp::from_unix_millis(
        BASE_MS + i * (SPAN_MS / rows.max(1)),
    ))
    .duration_ms(i % 10_000)
    .bytes(i * 1_000)
    .with_details(&serde_json::json!({"files": 12, "chunks": i % 500, "dedup_ratio": 0.31}))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1_000.0)
}

fn bench(name: &str, url: &str, rows: usize) -> Result<()> {
    let db = Db::connect(&DbConfig::new(url))?;
    db.migrate()?;
    println!("== {name} ({})", db.describe());

    // Batched insert.
    let all: Vec<NewEvent> = (0..rows as i64).map(|i| event(i, rows as i64)).collect();
    let started = Instant::now();
    {
        let conn = &mut *db.conn()?;
        for chunk in all.chunks(BATCH) {
            insert_events(conn, chunk)?;
        }
    }
    let t = started.elapsed();
    println!(
        "batched insert ({BATCH}/transaction): {rows} rows in {:.2} s = {:.0} rows/s",
        t.as_secs_f64(),
        rows as f64 / t.as_secs_f64()
    );
    drop(all);

    // List latency: one graph, one-day window, newest first, page of 100.
    let conn = &mut *db.conn()?;
    let mut lat = Vec::new();
    let mut count_lat = Vec::new();
    let mut returned = 0;
    let mut matched = 0;
    for q in 0..200_i64 {
        let start = BASE_MS + (q * 7_919 * 60_000) % (SPAN_MS - DAY_MS);
        let filter = EventFilter {
            graph_id: Some(format!("graph-{}", q % GRAPHS)),
            since: Some(Timestamp::from_unix_millis(start)),
            until: Some(Timestamp::from_unix_millis(start + DAY_MS)),
            ..EventFilter::default()
        };
        let s = Instant::now();
        returned += list_events(conn, &filter, Page::new(100, 0))?.len();
        lat.push(s.elapsed());
        let s = Instant::now();
        matched += count_events(conn, &filter)?;
        count_lat.push(s.elapsed());
    }
    lat.sort();
    count_lat.sort();
    println!(
        "list (graph + 1-day range, 100 newest) over {rows} events, 200 queries: p50 {} p95 {} max {} (avg {} rows returned)",
        fmt_ms(percentile(&lat, 0.5)),
        fmt_ms(percentile(&lat, 0.95)),
        fmt_ms(*lat.last().unwrap_or(&Duration::ZERO)),
        returned / 200
    );
    println!(
        "count (same filter): p50 {} p95 {} (avg {} rows matched)",
        fmt_ms(percentile(&count_lat, 0.5)),
        fmt_ms(percentile(&count_lat, 0.95)),
        matched / 200
    );

    // Single-row inserts, one autocommit INSERT each.
    let started = Instant::now();
    for i in 0..SINGLE_ROWS as i64 {
        insert_event(conn, &event(rows as i64 + i, rows as i64))?;
    }
    let t = started.elapsed();
    println!(
        "single insert (1 thread): {SINGLE_ROWS} rows in {:.2} s = {:.0} rows/s",
        t.as_secs_f64(),
        SINGLE_ROWS as f64 / t.as_secs_f64()
    );

    let started = Instant::now();
    let threads: Vec<_> = (0..8_i64)
        .map(|th| {
            let db = db.clone();
            std::thread::spawn(move || -> Result<()> {
                for i in 0..(SINGLE_ROWS / 8) as i64 {
                    let mut c = db.conn()?;
                    insert_event(
                        &mut c,
                        &event(2 * rows as i64 + th * 1_000_000 + i, rows as i64),
                    )?;
                }
                Ok(())
            })
        })
        .collect();
    for th in threads {
        th.join()
            .map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
    }
    let t = started.elapsed();
    println!(
        "single insert (8 threads, pool of 8): {SINGLE_ROWS} rows in {:.2} s = {:.0} rows/s",
        t.as_secs_f64(),
        SINGLE_ROWS as f64 / t.as_secs_f64()
    );
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "all".to_owned());
    let rows: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()
        .context("ROWS must be a number")?
        .unwrap_or(100_000);
    if !["all", "sqlite", "postgres"].contains(&which.as_str()) {
        bail!("usage: bench_events [sqlite|postgres|all] [ROWS]");
    }
    if which != "postgres" {
        let dir = tempfile::tempdir()?;
        bench(
            "sqlite",
            &format!("sqlite:///{}", dir.path().join("bench.db").display()),
            rows,
        )?;
    }
    if which != "sqlite" {
        let admin = std::env::var("LIGHTRAG_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://root:root@127.0.0.1:5432/postgres".to_owned());
        let name = format!("lrdb_bench_{}", std::process::id());
        let mut a = PgConnection::establish(&admin).context("connect to LIGHTRAG_TEST_PG_URL")?;
        a.batch_execute(&format!("CREATE DATABASE \"{name}\""))?;
        let (scheme, rest) = admin.split_once("://").context("admin URL")?;
        let auth = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
        let result = bench("postgres", &format!("{scheme}://{auth}/{name}"), rows);
        a.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))?;
        result?;
    }
    Ok(())
}
