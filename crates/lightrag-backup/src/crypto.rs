//! Randomness, hex, key derivation (Argon2id for the caller's key, then BLAKE3 sub-keys) and
//! authenticated encryption (XChaCha20-Poly1305).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use crate::error::{BackupError, Result};

const NONCE_LEN: usize = 24;

/// Fill a buffer from the OS random source.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS random source does not fail on supported platforms; a failure here would make
    // nonces unsafe, so fall back to time-derived entropy mixed through BLAKE3 is not acceptable.
    if let Err(e) = getrandom::fill(&mut b) {
        panic!("operating system random source failed: {e}");
    }
    b
}

/// `n` random bytes as lowercase hex.
pub(crate) fn random_hex(n: usize) -> String {
    let b: [u8; 32] = random_bytes();
    hex(&b[..n.min(32)])
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parse lowercase/uppercase hex.
pub(crate) fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(val(p[0])? << 4 | val(p[1])?))
        .collect()
}

/// A new random repository key: 32 bytes from the OS random source, as 64 lowercase hex
/// characters (what `lightrag-ops key generate` writes for `LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE`).
pub fn generate_key_hex() -> String {
    let b: [u8; 32] = random_bytes();
    hex(&b)
}

/// Argon2id cost of deriving a repository's master key from the caller's key (a passphrase or a
/// generated key). Stored in the repository config, so a repository opens with the parameters
/// it was created with. The default (64 MiB, 3 passes, 1 lane: OWASP's and RFC 9106's
/// memory-constrained choice, a few hundred ms on a server core) makes every offline guess
/// against a stolen `config` cost that much memory and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfParams {
    /// Memory in KiB (default 65 536 = 64 MiB).
    pub memory_kib: u32,
    /// Passes over the memory (default 3).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

/// Largest cost a repository config may ask for (4 GiB, 64 passes, 64 lanes): a hostile or
/// damaged config cannot make opening exhaust the machine.
const MAX_KDF: KdfParams = KdfParams {
    memory_kib: 4 * 1024 * 1024,
    iterations: 64,
    parallelism: 64,
};

impl KdfParams {
    fn argon2(&self) -> Result<argon2::Argon2<'static>> {
        let bad = |why: String| {
            BackupError::InvalidArgument(format!(
                "Argon2id parameters {self:?} are not usable: {why}"
            ))
        };
        if self.memory_kib > MAX_KDF.memory_kib
            || self.iterations > MAX_KDF.iterations
            || self.parallelism > MAX_KDF.parallelism
        {
            return Err(bad(format!("the most accepted is {MAX_KDF:?}")));
        }
        let params =
            argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
                .map_err(|e| bad(e.to_string()))?;
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }
}

/// The Argon2id master key: `Argon2id(key, salt || repository id)` with the stored parameters.
/// The salt is random per repository (stored in the config); the repository id, also random,
/// binds the derivation to this repository even if a config's salt were copied.
pub(crate) fn argon2id_master(
    key: &[u8],
    salt: &[u8],
    repo_id: &str,
    params: &KdfParams,
) -> Result<[u8; 32]> {
    let mut full_salt = Vec::with_capacity(salt.len() + repo_id.len());
    full_salt.extend_from_slice(salt);
    full_salt.extend_from_slice(repo_id.as_bytes());
    let mut out = [0u8; 32];
    params
        .argon2()?
        .hash_password_into(key, &full_salt, &mut out)
        .map_err(|e| {
            BackupError::InvalidArgument(format!("Argon2id key derivation failed: {e}"))
        })?;
    Ok(out)
}

/// Keys derived from the caller's master key for one repository.
pub(crate) struct Keys {
    id_key: [u8; 32],
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    /// Derive the chunk-id key and the encryption key from high-entropy key material (the
    /// Argon2id master key; in repositories created before Argon2id, the caller's key itself).
    pub(crate) fn derive(master: &[u8], repo_id: &str) -> Keys {
        let mut material = Vec::with_capacity(master.len() + repo_id.len());
        material.extend_from_slice(master);
        material.extend_from_slice(repo_id.as_bytes());
        let id_key = blake3::derive_key("lightrag-ops repository v1 chunk-id key", &material);
        let enc_key = blake3::derive_key("lightrag-ops repository v1 encryption key", &material);
        Keys {
            id_key,
            cipher: XChaCha20Poly1305::new((&enc_key).into()),
        }
    }

    /// Keyed BLAKE3 of `data` (chunk ids that do not reveal content).
    pub(crate) fn keyed_hash(&self, data: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.id_key, data).as_bytes()
    }

    /// `nonce || ciphertext+tag`, binding `ad`.
    pub(crate) fn seal(&self, ad: &[u8], plain: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = random_bytes();
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: ad,
                },
            )
            .unwrap_or_default(); // encryption of an in-memory buffer cannot fail
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Inverse of [`Keys::seal`]; `None` when authentication fails.
    pub(crate) fn open(&self, ad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: ad })
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&b), "0001abff");
        assert_eq!(from_hex("0001abff").unwrap(), b);
        assert!(from_hex("0g").is_none());
    }

    #[test]
    fn seal_open() {
        let k = Keys::derive(b"0123456789abcdef0123456789abcdef", "repo");
        let s = k.seal(b"ad", b"secret");
        assert_eq!(k.open(b"ad", &s).unwrap(), b"secret");
        assert!(k.open(b"other", &s).is_none());
        let k2 = Keys::derive(b"another key of thirty-two bytes!", "repo");
        assert!(k2.open(b"ad", &s).is_none());
        assert_ne!(k.keyed_hash(b"x"), k2.keyed_hash(b"x"));
    }

    const SMALL: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn argon2id_depends_on_key_salt_id_and_parameters() {
        let base = argon2id_master(b"passphrase", b"salt-salt-salt-s", "repo", &SMALL).unwrap();
        assert_eq!(
            base,
            argon2id_master(b"passphrase", b"salt-salt-salt-s", "repo", &SMALL).unwrap()
        );
        assert_ne!(
            base,
            argon2id_master(b"passphrasf", b"salt-salt-salt-s", "repo", &SMALL).unwrap()
        );
        assert_ne!(
            base,
            argon2id_master(b"passphrase", b"salt-salt-salt-t", "repo", &SMALL).unwrap()
        );
        assert_ne!(
            base,
            argon2id_master(b"passphrase", b"salt-salt-salt-s", "repp", &SMALL).unwrap()
        );
        let more = KdfParams {
            iterations: 2,
            ..SMALL
        };
        assert_ne!(
            base,
            argon2id_master(b"passphrase", b"salt-salt-salt-s", "repo", &more).unwrap()
        );
    }

    #[test]
    fn defaults_are_memory_hard_and_hostile_costs_are_refused() {
        let d = KdfParams::default();
        assert!(d.memory_kib >= 64 * 1024 && d.iterations >= 3, "{d:?}");
        let huge = KdfParams {
            memory_kib: u32::MAX,
            ..SMALL
        };
        assert!(argon2id_master(b"k", b"saltsalt", "r", &huge).is_err());
        let zero = KdfParams {
            iterations: 0,
            ..SMALL
        };
        assert!(argon2id_master(b"k", b"saltsalt", "r", &zero).is_err());
    }

    #[test]
    fn generated_keys_are_64_hex_digits_and_differ() {
        let a = generate_key_hex();
        assert_eq!(a.len(), 64);
        assert!(from_hex(&a).is_some());
        assert_ne!(a, generate_key_hex());
    }
}
