//! The HTTP guard in front of every API route (see `docs/security.md`):
//!
//! 1. **Preflights refused.** An `OPTIONS` request carrying `Origin` or
//!    `Access-Control-Request-Method` (a browser's CORS preflight) gets 403 with no
//!    `Access-Control-Allow-*` header, so no other site's script may call the API.
//! 2. **Host names.** Without `LIGHTRAG_API_KEY` only the loopback names `localhost`,
//!    `127.0.0.1` and `[::1]` (any port) are answered, plus `LIGHTRAG_ALLOWED_HOSTS`: a web page
//!    that rebinds its own DNS name to 127.0.0.1 sends its own name as `Host` and is refused
//!    (403). With a key, `LIGHTRAG_ALLOWED_HOSTS` (when set) is the allow-list.
//! 3. **API key** (when configured; paths in `LIGHTRAG_WHITELIST_PATHS` are open): missing →
//!    401, wrong → 403. The peer receive routes (`/api/v1/replication/receive`, `…/receive/…`)
//!    take `LIGHTRAG_REPLICATION_RECEIVE_KEY` or the API key; the receive key opens nothing
//!    else: presented anywhere else (whitelisted paths included) it gets 403. Failures are counted per client address: after [`MAX_FAILURES`] in
//!    [`FAILURE_WINDOW`] the address gets 429 with `Retry-After` (its keys are not even
//!    compared) until the window ends. Each failure increments `lightrag_auth_failures_total`
//!    and is logged at WARN with target `security` (address, path, reason; never the key).
//! 4. **Content types.** A state-changing request (POST, PUT, PATCH, DELETE) must declare
//!    `Content-Type: application/json`, except the peer replication upload
//!    (`PUT /api/v1/replication/receive/objects/…`), which declares
//!    `application/octet-stream`. Without a `Content-Type`, only a request with an empty body
//!    passes. HTML forms can only send `text/plain`, `multipart/form-data` and
//!    `application/x-www-form-urlencoded`, and a script sending anything else cross-site needs
//!    the preflight that (1) refuses: 415.

use std::collections::HashMap;
use std::future::{Future, Ready, ready};
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{
    self, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap, HeaderValue, TRANSFER_ENCODING,
};
use actix_web::http::{Method, StatusCode};
use actix_web::{Error, HttpResponse};
use lightrag_config::Config;

use crate::middleware::{keys_match, presented_key};

/// Failed authentications an address may make in [`FAILURE_WINDOW`] before it gets 429.
pub(crate) const MAX_FAILURES: u32 = 10;
/// The window failed authentications are counted in (and how long an address stays blocked,
/// at most).
pub(crate) const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses the failure table tracks at most (bounded memory: a few hundred KiB). When it is
/// full, expired entries go first, then the oldest window.
pub(crate) const FAILURE_TABLE_CAPACITY: usize = 4096;

/// Host names always answered: a browser only sends them when the user typed them, never after
/// a DNS rebinding (which keeps the attacker's name in `Host`).
const LOOPBACK_HOSTS: &[&str] = &["localhost", "127.0.0.1", "[::1]"];

/// The prefix of the peer replication upload, the one route that takes a binary body.
const RECEIVE_OBJECTS: &str = "/api/v1/replication/receive/objects/";

/// Whether `path` is one of the peer receive routes (the only ones the receive key opens):
/// [`lightrag_replication::RECEIVE_PATH`] itself or below it, on a segment boundary (the
/// router's scope matches the same way; a percent-encoded variant of the prefix does not
/// route there and is treated as any other path).
pub(crate) fn is_receive_path(path: &str) -> bool {
    path.strip_prefix(lightrag_replication::RECEIVE_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The guard middleware (cheap to clone; one instance shared by all workers, so the failure
/// table is per server).
#[derive(Clone, Debug)]
pub(crate) struct Guard {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Arc<Config>,
    limiter: FailureLimiter,
}

/// A refused request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `{"error": {"code", "message"}}` with the status (and `Retry-After` for 429).
    fn response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            b.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        b.json(serde_json::json!({
            "error": {"code": self.code, "message": self.message}
        }))
    }
}

impl Guard {
    /// A guard for the server started with `config`.
    pub(crate) fn new(config: Arc<Config>) -> Self {
        lightrag_monitoring::record::register_auth_failures();
        Guard {
            inner: Arc::new(Inner {
                config,
                limiter: FailureLimiter::new(MAX_FAILURES, FAILURE_WINDOW, FAILURE_TABLE_CAPACITY),
            }),
        }
    }

    /// Every check, in order; `Err` is the answer to send instead of calling the route.
    fn check(&self, req: &ServiceRequest) -> Result<(), Refusal> {
        let c = &self.inner.config;
        check_preflight(req.method(), req.headers())?;
        check_host(req, c)?;
        let path = req.path();
        let receive_key = c.replication_receive_key.as_ref().map(|k| k.expose());
        let api_key = c.api_key.as_ref().map(|k| k.expose());
        if is_receive_path(path) {
            // The receive key, or the admin key (peers set up before the receive key existed).
            let accepted: Vec<&str> = receive_key.into_iter().chain(api_key).collect();
            if !accepted.is_empty() && !c.is_whitelisted(path) {
                self.check_key(req, &accepted)?;
            }
        } else {
            if let Some(rk) = receive_key {
                self.refuse_receive_key_elsewhere(req, rk)?;
            }
            if let Some(expected) = api_key.filter(|_| !c.is_whitelisted(path)) {
                self.check_key(req, &[expected])?;
            }
        }
        check_content_type(req.method(), path, req.headers())
    }

    /// The receive key presented outside the receive routes: 403, logged at WARN (`security`)
    /// and counted in `lightrag_auth_failures_total{reason="invalid"}` (a leaked receive key
    /// probing the admin API). It does not count towards the per-address block: that limits
    /// guessing, and this key was not guessed (blocking would also stop the peer's own uploads).
    fn refuse_receive_key_elsewhere(
        &self,
        req: &ServiceRequest,
        receive_key: &str,
    ) -> Result<(), Refusal> {
        if !presented_key(req.headers()).is_some_and(|k| keys_match(k, receive_key)) {
            return Ok(());
        }
        let client = req.peer_addr().map(|a| client_key(a.ip()));
        lightrag_monitoring::record::record_auth_failure("invalid");
        tracing::warn!(
            target: "security",
            client = %client.map_or_else(|| "unknown".to_owned(), |c| c.to_string()),
            method = %req.method(),
            path = %req.path(),
            reason = "receive_key_scope",
            "The replication receive key was presented outside the receive routes"
        );
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the replication receive key (LIGHTRAG_REPLICATION_RECEIVE_KEY) only authorises /api/v1/replication/receive/*; use LIGHTRAG_API_KEY for this route",
        ))
    }

    /// The presented key must match one of `expected` (each compared in constant time).
    fn check_key(&self, req: &ServiceRequest, expected: &[&str]) -> Result<(), Refusal> {
        let client = req.peer_addr().map(|a| client_key(a.ip()));
        let now = Instant::now();
        let limiter = &self.inner.limiter;
        if let Some(wait) = client.and_then(|c| limiter.blocked(c, now)) {
            lightrag_monitoring::record::record_auth_failure("rate_limited");
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut r = Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!(
                    "too many failed authentications from this address; retry in {secs} s with the right key (LIGHTRAG_API_KEY)"
                ),
            );
            r.retry_after = Some(secs.max(1));
            return Err(r);
        }
        let (reason, refusal) = match presented_key(req.headers()) {
            None => (
                "missing",
                Refusal::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this endpoint needs the API key in the X-API-Key header or as Authorization: Bearer <key>",
                ),
            ),
            Some(k) if !expected.iter().fold(false, |ok, e| keys_match(k, e) | ok) => (
                "invalid",
                Refusal::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "the API key is not valid; check LIGHTRAG_API_KEY",
                ),
            ),
            Some(_) => return Ok(()),
        };
        lightrag_monitoring::record::record_auth_failure(reason);
        let failures = client.map_or(0, |c| limiter.record_failure(c, now));
        tracing::warn!(
            target: "security",
            client = %client.map_or_else(|| "unknown".to_owned(), |c| c.to_string()),
            method = %req.method(),
            path = %req.path(),
            reason,
            failures,
            blocked = failures >= MAX_FAILURES,
            "Failed API authentication"
        );
        Err(refusal)
    }
}

/// A browser's CORS preflight: refused, with no `Access-Control-Allow-*` header.
fn check_preflight(method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
    let preflight = *method == Method::OPTIONS
        && (headers.contains_key(header::ORIGIN)
            || headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD));
    if preflight {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "cors_refused",
            "cross-origin requests are not allowed: lightrag-ops sends no CORS headers; call the API from a server-side client or the CLI",
        ));
    }
    Ok(())
}

/// The `Host` (or HTTP/2 `:authority`) name without its port, lowercased; `None` when the
/// request names no host (not a browser: browsers always send one).
fn request_host(req: &ServiceRequest) -> Option<String> {
    let raw = match req.headers().get(HOST) {
        Some(v) => v.to_str().unwrap_or("\u{0}").to_owned(),
        None => req.uri().authority()?.as_str().to_owned(),
    };
    Some(strip_port(&raw).to_ascii_lowercase())
}

/// `name:port` → `name`, `[v6]:port` → `[v6]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Whether `host` (lowercase, no port) may be answered.
pub(crate) fn host_allowed(host: &str, allowed: &[String], has_key: bool) -> bool {
    LOOPBACK_HOSTS.contains(&host)
        || (has_key && allowed.is_empty())
        || allowed.iter().any(|a| a == "*" || a == host)
}

fn check_host(req: &ServiceRequest, c: &Config) -> Result<(), Refusal> {
    let Some(host) = request_host(req) else {
        return Ok(());
    };
    if host_allowed(&host, &c.allowed_hosts, c.api_key.is_some()) {
        return Ok(());
    }
    let shown: String = host.chars().filter(|c| !c.is_control()).take(100).collect();
    let message = if c.api_key.is_some() {
        format!(
            "Host `{shown}` is not in LIGHTRAG_ALLOWED_HOSTS; add it there (comma-separated names) to reach this server by that name"
        )
    } else {
        format!(
            "Host `{shown}` is refused: without LIGHTRAG_API_KEY this server answers only localhost, 127.0.0.1 and [::1] (protection against DNS rebinding); set LIGHTRAG_API_KEY, or list the name in LIGHTRAG_ALLOWED_HOSTS"
        )
    };
    Err(Refusal::new(
        StatusCode::FORBIDDEN,
        "host_not_allowed",
        message,
    ))
}

/// Whether the request announces a body (a transfer encoding, or a `Content-Length` that is
/// not 0).
fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(CONTENT_LENGTH)
        .is_some_and(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) != Some(0))
}

/// The media type of `Content-Type` (lowercase, without parameters).
fn media_type(v: &HeaderValue) -> String {
    v.to_str()
        .unwrap_or("invalid")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// State-changing requests carry JSON (or, for the replication upload, octet-stream); a
/// request without a `Content-Type` passes only with an empty body.
pub(crate) fn check_content_type(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let state_changing = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if !state_changing {
        return Ok(());
    }
    let binary_upload = *method == Method::PUT && path.starts_with(RECEIVE_OBJECTS);
    let accepted = if binary_upload {
        "application/octet-stream"
    } else {
        "application/json"
    };
    match headers.get(CONTENT_TYPE).map(media_type) {
        Some(m) if m == accepted => Ok(()),
        None if !has_body(headers) => Ok(()),
        found => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "{method} {path} needs Content-Type: {accepted} (found {}); state-changing requests never accept form or text bodies",
                found.as_deref().unwrap_or("none, with a body")
            ),
        )),
    }
}

/// The address failures are counted for: IPv4 as is, IPv6 by its /64 (one host owns a /64, so
/// rotating addresses inside it gains nothing), IPv4-mapped IPv6 as IPv4.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Failed authentications per address in fixed windows, in a table of bounded size.
#[derive(Debug)]
pub(crate) struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    capacity: usize,
    table: Mutex<HashMap<IpAddr, FailureWindow>>,
}

#[derive(Debug, Clone, Copy)]
struct FailureWindow {
    start: Instant,
    failures: u32,
}

impl FailureLimiter {
    pub(crate) fn new(max_failures: u32, window: Duration, capacity: usize) -> Self {
        FailureLimiter {
            max_failures,
            window,
            capacity: capacity.max(1),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// How long `client` stays blocked, if it is.
    pub(crate) fn blocked(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let w = table.get(&client)?;
        let elapsed = now.saturating_duration_since(w.start);
        (w.failures >= self.max_failures && elapsed < self.window).then(|| self.window - elapsed)
    }

    /// Counts a failure of `client`; returns its failures in the current window.
    pub(crate) fn record_failure(&self, client: IpAddr, now: Instant) -> u32 {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if !table.contains_key(&client) && table.len() >= self.capacity {
            let window = self.window;
            table.retain(|_, w| now.saturating_duration_since(w.start) < window);
            if table.len() >= self.capacity
                && let Some(oldest) = table.iter().min_by_key(|(_, w)| w.start).map(|(k, _)| *k)
            {
                table.remove(&oldest);
            }
        }
        let w = table.entry(client).or_insert(FailureWindow {
            start: now,
            failures: 0,
        });
        if now.saturating_duration_since(w.start) >= self.window {
            *w = FailureWindow {
                start: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
        w.failures
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl<S, B> Transform<S, ServiceRequest> for Guard
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = Error;
    type Transform = GuardService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService {
            service: Rc::new(service),
            guard: self.clone(),
        }))
    }
}

/// The per-worker service of [`Guard`].
#[derive(Debug)]
pub(crate) struct GuardService<S> {
    service: Rc<S>,
    guard: Guard,
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = Error;
    type Future = LocalFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        match self.guard.check(&req) {
            Err(refusal) => {
                let res = req.into_response(refusal.response()).map_into_right_body();
                Box::pin(async move { Ok(res) })
            }
            Ok(()) => {
                let fut = self.service.call(req);
                Box::pin(async move { fut.await.map(ServiceResponse::map_into_left_body) })
            }
        }
    }
}

/// `LIGHTRAG_METRICS_TOKEN` of the metrics listener (`None`: open, Prometheus' convention).
#[derive(Debug)]
pub(crate) struct MetricsToken(pub(crate) Option<lightrag_config::Secret>);

/// The metrics listener's check: with a token, a scrape needs `Authorization: Bearer <token>`
/// (compared in constant time); otherwise 401 with `WWW-Authenticate: Bearer`.
pub(crate) async fn require_metrics_token(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl actix_web::body::MessageBody, BoxBody>>, Error> {
    let expected = req
        .app_data::<actix_web::web::Data<MetricsToken>>()
        .and_then(|t| t.0.clone());
    if let Some(expected) = expected {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        if !presented.is_some_and(|t| keys_match(t, expected.expose())) {
            tracing::warn!(
                target: "security",
                client = %req.peer_addr().map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string()),
                presented = presented.is_some(),
                "Refused a metrics scrape without the right bearer token"
            );
            let mut res = Refusal::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this metrics listener needs Authorization: Bearer <LIGHTRAG_METRICS_TOKEN> (Prometheus: the scrape job's `authorization` setting)",
            )
            .response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return Ok(req.into_response(res).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("localhost:9622"), "localhost");
        assert_eq!(strip_port("localhost"), "localhost");
        assert_eq!(strip_port("[::1]:9622"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("evil.example:9622"), "evil.example");
        assert_eq!(strip_port("evil.example:x"), "evil.example:x");
    }

    #[test]
    fn host_policy() {
        let none: Vec<String> = Vec::new();
        for h in ["localhost", "127.0.0.1", "[::1]"] {
            assert!(host_allowed(h, &none, false), "{h}");
        }
        for h in [
            "evil.example",
            "127.0.0.1.evil.example",
            "localhost.",
            "10.0.0.5",
        ] {
            assert!(!host_allowed(h, &none, false), "{h}");
        }
        // With a key and no list: any name.
        assert!(host_allowed("evil.example", &none, true));
        // The list applies with or without a key; loopback names always pass.
        let list = vec!["backup.example.com".to_owned()];
        for key in [false, true] {
            assert!(host_allowed("backup.example.com", &list, key));
            assert!(!host_allowed("evil.example", &list, key));
            assert!(host_allowed("localhost", &list, key));
        }
        assert!(host_allowed("anything", &["*".to_owned()], false));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                header::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            );
        }
        h
    }

    #[test]
    fn content_type_policy() {
        let p = "/api/v1/graphs/g1/backups";
        let ok = |m: Method, path: &str, h: &[(&'static str, &'static str)]| {
            check_content_type(&m, path, &headers(h)).is_ok()
        };
        assert!(ok(Method::GET, p, &[("content-type", "text/plain")]));
        assert!(ok(Method::POST, p, &[]));
        assert!(ok(Method::POST, p, &[("content-length", "0")]));
        assert!(!ok(Method::POST, p, &[("content-length", "2")]));
        assert!(!ok(Method::POST, p, &[("transfer-encoding", "chunked")]));
        assert!(ok(
            Method::POST,
            p,
            &[("content-type", "application/json; charset=utf-8")]
        ));
        for form in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/octet-stream",
        ] {
            assert!(!ok(Method::POST, p, &[("content-type", form)]), "{form}");
            assert!(
                !ok(
                    Method::POST,
                    p,
                    &[("content-type", form), ("content-length", "0")]
                ),
                "{form}"
            );
        }
        let upload = "/api/v1/replication/receive/objects/data/ab/cd";
        assert!(ok(
            Method::PUT,
            upload,
            &[("content-type", "application/octet-stream")]
        ));
        assert!(!ok(Method::PUT, upload, &[("content-type", "text/plain")]));
        assert!(!ok(
            Method::PUT,
            "/api/v1/graphs/g1",
            &[("content-type", "application/octet-stream")]
        ));
        assert!(ok(Method::DELETE, upload, &[]));
    }

    #[test]
    fn receive_routes_are_matched_on_a_segment_boundary() {
        for p in [
            "/api/v1/replication/receive",
            "/api/v1/replication/receive/status",
            "/api/v1/replication/receive/objects/data/ab/cd",
        ] {
            assert!(is_receive_path(p), "{p}");
        }
        for p in [
            "/api/v1/replication/receiver",
            "/api/v1/replication/receive%2Fstatus",
            "/api/v1/replication/targets",
            "/api/v1/replication",
            "/health",
            "/api/v1/replication/receiv%65/status",
        ] {
            assert!(!is_receive_path(p), "{p}");
        }
    }

    #[test]
    fn preflights_are_refused() {
        assert!(
            check_preflight(
                &Method::OPTIONS,
                &headers(&[
                    ("origin", "http://evil.example"),
                    ("access-control-request-method", "POST")
                ])
            )
            .is_err()
        );
        assert!(check_preflight(&Method::OPTIONS, &headers(&[])).is_ok());
        assert!(check_preflight(&Method::GET, &headers(&[("origin", "http://x")])).is_ok());
    }

    #[test]
    fn failures_block_one_address_for_the_window() {
        let l = FailureLimiter::new(3, Duration::from_secs(60), 100);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for i in 1..=3 {
            assert!(l.blocked(a, t0).is_none());
            assert_eq!(l.record_failure(a, t0), i);
        }
        assert_eq!(l.blocked(a, t0), Some(Duration::from_secs(60)));
        assert!(l.blocked(b, t0).is_none(), "only that address");
        let later = t0 + Duration::from_secs(61);
        assert!(l.blocked(a, later).is_none(), "the window ends");
        assert_eq!(l.record_failure(a, later), 1, "a new window");
    }

    #[test]
    fn the_table_is_bounded() {
        let l = FailureLimiter::new(3, Duration::from_secs(60), 8);
        let t0 = Instant::now();
        for i in 0..100u8 {
            l.record_failure(
                IpAddr::from([198, 51, 100, i]),
                t0 + Duration::from_millis(i.into()),
            );
        }
        assert_eq!(l.len(), 8);
    }

    #[test]
    fn ipv6_counts_by_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let m: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(m), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
