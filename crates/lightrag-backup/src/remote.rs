//! Object-store backends (S3-compatible, Azure Blob, GCS) through the `object_store` crate,
//! repository URLs ([`open_storage`]) and the up-front access check ([`check_storage`]).
//!
//! The [`Storage`] trait is synchronous; [`ObjectStorage`] owns a small tokio runtime and
//! drives object_store's async calls with `Runtime::block_on`. Callers must therefore run
//! repository operations on plain or blocking threads (`spawn_blocking`, `web::block`, the
//! CLI's main thread), never directly inside an async task: tokio refuses to block a reactor
//! thread. Dropping an [`ObjectStorage`] never blocks (its runtime is shut down in the
//! background), so dropping it from async code is fine.
//!
//! Every HTTP request the client sends (retries and credential fetches included) is counted
//! by method; [`Storage::stats`] returns the counters, so callers can report requests per
//! operation (operators pay per request).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use lightrag_config::redact_url;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use serde::{Deserialize, Serialize};

use crate::error::{BackupError, RemoteProblem, Result};
use crate::storage::{LocalStorage, ObjectInfo, Storage, StorageStats};

/// Options of the object-store backends. Credentials come from the standard sources of each
/// store (`AWS_*`, `AZURE_*`, `GOOGLE_*` environment variables, read by object_store's
/// `from_env` builders) unless given in [`extra`](Self::extra).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectStoreOptions {
    /// Custom endpoint URL (MinIO, Ceph RGW, R2, a local test server), e.g.
    /// `http://127.0.0.1:9000`. S3 and Azure only.
    pub endpoint: Option<String>,
    /// Region (S3). Default: `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted style
    /// (`bucket.endpoint/key`); needed by most self-hosted S3 servers. Default false.
    pub path_style: bool,
    /// Allow plain-HTTP endpoints (local servers). Default false.
    pub allow_http: bool,
    /// TCP connect timeout (default 5 s).
    pub connect_timeout: Duration,
    /// Timeout of one HTTP request, body included (default 120 s).
    pub request_timeout: Duration,
    /// Retries of a failed request (throttling, 5xx, connection errors; default 10).
    pub max_retries: usize,
    /// Give up retrying a request after this long (default 180 s).
    pub retry_timeout: Duration,
    /// First retry back-off; grows exponentially with jitter (default 100 ms).
    pub initial_backoff: Duration,
    /// Largest retry back-off (default 15 s).
    pub max_backoff: Duration,
    /// Requests in flight at once through this storage (default 16).
    pub max_concurrent_requests: usize,
    /// Objects larger than this are uploaded in parts (default 32 MiB).
    pub multipart_threshold: u64,
    /// Part size of multipart uploads (default 16 MiB; S3 needs at least 5 MiB).
    pub multipart_part_size: u64,
    /// Parts of one object uploaded concurrently (default 4).
    pub multipart_concurrency: usize,
    /// Worker threads of the storage's own tokio runtime (default 2).
    pub runtime_threads: usize,
    /// Extra object_store configuration keys for the chosen store (e.g. `aws_access_key_id`,
    /// `aws_secret_access_key`, `azure_storage_account_key`), applied after the environment.
    /// Values are never printed (`Debug` shows keys only) nor put in error messages.
    #[serde(skip_serializing)]
    pub extra: BTreeMap<String, String>,
}

impl Default for ObjectStoreOptions {
    fn default() -> Self {
        ObjectStoreOptions {
            endpoint: None,
            region: None,
            path_style: false,
            allow_http: false,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(120),
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            max_concurrent_requests: 16,
            multipart_threshold: 32 * 1024 * 1024,
            multipart_part_size: 16 * 1024 * 1024,
            multipart_concurrency: 4,
            runtime_threads: 2,
            extra: BTreeMap::new(),
        }
    }
}

impl std::fmt::Debug for ObjectStoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreOptions")
            .field("endpoint", &self.endpoint.as_deref().map(redact_url))
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_timeout", &self.retry_timeout)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("multipart_threshold", &self.multipart_threshold)
            .field("multipart_part_size", &self.multipart_part_size)
            .field("extra_keys", &self.extra.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Open the storage named by a repository location: a local path, `file:///path`,
/// `s3://bucket[/prefix]`, `az://container[/prefix]` (or `azure://`), `gs://bucket[/prefix]`.
///
/// Object stores are reached lazily: this only validates the URL and options and builds the
/// client; use [`check_storage`] to test access up front.
pub fn open_storage(location: &str, opts: &ObjectStoreOptions) -> Result<Arc<dyn Storage>> {
    let location = location.trim();
    if location.is_empty() {
        return Err(BackupError::InvalidArgument(
            "empty repository location".into(),
        ));
    }
    let Some((scheme, rest)) = location.split_once("://") else {
        return Ok(Arc::new(LocalStorage::new(location)));
    };
    let kind = match scheme.to_ascii_lowercase().as_str() {
        "file" => {
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(BackupError::InvalidArgument(format!(
                    "`{}` is not an absolute file:// URL; use file:///absolute/path or a plain path",
                    redact_url(location)
                )));
            }
            return Ok(Arc::new(LocalStorage::new(path)));
        }
        "s3" => Scheme::S3,
        "az" | "azure" => Scheme::Azure,
        "gs" => Scheme::Gcs,
        other => {
            return Err(BackupError::InvalidArgument(format!(
                "unsupported repository URL scheme `{other}://`; use a path, file://, s3://, az://, azure:// or gs://"
            )));
        }
    };
    let (bucket, prefix) = match rest.split_once('/') {
        Some((b, p)) => (b, p.trim_matches('/')),
        None => (rest, ""),
    };
    if bucket.is_empty() || bucket.contains('@') || bucket.contains(':') {
        return Err(BackupError::InvalidArgument(format!(
            "`{}://{bucket}/…`: expected {scheme}://<bucket>/<prefix> (credentials go in the environment, never in the URL)",
            scheme
        )));
    }
    Ok(Arc::new(ObjectStorage::new(kind, bucket, prefix, opts)?))
}

/// Which object store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    S3,
    Azure,
    Gcs,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Azure => "az",
            Scheme::Gcs => "gs",
        }
    }
}

/// HTTP requests sent, by method.
#[derive(Debug, Default)]
struct Counters {
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    post: AtomicU64,
    delete: AtomicU64,
    other: AtomicU64,
}

impl Counters {
    fn count(&self, method: &str) {
        let c = match method {
            "GET" => &self.get,
            "HEAD" => &self.head,
            "PUT" => &self.put,
            "POST" => &self.post,
            "DELETE" => &self.delete,
            _ => &self.other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> StorageStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let s = StorageStats {
            requests: 0,
            get: l(&self.get),
            head: l(&self.head),
            put: l(&self.put),
            post: l(&self.post),
            delete: l(&self.delete),
            other: l(&self.other),
        };
        StorageStats {
            requests: s.get + s.head + s.put + s.post + s.delete + s.other,
            ..s
        }
    }
}

/// Counts every request on its way to the reqwest client.
#[derive(Debug)]
struct CountingConnector(Arc<Counters>);

impl HttpConnector for CountingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(CountingService {
            inner,
            counters: self.0.clone(),
        }))
    }
}

#[derive(Debug)]
struct CountingService {
    inner: HttpClient,
    counters: Arc<Counters>,
}

type HttpFuture<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<HttpResponse, HttpError>> + Send + 'a>>;

impl HttpService for CountingService {
    fn call<'s, 'f>(&'s self, req: HttpRequest) -> HttpFuture<'f>
    where
        's: 'f,
        Self: 'f,
    {
        self.counters.count(req.method().as_str());
        Box::pin(self.inner.execute(req))
    }
}

/// Owns the runtime; shuts it down without blocking (safe to drop from async code).
#[derive(Debug)]
struct RuntimeHolder(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeHolder {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A repository in an object-store bucket (or container) under a key prefix.
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    scheme: Scheme,
    bucket: String,
    prefix: String,
    endpoint: Option<String>,
    rt: RuntimeHolder,
    counters: Arc<Counters>,
    bucket_ok: std::sync::atomic::AtomicBool,
    permits: Arc<tokio::sync::Semaphore>,
    multipart_threshold: u64,
    part_size: u64,
    part_concurrency: usize,
}

impl std::fmt::Debug for ObjectStorage {
    // The client's own Debug shows configuration (endpoints, key ids): print only what is
    // safe to log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStorage")
            .field("location", &self.location())
            .field("stats", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl ObjectStorage {
    fn new(scheme: Scheme, bucket: &str, prefix: &str, opts: &ObjectStoreOptions) -> Result<Self> {
        // One TLS stack: rustls with ring. Installing fails harmlessly if the process
        // already chose a provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if opts.multipart_part_size < 5 * 1024 * 1024 {
            return Err(BackupError::InvalidArgument(
                "multipart_part_size must be at least 5 MiB".into(),
            ));
        }
        let counters = Arc::new(Counters::default());
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: opts.initial_backoff,
                max_backoff: opts.max_backoff,
                base: 2.0,
            },
            max_retries: opts.max_retries,
            retry_timeout: opts.retry_timeout,
        };
        let client = ClientOptions::new()
            .with_allow_http(opts.allow_http)
            .with_timeout(opts.request_timeout)
            .with_connect_timeout(opts.connect_timeout);
        let bad_key = |k: &str| {
            BackupError::InvalidArgument(format!(
                "unknown {} configuration key `{k}`",
                scheme.name()
            ))
        };
        let store: Arc<dyn ObjectStore> = match scheme {
            Scheme::S3 => {
                use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                for (k, v) in &opts.extra {
                    let key: AmazonS3ConfigKey = k.parse().map_err(|_| bad_key(k))?;
                    b = b.with_config(key, v);
                }
                if let Some(e) = &opts.endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(r) = &opts.region {
                    b = b.with_region(r);
                }
                let b = b
                    .with_virtual_hosted_style_request(!opts.path_style)
                    .with_allow_http(opts.allow_http)
                    .with_retry(retry)
                    .with_client_options(client)
                    .with_http_connector(CountingConnector(counters.clone()));
                Arc::new(b.build().map_err(|e| build_error(scheme, &e))?)
            }
            Scheme::Azure => {
                use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
                let mut b = MicrosoftAzureBuilder::from_env().with_container_name(bucket);
                for (k, v) in &opts.extra {
                    let key: AzureConfigKey = k.parse().map_err(|_| bad_key(k))?;
                    b = b.with_config(key, v);
                }
                if let Some(e) = &opts.endpoint {
                    b = b.with_endpoint(e.clone());
                }
                let b = b
                    .with_allow_http(opts.allow_http)
                    .with_retry(retry)
                    .with_client_options(client)
                    .with_http_connector(CountingConnector(counters.clone()));
                Arc::new(b.build().map_err(|e| build_error(scheme, &e))?)
            }
            Scheme::Gcs => {
                use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
                if opts.endpoint.is_some() {
                    return Err(BackupError::InvalidArgument(
                        "a custom endpoint is supported for s3:// and az:// only".into(),
                    ));
                }
                let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
                for (k, v) in &opts.extra {
                    let key: GoogleConfigKey = k.parse().map_err(|_| bad_key(k))?;
                    b = b.with_config(key, v);
                }
                let b = b
                    .with_retry(retry)
                    .with_client_options(client)
                    .with_http_connector(CountingConnector(counters.clone()));
                Arc::new(b.build().map_err(|e| build_error(scheme, &e))?)
            }
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.runtime_threads.max(1))
            .thread_name("lightrag-objstore")
            .enable_all()
            .build()
            .map_err(|e| BackupError::io("start the object-store runtime", "", e))?;
        Ok(ObjectStorage {
            store,
            scheme,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: opts.endpoint.as_deref().map(redact_url),
            rt: RuntimeHolder(Some(rt)),
            counters,
            bucket_ok: std::sync::atomic::AtomicBool::new(false),
            permits: Arc::new(tokio::sync::Semaphore::new(
                opts.max_concurrent_requests.max(1),
            )),
            multipart_threshold: opts.multipart_threshold.max(opts.multipart_part_size),
            part_size: opts.multipart_part_size,
            part_concurrency: opts.multipart_concurrency.max(1),
        })
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        match &self.rt.0 {
            Some(rt) => rt.block_on(f),
            None => unreachable!("the runtime lives as long as the storage"),
        }
    }

    fn path(&self, key: &str) -> Result<ObjPath> {
        if key.is_empty()
            || key.starts_with('/')
            || key
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(BackupError::InvalidArgument(format!(
                "invalid object key `{key}`"
            )));
        }
        let full = if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        };
        ObjPath::parse(full)
            .map_err(|e| BackupError::InvalidArgument(format!("invalid object key `{key}`: {e}")))
    }

    fn err(&self, op: &'static str, key: &str, e: object_store::Error) -> BackupError {
        let problem = classify(&e);
        if problem == RemoteProblem::NotFound {
            // A 404 may mean the bucket itself is missing (HEAD and some GET responses do
            // not say which): confirm the bucket once per storage with one listing request.
            if let Err(b) = self.confirm_bucket() {
                return b;
            }
            return BackupError::ObjectNotFound {
                key: key.to_owned(),
            };
        }
        BackupError::Remote {
            op,
            key: key.to_owned(),
            location: self.location(),
            problem,
            source: Box::new(e),
        }
    }

    fn confirm_bucket(&self) -> Result<()> {
        if self.bucket_ok.load(Ordering::Relaxed) {
            return Ok(());
        }
        let prefix = (!self.prefix.is_empty())
            .then(|| ObjPath::parse(&self.prefix).ok())
            .flatten();
        let res = self.block_on(async {
            let _p = self.permit().await;
            self.store.list_with_delimiter(prefix.as_ref()).await
        });
        match res {
            Ok(_) => {
                self.bucket_ok.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let problem = match classify(&e) {
                    RemoteProblem::NotFound => RemoteProblem::BucketNotFound,
                    p => p,
                };
                Err(BackupError::Remote {
                    op: "list",
                    key: String::new(),
                    location: self.location(),
                    problem,
                    source: Box::new(e),
                })
            }
        }
    }

    async fn permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.permits.acquire().await.ok()
    }

    async fn put_multipart(&self, path: &ObjPath, data: Vec<u8>) -> object_store::Result<()> {
        let mut upload = self.store.put_multipart(path).await?;
        let data = bytes::Bytes::from(data);
        let part = self.part_size as usize;
        let mut parts = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let end = (start + part).min(data.len());
            parts.push(PutPayload::from(data.slice(start..end)));
            start = end;
        }
        let mut result = Ok(());
        let mut pending = Vec::new();
        for p in parts {
            pending.push(upload.put_part(p));
            if pending.len() >= self.part_concurrency {
                result = futures::future::try_join_all(pending.drain(..))
                    .await
                    .map(|_| ());
                if result.is_err() {
                    break;
                }
            }
        }
        if result.is_ok() && !pending.is_empty() {
            result = futures::future::try_join_all(pending.drain(..))
                .await
                .map(|_| ());
        }
        match result {
            Ok(()) => upload.complete().await.map(|_| ()),
            Err(e) => {
                if let Err(ae) = upload.abort().await {
                    tracing::warn!(error = %ae, "Could not abort a failed multipart upload");
                }
                Err(e)
            }
        }
    }
}

fn build_error(scheme: Scheme, e: &object_store::Error) -> BackupError {
    // Builder errors name missing settings (bucket, region, credentials); they never echo
    // secret values.
    BackupError::InvalidArgument(format!(
        "cannot configure the {} client: {e}",
        scheme.name()
    ))
}

/// What an object-store error means for the operator.
fn classify(e: &object_store::Error) -> RemoteProblem {
    let mut text = e.to_string();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        text.push_str(" | ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(&[
        "NoSuchBucket",
        "ContainerNotFound",
        "The specified bucket does not exist",
        "The specified container does not exist",
    ]) {
        return RemoteProblem::BucketNotFound;
    }
    if has(&[
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "AuthenticationFailed",
        "InvalidAuthenticationInfo",
        "NotSignedUp",
        "Server failed to authenticate the request",
        "invalid_grant",
        "401 Unauthorized",
    ]) {
        return RemoteProblem::WrongCredentials;
    }
    match e {
        object_store::Error::NotFound { .. } => return RemoteProblem::NotFound,
        object_store::Error::Unauthenticated { .. } => return RemoteProblem::WrongCredentials,
        object_store::Error::PermissionDenied { .. } => return RemoteProblem::PermissionDenied,
        _ => {}
    }
    if has(&[
        "AccessDenied",
        "AuthorizationPermissionMismatch",
        "403 Forbidden",
    ]) {
        return RemoteProblem::PermissionDenied;
    }
    // Statuses only where the client reports one ("status code: 503 Service Unavailable"):
    // the text also holds the request's URL, and an object key is hex (`…e6503 in 2s`).
    if has(&[
        "SlowDown",
        "Throttl",
        "TooManyRequests",
        "ServerBusy",
        "status code: 429",
        "status code: 500",
        "status code: 502",
        "status code: 503",
        "status code: 504",
    ]) {
        return RemoteProblem::Throttled;
    }
    if has(&["URL scheme is not allowed"]) {
        return RemoteProblem::PlainHttpRefused;
    }
    if has(&[
        "invalid peer certificate",
        "UnknownIssuer",
        "certificate verify failed",
        "NotValidForName",
        "CertExpired",
    ]) {
        return RemoteProblem::TlsRefused;
    }
    if has(&["timed out", "deadline has elapsed"]) {
        return RemoteProblem::Timeout;
    }
    if has(&[
        "error sending request",
        "onnection refused",
        "dns error",
        "error trying to connect",
    ]) {
        return RemoteProblem::Unreachable;
    }
    RemoteProblem::Other
}

impl Storage for ObjectStorage {
    fn put(&self, key: &str, data: Vec<u8>) -> Result<()> {
        let path = self.path(key)?;
        let large = data.len() as u64 > self.multipart_threshold;
        self.block_on(async {
            let _p = self.permit().await;
            if large {
                self.put_multipart(&path, data).await
            } else {
                self.store
                    .put(&path, PutPayload::from(data))
                    .await
                    .map(|_| ())
            }
        })
        .map_err(|e| self.err("put", key, e))
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        let path = self.path(key)?;
        self.block_on(async {
            let _p = self.permit().await;
            self.store.get(&path).await?.bytes().await
        })
        .map(|b| b.to_vec())
        .map_err(|e| self.err("get", key, e))
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let path = self.path(key)?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let data = self
            .block_on(async {
                let _p = self.permit().await;
                self.store.get_range(&path, offset..offset + len).await
            })
            .map_err(|e| self.err("get_range", key, e))?;
        if data.len() as u64 != len {
            return Err(BackupError::Corrupt {
                key: key.to_owned(),
                reason: format!(
                    "object is shorter than expected: {} bytes at offset {offset}, wanted {len}",
                    data.len()
                ),
            });
        }
        Ok(data.to_vec())
    }

    fn exists(&self, key: &str) -> Result<bool> {
        let path = self.path(key)?;
        match self.block_on(async {
            let _p = self.permit().await;
            self.store.head(&path).await
        }) {
            Ok(_) => Ok(true),
            Err(e) => match self.err("exists", key, e) {
                BackupError::ObjectNotFound { .. } => Ok(false),
                BackupError::Remote {
                    problem: RemoteProblem::PermissionDenied,
                    ..
                } => {
                    // A HEAD response has no body, so a 403 does not say whether the
                    // credentials are wrong or only lack a permission: ask with a GET.
                    match self.block_on(async {
                        let _p = self.permit().await;
                        self.store.get_range(&path, 0..1).await
                    }) {
                        Ok(_) => Ok(true),
                        Err(e) => match self.err("exists", key, e) {
                            BackupError::ObjectNotFound { .. } => Ok(false),
                            other => Err(other),
                        },
                    }
                }
                other => Err(other),
            },
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        Ok(self
            .list_modified(prefix)?
            .into_iter()
            .map(|(o, _)| o)
            .collect())
    }

    fn list_modified(
        &self,
        prefix: &str,
    ) -> Result<Vec<(ObjectInfo, Option<std::time::SystemTime>)>> {
        // object_store lists whole path segments: list the directory part, filter the rest.
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let full_dir = match (self.prefix.is_empty(), dir.is_empty()) {
            (true, true) => None,
            (true, false) => Some(dir.to_owned()),
            (false, true) => Some(self.prefix.clone()),
            (false, false) => Some(format!("{}/{dir}", self.prefix)),
        };
        let list_path = match full_dir {
            Some(d) => Some(ObjPath::parse(d).map_err(|e| {
                BackupError::InvalidArgument(format!("invalid list prefix `{prefix}`: {e}"))
            })?),
            None => None,
        };
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let metas: Vec<object_store::ObjectMeta> = self
            .block_on(async {
                let _p = self.permit().await;
                self.store.list(list_path.as_ref()).try_collect().await
            })
            .map_err(|e| match self.err("list", prefix, e) {
                // A listing never misses "an object"; a 404 here is the bucket.
                BackupError::ObjectNotFound { .. } => BackupError::Remote {
                    op: "list",
                    key: prefix.to_owned(),
                    location: self.location(),
                    problem: RemoteProblem::BucketNotFound,
                    source: "listing returned 404".into(),
                },
                other => other,
            })?;
        self.bucket_ok.store(true, Ordering::Relaxed);
        let mut out: Vec<(ObjectInfo, Option<std::time::SystemTime>)> = metas
            .into_iter()
            .filter_map(|m| {
                let key = m.location.as_ref().strip_prefix(&strip)?.to_owned();
                key.starts_with(prefix).then(|| {
                    (
                        ObjectInfo { key, size: m.size },
                        Some(std::time::SystemTime::from(m.last_modified)),
                    )
                })
            })
            .collect();
        out.sort_by(|a, b| a.0.key.cmp(&b.0.key));
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.block_on(async {
            let _p = self.permit().await;
            self.store.delete(&path).await
        }) {
            Ok(()) => Ok(()),
            Err(e) => match self.err("delete", key, e) {
                BackupError::ObjectNotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    fn location(&self) -> String {
        let mut s = format!("{}://{}", self.scheme.name(), self.bucket);
        if !self.prefix.is_empty() {
            s.push('/');
            s.push_str(&self.prefix);
        }
        if let Some(e) = &self.endpoint {
            s.push_str(&format!(" (endpoint {e})"));
        }
        s
    }

    fn stats(&self) -> StorageStats {
        self.counters.snapshot()
    }

    fn listing_may_lag(&self) -> bool {
        true
    }

    fn prefers_large_reads(&self) -> bool {
        true
    }
}

/// What [`check_storage`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageCheck {
    /// The location checked (no credentials).
    pub location: String,
    /// Whether a repository (`config`) already exists there.
    pub repository_exists: bool,
    /// Steps that passed, in order (`access` — credentials, bucket, read —, `put`, `get`,
    /// `delete`).
    pub passed: Vec<String>,
    /// Requests the check sent.
    pub requests: u64,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

/// Check access to a storage up front (for `repo check` and start-up): look for the
/// repository config (credentials, bucket, read access), put a probe object (write
/// permission), read it back, delete it.
/// The first failure is returned; an object-store failure is [`BackupError::Remote`] whose
/// [`RemoteProblem`] tells wrong credentials, missing bucket, missing permission and
/// unreachable endpoint apart.
pub fn check_storage(storage: &dyn Storage) -> Result<StorageCheck> {
    let started = Instant::now();
    let before = storage.stats();
    let mut passed = Vec::new();
    // One HEAD (plus, on a 404, one delimited listing to confirm the bucket): never a
    // listing of the whole prefix.
    let repository_exists = storage.exists(crate::format::CONFIG_KEY)?;
    passed.push("access".to_owned());
    let key = format!("probe/{}", crate::crypto::random_hex(8));
    let body = crate::crypto::random_hex(16).into_bytes();
    storage.put(&key, body.clone())?;
    passed.push("put".to_owned());
    let back = storage.get(&key);
    let deleted = storage.delete(&key);
    let back = back?;
    if back != body {
        return Err(BackupError::Corrupt {
            key,
            reason: "probe object read back differently".into(),
        });
    }
    passed.push("get".to_owned());
    deleted?;
    passed.push("delete".to_owned());
    Ok(StorageCheck {
        location: storage.location(),
        repository_exists,
        passed,
        requests: storage.stats().since(&before).requests,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_in_an_object_key_is_not_a_status() {
        // Found by the S3 outage test under load: a pack key ending in 503, a server gone.
        let gone = object_store::Error::Generic {
            store: "S3",
            source: "Error performing PUT http://127.0.0.1:35787/b/repo/data/54/545c1815e6503 in 2.1s, after 4 retries - error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)".into(),
        };
        assert_eq!(classify(&gone), RemoteProblem::Unreachable);
        let busy = object_store::Error::Generic {
            store: "S3",
            source: "Error performing PUT http://127.0.0.1:1/b/k in 1s - Server returned non-2xx status code: 503 Service Unavailable: ".into(),
        };
        assert_eq!(classify(&busy), RemoteProblem::Throttled);
    }

    #[test]
    fn urls_are_parsed_and_validated() {
        let o = ObjectStoreOptions::default();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r");
        let s = open_storage(p.to_str().unwrap(), &o).unwrap();
        assert_eq!(s.location(), p.display().to_string());
        let s = open_storage(&format!("file://{}", p.display()), &o).unwrap();
        assert_eq!(s.location(), p.display().to_string());
        assert!(open_storage("file://relative/x", &o).is_err());
        assert!(open_storage("ftp://x/y", &o).is_err());
        assert!(open_storage("s3://", &o).is_err());
        assert!(open_storage("s3://user:secret@bucket/x", &o).is_err());
        let o = ObjectStoreOptions {
            endpoint: Some("http://key:secret@127.0.0.1:1".into()),
            region: Some("us-east-1".into()),
            allow_http: true,
            path_style: true,
            extra: [
                ("aws_access_key_id".to_owned(), "AKID".to_owned()),
                ("aws_secret_access_key".to_owned(), "SUPERSECRET".to_owned()),
            ]
            .into(),
            ..Default::default()
        };
        let s = open_storage("s3://bucket/some/prefix/", &o).unwrap();
        assert_eq!(
            s.location(),
            "s3://bucket/some/prefix (endpoint http://key:***@127.0.0.1:1)"
        );
        let dbg = format!("{o:?} {s:?}");
        assert!(
            !dbg.contains("SUPERSECRET") && !dbg.contains("key:secret"),
            "{dbg}"
        );
        let bad = ObjectStoreOptions {
            extra: [("aws_nonsense".to_owned(), "x".to_owned())].into(),
            ..o.clone()
        };
        assert!(open_storage("s3://bucket", &bad).is_err());
        // Unreachable endpoint: a clear, classified error without the secret.
        let quick = ObjectStoreOptions {
            max_retries: 1,
            retry_timeout: Duration::from_millis(200),
            initial_backoff: Duration::from_millis(10),
            ..o
        };
        let s = open_storage("s3://bucket/p", &quick).unwrap();
        let err = s.get("config").unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                BackupError::Remote {
                    problem: RemoteProblem::Unreachable,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(!msg.contains("SUPERSECRET"), "{msg}");
        assert!(s.stats().requests >= 1);
    }
}
