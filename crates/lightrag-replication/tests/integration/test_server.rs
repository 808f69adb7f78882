//! A minimal peer server: the receive routes of `docs/replication.md` wired to
//! [`Receiver`] with an API key check. The lightrag-ops server mirrors this (under its own
//! auth middleware and error type).

// Handlers return a ready `HttpResponse` as their error, as actix handlers do.
#![allow(clippy::result_large_err)]

use std::net::TcpListener;
use std::path::Path;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use lightrag_backup::BackupError;
use lightrag_replication::{
    Accepted, CONTENT_HASH_HEADER, HaveRequest, HaveResponse, ListedObject, RECEIVE_PATH, Receiver,
    ReplicationError, api_key_matches,
};

struct PeerState {
    receiver: Receiver,
    api_key: String,
}

fn error(status: StatusCode, code: &str, message: String) -> HttpResponse {
    HttpResponse::build(status)
        .json(serde_json::json!({"error": {"code": code, "message": message}}))
}

/// The one place mapping receiver errors to HTTP.
fn to_response(e: ReplicationError) -> HttpResponse {
    let (status, code) = match &e {
        ReplicationError::InvalidInput { .. } => (StatusCode::BAD_REQUEST, "invalid_input"),
        ReplicationError::HashMismatch { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch")
        }
        ReplicationError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        ReplicationError::RepositoryMismatch { .. } => {
            (StatusCode::CONFLICT, "repository_mismatch")
        }
        ReplicationError::Backup(BackupError::ObjectNotFound { .. }) => {
            (StatusCode::NOT_FOUND, "not_found")
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    error(status, code, e.to_string())
}

fn check_key(req: &HttpRequest, st: &PeerState) -> Result<(), HttpResponse> {
    let presented = req
        .headers()
        .get("X-API-Key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            req.headers()
                .get("Authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
    if api_key_matches(&st.api_key, presented) {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong API key".into(),
        ))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ReplicationError> + Send + 'static,
) -> Result<T, HttpResponse> {
    match web::block(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_response(e)),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        )),
    }
}

async fn status(req: HttpRequest, st: web::Data<PeerState>) -> HttpResponse {
    if let Err(r) = check_key(&req, &st) {
        return r;
    }
    let st = st.into_inner();
    match blocking(move || st.receiver.status()).await {
        Ok(s) => HttpResponse::Ok().json(s),
        Err(r) => r,
    }
}

#[derive(serde::Deserialize)]
struct ListQuery {
    #[serde(default)]
    prefix: String,
}

async fn list(
    req: HttpRequest,
    st: web::Data<PeerState>,
    q: web::Query<ListQuery>,
) -> HttpResponse {
    if let Err(r) = check_key(&req, &st) {
        return r;
    }
    let st = st.into_inner();
    let prefix = q.into_inner().prefix;
    match blocking(move || st.receiver.list(&prefix)).await {
        Ok(objs) => HttpResponse::Ok().json(
            objs.into_iter()
                .map(|o| ListedObject {
                    key: o.key,
                    size: o.size,
                })
                .collect::<Vec<_>>(),
        ),
        Err(r) => r,
    }
}

async fn have(
    req: HttpRequest,
    st: web::Data<PeerState>,
    body: web::Json<HaveRequest>,
) -> HttpResponse {
    if let Err(r) = check_key(&req, &st) {
        return r;
    }
    let st = st.into_inner();
    let keys = body.into_inner().keys;
    if keys.len() > 10_000 {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "at most 10000 keys per request".into(),
        );
    }
    match blocking(move || st.receiver.have(&keys)).await {
        Ok(present) => HttpResponse::Ok().json(HaveResponse { present }),
        Err(r) => r,
    }
}

fn parse_range(req: &HttpRequest) -> Option<(u64, u64)> {
    let v = req.headers().get("Range")?.to_str().ok()?;
    let (a, b) = v.strip_prefix("bytes=")?.split_once('-')?;
    let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
    (b >= a).then(|| (a, b - a + 1))
}

async fn get_object(
    req: HttpRequest,
    st: web::Data<PeerState>,
    key: web::Path<String>,
) -> HttpResponse {
    if let Err(r) = check_key(&req, &st) {
        return r;
    }
    let range = parse_range(&req);
    let st = st.into_inner();
    let key = key.into_inner();
    match blocking(move || st.receiver.read(&key, range)).await {
        Ok(data) if range.is_some() => HttpResponse::PartialContent().body(data),
        Ok(data) => HttpResponse::Ok().body(data),
        Err(r) => r,
    }
}

async fn put_object(
    req: HttpRequest,
    st: web::Data<PeerState>,
    key: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(r) = check_key(&req, &st) {
        return r;
    }
    let hash = req
        .headers()
        .get(CONTENT_HASH_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let st = st.into_inner();
    let key = key.into_inner();
    match blocking(move || st.receiver.accept(&key, body.to_vec(), hash.as_deref())).await {
        Ok(Accepted::Stored) => HttpResponse::Created().finish(),
        Ok(Accepted::AlreadyPresent) => HttpResponse::Ok().finish(),
        Err(r) => r,
    }
}

async fn delete_object(
    req: HttpRequest,
    st: web::Data<PeerState>,
    key: web::Path<String>,
) -> HttpResponse {
    if let Err(r) = check_key(&req, &st) {
        return r;
    }
    let st = st.into_inner();
    let key = key.into_inner();
    match blocking(move || st.receiver.delete(&key)).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(r) => r,
    }
}

/// The routes, for `App::configure`.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(RECEIVE_PATH)
            .route("/status", web::get().to(status))
            .route("/have", web::post().to(have))
            .route("/objects", web::get().to(list))
            .route("/objects/{key:.*}", web::get().to(get_object))
            .route("/objects/{key:.*}", web::put().to(put_object))
            .route("/objects/{key:.*}", web::delete().to(delete_object)),
    );
}

/// A running peer on a loopback port.
pub struct TestPeer {
    pub base: String,
    pub port: u16,
    handle: Option<ServerHandle>,
    thread: Option<JoinHandle<()>>,
}

impl TestPeer {
    /// Start a peer receiving into `dir`, on `port` (0 = any free port).
    pub fn start(dir: &Path, api_key: &str, port: u16) -> TestPeer {
        let receiver = Receiver::directory(dir).with_max_object_bytes(64 * 1024 * 1024);
        let limit = usize::try_from(receiver.max_object_bytes()).unwrap();
        let state = web::Data::new(PeerState {
            receiver,
            api_key: api_key.to_owned(),
        });
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .app_data(web::PayloadConfig::new(limit))
                        .app_data(web::JsonConfig::default().limit(16 * 1024 * 1024))
                        .configure(routes)
                })
                .workers(2)
                .disable_signals()
                .shutdown_timeout(1)
                .listen(listener)
                .expect("listen")
                .run();
                tx.send(server.handle()).unwrap();
                let _ = server.await;
            });
        });
        let handle = rx.recv().unwrap();
        TestPeer {
            base: format!("http://127.0.0.1:{port}"),
            port,
            handle: Some(handle),
            thread: Some(thread),
        }
    }

    /// Stop the server and wait for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            actix_web::rt::System::new().block_on(h.stop(false));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestPeer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
