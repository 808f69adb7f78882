//! Issue 14 #1: a web page the operator visits cannot drive the API (DNS rebinding, cross-site
//! forms, CORS preflights), with the defaults and with a key. Requests are written by hand so
//! that `Host`, `Origin` and `Content-Type` are exactly what a browser would send.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::{TestServer, copy_fixture, test_config};

const KEY: &str = "browser-test-key-0123456789";

/// A raw HTTP/1.1 answer.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Sends one request with exactly these headers (plus `Connection: close` and, with a body,
/// `Content-Length`).
fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Raw {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Raw {
        status,
        headers,
        body: dechunk(body, head),
    }
}

/// The body of a chunked answer (actix chunks streamed bodies).
fn dechunk(body: &str, head: &str) -> String {
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_owned();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// A server with graph `g1` (a real LightRAG fixture) and no background work.
fn server(extra: &[(&str, &str)]) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(
        "bingofhy-rag_storage",
        &dir.path().join("rag_storage").join("g1"),
    );
    let mut vars = vec![
        ("LIGHTRAG_AUTO_BACKUP_INTERVAL", "0"),
        ("LIGHTRAG_HEALTH_CHECK_INTERVAL", "0"),
        ("LIGHTRAG_REPLICATION_INTERVAL", "0"),
        ("LIGHTRAG_RETENTION_INTERVAL", "0"),
        ("LIGHTRAG_VERIFY_INTERVAL", "0"),
    ];
    vars.extend_from_slice(extra);
    let cfg = test_config(dir.path(), &vars);
    TestServer::start_with(cfg, dir)
}

/// The reproducer: `curl -H 'Host: evil.example:9622' http://127.0.0.1:9622/...`.
#[test]
fn without_a_key_only_loopback_host_names_are_answered() {
    let s = server(&[]);
    let port = s.api.port();
    let evil = format!("evil.example:{port}");
    let r = raw(s.api, "GET", "/api/v1/graphs", &[("Host", &evil)], None);
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.error_code(), "host_not_allowed", "{r:?}");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("LIGHTRAG_API_KEY"), "{msg}");
    assert!(msg.contains("LIGHTRAG_ALLOWED_HOSTS"), "{msg}");

    // A rebound page cannot start a backup either.
    let r = raw(
        s.api,
        "POST",
        "/api/v1/graphs/g1/backups",
        &[("Host", &evil), ("Content-Type", "application/json")],
        Some("{}"),
    );
    assert_eq!(r.status, 403, "{r:?}");
    // Whitelisted paths too: the whole server is out of a rebound page's reach.
    assert_eq!(
        raw(s.api, "GET", "/livez", &[("Host", &evil)], None).status,
        403
    );

    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
    ] {
        let r = raw(s.api, "GET", "/api/v1/graphs", &[("Host", &host)], None);
        assert_eq!(r.status, 200, "{host}: {r:?}");
    }
}

#[test]
fn with_a_key_the_host_allow_list_is_enforced() {
    // A key and no list: any name (the key is what protects the API).
    let s = server(&[("LIGHTRAG_API_KEY", KEY)]);
    let r = raw(
        s.api,
        "GET",
        "/api/v1/graphs",
        &[("Host", "backup.example.com:9622"), ("X-API-Key", KEY)],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    drop(s);

    let s = server(&[
        ("LIGHTRAG_API_KEY", KEY),
        ("LIGHTRAG_ALLOWED_HOSTS", "backup.example.com"),
    ]);
    let ok = raw(
        s.api,
        "GET",
        "/api/v1/graphs",
        &[("Host", "backup.example.com:9622"), ("X-API-Key", KEY)],
        None,
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    let r = raw(
        s.api,
        "GET",
        "/api/v1/graphs",
        &[("Host", "evil.example:9622"), ("X-API-Key", KEY)],
        None,
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.error_code(), "host_not_allowed");
    let local = format!("127.0.0.1:{}", s.api.port());
    let r = raw(
        s.api,
        "GET",
        "/api/v1/graphs",
        &[("Host", &local), ("X-API-Key", KEY)],
        None,
    );
    assert_eq!(r.status, 200, "loopback names always pass: {r:?}");
}

/// The reproducer: a cross-site form POST (`text/plain`, urlencoded, multipart) started
/// a backup with 202.
#[test]
fn cross_site_forms_cannot_change_state() {
    let s = server(&[]);
    let host = format!("127.0.0.1:{}", s.api.port());
    let path = "/api/v1/graphs/g1/backups";
    for (ct, body) in [
        ("text/plain", Some("x=1")),
        ("text/plain", None),
        ("application/x-www-form-urlencoded", Some("a=b")),
        ("application/x-www-form-urlencoded", None),
        ("multipart/form-data; boundary=x", Some("--x--\r\n")),
        ("text/plain;charset=UTF-8", Some("")),
    ] {
        let r = raw(
            s.api,
            "POST",
            path,
            &[
                ("Host", &host),
                ("Content-Type", ct),
                ("Origin", "http://evil.example"),
            ],
            body,
        );
        assert_eq!(r.status, 415, "{ct} {body:?}: {r:?}");
        assert_eq!(r.error_code(), "unsupported_media_type", "{r:?}");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("application/json"),
            "{r:?}"
        );
    }
    // A body without a declared type is refused too.
    let r = raw(s.api, "POST", path, &[("Host", &host)], Some("{}"));
    assert_eq!(r.status, 415, "{r:?}");
    // Other state-changing methods as well.
    let r = raw(
        s.api,
        "DELETE",
        "/api/v1/graphs/g1",
        &[("Host", &host), ("Content-Type", "text/plain")],
        None,
    );
    assert_eq!(r.status, 415, "{r:?}");
    // Nothing was started.
    let jobs = raw(s.api, "GET", "/api/v1/backups", &[("Host", &host)], None);
    assert_eq!(jobs.status, 200, "{jobs:?}");
    assert_eq!(
        jobs.json()["backups"].as_array().map(Vec::len),
        Some(0),
        "{jobs:?}"
    );

    // What a real client sends still works: JSON, or no body and no type.
    let r = raw(
        s.api,
        "POST",
        path,
        &[("Host", &host), ("Content-Type", "application/json")],
        Some("{}"),
    );
    assert_eq!(r.status, 202, "{r:?}");
    let r = raw(s.api, "POST", path, &[("Host", &host)], None);
    assert!(r.status == 202 || r.status == 409, "{r:?}");
}

#[test]
fn preflights_are_refused_and_no_cors_header_is_sent() {
    let s = server(&[]);
    let host = format!("127.0.0.1:{}", s.api.port());
    let r = raw(
        s.api,
        "OPTIONS",
        "/api/v1/graphs/g1/backups",
        &[
            ("Host", &host),
            ("Origin", "http://evil.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        None,
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.error_code(), "cors_refused");
    assert!(
        !r.headers
            .iter()
            .any(|(k, _)| k.to_ascii_lowercase().starts_with("access-control-allow")),
        "{r:?}"
    );
    // A simple cross-origin GET gets its answer but no CORS header: the page cannot read it.
    let r = raw(
        s.api,
        "GET",
        "/api/v1/graphs",
        &[("Host", &host), ("Origin", "http://evil.example")],
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none(), "{r:?}");
}
