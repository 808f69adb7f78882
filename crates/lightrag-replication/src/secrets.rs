//! Target secrets at rest: sealed with XChaCha20-Poly1305 under a server key kept in a file
//! beside the catalog, never in it (see `docs/security.md`).
//!
//! A stored secret is `lrs1:` followed by the lowercase hex of `nonce (24 bytes) ||
//! ciphertext+tag`, authenticated together with the target id (a sealed secret copied onto
//! another target's row does not open). The key file holds 32 random bytes as 64 hex digits;
//! it is created 0600 on the first write of a secret (temporary file, fsync, link into place:
//! never overwritten, so two processes racing to create it agree on one key). Rows written
//! before secrets were sealed hold plain text: they still open, and are sealed the next time
//! they are read through [`crate::open_target`] or written.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::{ReplicationError, Result};

/// Prefix of a sealed secret.
pub(crate) const SEALED_PREFIX: &str = "lrs1:";
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
/// Associated-data domain: the format and the row the secret belongs to.
const AD_DOMAIN: &str = "lightrag-ops target secret v1\0";

/// The key sealing target secrets, read from (or created at) its file.
pub(crate) struct SecretKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

fn key_error(path: &Path, message: impl Into<String>) -> ReplicationError {
    ReplicationError::SecretKey {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn ad(target_id: &str) -> Vec<u8> {
    let mut v = AD_DOMAIN.as_bytes().to_vec();
    v.extend_from_slice(target_id.as_bytes());
    v
}

/// Whether a stored secret is sealed (else it is a plain-text row from an older version).
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

impl SecretKey {
    fn from_bytes(key: &[u8; KEY_LEN]) -> Self {
        SecretKey {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// The key in `path`, `None` when the file does not exist.
    pub(crate) fn load(path: &Path) -> Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(key_error(path, format!("cannot read it ({e})"))),
        };
        let bytes = from_hex(text.trim())
            .filter(|b| b.len() == KEY_LEN)
            .ok_or_else(|| {
                key_error(
                    path,
                    "it does not hold 64 hex digits (a target secret key); restore the original file, or remove it and set every target's secret again",
                )
            })?;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                target: "security",
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "The replication target secret key file is readable by other users; chmod 600 it"
            );
        }
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&bytes);
        Ok(Some(Self::from_bytes(&key)))
    }

    /// The key in `path`, created (0600) when the file does not exist yet.
    pub(crate) fn load_or_create(path: &Path) -> Result<Self> {
        if let Some(k) = Self::load(path)? {
            return Ok(k);
        }
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key)
            .map_err(|e| key_error(path, format!("the OS random source failed ({e})")))?;
        match create_key_file(path, &hex(&key)) {
            Ok(()) => Ok(Self::from_bytes(&key)),
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load(path)?.ok_or_else(|| key_error(path, "it vanished while being created"))
            }
            Err(e) => Err(key_error(
                path,
                format!(
                    "cannot create it ({e}); make its directory writable or set LIGHTRAG_REPLICATION_SECRET_KEY_FILE"
                ),
            )),
        }
    }

    /// `plain` sealed for the target `target_id`.
    pub(crate) fn seal(&self, target_id: &str, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        if let Err(e) = getrandom::fill(&mut nonce) {
            // A repeated nonce would break the cipher: never fall back to weak randomness.
            panic!("operating system random source failed: {e}");
        }
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: &ad(target_id),
                },
            )
            .unwrap_or_default(); // encrypting an in-memory buffer cannot fail
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        format!("{SEALED_PREFIX}{}", hex(&out))
    }

    /// A sealed secret of `target_id` opened; `None` when it does not authenticate (another
    /// key, another row, or damaged).
    pub(crate) fn open(&self, target_id: &str, stored: &str) -> Option<String> {
        let raw = from_hex(stored.strip_prefix(SEALED_PREFIX)?)?;
        if raw.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &ad(target_id),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

/// Creates `path` holding `text` and a newline, mode 0600: a temporary file beside it, fsync,
/// hard link into place (fails with `AlreadyExists` rather than overwrite), directory fsync.
fn create_key_file(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        hex(&suffix)
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    result?;
    std::fs::File::open(&dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_binds_the_key_and_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        assert!(SecretKey::load(&path).unwrap().is_none());
        let k = SecretKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = k.seal("tgt-1", "peer-receive-key-0123");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("peer-receive-key"));
        // Two seals of one secret differ (random nonce).
        assert_ne!(sealed, k.seal("tgt-1", "peer-receive-key-0123"));
        assert_eq!(
            k.open("tgt-1", &sealed).as_deref(),
            Some("peer-receive-key-0123")
        );
        assert_eq!(k.open("tgt-2", &sealed), None, "bound to its row");
        // Reloading the file gives the same key; another file does not open it.
        let again = SecretKey::load_or_create(&path).unwrap();
        assert!(again.open("tgt-1", &sealed).is_some());
        let other = SecretKey::load_or_create(&dir.path().join("other.key")).unwrap();
        assert_eq!(other.open("tgt-1", &sealed), None);
        // Damage is detected.
        let mut bad = sealed.clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(k.open("tgt-1", &String::from_utf8(bad).unwrap()), None);
        assert_eq!(k.open("tgt-1", "lrs1:zz"), None);
        // A file that is not a key is refused with its path in the message.
        std::fs::write(dir.path().join("bad.key"), "not hex\n").unwrap();
        let err = SecretKey::load(&dir.path().join("bad.key")).unwrap_err();
        assert!(err.to_string().contains("bad.key"), "{err}");
    }
}
