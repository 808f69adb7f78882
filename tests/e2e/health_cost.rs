//! Issue 14 #4: unauthenticated `/health` is cheap. Over the real binary, on a graph whose
//! vector file is large (a health check reads it whole): bursts of 500 concurrent anonymous
//! requests run no health check and leave the server's peak memory (VmHWM) where it was;
//! concurrent authenticated requests before the first report share one check.
//!
//! Runs unchanged against another build with `LIGHTRAG_OPS_BIN`.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::child::ChildServer;
use crate::common::{copy_fixture, get};

const KEY: &str = "health-cost-key-0123456789";
/// Rows of the large vector file: 1500 × 1024 float32 = 6 MB of matrix, 8.2 MB as base64
/// (a multiple of 3 bytes, so the base64 has no padding).
const ROWS: usize = 1500;
const DIM: usize = 1024;
/// Concurrent requests of a burst.
const BURST: usize = 500;
/// How much a burst of anonymous `/health` requests may raise the peak resident set beyond
/// what the same burst of `/livez` requests (no work at all) already raised it, in KiB: less
/// than one copy of the vector file (a health check holds the 8.2 MB file in memory; the old
/// code ran a check for each request of the burst).
const BURST_PEAK_BOUND_KIB: u64 = 6 * 1024;

/// A graph `big` (a real LightRAG fixture) whose `vdb_chunks.json` is ~8 MB.
fn big_graph(work: &Path) -> u64 {
    let g = work.join("big");
    copy_fixture("bingofhy-rag_storage", &g);
    let mut f = String::with_capacity(ROWS * DIM * 4 / 3 * 4 + ROWS * 80);
    f.push_str(&format!("{{\"embedding_dim\": {DIM}, \"data\": ["));
    for i in 0..ROWS {
        if i > 0 {
            f.push_str(", ");
        }
        f.push_str(&format!(
            "{{\"__id__\": \"chunk-{i:08}\", \"__created_at__\": 1700000000, \"full_doc_id\": \"doc-{i}\"}}"
        ));
    }
    // base64 of ROWS × DIM zero float32s: 'A' repeated, no padding.
    f.push_str("], \"matrix\": \"");
    f.extend(std::iter::repeat_n('A', ROWS * DIM * 4 / 3 * 4));
    f.push_str("\"}");
    let path = g.join("vdb_chunks.json");
    std::fs::write(&path, f).unwrap();
    std::fs::metadata(&path).unwrap().len()
}

/// `n` requests in flight at once from one thread: every connection is opened and its
/// request written before any answer is read. Returns (status, body) per request.
fn burst(port: u16, path: &str, n: usize, extra_headers: &str) -> Vec<(u16, String)> {
    burst_with_heads(port, path, n, extra_headers)
        .into_iter()
        .map(|(status, _, body)| (status, body))
        .collect()
}

/// Like [`burst`], with each response's head (status line and headers) too.
fn burst_with_heads(
    port: u16,
    path: &str,
    n: usize,
    extra_headers: &str,
) -> Vec<(u16, String, String)> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n{extra_headers}Connection: close\r\n\r\n"
    );
    let mut conns: Vec<TcpStream> = (0..n)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            s
        })
        .collect();
    for c in &mut conns {
        c.write_all(request.as_bytes()).unwrap();
    }
    conns
        .into_iter()
        .map(|mut c| {
            let mut raw = Vec::new();
            c.read_to_end(&mut raw).unwrap();
            let text = String::from_utf8_lossy(&raw).into_owned();
            let status = text
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            (status, head.to_ascii_lowercase(), body.to_owned())
        })
        .collect()
}

/// A sample of the metrics listener's `name` (with its labels, if any) value.
fn counter(s: &ChildServer, series: &str) -> Option<f64> {
    let text = get(&format!("http://127.0.0.1:{}/metrics", s.metrics_port), &[]).body;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// Health checks run so far. The graph has no backup, so each check finds it DEGRADED and
/// counts one graph failure: a count the old code exposes too.
fn checks(s: &ChildServer) -> f64 {
    counter(
        s,
        "lightrag_health_check_failures_total{component=\"graph\"}",
    )
    .unwrap_or(0.0)
}

#[test]
fn anonymous_health_bursts_run_no_check_and_cost_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    let vdb_bytes = big_graph(&dir.path().join("rag_storage"));
    assert!(vdb_bytes > 8_000_000, "{vdb_bytes}");
    // Health checks off: before this change every request ran one until a report existed.
    let s = ChildServer::start(
        dir.path(),
        &[
            ("LIGHTRAG_API_KEY", KEY.to_owned()),
            ("LIGHTRAG_HEALTH_CHECK_INTERVAL", "0".to_owned()),
        ],
        |s| get(&format!("http://127.0.0.1:{}/readyz", s.api_port), &[]).status == 200,
    );
    assert_eq!(checks(&s), 0.0);
    // The cost of 500 concurrent connections themselves: the same burst on `/livez`.
    for (status, body) in burst(s.api_port, "/livez", BURST, "") {
        assert_eq!(status, 200, "{body}");
    }

    // 1. No report yet: anonymous requests get 503 "unchecked" and run nothing.
    let peak = s.peak_rss_kib();
    let answers = burst(s.api_port, "/health", BURST, "");
    let grown = s.peak_rss_kib().saturating_sub(peak);
    let ran = checks(&s);
    eprintln!(
        "anonymous burst before any report: peak RSS {peak} KiB -> +{grown} KiB, checks run {ran}"
    );
    assert_eq!(ran, 0.0, "anonymous requests ran health checks");
    for (status, body) in &answers {
        assert_eq!(*status, 503, "{body}");
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (&j["status"], &j["limited"]),
            (&"unchecked".into(), &true.into()),
            "{j}"
        );
    }
    assert!(
        grown <= BURST_PEAK_BOUND_KIB,
        "a burst of {BURST} anonymous requests raised the peak RSS by {grown} KiB (bound {BURST_PEAK_BOUND_KIB})"
    );

    // 2. Authenticated requests before the first report: one check, shared by all.
    let answers = burst(s.api_port, "/health", 50, &format!("X-API-Key: {KEY}\r\n"));
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(j["limited"], false, "{j}");
        assert_eq!(j["graphs"][0]["status"], "DEGRADED", "{j}");
    }
    let ran = checks(&s);
    eprintln!("50 concurrent authenticated requests: checks run {ran}");
    assert_eq!(ran, 1.0, "concurrent callers did not share one check");
    assert_eq!(counter(&s, "lightrag_health_checks_total"), Some(1.0));

    // 3. With a report: anonymous requests get the limited view, from memory.
    let peak = s.peak_rss_kib();
    let answers = burst(s.api_port, "/health", BURST, "");
    let grown = s.peak_rss_kib().saturating_sub(peak);
    eprintln!("anonymous burst with a report: peak RSS {peak} KiB -> +{grown} KiB");
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(j["limited"], true, "{j}");
        assert_eq!(j["graphs"][0]["status"], "DEGRADED", "{j}");
        assert_eq!(j["graphs"][0]["reasons"], serde_json::json!([]), "{j}");
    }
    assert_eq!(checks(&s), 1.0, "anonymous requests ran health checks");
    assert!(
        grown <= BURST_PEAK_BOUND_KIB,
        "a burst of {BURST} anonymous requests raised the peak RSS by {grown} KiB (bound {BURST_PEAK_BOUND_KIB})"
    );
}

/// With health checks on (the default), anonymous `/health` requests that arrive before the
/// scheduler's first report (a burst as soon as the port is open, while that check reads the
/// large file) get 503 `starting` with `Retry-After`, then the limited view of the
/// scheduler's report; they never run a check of their own.
#[test]
fn anonymous_health_waits_for_the_scheduled_check() {
    let dir = tempfile::tempdir().unwrap();
    big_graph(&dir.path().join("rag_storage"));
    let s = ChildServer::start(
        dir.path(),
        &[
            ("LIGHTRAG_API_KEY", KEY.to_owned()),
            ("LIGHTRAG_HEALTH_CHECK_INTERVAL", "1h".to_owned()),
        ],
        |_| true,
    );
    let answers = burst_with_heads(s.api_port, "/health", 100, "");
    let mut starting = 0;
    for (status, head, body) in &answers {
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        match status {
            503 => {
                starting += 1;
                assert_eq!(
                    (&j["status"], &j["limited"]),
                    (&"starting".into(), &true.into()),
                    "{j}"
                );
                assert!(head.contains("\r\nretry-after: 5"), "{head}");
            }
            200 => assert_eq!(j["limited"], true, "{j}"),
            _ => panic!("{status}: {body}"),
        }
    }
    eprintln!("{starting} of 100 early anonymous requests answered 503 starting");
    let url = format!("http://127.0.0.1:{}/health", s.api_port);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = get(&url, &[("Accept", "application/json")]);
        if r.status == 200 {
            assert_eq!(r.json()["limited"], true, "{}", r.body);
            break;
        }
        assert_eq!(r.json()["status"], "starting", "{}", r.body);
        assert!(
            std::time::Instant::now() < deadline,
            "no report within 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The scheduler's one check (at start-up), none from the requests.
    assert_eq!(checks(&s), 1.0);
}
