//! On-repository data structures (see `docs/repository-format.md`) and the object codec.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::crypto::{Keys, from_hex, hex};
use crate::error::{BackupError, Result};
use crate::summary::LightRagSummary;

/// Repository format version written and read by this build.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Name of the format, stored in the config object.
pub(crate) const FORMAT_NAME: &str = "lightrag-ops-repository";

pub(crate) const CONFIG_KEY: &str = "config";
pub(crate) const DATA_PREFIX: &str = "data/";
pub(crate) const INDEX_PREFIX: &str = "index/";
pub(crate) const SNAPSHOT_PREFIX: &str = "snapshots/";
pub(crate) const LOCK_PREFIX: &str = "locks/";

/// A content id: BLAKE3 (keyed BLAKE3 in encrypted repositories) of a chunk's plaintext.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub(crate) [u8; 32]);

impl fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkId({})", &hex(&self.0)[..16])
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl Serialize for ChunkId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for ChunkId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let v = from_hex(&s).filter(|v| v.len() == 32);
        v.map(|v| {
            let mut a = [0u8; 32];
            a.copy_from_slice(&v);
            ChunkId(a)
        })
        .ok_or_else(|| serde::de::Error::custom("chunk id must be 64 hex digits"))
    }
}

/// Content-defined chunking parameters (FastCDC 2020, normalisation level 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkerParams {
    /// Minimum chunk size in bytes.
    pub min_size: u32,
    /// Average (target) chunk size in bytes.
    pub avg_size: u32,
    /// Maximum chunk size in bytes.
    pub max_size: u32,
}

impl Default for ChunkerParams {
    /// 8 KiB / 32 KiB / 128 KiB: see `docs/repository-format.md` for the measurements.
    fn default() -> Self {
        ChunkerParams {
            min_size: 8 * 1024,
            avg_size: 32 * 1024,
            max_size: 128 * 1024,
        }
    }
}

impl ChunkerParams {
    pub(crate) fn validate(&self) -> Result<()> {
        let ok = self.min_size >= 64
            && self.avg_size >= 256
            && self.max_size >= 1024
            && self.min_size <= self.avg_size
            && self.avg_size <= self.max_size
            && self.max_size <= 16 * 1024 * 1024
            && self.avg_size <= 4 * 1024 * 1024
            && self.min_size <= 1024 * 1024;
        if ok {
            Ok(())
        } else {
            Err(BackupError::InvalidArgument(format!(
                "chunker sizes {self:?} out of range: need 64 <= min <= avg <= max, avg in 256..=4 MiB, max in 1 KiB..=16 MiB, min <= 1 MiB"
            )))
        }
    }
}

/// Encryption parameters stored in the config (never the key).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EncryptionConfig {
    pub(crate) algorithm: String,
    pub(crate) kdf: String,
    /// A known plaintext sealed with the derived key: opening it proves the key is right.
    pub(crate) key_check: String,
}

pub(crate) const KEY_CHECK_PLAINTEXT: &[u8] = b"lightrag-ops key check v1";

/// The repository config object (`config`), plaintext JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RepoConfig {
    pub(crate) format: String,
    pub(crate) version: u32,
    pub(crate) id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    pub(crate) chunker: ChunkerParams,
    pub(crate) compression_level: i32,
    pub(crate) pack_size: u64,
    pub(crate) encryption: Option<EncryptionConfig>,
}

/// One file in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the graph directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Unix permission bits.
    pub mode: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
    /// Nanoseconds part of the modification time.
    pub mtime_nsec: u32,
    /// Inode number at backup time (change detection only).
    pub inode: u64,
    /// Content hash, hex: BLAKE3 over the chunk ids in order (see the format document).
    pub hash: String,
    /// Chunk ids in order.
    pub chunks: Vec<ChunkId>,
}

/// Totals recorded in a manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Files in the snapshot.
    pub files: u64,
    /// Logical bytes in the snapshot.
    pub bytes: u64,
    /// Chunk references in the snapshot.
    pub chunks: u64,
    /// Files reused from the parent without reading (size+mtime+inode unchanged).
    pub files_unchanged: u64,
    /// Chunks this backup added to the repository.
    pub new_chunks: u64,
    /// Plain bytes of the new chunks.
    pub new_bytes: u64,
    /// Bytes the new chunks occupy in the repository (compressed, encrypted).
    pub new_bytes_stored: u64,
    /// Bytes read from the graph directory (including retries).
    pub bytes_read: u64,
}

/// A snapshot manifest: everything needed to restore one graph at one point in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version.
    pub version: u32,
    /// Snapshot id (time-ordered: sorts by creation time).
    pub id: String,
    /// Graph id.
    pub graph_id: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Parent snapshot used for change detection.
    pub parent: Option<String>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Why the snapshot was taken (`manual`, `scheduled`, `pre_restore`, ...).
    pub trigger: String,
    /// Host that took it.
    pub hostname: String,
    /// Source directory at backup time.
    pub source: String,
    /// Files, sorted by path.
    pub files: Vec<FileEntry>,
    /// Totals.
    pub totals: Totals,
    /// LightRAG summary.
    pub summary: LightRagSummary,
}

impl Manifest {
    /// The manifest's object key.
    pub(crate) fn key(graph_id: &str, id: &str) -> String {
        format!("{SNAPSHOT_PREFIX}{graph_id}/{id}")
    }
}

/// One blob inside a pack: `[id, offset, length, raw_length]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IndexBlob(
    pub(crate) ChunkId,
    pub(crate) u64,
    pub(crate) u32,
    pub(crate) u32,
);

/// One pack described by an index file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IndexPack {
    pub(crate) id: String,
    pub(crate) size: u64,
    pub(crate) blobs: Vec<IndexBlob>,
}

/// An index object (`index/<id>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IndexFile {
    pub(crate) packs: Vec<IndexPack>,
}

pub(crate) fn pack_key(pack_id: &str) -> String {
    format!(
        "{DATA_PREFIX}{}/{pack_id}",
        &pack_id[..2.min(pack_id.len())]
    )
}

/// A file's content hash: BLAKE3 over its chunk ids in order (each id already hashes its
/// chunk's bytes, so this identifies the content without a second pass over the data).
pub(crate) fn file_hash(chunks: &[ChunkId]) -> String {
    let mut h = blake3::Hasher::new();
    for c in chunks {
        h.update(&c.0);
    }
    hex(h.finalize().as_bytes())
}

/// Where a chunk lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobLocation {
    pub(crate) pack: std::sync::Arc<str>,
    pub(crate) offset: u64,
    pub(crate) length: u32,
    pub(crate) raw_length: u32,
}

/// The in-memory union of all index files.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) blobs: std::collections::HashMap<ChunkId, BlobLocation>,
    pub(crate) packs: BTreeMap<String, (u64, Vec<IndexBlob>)>,
    pub(crate) files: Vec<String>,
}

impl Index {
    pub(crate) fn add(&mut self, file: &IndexFile) {
        for p in &file.packs {
            let name: std::sync::Arc<str> = p.id.as_str().into();
            for b in &p.blobs {
                self.blobs.entry(b.0).or_insert_with(|| BlobLocation {
                    pack: name.clone(),
                    offset: b.1,
                    length: b.2,
                    raw_length: b.3,
                });
            }
            self.packs
                .entry(p.id.clone())
                .or_insert_with(|| (p.size, p.blobs.clone()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Object codec: `[flag][payload]`, flag 0 = stored, 1 = zstd; sealed when encrypted.

const FLAG_RAW: u8 = 0;
const FLAG_ZSTD: u8 = 1;

/// Compress (and seal) a plaintext. Incompressible data is stored raw.
pub(crate) fn encode(keys: Option<&Keys>, ad: &[u8], plain: &[u8], level: i32) -> Result<Vec<u8>> {
    let compressed = zstd::bulk::compress(plain, level).map_err(|e| BackupError::Storage {
        op: "compress",
        key: String::new(),
        source: e,
    })?;
    let mut body = Vec::with_capacity(plain.len().min(compressed.len()) + 1);
    if compressed.len() < plain.len() {
        body.push(FLAG_ZSTD);
        body.extend_from_slice(&compressed);
    } else {
        body.push(FLAG_RAW);
        body.extend_from_slice(plain);
    }
    Ok(match keys {
        Some(k) => k.seal(ad, &body),
        None => body,
    })
}

/// Inverse of [`encode`]. `raw_len` bounds the output when known.
pub(crate) fn decode(
    keys: Option<&Keys>,
    ad: &[u8],
    data: &[u8],
    raw_len: Option<usize>,
    what: &str,
) -> Result<Vec<u8>> {
    let corrupt = |reason: &str| BackupError::Corrupt {
        key: what.to_owned(),
        reason: reason.to_owned(),
    };
    let opened;
    let body: &[u8] = match keys {
        Some(k) => {
            opened = k
                .open(ad, data)
                .ok_or_else(|| corrupt("authentication failed"))?;
            &opened
        }
        None => data,
    };
    let (&flag, payload) = body.split_first().ok_or_else(|| corrupt("empty object"))?;
    match flag {
        FLAG_RAW => Ok(payload.to_vec()),
        FLAG_ZSTD => match raw_len {
            Some(n) => {
                zstd::bulk::decompress(payload, n).map_err(|e| corrupt(&format!("zstd: {e}")))
            }
            None => zstd::stream::decode_all(payload).map_err(|e| corrupt(&format!("zstd: {e}"))),
        },
        _ => Err(corrupt("unknown object flag")),
    }
}

/// Serialize + encode a metadata object.
pub(crate) fn encode_json<T: Serialize>(
    keys: Option<&Keys>,
    key: &str,
    v: &T,
    level: i32,
) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(v).map_err(|e| BackupError::Metadata {
        key: key.to_owned(),
        source: e,
    })?;
    encode(keys, key.as_bytes(), &json, level)
}

/// Decode + parse a metadata object.
pub(crate) fn decode_json<T: for<'de> Deserialize<'de>>(
    keys: Option<&Keys>,
    key: &str,
    data: &[u8],
) -> Result<T> {
    let plain = decode(keys, key.as_bytes(), data, None, key)?;
    serde_json::from_slice(&plain).map_err(|e| BackupError::Metadata {
        key: key.to_owned(),
        source: e,
    })
}

/// A new time-ordered snapshot id: `YYYYMMDDTHHMMSSmmmZ-<8 hex>`.
pub(crate) fn new_snapshot_id(now: OffsetDateTime) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}{:03}Z-{}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond(),
        crate::crypto::random_hex(4)
    )
}

/// Validate a graph id: `[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`.
pub fn validate_graph_id(id: &str) -> Result<()> {
    let b = id.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(BackupError::InvalidGraphId(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_ids() {
        for ok in ["default", "a", "G1.v2_x-y", &"a".repeat(128)] {
            validate_graph_id(ok).unwrap();
        }
        for bad in ["", "_a", ".a", "a/b", "图谱", &"a".repeat(129), "a b", ".."] {
            assert!(validate_graph_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn snapshot_ids_sort_by_time() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let a = new_snapshot_id(t);
        let b = new_snapshot_id(t + time::Duration::milliseconds(1));
        assert!(a < b);
        assert_eq!(&a[..19], "20231114T221320000Z");
    }

    #[test]
    fn codec_round_trip() {
        let k = Keys::derive(b"0123456789abcdef0123456789abcdef", "r");
        let text = b"hello hello hello hello hello hello".repeat(10);
        for keys in [None, Some(&k)] {
            let e = encode(keys, b"ad", &text, 3).unwrap();
            assert_eq!(
                decode(keys, b"ad", &e, Some(text.len()), "x").unwrap(),
                text
            );
            assert_eq!(decode(keys, b"ad", &e, None, "x").unwrap(), text);
            let raw = encode(keys, b"ad", b"x", 3).unwrap();
            assert_eq!(decode(keys, b"ad", &raw, Some(1), "x").unwrap(), b"x");
        }
        let e = encode(Some(&k), b"ad", &text, 3).unwrap();
        assert!(matches!(
            decode(Some(&k), b"other", &e, None, "x"),
            Err(BackupError::Corrupt { .. })
        ));
    }
}
