//! The receiving side of replication, as plain functions over a [`Storage`]: the peer server's
//! routes are thin wrappers around [`Receiver`], and a directory target uses the same code, so
//! both kinds of target check every object the same way.

use std::path::PathBuf;
use std::sync::Arc;

use lightrag_backup::{BackupError, LocalStorage, ObjectInfo, Storage};
use serde::{Deserialize, Serialize};

use crate::error::{ReplicationError, Result};
use crate::keys::{self, CONFIG_KEY, ObjectKind};

/// Header carrying the lowercase hex BLAKE3 of a PUT body.
pub const CONTENT_HASH_HEADER: &str = "X-Content-BLAKE3";
/// Default bound on one received object (packs are 8 MiB by default, at most 1 GiB).
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 1024 * 1024 * 1024 + 1024 * 1024;

/// Result of [`Receiver::accept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Accepted {
    /// Written.
    Stored,
    /// An identical content-addressed object (or the same repository config) was already there.
    AlreadyPresent,
}

/// What a receiver reports about itself (`GET .../status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverStatus {
    /// Id of the repository held (from its `config`), `None` while empty.
    pub repository_id: Option<String>,
    /// Free bytes on the receiving filesystem, when knowable.
    pub free_bytes: Option<u64>,
    /// Largest object accepted.
    pub max_object_bytes: u64,
}

/// Accepts replicated objects into a [`Storage`] after validating key, size and hash.
#[derive(Debug, Clone)]
pub struct Receiver {
    storage: Arc<dyn Storage>,
    root: Option<PathBuf>,
    max_object_bytes: u64,
}

/// Lowercase hex BLAKE3 of `data`.
pub fn content_hash(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// Constant-time API key check: `presented` must equal `expected`
/// ([`lightrag_config::constant_time_eq`]: neither contents nor lengths show in the timing).
pub fn api_key_matches(expected: &str, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| lightrag_config::constant_time_eq(expected.as_bytes(), p.as_bytes()))
}

/// The repository id inside a `config` body, if it is a lightrag-ops repository config.
pub fn config_repository_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Head {
        format: String,
        id: String,
    }
    let head: Head = serde_json::from_slice(body).ok()?;
    (head.format == "lightrag-ops-repository").then_some(head.id)
}

/// Free bytes for an unprivileged writer on the filesystem holding `path` (or its nearest
/// existing ancestor).
pub fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let mut p = Some(path);
    while let Some(cur) = p {
        if let Ok(st) = rustix::fs::statvfs(cur) {
            return Some(st.f_bavail.saturating_mul(st.f_frsize));
        }
        p = cur.parent();
    }
    None
}

impl Receiver {
    /// A receiver writing into `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Receiver {
            storage,
            root: None,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
        }
    }

    /// A receiver writing into a local directory (free space is reported via `statvfs`).
    pub fn directory(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Receiver {
            storage: Arc::new(LocalStorage::new(root.clone())),
            root: Some(root),
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
        }
    }

    /// Set the largest accepted object.
    pub fn with_max_object_bytes(mut self, max: u64) -> Self {
        self.max_object_bytes = max;
        self
    }

    /// Largest accepted object (use it as the HTTP payload limit).
    pub fn max_object_bytes(&self) -> u64 {
        self.max_object_bytes
    }

    /// The storage written to.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Accept one object: the key must be a repository key ([`keys::parse_key`]), the body
    /// within the size bound, and its BLAKE3 must equal the pack id (packs) and
    /// `claimed_hash` (required for everything but packs, checked for packs when given). A
    /// `config` is accepted only into an empty location or when it names the same
    /// repository. Written with one atomic `put`.
    pub fn accept(&self, key: &str, body: Vec<u8>, claimed_hash: Option<&str>) -> Result<Accepted> {
        let kind = keys::parse_key(key)?;
        let size = body.len() as u64;
        if size > self.max_object_bytes {
            return Err(ReplicationError::TooLarge {
                key: key.to_owned(),
                size,
                limit: self.max_object_bytes,
            });
        }
        let actual = content_hash(&body);
        if let Some(claimed) = claimed_hash
            && !claimed.eq_ignore_ascii_case(&actual)
        {
            return Err(ReplicationError::HashMismatch {
                key: key.to_owned(),
                reason: format!("sent hash {claimed:.16}…, body hashes to {actual:.16}…"),
            });
        }
        match &kind {
            ObjectKind::Pack { id } => {
                if *id != actual {
                    return Err(ReplicationError::HashMismatch {
                        key: key.to_owned(),
                        reason: format!("pack id {id:.16}…, body hashes to {actual:.16}…"),
                    });
                }
                if self.storage.exists(key)? {
                    return Ok(Accepted::AlreadyPresent);
                }
            }
            ObjectKind::Config => {
                if claimed_hash.is_none() {
                    return Err(missing_hash(key));
                }
                let Some(new_id) = config_repository_id(&body) else {
                    return Err(ReplicationError::invalid(
                        "config",
                        "the body is not a lightrag-ops repository config",
                    ));
                };
                match self.storage.get(CONFIG_KEY) {
                    Ok(existing) => {
                        let found = config_repository_id(&existing).unwrap_or_default();
                        if found == new_id {
                            return Ok(Accepted::AlreadyPresent);
                        }
                        return Err(ReplicationError::RepositoryMismatch {
                            target: self.storage.location(),
                            found,
                            expected: new_id,
                        });
                    }
                    Err(BackupError::ObjectNotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            ObjectKind::Index | ObjectKind::Snapshot { .. } => {
                if claimed_hash.is_none() {
                    return Err(missing_hash(key));
                }
            }
        }
        self.storage.put(key, body)?;
        Ok(Accepted::Stored)
    }

    /// Objects under a validated prefix ([`keys::validate_prefix`]); keys that are not
    /// repository keys (locks, probes) are left out.
    pub fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        keys::validate_prefix(prefix)?;
        Ok(self
            .storage
            .list(prefix)?
            .into_iter()
            .filter(|o| keys::parse_key(&o.key).is_ok())
            .collect())
    }

    /// Which of `keys` exist (each must be a repository key).
    pub fn have(&self, keys_: &[String]) -> Result<Vec<bool>> {
        keys_
            .iter()
            .map(|k| {
                keys::parse_key(k)?;
                Ok(self.storage.exists(k)?)
            })
            .collect()
    }

    /// Read an object, whole or `(offset, len)`.
    pub fn read(&self, key: &str, range: Option<(u64, u64)>) -> Result<Vec<u8>> {
        keys::parse_key(key)?;
        Ok(match range {
            Some((off, len)) => self.storage.get_range(key, off, len)?,
            None => self.storage.get(key)?,
        })
    }

    /// Delete a manifest, index or pack (replicated forget/prune). The config cannot be deleted.
    pub fn delete(&self, key: &str) -> Result<()> {
        if keys::parse_key(key)? == ObjectKind::Config {
            return Err(ReplicationError::invalid(
                "object key",
                "the repository config cannot be deleted through replication",
            ));
        }
        Ok(self.storage.delete(key)?)
    }

    /// Repository id held and free space.
    pub fn status(&self) -> Result<ReceiverStatus> {
        let repository_id = match self.storage.get(CONFIG_KEY) {
            Ok(b) => config_repository_id(&b),
            Err(BackupError::ObjectNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(ReceiverStatus {
            repository_id,
            free_bytes: self.root.as_deref().and_then(free_bytes),
            max_object_bytes: self.max_object_bytes,
        })
    }
}

fn missing_hash(key: &str) -> ReplicationError {
    ReplicationError::invalid(
        "request",
        format!(
            "`{key}` needs the {CONTENT_HASH_HEADER} header (lowercase hex BLAKE3 of the body)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_pack_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let r = Receiver::directory(dir.path()).with_max_object_bytes(1000);
        let body = b"pack bytes".to_vec();
        let id = content_hash(&body);
        let key = format!("data/{}/{id}", &id[..2]);
        assert_eq!(
            r.accept(&key, body.clone(), None).unwrap(),
            Accepted::Stored
        );
        assert_eq!(
            r.accept(&key, body.clone(), None).unwrap(),
            Accepted::AlreadyPresent
        );
        let mut bad = body.clone();
        bad[0] ^= 1;
        assert!(matches!(
            r.accept(&key, bad, None),
            Err(ReplicationError::HashMismatch { .. })
        ));
        assert!(matches!(
            r.accept("index/0011223344556677", b"x".to_vec(), None),
            Err(ReplicationError::InvalidInput { .. })
        ));
        assert!(matches!(
            r.accept(
                "index/0011223344556677",
                b"x".to_vec(),
                Some(&content_hash(b"y"))
            ),
            Err(ReplicationError::HashMismatch { .. })
        ));
        assert!(matches!(
            r.accept("index/0011223344556677", vec![0; 1001], None),
            Err(ReplicationError::TooLarge { .. })
        ));
        assert!(
            r.accept("locks/1", b"x".to_vec(), Some(&content_hash(b"x")))
                .is_err()
        );
        assert!(r.delete("config").is_err());
        assert!(r.status().unwrap().free_bytes.is_some());
    }

    #[test]
    fn config_of_another_repository_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let r = Receiver::directory(dir.path());
        let a = br#"{"format":"lightrag-ops-repository","id":"aa"}"#.to_vec();
        let b = br#"{"format":"lightrag-ops-repository","id":"bb"}"#.to_vec();
        assert_eq!(
            r.accept("config", a.clone(), Some(&content_hash(&a)))
                .unwrap(),
            Accepted::Stored
        );
        assert_eq!(
            r.accept("config", a.clone(), Some(&content_hash(&a)))
                .unwrap(),
            Accepted::AlreadyPresent
        );
        assert!(matches!(
            r.accept("config", b.clone(), Some(&content_hash(&b))),
            Err(ReplicationError::RepositoryMismatch { .. })
        ));
        assert_eq!(r.status().unwrap().repository_id.as_deref(), Some("aa"));
    }

    #[test]
    fn api_key_check() {
        assert!(api_key_matches("k1", Some("k1")));
        assert!(!api_key_matches("k1", Some("k2")));
        assert!(!api_key_matches("k1", None));
        // A prefix, an extension or an empty key never match (no length short-cut either way).
        assert!(!api_key_matches("k1", Some("k")));
        assert!(!api_key_matches("k1", Some("k1k1")));
        assert!(!api_key_matches("k1", Some("")));
        assert!(!api_key_matches("", Some("k1")));
    }
}
