//! The OpenAPI document tells the truth: every route is driven with real requests (success and
//! error cases) and each answer's status must be listed for its path and method, and its body
//! must validate against the schema the document gives for that status. Job results are
//! validated against the report schema of their kind. Every operation of the document must be
//! exercised. A small JSON-schema validator covers what utoipa emits; a negative test shows it
//! rejects wrong bodies.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestServer, copy_fixture, test_config};

const KEY: &str = "openapi-test-key-0123";
const DOC_PATH: &str = "/api/v1/openapi.json";

// ----- A JSON-schema validator for the subset utoipa emits ------------------------------------

/// Validates `v` against `schema`; `Err` names the first mismatch by its JSON path.
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        // `true` accepts anything, `false` nothing.
        return match schema.as_bool() {
            Some(false) => Err(format!("{at}: no value is allowed here")),
            _ => Ok(()),
        };
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| format!("{at}: unsupported $ref {r}"))?;
        let target = doc["components"]["schemas"]
            .get(name)
            .ok_or_else(|| format!("{at}: $ref to missing schema {name}"))?;
        validate(doc, target, v, at)?;
    }
    if s.get("nullable").and_then(Value::as_bool) == Some(true) && v.is_null() {
        return Ok(());
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: bad type {t}")),
        };
        if !types.iter().any(|t| has_type(v, t)) {
            return Err(format!("{at}: expected {types:?}, got {}", short(v)));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return Err(format!("{at}: {} is not one of {e:?}", short(v)));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        return Err(format!("{at}: {} is not {c}", short(v)));
    }
    if let Some(min) = s.get("minimum").and_then(Value::as_f64)
        && v.as_f64().is_some_and(|n| n < min)
    {
        return Err(format!("{at}: {v} is below the minimum {min}"));
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            validate(doc, sub, v, at)?;
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        let errors: Vec<String> = any
            .iter()
            .filter_map(|sub| validate(doc, sub, v, at).err())
            .collect();
        if errors.len() == any.len() {
            return Err(format!("{at}: matches no anyOf branch: {errors:?}"));
        }
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let errors: Vec<String> = one
            .iter()
            .filter_map(|sub| validate(doc, sub, v, at).err())
            .collect();
        match one.len() - errors.len() {
            1 => {}
            0 => return Err(format!("{at}: matches no oneOf branch: {errors:?}")),
            n => return Err(format!("{at}: matches {n} oneOf branches")),
        }
    }
    if let Some(items) = s.get("items")
        && let Some(a) = v.as_array()
    {
        for (i, x) in a.iter().enumerate() {
            validate(doc, items, x, &format!("{at}[{i}]"))?;
        }
    }
    if let Some(o) = v.as_object() {
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for k in req.iter().filter_map(Value::as_str) {
                if !o.contains_key(k) {
                    return Err(format!("{at}: required property `{k}` is missing"));
                }
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, x) in o {
            let here = format!("{at}.{k}");
            match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
                (Some(p), _) => validate(doc, p, x, &here)?,
                (None, Some(extra)) => validate(doc, extra, x, &here)?,
                (None, None) => {}
            }
        }
    }
    Ok(())
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}…", &s[..s.floor_char_boundary(120)])
    } else {
        s
    }
}

/// The document's path template for a concrete path (`{x}` matches one segment; the template
/// with most literal segments wins, as the routes are registered).
fn template<'d>(doc: &'d Value, path: &str) -> Option<&'d str> {
    let path = path.split('?').next().unwrap_or(path);
    let segs: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()?
        .keys()
        .filter(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            ts.len() == segs.len()
                && ts
                    .iter()
                    .zip(&segs)
                    .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
        })
        .max_by_key(|t| t.split('/').filter(|s| !s.starts_with('{')).count())
        .map(String::as_str)
}

/// Checks one exchange against the document: the status is listed for the operation, the
/// body validates against that status's schema for its content type, and a request body that
/// was accepted (2xx) validates against the request schema.
fn check_exchange(
    doc: &Value,
    method: &str,
    path: &str,
    request: Option<&Value>,
    status: u16,
    content_type: &str,
    body: &str,
) -> Result<String, String> {
    let tpl = template(doc, path).ok_or_else(|| format!("{path} is not in the document"))?;
    let op = &doc["paths"][tpl][method.to_lowercase()];
    if !op.is_object() {
        return Err(format!("{method} {tpl} is not in the document"));
    }
    let here = format!("{method} {path} → {status}");
    let resp = op["responses"]
        .get(status.to_string())
        .ok_or_else(|| format!("{here}: status not listed (body {body})"))?;
    let media = content_type.split(';').next().unwrap_or("").trim();
    match resp.get("content").and_then(Value::as_object) {
        None if body.is_empty() => {}
        None => return Err(format!("{here}: the document lists no body, got {body}")),
        Some(content) => {
            let schema = &content
                .get(media)
                .ok_or_else(|| format!("{here}: content type {media} not listed"))?["schema"];
            if media == "application/json" {
                let v: Value = serde_json::from_str(body)
                    .map_err(|e| format!("{here}: not JSON ({e}): {body}"))?;
                validate(doc, schema, &v, "$").map_err(|e| format!("{here}: {e}"))?;
            }
        }
    }
    if let Some(req) = request
        && (200..300).contains(&status)
    {
        let schema = &op["requestBody"]["content"]["application/json"]["schema"];
        if schema.is_null() {
            return Err(format!(
                "{here}: accepted a body the document does not list"
            ));
        }
        validate(doc, schema, req, "request").map_err(|e| format!("{here}: {e}"))?;
    }
    Ok(format!("{} {tpl}", method.to_uppercase()))
}

/// Validates a finished job's `result` against the report schema of its kind.
fn check_job_result(doc: &Value, job: &Value) -> Result<(), String> {
    if job["state"] != "succeeded" {
        return Err(format!("job did not succeed: {job}"));
    }
    let named = |n: &str| json!({"$ref": format!("#/components/schemas/{n}")});
    let schema = match (job["kind"].as_str().unwrap_or(""), &job["result"]) {
        ("backup", _) => named("SnapshotSummary"),
        ("verify", _) => named("VerifyReport"),
        ("retention", _) => named("RetentionReport"),
        ("restore", r) if r.get("point_id").is_some() => named("RestorePointReport"),
        ("restore", _) => named("SnapshotRestoreReport"),
        ("validate", _) => named("ValidationReport"),
        ("replication", _) => json!({"type": "array", "items": named("SyncOutcome")}),
        ("recovery_point", _) => named("RecoveryPointDetails"),
        (k, _) => return Err(format!("no report schema for job kind {k}")),
    };
    validate(doc, &schema, &job["result"], "$.result")
}

// ----- Driving the server -----------------------------------------------------------------

struct Client<'a> {
    s: &'a TestServer,
    doc: Value,
    seen: BTreeSet<String>,
    failures: Vec<String>,
}

impl Client<'_> {
    /// Sends a request (with the API key unless `key` is `None`/another key), checks the
    /// answer against the document, and returns (status, JSON body or `Null`).
    fn call_as(
        &mut self,
        key: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
        accept: Option<&str>,
    ) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let url = self.s.url(path);
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(k) = key {
            headers.push(("X-API-Key", k));
        }
        if let Some(a) = accept {
            headers.push(("Accept", a));
        }
        macro_rules! with_headers {
            ($req:expr) => {{
                let mut r = $req;
                for (k, v) in &headers {
                    r = r.header(*k, *v);
                }
                r
            }};
        }
        let res = match method {
            "GET" => with_headers!(agent.get(&url)).call(),
            "DELETE" => with_headers!(agent.delete(&url)).call(),
            "POST" | "PATCH" => {
                let req = if method == "POST" {
                    agent.post(&url)
                } else {
                    agent.patch(&url)
                };
                let req = with_headers!(req);
                match &body {
                    Some(b) => req.send_json(b),
                    None => req.send_empty(),
                }
            }
            m => panic!("method {m}"),
        };
        let mut res = res.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        match check_exchange(&self.doc, method, path, body.as_ref(), status, &ct, &text) {
            Ok(op) => {
                self.seen.insert(op);
            }
            Err(e) => self.failures.push(e),
        }
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(Some(KEY), method, path, body, None)
    }

    /// A call that must answer `want`; returns the JSON body.
    fn expect(&mut self, want: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body);
        assert_eq!(status, want, "{method} {path}: {v}");
        v
    }

    /// A job run with `?wait=true`: must answer 200 with a succeeded job whose result
    /// validates against its report schema.
    fn job(&mut self, path: &str, body: Option<Value>) -> Value {
        let sep = if path.contains('?') { '&' } else { '?' };
        let job = self.expect(200, "POST", &format!("{path}{sep}wait=true"), body);
        if let Err(e) = check_job_result(&self.doc, &job) {
            self.failures.push(format!("POST {path}: {e}"));
        }
        job
    }
}

fn server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("rag_storage");
    copy_fixture("adamaslan-dickens", &work.join("dickens"));
    copy_fixture("bingofhy-rag_storage", &work.join("bingofhy"));
    let roots = dir.path().join("replicas");
    std::fs::create_dir_all(&roots).unwrap();
    let roots = roots.display().to_string();
    let cfg = test_config(
        dir.path(),
        &[
            ("LIGHTRAG_API_KEY", KEY),
            ("LIGHTRAG_REPLICATION_PATH_ROOTS", roots.as_str()),
            ("LIGHTRAG_AUTO_BACKUP_INTERVAL", "0"),
            ("LIGHTRAG_REPLICATION_INTERVAL", "0"),
            ("LIGHTRAG_RETENTION_INTERVAL", "0"),
            ("LIGHTRAG_VERIFY_INTERVAL", "0"),
        ],
    );
    TestServer::start_with(cfg, dir)
}

fn fetch_doc(s: &TestServer) -> Value {
    let r = crate::common::get(&s.url(DOC_PATH), &[("X-API-Key", KEY)]);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn real_responses_validate_against_the_openapi_document() {
    let s = server();
    let doc = fetch_doc(&s);
    assert!(
        doc["components"]["schemas"]["ErrorBody"].is_object(),
        "the error schema is in the document"
    );
    let roots = s.dir().join("replicas").display().to_string();
    let mut c = Client {
        s: &s,
        doc,
        seen: BTreeSet::new(),
        failures: Vec::new(),
    };

    // Probes and the document itself; the API key.
    assert_eq!(c.call_as(None, "GET", "/livez", None, None).0, 200);
    assert_eq!(c.call_as(None, "GET", "/readyz", None, None).0, 200);
    assert_eq!(c.call_as(None, "GET", DOC_PATH, None, None).0, 401);
    assert_eq!(c.call_as(Some("wrong"), "GET", DOC_PATH, None, None).0, 403);
    c.expect(200, "GET", DOC_PATH, None);
    assert_eq!(c.call_as(None, "GET", "/api/v1/graphs", None, None).0, 401);

    // Graphs.
    c.expect(200, "GET", "/api/v1/graphs", None);
    c.expect(200, "GET", "/api/v1/graphs?limit=1&offset=1", None);
    c.expect(400, "GET", "/api/v1/graphs?limit=x", None);
    c.expect(200, "GET", "/api/v1/graphs/dickens", None);
    c.expect(404, "GET", "/api/v1/graphs/nope", None);
    c.expect(400, "GET", "/api/v1/graphs/a%00b", None);
    let g = json!({"id": "dickens2", "path": "dickens"});
    c.expect(201, "POST", "/api/v1/graphs", Some(g.clone()));
    c.expect(409, "POST", "/api/v1/graphs", Some(g));
    c.expect(400, "POST", "/api/v1/graphs", Some(json!({"id": 5})));
    c.expect(204, "DELETE", "/api/v1/graphs/dickens2", None);
    c.expect(404, "DELETE", "/api/v1/graphs/dickens2", None);

    // Backups: as a job (202, then polled), waited for (200), errors.
    let started = c.expect(202, "POST", "/api/v1/graphs/dickens/backups", None);
    let job_path = format!("/api/v1/jobs/{}", started["id"].as_str().unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let finished = loop {
        let j = c.expect(200, "GET", &job_path, None);
        if j["state"] != "running" {
            break j;
        }
        assert!(std::time::Instant::now() < deadline, "job still running");
        std::thread::sleep(Duration::from_millis(100));
    };
    if let Err(e) = check_job_result(&c.doc, &finished) {
        c.failures.push(format!("{job_path}: {e}"));
    }
    c.job("/api/v1/graphs/bingofhy/backups", None);
    c.expect(404, "POST", "/api/v1/graphs/nope/backups?wait=true", None);
    c.expect(400, "POST", "/api/v1/graphs/a%00b/backups", None);
    c.expect(200, "GET", "/api/v1/jobs", None);
    c.expect(404, "GET", "/api/v1/jobs/nope", None);
    let list = c.expect(200, "GET", "/api/v1/backups?graph_id=bingofhy", None);
    let sid = list["backups"][0]["snapshot_id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.expect(200, "GET", "/api/v1/backups?status=completed&limit=5", None);
    c.expect(400, "GET", "/api/v1/backups?status=bogus", None);
    c.expect(200, "GET", &format!("/api/v1/backups/{sid}"), None);
    c.expect(404, "GET", "/api/v1/backups/nope", None);
    c.expect(200, "GET", "/api/v1/backups/stats", None);
    c.job("/api/v1/backups/verify", None);
    c.job(
        "/api/v1/backups/verify",
        Some(json!({"snapshots": [sid.clone()], "read_data": "all"})),
    );
    c.job(
        "/api/v1/backups/verify",
        Some(json!({"read_data": {"percent": 50}})),
    );
    c.expect(
        400,
        "POST",
        "/api/v1/backups/verify?wait=true",
        Some(json!({"bogus": 1})),
    );
    // Optional bodies are read whole by actix-web, which refuses more than 256 KiB itself.
    let huge = json!({"snapshots": ["x".repeat(300_000)]});
    c.expect(413, "POST", "/api/v1/backups/verify", Some(huge.clone()));
    c.expect(
        413,
        "POST",
        "/api/v1/backups/retention/run",
        Some(huge.clone()),
    );
    c.expect(413, "POST", "/api/v1/replication/sync", Some(huge.clone()));
    c.expect(413, "POST", "/api/v1/recovery/points/x/restore", Some(huge));

    // Recovery points pin snapshots (deleting a pinned one is a conflict).
    let point = c.expect(
        201,
        "POST",
        "/api/v1/recovery/points",
        Some(json!({"graph_ids": ["bingofhy"], "description": "openapi"})),
    );
    let pid = point["id"].as_str().unwrap().to_owned();
    c.job(
        "/api/v1/recovery/points",
        Some(json!({"graph_ids": ["dickens"], "description": "fresh", "fresh_backup": true})),
    );
    c.expect(
        404,
        "POST",
        "/api/v1/recovery/points",
        Some(json!({"graph_ids": ["nope"], "description": "x"})),
    );
    c.expect(200, "GET", "/api/v1/recovery/points", None);
    c.expect(200, "GET", &format!("/api/v1/recovery/points/{pid}"), None);
    c.expect(404, "GET", "/api/v1/recovery/points/nope", None);
    c.expect(409, "DELETE", &format!("/api/v1/backups/{sid}"), None);
    c.job(&format!("/api/v1/recovery/points/{pid}/validate"), None);
    c.job(
        &format!("/api/v1/recovery/points/{pid}/restore"),
        Some(json!({"new_ids": {"bingofhy": "bingofhy-point"}})),
    );
    c.expect(
        404,
        "POST",
        "/api/v1/recovery/points/nope/validate?wait=true",
        None,
    );
    c.expect(200, "GET", "/api/v1/recovery/status", None);

    // Restore one snapshot into a new graph.
    c.job(
        "/api/v1/restore",
        Some(json!({"snapshot_id": sid.clone(), "target_graph_id": "bingofhy-copy"})),
    );
    c.expect(
        400,
        "POST",
        "/api/v1/restore",
        Some(json!({"snapshot_id": sid.clone(), "in_place": true, "target_graph_id": "x"})),
    );
    c.expect(
        404,
        "POST",
        "/api/v1/restore?wait=true",
        Some(json!({"snapshot_id": "nope", "target_graph_id": "y"})),
    );

    // Replication targets and sync.
    let t = json!({"name": "t1", "spec": {"kind": "path", "path": format!("{roots}/t1")}});
    c.expect(201, "POST", "/api/v1/replication/targets", Some(t.clone()));
    c.expect(409, "POST", "/api/v1/replication/targets", Some(t));
    c.expect(
        400,
        "POST",
        "/api/v1/replication/targets",
        Some(json!({"name": "t2", "spec": {"kind": "nope"}})),
    );
    c.expect(200, "GET", "/api/v1/replication/targets", None);
    c.expect(200, "GET", "/api/v1/replication/targets/t1", None);
    c.expect(404, "GET", "/api/v1/replication/targets/nope", None);
    c.expect(
        200,
        "PATCH",
        "/api/v1/replication/targets/t1",
        Some(json!({"enabled": true})),
    );
    c.expect(
        400,
        "PATCH",
        "/api/v1/replication/targets/t1",
        Some(json!({"location": "relative"})),
    );
    c.expect(200, "GET", "/api/v1/replication/targets/t1/health", None);
    c.expect(404, "GET", "/api/v1/replication/targets/nope/health", None);
    c.job(
        "/api/v1/replication/sync",
        Some(json!({"graph_id": "bingofhy", "target": "t1"})),
    );
    c.job("/api/v1/replication/sync", None);
    c.expect(200, "GET", "/api/v1/replication/status", None);

    // Events, analytics, the dashboard, workers, metrics.
    c.expect(200, "GET", "/api/v1/events", None);
    c.expect(
        200,
        "GET",
        "/api/v1/events?kind=backup&order=oldest_first&limit=3",
        None,
    );
    c.expect(400, "GET", "/api/v1/events?kind=bogus", None);
    c.expect(200, "GET", "/api/v1/events/analytics", None);
    c.expect(200, "GET", "/api/v1/events/analytics?window=1h", None);
    c.expect(400, "GET", "/api/v1/events/analytics?window=bogus", None);
    c.expect(200, "GET", "/api/v1/health-dashboard/status", None);
    c.expect(
        200,
        "GET",
        "/api/v1/health-dashboard/graphs/bingofhy/status",
        None,
    );
    c.expect(
        404,
        "GET",
        "/api/v1/health-dashboard/graphs/nope/status",
        None,
    );
    c.expect(200, "GET", "/api/v1/health-dashboard/backups/summary", None);
    c.expect(
        200,
        "GET",
        "/api/v1/health-dashboard/replication/status",
        None,
    );
    c.expect(200, "GET", "/api/v1/health-dashboard/metrics", None);
    let (st, d) = c.call_as(Some(KEY), "GET", "/health", None, Some("application/json"));
    assert_eq!(st, 200);
    assert_eq!(d["limited"], false);
    let (st, d) = c.call_as(None, "GET", "/health", None, Some("application/json"));
    assert_eq!(st, 200);
    assert_eq!(d["limited"], true);
    assert_eq!(c.call_as(None, "GET", "/health", None, None).0, 200);
    let (st, d) = c.call_as(
        Some(KEY),
        "GET",
        "/health/graphs/bingofhy",
        None,
        Some("application/json"),
    );
    assert_eq!(st, 200, "{d}");
    assert!(d["snapshots"].is_array(), "{d}");
    let (st, _) = c.call_as(
        Some(KEY),
        "GET",
        "/health/graphs/nope",
        None,
        Some("application/json"),
    );
    assert_eq!(st, 404);
    let (st, _) = c.call_as(None, "GET", "/health/graphs/bingofhy", None, None);
    assert_eq!(st, 401, "the graph page needs the key");
    c.expect(200, "GET", "/api/v1/workers", None);
    c.expect(200, "GET", "/api/v1/scheduler", None);

    // Retention (dry run), then the deletions.
    c.job(
        "/api/v1/backups/retention/run",
        Some(json!({"dry_run": true})),
    );
    c.job("/api/v1/backups/retention/run", None);
    c.expect(
        200,
        "DELETE",
        &format!("/api/v1/recovery/points/{pid}"),
        None,
    );
    c.expect(
        404,
        "DELETE",
        &format!("/api/v1/recovery/points/{pid}"),
        None,
    );
    let list = c.expect(200, "GET", "/api/v1/backups?graph_id=dickens", None);
    let dickens_sid = list["backups"][0]["snapshot_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, _) = c.call("DELETE", &format!("/api/v1/backups/{dickens_sid}"), None);
    assert!(st == 204 || st == 409, "{st}");
    c.expect(404, "DELETE", "/api/v1/backups/nope", None);
    c.expect(204, "DELETE", "/api/v1/replication/targets/t1", None);
    c.expect(404, "DELETE", "/api/v1/replication/targets/t1", None);

    // Every operation of the document was exercised.
    let all: BTreeSet<String> = c.doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|m| !m.starts_with('x') && *m != "parameters")
                .map(move |m| format!("{} {p}", m.to_uppercase()))
        })
        .collect();
    assert!(
        c.failures.is_empty(),
        "{} answers disagree with the document:\n{}",
        c.failures.len(),
        c.failures.join("\n")
    );
    let missed: Vec<&String> = all.difference(&c.seen).collect();
    assert!(missed.is_empty(), "operations not exercised: {missed:?}");
}

/// The validator and the status check reject what they must: a real body with a required
/// field removed, a wrong type, an unknown enum value, a status the document does not list.
#[test]
fn the_checks_reject_wrong_bodies_and_unlisted_statuses() {
    let s = server();
    let doc = fetch_doc(&s);
    let r = crate::common::get(&s.url("/api/v1/graphs"), &[("X-API-Key", KEY)]);
    assert_eq!(r.status, 200);
    let ok = |body: &Value, status: u16| {
        check_exchange(
            &doc,
            "GET",
            "/api/v1/graphs",
            None,
            status,
            "application/json",
            &body.to_string(),
        )
    };
    let real = r.json();
    assert!(real["graphs"].as_array().is_some_and(|g| !g.is_empty()));
    ok(&real, 200).expect("the real answer validates");

    let mut missing = real.clone();
    missing["graphs"][0].as_object_mut().unwrap().remove("id");
    let e = ok(&missing, 200).expect_err("a missing required field is rejected");
    assert!(e.contains("`id` is missing"), "{e}");

    let mut wrong_type = real.clone();
    wrong_type["graphs"][0]["id"] = json!(5);
    assert!(ok(&wrong_type, 200).is_err(), "a number for a string");

    let mut wrong_enum = real.clone();
    wrong_enum["graphs"][0]["source"] = json!("bogus");
    assert!(ok(&wrong_enum, 200).is_err(), "an unknown enum value");

    assert!(
        ok(&json!({}), 200).is_err(),
        "the wrapper's field is required"
    );
    let e = ok(&real, 409).expect_err("a GET list never answers 409");
    assert!(e.contains("status not listed"), "{e}");
    // Errors have one shape.
    ok(
        &json!({"error": {"code": "bad_request", "message": "m"}}),
        400,
    )
    .expect("an error body validates");
    assert!(ok(&json!({"error": "m"}), 400).is_err());

    // The constructs utoipa emits beyond these: nullable types, oneOf, allOf.
    let d = json!({"components": {"schemas": {"A": {"type": "object", "required": ["a"],
        "properties": {"a": {"type": "integer", "minimum": 0}}}}}});
    let opt = json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/A"}]});
    assert!(validate(&d, &opt, &Value::Null, "$").is_ok());
    assert!(validate(&d, &opt, &json!({"a": 1}), "$").is_ok());
    assert!(validate(&d, &opt, &json!({"a": -1}), "$").is_err());
    let both = json!({"allOf": [{"$ref": "#/components/schemas/A"},
        {"type": "object", "required": ["b"], "properties": {"b": {"type": ["string", "null"]}}}]});
    assert!(validate(&d, &both, &json!({"a": 1, "b": null}), "$").is_ok());
    assert!(validate(&d, &both, &json!({"a": 1}), "$").is_err());
    assert!(validate(&d, &both, &json!({"a": 1, "b": 2}), "$").is_err());
}
