//! Randomness, hex, key derivation and authenticated encryption (XChaCha20-Poly1305).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

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
    /// Derive the chunk-id key and the encryption key from high-entropy key material.
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
}
