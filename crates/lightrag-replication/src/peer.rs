//! The client side of the peer protocol (see `docs/replication.md`), and a read-only
//! [`Storage`] over a peer for failover restores.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lightrag_backup::{BackupError, ObjectInfo, Storage};
use serde::{Deserialize, Serialize};

use crate::error::{ReplicationError, Result};
use crate::receiver::{Accepted, CONTENT_HASH_HEADER, ReceiverStatus};
use crate::store::ReplicaStore;

/// Path of the receive API under a peer's base URL.
pub const RECEIVE_PATH: &str = "/api/v1/replication/receive";
/// Largest JSON answer (listings) read from a peer.
const MAX_JSON_BYTES: u64 = 256 * 1024 * 1024;
/// Largest object read from a peer.
const MAX_OBJECT_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Body of `POST .../have`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaveRequest {
    /// Object keys to check.
    pub keys: Vec<String>,
}

/// Answer of `POST .../have`: one flag per requested key, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaveResponse {
    /// Whether each key exists.
    pub present: Vec<bool>,
}

/// One entry of `GET .../objects?prefix=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedObject {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// The setting that lets peer targets use plain `http://` beyond loopback.
pub const ALLOW_HTTP_SETTING: &str = "LIGHTRAG_REPLICATION_ALLOW_HTTP";

/// Whether `host` (an authority without credentials, port allowed) names this machine's
/// loopback interface: `localhost`, `127.0.0.0/8` or `[::1]`.
fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, _)) => {
                return h
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok_and(|a| a.is_loopback());
            }
            None => return false,
        }
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

/// Accept a peer base URL: `https://`, or `http://` to a loopback host (`localhost`,
/// `127.0.0.0/8`, `[::1]`) — any `http://` host only with `allow_http`
/// ([`ALLOW_HTTP_SETTING`]): the peer's key travels in every request, so plain HTTP across a
/// network hands it to anyone on the path. A host, optional port and path; no credentials
/// (`user:pass@`), query or fragment. Returns it without a trailing `/`. Every way to define
/// or open a peer target (API, CLI, stored targets at sync time) goes through this check.
pub fn validate_peer_url(url: &str, allow_http: bool) -> Result<String> {
    let bad = |why: &str| {
        ReplicationError::invalid(
            "peer url",
            format!(
                "{why}; expected http(s)://host[:port][/path] without credentials, query or fragment (put the API key in the target's secret)"
            ),
        )
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains whitespace or control characters"));
    }
    let rest = if let Some(r) = url.strip_prefix("http://") {
        r
    } else if let Some(r) = url.strip_prefix("https://") {
        r
    } else {
        return Err(bad("scheme must be http or https"));
    };
    if url.contains('#') {
        return Err(bad("fragments are not allowed"));
    }
    if url.contains('?') {
        return Err(bad("a query string is not allowed"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad("credentials in the URL are not allowed"));
    }
    if authority.is_empty() {
        return Err(bad("missing host"));
    }
    if let Some((host, port)) = authority.rsplit_once(':')
        && !host.ends_with(']')
        && (host.is_empty() || port.is_empty() || port.parse::<u16>().is_err())
        && !authority.starts_with('[')
    {
        return Err(bad("bad port"));
    }
    if rest.split('/').skip(1).any(|s| s == ".." || s == ".") {
        return Err(bad("dot segments are not allowed in the path"));
    }
    ureq::http::Uri::try_from(url).map_err(|e| bad(&format!("not a valid URI ({e})")))?;
    if url.starts_with("http://") && !allow_http && !is_loopback_authority(authority) {
        return Err(ReplicationError::invalid(
            "peer url",
            format!(
                "`{url}` is plain http:// to a host that is not loopback: the peer's key would cross the network in cleartext. Use https://, or set {ALLOW_HTTP_SETTING}=true on this (sending) server to allow it"
            ),
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Percent-encode a query value (keys use only `[A-Za-z0-9._/-]`, but be strict anyway).
fn encode_query(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// HTTP client for a peer's receive API, authenticated with the peer's API key (`X-API-Key`).
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct PeerClient {
    base: String,
    api_key: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerClient")
            .field("base", &self.base)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .finish()
    }
}

impl PeerClient {
    /// A client for the peer at `base_url` (validated by [`validate_peer_url`]: `https://`, or
    /// `http://` to loopback). `timeout` bounds each request (connect + transfer).
    pub fn new(base_url: &str, api_key: Option<String>, timeout: Duration) -> Result<Self> {
        Self::with_http_policy(base_url, api_key, timeout, false)
    }

    /// [`PeerClient::new`], accepting `http://` to any host when `allow_http`
    /// ([`ALLOW_HTTP_SETTING`]).
    pub fn with_http_policy(
        base_url: &str,
        api_key: Option<String>,
        timeout: Duration,
        allow_http: bool,
    ) -> Result<Self> {
        let base = validate_peer_url(base_url, allow_http)?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .user_agent(concat!("lightrag-ops/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(PeerClient {
            base,
            api_key,
            agent,
        })
    }

    /// The peer's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, tail: &str) -> String {
        format!("{}{RECEIVE_PATH}/{tail}", self.base)
    }

    fn auth<B>(&self, rb: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.api_key {
            Some(k) => rb.header("X-API-Key", k.as_str()),
            None => rb,
        }
    }

    fn transport(&self, e: &ureq::Error) -> ReplicationError {
        ReplicationError::Peer {
            url: self.base.clone(),
            message: format!("request failed: {e}"),
        }
    }

    /// Map a non-success answer to an error.
    fn status_error(
        &self,
        key: &str,
        resp: &mut ureq::http::Response<ureq::Body>,
    ) -> ReplicationError {
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
        match status {
            401 | 403 => ReplicationError::Unauthenticated {
                url: self.base.clone(),
                status,
            },
            404 => ReplicationError::Backup(BackupError::ObjectNotFound {
                key: key.to_owned(),
            }),
            413 => ReplicationError::TooLarge {
                key: key.to_owned(),
                size: 0,
                limit: 0,
            },
            422 => ReplicationError::HashMismatch {
                key: key.to_owned(),
                reason: format!("rejected by the peer: {message}"),
            },
            400 => ReplicationError::invalid("object", format!("rejected by the peer: {message}")),
            _ => ReplicationError::Peer {
                url: self.base.clone(),
                message: format!("HTTP {status} for `{key}`: {message}"),
            },
        }
    }

    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        resp: &mut ureq::http::Response<ureq::Body>,
    ) -> Result<T> {
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_JSON_BYTES)
            .read_to_vec()
            .map_err(|e| self.transport(&e))?;
        serde_json::from_slice(&body).map_err(|e| ReplicationError::Peer {
            url: self.base.clone(),
            message: format!("bad {what} answer: {e}"),
        })
    }

    /// `POST .../have`: which keys the peer holds.
    pub fn have(&self, keys: &[String]) -> Result<Vec<bool>> {
        let mut resp = self
            .auth(self.agent.post(self.url("have")))
            .send_json(HaveRequest {
                keys: keys.to_vec(),
            })
            .map_err(|e| self.transport(&e))?;
        if !resp.status().is_success() {
            return Err(self.status_error("have", &mut resp));
        }
        let r: HaveResponse = self.read_json("have", &mut resp)?;
        Ok(r.present)
    }
}

impl ReplicaStore for PeerClient {
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let url = format!("{}?prefix={}", self.url("objects"), encode_query(prefix));
        let mut resp = self
            .auth(self.agent.get(url))
            .call()
            .map_err(|e| self.transport(&e))?;
        if !resp.status().is_success() {
            return Err(self.status_error(prefix, &mut resp));
        }
        let items: Vec<ListedObject> = self.read_json("list", &mut resp)?;
        Ok(items
            .into_iter()
            .map(|o| ObjectInfo {
                key: o.key,
                size: o.size,
            })
            .collect())
    }

    fn send(&self, key: &str, body: Vec<u8>, blake3_hex: &str) -> Result<Accepted> {
        let mut resp = self
            .auth(self.agent.put(self.url(&format!("objects/{key}"))))
            .header(CONTENT_HASH_HEADER, blake3_hex)
            .header("Content-Type", "application/octet-stream")
            .send(&body[..])
            .map_err(|e| self.transport(&e))?;
        match resp.status().as_u16() {
            201 => Ok(Accepted::Stored),
            200 | 204 => Ok(Accepted::AlreadyPresent),
            _ => Err(self.status_error(key, &mut resp)),
        }
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        let mut resp = self
            .auth(self.agent.get(self.url(&format!("objects/{key}"))))
            .call()
            .map_err(|e| self.transport(&e))?;
        if !resp.status().is_success() {
            return Err(self.status_error(key, &mut resp));
        }
        resp.body_mut()
            .with_config()
            .limit(MAX_OBJECT_BYTES)
            .read_to_vec()
            .map_err(|e| self.transport(&e))
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let last = offset.saturating_add(len - 1);
        let mut resp = self
            .auth(self.agent.get(self.url(&format!("objects/{key}"))))
            .header("Range", format!("bytes={offset}-{last}"))
            .call()
            .map_err(|e| self.transport(&e))?;
        if resp.status().as_u16() != 206 {
            return Err(self.status_error(key, &mut resp));
        }
        let data = resp
            .body_mut()
            .with_config()
            .limit(len)
            .read_to_vec()
            .map_err(|e| self.transport(&e))?;
        if data.len() as u64 != len {
            return Err(ReplicationError::Peer {
                url: self.base.clone(),
                message: format!("short range read of `{key}`"),
            });
        }
        Ok(data)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let mut resp = self
            .auth(self.agent.delete(self.url(&format!("objects/{key}"))))
            .call()
            .map_err(|e| self.transport(&e))?;
        if !resp.status().is_success() {
            return Err(self.status_error(key, &mut resp));
        }
        Ok(())
    }

    fn status(&self) -> Result<ReceiverStatus> {
        let mut resp = self
            .auth(self.agent.get(self.url("status")))
            .call()
            .map_err(|e| self.transport(&e))?;
        if !resp.status().is_success() {
            return Err(self.status_error("status", &mut resp));
        }
        self.read_json("status", &mut resp)
    }

    fn location(&self) -> String {
        self.base.clone()
    }

    fn as_storage(self: Arc<Self>) -> Arc<dyn Storage> {
        Arc::new(PeerStorage::new(self))
    }
}

/// A read-only [`Storage`] over a peer's receive API, to open the peer's copy as a
/// `Repository` for a failover restore. Lock objects (which readers write) are kept in memory:
/// they only need to exclude operations of this process.
#[derive(Debug)]
pub struct PeerStorage {
    client: Arc<PeerClient>,
    locks: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl PeerStorage {
    /// Wrap a client.
    pub fn new(client: Arc<PeerClient>) -> Self {
        PeerStorage {
            client,
            locks: Mutex::new(BTreeMap::new()),
        }
    }

    fn is_local(key: &str) -> bool {
        key.starts_with("locks/") || key.starts_with("probe/")
    }

    fn locks(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn to_backup(op: &'static str, key: &str, e: ReplicationError) -> BackupError {
    match e {
        ReplicationError::Backup(b) => b,
        other => BackupError::Storage {
            op,
            key: key.to_owned(),
            source: std::io::Error::other(lightrag_config::error_chain(&other)),
        },
    }
}

impl Storage for PeerStorage {
    fn put(&self, key: &str, data: Vec<u8>) -> lightrag_backup::Result<()> {
        if Self::is_local(key) {
            self.locks().insert(key.to_owned(), data);
            return Ok(());
        }
        Err(BackupError::Storage {
            op: "put",
            key: key.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "a peer target is read-only for failover; replicate to it instead",
            ),
        })
    }

    fn get(&self, key: &str) -> lightrag_backup::Result<Vec<u8>> {
        if Self::is_local(key) {
            return self
                .locks()
                .get(key)
                .cloned()
                .ok_or_else(|| BackupError::ObjectNotFound {
                    key: key.to_owned(),
                });
        }
        self.client.get(key).map_err(|e| to_backup("get", key, e))
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> lightrag_backup::Result<Vec<u8>> {
        self.client
            .get_range(key, offset, len)
            .map_err(|e| to_backup("get_range", key, e))
    }

    fn exists(&self, key: &str) -> lightrag_backup::Result<bool> {
        if Self::is_local(key) {
            return Ok(self.locks().contains_key(key));
        }
        Ok(self
            .client
            .have(&[key.to_owned()])
            .map_err(|e| to_backup("exists", key, e))?
            .first()
            .copied()
            .unwrap_or(false))
    }

    fn list(&self, prefix: &str) -> lightrag_backup::Result<Vec<ObjectInfo>> {
        // A peer stores no snapshot header index (`headers/`, derived data that replication
        // does not send): nothing to list, and no request the peer would refuse.
        if prefix.starts_with("headers/") {
            return Ok(Vec::new());
        }
        if Self::is_local(prefix) {
            return Ok(self
                .locks()
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| ObjectInfo {
                    key: k.clone(),
                    size: v.len() as u64,
                })
                .collect());
        }
        ReplicaStore::list(&*self.client, prefix).map_err(|e| to_backup("list", prefix, e))
    }

    fn delete(&self, key: &str) -> lightrag_backup::Result<()> {
        if Self::is_local(key) {
            self.locks().remove(key);
            return Ok(());
        }
        Err(BackupError::Storage {
            op: "delete",
            key: key.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "a peer target is read-only for failover",
            ),
        })
    }

    fn location(&self) -> String {
        self.client.base_url().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_urls() {
        assert_eq!(
            validate_peer_url("http://127.0.0.1:9622/", false).unwrap(),
            "http://127.0.0.1:9622"
        );
        validate_peer_url("https://standby.example.com", false).unwrap();
        validate_peer_url("https://standby.example.com/ops", false).unwrap();
        validate_peer_url("http://[::1]:9622", false).unwrap();
        for bad in [
            "ftp://x",
            "file:///etc/passwd",
            "http://user:pw@host",
            "http://host#frag",
            "http://host?x=1",
            "http://",
            "http://host:99999",
            "http://ho st",
            "http://host/../x",
            "host:9622",
        ] {
            assert!(validate_peer_url(bad, true).is_err(), "{bad}");
        }
    }

    /// Issue 14 #2: plain http:// is for loopback peers only, unless the operator allows it.
    #[test]
    fn plain_http_is_refused_beyond_loopback_unless_allowed() {
        for ok in [
            "http://127.0.0.1:9622",
            "http://127.8.9.10",
            "http://localhost:9622/ops",
            "http://LOCALHOST",
            "http://[::1]:9622",
            "https://10.0.0.5:9622",
            "https://standby.example.com",
        ] {
            validate_peer_url(ok, false).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for remote in [
            "http://10.0.0.5:9622",
            "http://standby.example.com",
            "http://localhost.example.com:9622",
            "http://128.0.0.1",
            "http://[::2]:9622",
            "http://[::ffff:10.0.0.1]",
            "http://0.0.0.0:9622",
        ] {
            let err = validate_peer_url(remote, false)
                .expect_err(remote)
                .to_string();
            assert!(err.contains(ALLOW_HTTP_SETTING), "{remote}: {err}");
            assert!(err.contains("https://"), "{remote}: {err}");
            validate_peer_url(remote, true).unwrap_or_else(|e| panic!("{remote}: {e}"));
            // The client (used for stored targets at sync time) applies the same rule.
            assert!(PeerClient::new(remote, None, Duration::from_secs(1)).is_err());
            PeerClient::with_http_policy(remote, None, Duration::from_secs(1), true).unwrap();
        }
    }

    #[test]
    fn client_debug_hides_key() {
        let c = PeerClient::new(
            "http://127.0.0.1:1",
            Some("sekrit".into()),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("sekrit"));
    }
}
