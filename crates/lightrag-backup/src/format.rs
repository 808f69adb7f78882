//! On-repository data structures (see `docs/repository-format.md`) and the object codec.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::crypto::{Keys, from_hex, hex};
use crate::error::{BackupError, Result};
use crate::summary::LightRagSummary;

/// Manifest format version written and read by this build; also the repository version of
/// repositories without a [`RepoConfig::fine_chunker`].
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Repository version of repositories that chunk the stores LightRAG rewrites in place with
/// [`RepoConfig::fine_chunker`] (everything else as version 1). Builds before it refuse them
/// as `BadConfig` (unknown field `fine_chunker`: upgrade, the config is not damaged); this and
/// later builds check the version before the fields, so a newer version is "unsupported".
pub(crate) const FINE_CHUNKER_VERSION: u32 = 2;
/// Repository version of repositories that also store base64 chunks decoded ([`FLAG_BASE64`]:
/// the vector matrices of LightRAG's `vdb_*.json`); otherwise as version 2. Builds before it
/// refuse them as an unsupported version rather than reading a chunk they cannot decode.
pub(crate) const BASE64_VERSION: u32 = 3;
/// Name of the format, stored in the config object.
pub(crate) const FORMAT_NAME: &str = "lightrag-ops-repository";

pub(crate) const CONFIG_KEY: &str = "config";
pub(crate) const DATA_PREFIX: &str = "data/";
pub(crate) const INDEX_PREFIX: &str = "index/";
pub(crate) const SNAPSHOT_PREFIX: &str = "snapshots/";
/// Segments of the snapshot header index (derived data, see `headers.rs`); the version is in
/// the prefix, so a reader never touches another version's segments.
pub(crate) const HEADERS_PREFIX: &str = "headers/v1/";
pub(crate) const LOCK_PREFIX: &str = "locks/";

/// A content id: BLAKE3 (keyed BLAKE3 in encrypted repositories) of a chunk's plaintext.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String)
)]
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
    /// 3 / 12 / 48 KiB: for the stores LightRAG rewrites in place (see
    /// [`RepoConfig::fine_chunker`] and `docs/benchmarks.md`).
    pub fn fine() -> Self {
        ChunkerParams {
            min_size: 3 * 1024,
            avg_size: 12 * 1024,
            max_size: 48 * 1024,
        }
    }

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
    /// [`KDF_ARGON2ID`], or [`KDF_LEGACY`] in repositories created before Argon2id.
    pub(crate) kdf: String,
    /// Argon2id cost and salt (absent with [`KDF_LEGACY`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kdf_params: Option<StoredKdf>,
    /// A known plaintext sealed with the derived key: opening it proves the key is right.
    pub(crate) key_check: String,
}

pub(crate) const KEY_CHECK_PLAINTEXT: &[u8] = b"lightrag-ops key check v1";

/// Key derivation of new repositories: Argon2id (parameters and salt in `kdf_params`).
pub(crate) const KDF_ARGON2ID: &str = "argon2id";
/// Key derivation of repositories created before Argon2id: BLAKE3 `derive_key` of the key and
/// the repository id, no stored parameters. Still opened; never created.
pub(crate) const KDF_LEGACY: &str = "blake3-derive-key";

/// Argon2id parameters as stored in `config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredKdf {
    pub(crate) memory_kib: u32,
    pub(crate) iterations: u32,
    pub(crate) parallelism: u32,
    /// 16 random bytes, hex.
    pub(crate) salt: String,
}

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
    /// Chunking of the stores LightRAG updates in place ([`StoreKind::VectorDb`] and
    /// [`StoreKind::GraphMl`] files): re-embedding an entity rewrites one matrix row and one
    /// record in the middle of `vdb_entities.json`, and each such edit stores the whole chunk
    /// around it again, so smaller chunks there cut what an incremental backup adds. Present
    /// exactly in version [`FINE_CHUNKER_VERSION`] and [`BASE64_VERSION`] repositories.
    ///
    /// [`StoreKind::VectorDb`]: crate::StoreKind::VectorDb
    /// [`StoreKind::GraphMl`]: crate::StoreKind::GraphMl
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fine_chunker: Option<ChunkerParams>,
    pub(crate) compression_level: i32,
    pub(crate) pack_size: u64,
    pub(crate) encryption: Option<EncryptionConfig>,
}

impl RepoConfig {
    /// The chunking of a file of this kind (`None`: not a LightRAG store).
    pub(crate) fn chunker_for(&self, kind: Option<crate::StoreKind>) -> ChunkerParams {
        match (kind, self.fine_chunker) {
            (Some(crate::StoreKind::VectorDb | crate::StoreKind::GraphMl), Some(fine)) => fine,
            _ => self.chunker,
        }
    }

    /// The largest chunk this repository's chunkers cut (bytes).
    pub(crate) fn max_chunk_size(&self) -> u32 {
        let fine = self.fine_chunker.map_or(0, |f| f.max_size);
        self.chunker.max_size.max(fine)
    }
}

/// One file in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Status change time (ctime), seconds since the Unix epoch (change detection only: an
    /// in-place rewrite that puts the mtime back still changes it). Absent in manifests
    /// written before it was recorded: such a file is re-read by the next backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctime: Option<i64>,
    /// Nanoseconds part of the status change time.
    #[serde(default)]
    pub ctime_nsec: u32,
    /// Content hash, hex: BLAKE3 over the chunk ids in order (see the format document).
    pub hash: String,
    /// Chunk ids in order.
    pub chunks: Vec<ChunkId>,
}

/// Totals recorded in a manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Totals {
    /// Files in the snapshot.
    pub files: u64,
    /// Logical bytes in the snapshot.
    pub bytes: u64,
    /// Chunk references in the snapshot.
    pub chunks: u64,
    /// Files reused from the parent without reading (size, mtime, ctime, inode and mode
    /// unchanged).
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Manifest {
    /// Manifest format version.
    pub version: u32,
    /// Snapshot id (time-ordered: sorts by creation time).
    pub id: String,
    /// Graph id.
    pub graph_id: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
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
    /// Whether the snapshot holds one quiescent state of the graph folder: no store changed
    /// between the first and the last read, no LightRAG temp file was pending, and the folder
    /// had been still for the settle time (see `BackupOptions::settle`). Absent in manifests
    /// written before it was recorded (unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent: Option<bool>,
    /// Why the snapshot is not consistent (the last attempt's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconsistency: Option<String>,
    /// How long the backup took, from `created_at` to the manifest (milliseconds). Absent in
    /// manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
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

/// Most blobs [`Repository::write_index`](crate::Repository) puts in one index file (about
/// 1.5 MB of JSON before compression).
pub(crate) const INDEX_PART_BLOBS: usize = 16_384;

/// An index object (`index/<id>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IndexFile {
    pub(crate) packs: Vec<IndexPack>,
}

impl IndexFile {
    /// Check every entry against what the writer can produce, before any of it is used to
    /// size a read or an allocation: pack ids are 64 lowercase hex, a blob lies inside its
    /// pack, its stored length is at most what zstd (plus flag and seal) can make of a chunk of
    /// the chunker maximum, and its plaintext length is at most that maximum.
    pub(crate) fn validate(&self, key: &str, max_chunk_size: u32) -> Result<()> {
        let max_raw = u64::from(max_chunk_size);
        let max_stored = max_raw + max_raw / 128 + 1024;
        let corrupt = |reason: String| BackupError::Corrupt {
            key: key.to_owned(),
            reason,
        };
        for p in &self.packs {
            if p.id.len() != 64
                || !p
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                let shown: String = p.id.chars().take(80).collect();
                return Err(corrupt(format!("invalid pack id {shown:?}")));
            }
            for b in &p.blobs {
                let end = b.1.checked_add(u64::from(b.2));
                if end.is_none_or(|e| e > p.size)
                    || u64::from(b.2) > max_stored
                    || u64::from(b.3) > max_raw
                {
                    return Err(corrupt(format!(
                        "chunk {} of pack {}: offset {}, length {}, raw length {} are out of bounds (pack size {}, chunker maximum {max_raw})",
                        b.0, p.id, b.1, b.2, b.3, p.size
                    )));
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn pack_key(pack_id: &str) -> String {
    // Pack ids come from index files (untrusted): never slice inside a character.
    let aa = pack_id.get(..2).unwrap_or(pack_id);
    format!("{DATA_PREFIX}{aa}/{pack_id}")
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

/// Where a chunk lives (borrowed from the [`Index`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlobLocation<'a> {
    pub(crate) pack: &'a str,
    pub(crate) offset: u64,
    pub(crate) length: u32,
    pub(crate) raw_length: u32,
}

/// One pack of the [`Index`]: its blobs are `blobs[start..end]`.
#[derive(Debug)]
struct PackRow {
    id: Box<str>,
    size: u64,
    start: u32,
    end: u32,
}

/// One pack as the index describes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PackView<'a> {
    pub(crate) id: &'a str,
    pub(crate) size: u64,
    pub(crate) blobs: &'a [IndexBlob],
    /// Position of `blobs[0]` among all blobs (for [`Index::relocate`]).
    pub(crate) start: usize,
}

/// The in-memory union of all index files, compact: each blob once as an [`IndexBlob`]
/// (48 bytes) grouped by pack, plus a 4-byte slot in a lookup table sorted by chunk id. The
/// old form (a hash map of locations plus a copy of every pack's blob list) took about five
/// times that, which made every command's memory grow with the repository (issue 15).
///
/// Built with [`add`](Index::add) and then [`seal`](Index::seal); lookups before `seal` see
/// only what was sealed.
#[derive(Debug, Default)]
pub(crate) struct Index {
    packs: Vec<PackRow>,
    /// Positions in `packs`, sorted by pack id.
    pack_order: Vec<u32>,
    blobs: Vec<IndexBlob>,
    /// Positions in `blobs`, sorted by chunk id, one per chunk id: the first copy added (or the
    /// one [`relocate`](Index::relocate) chose).
    lookup: Vec<u32>,
    /// Where each range of ids starts in `lookup`: the ids whose first `bucket_bits` bits are
    /// `b` are at `lookup[buckets[b]..buckets[b + 1]]`. Ids are hashes, evenly spread, so a
    /// bucket holds one or two and a lookup touches two or three cache lines, not the twenty
    /// of a binary search over hundreds of thousands (12 % of a 20 000-doc restore's CPU).
    buckets: Vec<u32>,
    bucket_bits: u32,
    pub(crate) files: Vec<String>,
    /// Packs before this position are in the lookup tables.
    sealed_packs: usize,
    /// More blobs than positions fit in a `u32` were added (and not kept).
    pub(crate) overflowed: bool,
}

/// The first 8 bytes of a chunk id as a big-endian integer (ordered as the ids are).
fn head(c: &ChunkId) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&c.0[..8]);
    u64::from_be_bytes(a)
}

/// The bucket of an id whose [`head`] is `h`: its first `bits` bits.
fn bucket_of(h: u64, bits: u32) -> usize {
    h.checked_shr(64 - bits).unwrap_or(0) as usize
}

/// Merge two sorted lists (`a` first on ties; the callers have none).
fn merge_sorted(a: &[u32], b: &[u32], less: impl Fn(u32, u32) -> bool) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if less(b[j], a[i]) {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

impl Index {
    /// Add an index file's packs (a pack already present is skipped: its id is its content's
    /// hash, so the blobs are the same). Call [`seal`](Index::seal) before looking up.
    pub(crate) fn add(&mut self, file: &IndexFile) {
        for p in &file.packs {
            if self.pack_pos(&p.id).is_some() {
                continue; // already sealed in; duplicates within one batch go at `seal`
            }
            let start = self.blobs.len();
            self.blobs.extend_from_slice(&p.blobs);
            let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(self.blobs.len()))
            else {
                // More than 4 billion blobs (200 GB of memory): refused by `load_index`, never
                // used with packs missing (prune would take them for orphans).
                self.blobs.truncate(start);
                self.overflowed = true;
                return;
            };
            self.packs.push(PackRow {
                id: p.id.as_str().into(),
                size: p.size,
                start,
                end,
            });
        }
    }

    /// Build the lookup tables for what was added since the last `seal`. What was sealed
    /// before keeps its place (including a [`relocate`](Index::relocate)); of the new, the
    /// first copy of a chunk added wins, as in the old map.
    pub(crate) fn seal(&mut self) {
        let first_new = self.sealed_packs as u32;
        self.sealed_packs = self.packs.len();
        let packs = &self.packs;
        let pack_id = |i: u32| -> &str { &packs[i as usize].id };
        // New packs, by id, without the ones already indexed or repeated in this batch.
        let mut order: Vec<u32> = (first_new..packs.len() as u32).collect();
        order.sort_by(|a, b| pack_id(*a).cmp(pack_id(*b)));
        order.dedup_by(|a, b| pack_id(*a) == pack_id(*b));
        let old = &self.pack_order;
        order.retain(|i| {
            old.binary_search_by(|o| pack_id(*o).cmp(pack_id(*i)))
                .is_err()
        });
        // Their blobs in the order added (so that the first copy wins below).
        let mut kept = vec![false; packs.len() - first_new as usize];
        for &i in &order {
            kept[(i - first_new) as usize] = true;
        }
        let mut lookup: Vec<u32> = Vec::new();
        for (k, p) in packs[first_new as usize..].iter().enumerate() {
            if kept[k] {
                lookup.extend(p.start..p.end);
            }
        }
        let pack_order = merge_sorted(&self.pack_order, &order, |a, b| pack_id(a) < pack_id(b));
        // New chunks, by id (stable: equal ids keep insertion order, `dedup` keeps the first),
        // without the ones already indexed.
        let blobs = &self.blobs;
        let chunk = |i: u32| -> &ChunkId { &blobs[i as usize].0 };
        lookup.sort_by(|a, b| chunk(*a).cmp(chunk(*b)));
        lookup.dedup_by(|a, b| chunk(*a) == chunk(*b));
        let old = &self.lookup;
        lookup.retain(|i| old.binary_search_by(|o| chunk(*o).cmp(chunk(*i))).is_err());
        let mut merged = merge_sorted(&self.lookup, &lookup, |a, b| chunk(a) < chunk(b));
        drop(lookup);
        merged.shrink_to_fit();
        self.pack_order = pack_order;
        self.lookup = merged;
        self.blobs.shrink_to_fit();
        self.build_buckets();
    }

    /// About one id per bucket, never more buckets than ids (at most 4 bytes per chunk).
    fn build_buckets(&mut self) {
        let n = self.lookup.len();
        let bits = match n {
            0 | 1 => 0,
            n => (usize::BITS - 1 - n.leading_zeros()).min(24),
        };
        let mut buckets = Vec::with_capacity((1 << bits) + 1);
        let mut k = 0;
        for b in 0..1usize << bits {
            while k < n && bucket_of(head(&self.blobs[self.lookup[k] as usize].0), bits) < b {
                k += 1;
            }
            buckets.push(k as u32);
        }
        buckets.push(n as u32);
        self.buckets = buckets;
        self.bucket_bits = bits;
    }

    fn pack_pos(&self, id: &str) -> Option<usize> {
        self.pack_order
            .binary_search_by(|p| (*self.packs[*p as usize].id).cmp(id))
            .ok()
            .map(|i| self.pack_order[i] as usize)
    }

    fn slot(&self, id: &ChunkId) -> Option<usize> {
        let h = head(id);
        let b = bucket_of(h, self.bucket_bits);
        let (lo, hi) = match self.buckets.get(b..b + 2) {
            Some(&[lo, hi]) => (lo as usize, hi as usize),
            _ => (0, self.lookup.len()), // not sealed yet
        };
        // The first 8 bytes as a big-endian integer order ids exactly as their bytes do, and
        // settle nearly every comparison without a 32-byte `memcmp`.
        self.lookup
            .get(lo..hi)?
            .binary_search_by(|p| {
                let c = &self.blobs[*p as usize].0;
                head(c).cmp(&h).then_with(|| c.cmp(id))
            })
            .ok()
            .map(|i| lo + i)
    }

    /// The pack holding blob position `pos`.
    fn pack_of(&self, pos: usize) -> &PackRow {
        let i = self
            .packs
            .partition_point(|p| (p.start as usize) <= pos)
            .saturating_sub(1);
        &self.packs[i]
    }

    pub(crate) fn contains(&self, id: &ChunkId) -> bool {
        self.slot(id).is_some()
    }

    /// Where the chunk is read from.
    pub(crate) fn get(&self, id: &ChunkId) -> Option<BlobLocation<'_>> {
        let pos = self.lookup[self.slot(id)?] as usize;
        let b = &self.blobs[pos];
        Some(BlobLocation {
            pack: &self.pack_of(pos).id,
            offset: b.1,
            length: b.2,
            raw_length: b.3,
        })
    }

    /// Read `id` from blob position `pos` instead (another copy of the same chunk).
    pub(crate) fn relocate(&mut self, id: &ChunkId, pos: usize) {
        if let (Some(slot), Some(b)) = (self.slot(id), self.blobs.get(pos))
            && b.0 == *id
            && let Ok(pos) = u32::try_from(pos)
        {
            self.lookup[slot] = pos;
        }
    }

    /// Distinct chunks indexed.
    pub(crate) fn chunk_count(&self) -> usize {
        self.lookup.len()
    }

    /// Packs indexed.
    pub(crate) fn pack_count(&self) -> usize {
        self.pack_order.len()
    }

    pub(crate) fn pack(&self, id: &str) -> Option<PackView<'_>> {
        self.pack_pos(id).map(|i| self.view(i))
    }

    fn view(&self, i: usize) -> PackView<'_> {
        let p = &self.packs[i];
        PackView {
            id: &p.id,
            size: p.size,
            blobs: &self.blobs[p.start as usize..p.end as usize],
            start: p.start as usize,
        }
    }

    /// Every pack, in pack id order.
    pub(crate) fn packs(&self) -> impl Iterator<Item = PackView<'_>> {
        self.pack_order.iter().map(|i| self.view(*i as usize))
    }
}

// ---------------------------------------------------------------------------------------------
// Object codec: `[flag][payload]`, flag 0 = stored, 1 = zstd, 2 = base64 stored decoded
// (chunks of version 3 repositories only); sealed when encrypted.

const FLAG_RAW: u8 = 0;
const FLAG_ZSTD: u8 = 1;
/// A chunk of base64 text (the vector matrix of a `vdb_*.json`, base64 of float32 rows)
/// stored as the bytes it decodes to: payload = `t` (0..=3) || what the chunk's first
/// `len - t` characters decode to || its last `t` characters as they are. Whole groups of
/// four characters from the base64 alphabet (no `=`) decode to three bytes and encode back to
/// exactly those characters, so the chunk restores byte for byte. Decoding runs at several
/// GB/s where zstd, which can only entropy-code random floats, runs at a few hundred MB/s and
/// stores about 1 % less.
const FLAG_BASE64: u8 = 2;
/// Shorter chunks are not worth a second look.
const BASE64_MIN: usize = 1024;
/// Characters whose byte histogram decides whether base64 text is worth compressing instead.
const BASE64_SAMPLE: usize = 1024;
const _: () = assert!(
    BASE64_SAMPLE <= BASE64_MIN,
    "the sample is a prefix of the chunk"
);
/// Below this many bits per character (random data is 6, LightRAG's float32 matrices 5.8) the
/// text has structure zstd's literal coding uses (zero vectors, small integers): it is
/// compressed instead of stored decoded.
const BASE64_MIN_ENTROPY: f64 = 5.0;

/// Compress (and seal) a plaintext. Incompressible data is stored raw.
pub(crate) fn encode(keys: Option<&Keys>, ad: &[u8], plain: &[u8], level: i32) -> Result<Vec<u8>> {
    let mut compressor =
        zstd::bulk::Compressor::new(level).map_err(|e| BackupError::compress("", e))?;
    encode_with(&mut compressor, keys, ad, plain)
}

/// [`encode`] with a compressor the caller keeps (one per thread: a compression context is
/// about a megabyte, and setting one up for each 32 KiB chunk cost more than compressing it).
pub(crate) fn encode_with(
    compressor: &mut zstd::bulk::Compressor<'_>,
    keys: Option<&Keys>,
    ad: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>> {
    let compressed = compressor
        .compress(plain)
        .map_err(|e| BackupError::compress("", e))?;
    let mut body = Vec::with_capacity(plain.len().min(compressed.len()) + 1);
    if compressed.len() < plain.len() {
        body.push(FLAG_ZSTD);
        body.extend_from_slice(&compressed);
    } else {
        body.push(FLAG_RAW);
        body.extend_from_slice(plain);
    }
    Ok(seal(keys, ad, body))
}

/// Encode a chunk: as [`encode_with`], except that with `base64` (a version 3 repository) a
/// chunk of random-looking base64 text is stored decoded ([`FLAG_BASE64`]).
pub(crate) fn encode_chunk(
    compressor: &mut zstd::bulk::Compressor<'_>,
    keys: Option<&Keys>,
    id: &ChunkId,
    plain: &[u8],
    base64: bool,
) -> Result<Vec<u8>> {
    match base64.then(|| base64_body(plain)).flatten() {
        Some(body) => Ok(seal(keys, &id.0, body)),
        None => encode_with(compressor, keys, &id.0, plain),
    }
}

fn seal(keys: Option<&Keys>, ad: &[u8], body: Vec<u8>) -> Vec<u8> {
    match keys {
        Some(k) => k.seal(ad, &body),
        None => body,
    }
}

/// The [`FLAG_BASE64`] body of `plain`, if it is base64 text without structure to compress.
fn base64_body(plain: &[u8]) -> Option<Vec<u8>> {
    if plain.len() < BASE64_MIN || !looks_random_base64(&plain[..BASE64_SAMPLE]) {
        return None;
    }
    let whole = plain.len() / 4 * 4;
    let tail = &plain[whole..];
    let decoded = whole / 4 * 3;
    let mut body = vec![0u8; 2 + decoded + tail.len()];
    body[0] = FLAG_BASE64;
    body[1] = tail.len() as u8;
    // No padding: a `=` anywhere, or any character outside the alphabet, is an error.
    let out = base64_simd::STANDARD_NO_PAD
        .decode(
            &plain[..whole],
            base64_simd::Out::from_slice(&mut body[2..2 + decoded]),
        )
        .ok()?;
    if out.len() != decoded || !tail.iter().all(|&b| crate::summary::is_b64(b)) {
        return None;
    }
    body[2 + decoded..].copy_from_slice(tail);
    // Never store what would not restore byte for byte: the body is decoded back and compared
    // (a tenth of the cost of compressing the chunk).
    (base64_chunk(&body[1..], plain.len()).as_deref() == Some(plain)).then_some(body)
}

/// Whether `sample` is base64 text whose characters are close to uniform (the order-0
/// entropy zstd's literal coding would exploit is at least [`BASE64_MIN_ENTROPY`] bits).
fn looks_random_base64(sample: &[u8]) -> bool {
    let mut counts = [0u32; 256];
    for &b in sample {
        counts[usize::from(b)] += 1;
    }
    if counts
        .iter()
        .enumerate()
        .any(|(b, &n)| n > 0 && !crate::summary::is_b64(b as u8))
    {
        return false;
    }
    let total = sample.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = f64::from(n) / total;
            -p * p.log2()
        })
        .sum();
    entropy >= BASE64_MIN_ENTROPY
}

/// The chunk of `n` bytes a [`FLAG_BASE64`] payload stands for; `None` if the payload cannot
/// be one (damage).
fn base64_chunk(payload: &[u8], n: usize) -> Option<Vec<u8>> {
    let (&tail, rest) = payload.split_first()?;
    let tail = usize::from(tail);
    let bin_len = rest.len().checked_sub(tail).filter(|_| tail <= 3)?;
    let (bin, tail) = rest.split_at(bin_len);
    if !bin.len().is_multiple_of(3) || bin.len() / 3 * 4 + tail.len() != n {
        return None;
    }
    let mut out = vec![0u8; n];
    let text = bin.len() / 3 * 4;
    let written = base64_simd::STANDARD_NO_PAD
        .encode(bin, base64_simd::Out::from_slice(&mut out[..text]))
        .len();
    if written != text {
        return None;
    }
    out[text..].copy_from_slice(tail);
    Some(out)
}

/// Smallest output bound of a metadata object (manifest, index, pack trailer, config).
pub(crate) const METADATA_FLOOR: usize = 64 * 1024 * 1024;
/// Largest output bound of a metadata object, whatever its compressed size.
pub(crate) const METADATA_CEILING: usize = 1024 * 1024 * 1024;
/// Largest plausible expansion of our JSON metadata (hex ids compress about 2:1).
const METADATA_RATIO: usize = 256;

/// The most bytes a metadata object of `encoded_len` bytes may decode to: a zstd bomb (a few
/// KiB that would expand to GiBs) fails at this bound instead of exhausting memory.
pub(crate) fn metadata_limit(encoded_len: usize) -> usize {
    encoded_len
        .saturating_mul(METADATA_RATIO)
        .clamp(METADATA_FLOOR, METADATA_CEILING)
}

/// How many bytes an encoded object may decode to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DecodedLen {
    /// Exactly this many (a chunk, whose length the index records and the caller has
    /// already checked against the chunker maximum).
    Exact(usize),
    /// At most this many (metadata).
    AtMost(usize),
}

/// Inverse of [`encode`]. The output never exceeds `len`: a larger object is
/// [`BackupError::Corrupt`] ("damaged"), found without decoding more than the bound.
pub(crate) fn decode(
    keys: Option<&Keys>,
    ad: &[u8],
    data: &[u8],
    len: DecodedLen,
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
    let limit = match len {
        DecodedLen::Exact(n) | DecodedLen::AtMost(n) => n,
    };
    let too_large = || corrupt(&format!("decodes to more than the {limit} bytes allowed"));
    match flag {
        FLAG_RAW if payload.len() > limit => Err(too_large()),
        FLAG_RAW => Ok(payload.to_vec()),
        FLAG_BASE64 => match len {
            DecodedLen::Exact(n) => base64_chunk(payload, n)
                .ok_or_else(|| corrupt(&format!("not a base64 chunk of {n} bytes"))),
            // Only chunks are ever stored this way.
            DecodedLen::AtMost(_) => Err(corrupt("unknown object flag")),
        },
        FLAG_ZSTD => match len {
            DecodedLen::Exact(n) => {
                thread_local! {
                    // One decompression context per thread, reused for every chunk it reads.
                    static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
                        const { std::cell::RefCell::new(None) };
                }
                DCTX.with(|cell| {
                    let mut slot = cell.try_borrow_mut().ok();
                    if let Some(slot) = slot.as_deref_mut() {
                        if slot.is_none() {
                            *slot = zstd::bulk::Decompressor::new().ok();
                        }
                        if let Some(d) = slot.as_mut() {
                            return d.decompress(payload, n);
                        }
                    }
                    zstd::bulk::decompress(payload, n)
                })
                .map_err(|e| corrupt(&format!("zstd: {e}")))
            }
            DecodedLen::AtMost(n) => {
                use std::io::Read;
                let mut dec = zstd::stream::read::Decoder::new(payload)
                    .map_err(|e| corrupt(&format!("zstd: {e}")))?;
                let mut out = Vec::new();
                // Read one byte past the bound to tell "exactly n" from "more".
                (&mut dec)
                    .take(n as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| corrupt(&format!("zstd: {e}")))?;
                if out.len() > n {
                    return Err(too_large());
                }
                Ok(out)
            }
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
    encode_stream(keys, key, level, |w| serde_json::to_writer(w, v))
}

/// Encode the metadata object that `write` writes (it may be called twice: again into a
/// plain buffer when the object is too small to compress). Written straight into the
/// compressor: a manifest of a GB-scale graph (hundreds of thousands of chunk ids) or a header
/// segment of 10 000 snapshots never exists as plain bytes in memory, only compressed.
pub(crate) fn encode_stream(
    keys: Option<&Keys>,
    key: &str,
    level: i32,
    write: impl Fn(&mut dyn std::io::Write) -> std::result::Result<(), serde_json::Error>,
) -> Result<Vec<u8>> {
    let meta = |source| BackupError::Metadata {
        key: key.to_owned(),
        source,
    };
    let mut counted = Counted {
        inner: zstd::stream::write::Encoder::new(vec![FLAG_ZSTD], level)
            .map_err(|e| BackupError::compress(key, e))?,
        n: 0,
    };
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, &mut counted);
        write(&mut w).map_err(meta)?;
        w.flush().map_err(|e| BackupError::compress(key, e))?;
    }
    let body = counted
        .inner
        .finish()
        .map_err(|e| BackupError::compress(key, e))?;
    if body.len() > counted.n {
        // Too small to compress (as `encode` decides): stored raw.
        let mut plain = Vec::new();
        write(&mut plain).map_err(meta)?;
        return encode(keys, key.as_bytes(), &plain, level);
    }
    Ok(match keys {
        Some(k) => k.seal(key.as_bytes(), &body),
        None => body,
    })
}

/// A writer that counts what passes through it.
struct Counted<W> {
    inner: W,
    n: usize,
}

impl<W: std::io::Write> std::io::Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Decode + parse a metadata object.
pub(crate) fn decode_json<T: for<'de> Deserialize<'de>>(
    keys: Option<&Keys>,
    key: &str,
    data: &[u8],
) -> Result<T> {
    decode_stream(keys, key, data, |r| {
        // Parsing from a slice is several times faster than from a reader (which takes the
        // text byte by byte): objects up to JSON_IN_MEMORY are read whole (an index part is
        // ~1.5 MB), larger ones (a GB-scale graph's manifest) stream as before.
        use std::io::Read;
        let mut head = Vec::new();
        (&mut *r)
            .take(JSON_IN_MEMORY as u64)
            .read_to_end(&mut head)
            .map_err(serde_json::Error::io)?;
        if head.len() < JSON_IN_MEMORY {
            serde_json::from_slice(&head)
        } else {
            serde_json::from_reader(std::io::BufReader::with_capacity(
                64 * 1024,
                head.as_slice().chain(r),
            ))
        }
    })
}

/// Metadata objects whose plaintext is smaller than this are parsed from memory.
const JSON_IN_MEMORY: usize = 4 * 1024 * 1024;

/// Decode a metadata object, handing its plaintext to `read` as a stream: parsed while it
/// decompresses, so the plain bytes of a large manifest or header segment are never held
/// whole. Reading stops one byte past the bound (a zstd bomb is damage, as in `decode`); a
/// `read` that failed because the decompressor did is damage too, not a parse error.
pub(crate) fn decode_stream<T>(
    keys: Option<&Keys>,
    key: &str,
    data: &[u8],
    read: impl FnOnce(&mut dyn std::io::Read) -> std::result::Result<T, serde_json::Error>,
) -> Result<T> {
    let limit = metadata_limit(data.len());
    let corrupt = |reason: String| BackupError::Corrupt {
        key: key.to_owned(),
        reason,
    };
    let meta = |source| BackupError::Metadata {
        key: key.to_owned(),
        source,
    };
    let opened;
    let body: &[u8] = match keys {
        Some(k) => {
            opened = k
                .open(key.as_bytes(), data)
                .ok_or_else(|| corrupt("authentication failed".into()))?;
            &opened
        }
        None => data,
    };
    match body.split_first() {
        Some((&FLAG_ZSTD, payload)) => {
            use std::io::Read;
            let dec = zstd::stream::read::Decoder::new(payload)
                .map_err(|e| corrupt(format!("zstd: {e}")))?;
            let mut reader = Bounded {
                inner: dec.take(limit as u64 + 1),
                n: 0,
                error: None,
            };
            let parsed = read(&mut std::io::BufReader::with_capacity(
                64 * 1024,
                &mut reader,
            ));
            if let Some(e) = reader.error {
                return Err(corrupt(format!("zstd: {e}")));
            }
            if reader.n > limit {
                return Err(corrupt(format!(
                    "decodes to more than the {limit} bytes allowed"
                )));
            }
            parsed.map_err(meta)
        }
        _ => {
            let plain = decode(None, b"", body, DecodedLen::AtMost(limit), key)?;
            read(&mut plain.as_slice()).map_err(meta)
        }
    }
}

/// A reader that counts the bytes it passes on and keeps the first error of its source (so a
/// parse that failed because the decompressor failed is reported as damage, not as JSON).
struct Bounded<R> {
    inner: R,
    n: usize,
    error: Option<std::io::Error>,
}

impl<R: std::io::Read> std::io::Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.n += n;
                Ok(n)
            }
            Err(e) => {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                self.error.get_or_insert(e);
                Err(copy)
            }
        }
    }
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
                decode(keys, b"ad", &e, DecodedLen::Exact(text.len()), "x").unwrap(),
                text
            );
            assert_eq!(
                decode(keys, b"ad", &e, DecodedLen::AtMost(1 << 20), "x").unwrap(),
                text
            );
            let raw = encode(keys, b"ad", b"x", 3).unwrap();
            assert_eq!(
                decode(keys, b"ad", &raw, DecodedLen::Exact(1), "x").unwrap(),
                b"x"
            );
        }
        let e = encode(Some(&k), b"ad", &text, 3).unwrap();
        assert!(matches!(
            decode(Some(&k), b"other", &e, DecodedLen::AtMost(1 << 20), "x"),
            Err(BackupError::Corrupt { .. })
        ));
    }

    /// Metadata streams through the compressor both ways, and decodes exactly as the
    /// whole-buffer path did: small objects stored raw, large ones compressed, sealed when
    /// encrypted (the key is the associated data), with the same bytes for either decoder.
    #[test]
    fn metadata_round_trip_streaming() {
        let k = Keys::derive(b"0123456789abcdef0123456789abcdef", "r");
        let big = IndexFile {
            packs: (0..40u8)
                .map(|p| IndexPack {
                    id: crate::crypto::hex(&[p; 32]),
                    size: 1 << 20,
                    blobs: (0..500u32)
                        .map(|i| {
                            let mut id = [p; 32];
                            id[..4].copy_from_slice(&i.to_le_bytes());
                            IndexBlob(ChunkId(id), u64::from(i) * 100, 100, 400)
                        })
                        .collect(),
                })
                .collect(),
        };
        let small = IndexFile::default();
        for keys in [None, Some(&k)] {
            for v in [&big, &small] {
                let e = encode_json(keys, "index/a", v, 3).unwrap();
                assert_eq!(&decode_json::<IndexFile>(keys, "index/a", &e).unwrap(), v);
                // What the old encoder wrote (whole JSON, then `encode`) reads the same.
                let old = encode(keys, b"index/a", &serde_json::to_vec(v).unwrap(), 3).unwrap();
                assert_eq!(&decode_json::<IndexFile>(keys, "index/a", &old).unwrap(), v);
                // And the new one is what `decode` + parse would read.
                let plain = decode(keys, b"index/a", &e, DecodedLen::AtMost(1 << 30), "x").unwrap();
                assert_eq!(&serde_json::from_slice::<IndexFile>(&plain).unwrap(), v);
            }
            let raw = encode_json(keys, "index/a", &small, 3).unwrap();
            let plain = match keys {
                Some(k) => k.open(b"index/a", &raw).unwrap(),
                None => raw.clone(),
            };
            assert_eq!(plain[0], FLAG_RAW, "a tiny object is stored raw");
            // Wrong key (associated data): damage, not a parse error.
            if let Some(k) = keys {
                assert!(matches!(
                    decode_json::<IndexFile>(Some(k), "index/b", &raw),
                    Err(BackupError::Corrupt { .. })
                ));
            }
        }
        // A truncated compressed object is damage, never a panic.
        let e = encode_json(None, "index/a", &big, 3).unwrap();
        assert!(decode_json::<IndexFile>(None, "index/a", &e[..e.len() / 2]).is_err());
    }

    /// The compact index answers as the old map did: the first copy of a chunk added wins, a
    /// pack indexed twice counts once, `relocate` moves one chunk to another copy, and packs
    /// come in id order.
    #[test]
    fn compact_index_lookups() {
        let id = |n: u8| ChunkId([n; 32]);
        let pack = |name: u8, size: u64, blobs: Vec<IndexBlob>| IndexPack {
            id: crate::crypto::hex(&[name; 32]),
            size,
            blobs,
        };
        let mut index = Index::default();
        index.add(&IndexFile {
            packs: vec![
                pack(
                    9,
                    900,
                    vec![IndexBlob(id(1), 0, 10, 20), IndexBlob(id(2), 10, 10, 20)],
                ),
                pack(
                    3,
                    300,
                    vec![IndexBlob(id(2), 0, 5, 20), IndexBlob(id(3), 5, 5, 20)],
                ),
            ],
        });
        index.add(&IndexFile {
            packs: vec![pack(
                9,
                900,
                vec![IndexBlob(id(1), 0, 10, 20), IndexBlob(id(2), 10, 10, 20)],
            )],
        });
        index.seal();
        assert_eq!((index.chunk_count(), index.pack_count()), (3, 2));
        let p9 = crate::crypto::hex(&[9; 32]);
        let p3 = crate::crypto::hex(&[3; 32]);
        let at = |index: &Index, n: u8| index.get(&id(n)).map(|l| (l.pack.to_owned(), l.offset));
        assert_eq!(at(&index, 1), Some((p9.clone(), 0)));
        assert_eq!(
            at(&index, 2),
            Some((p9.clone(), 10)),
            "first copy added wins"
        );
        assert_eq!(at(&index, 3), Some((p3.clone(), 5)));
        assert!(!index.contains(&id(4)) && index.get(&id(4)).is_none());
        let ids: Vec<&str> = index.packs().map(|p| p.id).collect();
        assert_eq!(ids, [p3.as_str(), p9.as_str()]);
        let v3 = index.pack(&p3).unwrap();
        assert_eq!((v3.size, v3.blobs.len()), (300, 2));
        // Route chunk 2 to its copy in pack 3; a position holding another chunk is ignored.
        let start3 = v3.start;
        index.relocate(&id(2), start3);
        assert_eq!(at(&index, 2), Some((p3.clone(), 0)));
        index.relocate(&id(2), start3 + 1);
        assert_eq!(at(&index, 2), Some((p3.clone(), 0)));
        // Adding after sealing (a backup's next attempt), then sealing again.
        index.add(&IndexFile {
            packs: vec![pack(5, 500, vec![IndexBlob(id(4), 0, 1, 1)])],
        });
        index.seal();
        assert_eq!(at(&index, 4), Some((crate::crypto::hex(&[5; 32]), 0)));
        assert_eq!(at(&index, 1), Some((p9, 0)));
        assert_eq!(
            at(&index, 2),
            Some((p3.clone(), 0)),
            "a relocation survives a later seal"
        );
        assert_eq!(index.pack_count(), 3);
    }

    /// Lookups through the bucket table find every indexed id and nothing else, across seals,
    /// for evenly spread ids (hashes) and for ids crowded into one bucket or at the ends of
    /// the id space (a forged index: still found, only slower).
    #[test]
    fn bucketed_lookups_find_every_id_and_nothing_else() {
        let hashed = |n: u32| ChunkId(*blake3::hash(&n.to_le_bytes()).as_bytes());
        let crowded = |n: u32| {
            let mut c = [0u8; 32];
            c[28..].copy_from_slice(&n.to_be_bytes());
            ChunkId(c)
        };
        let top = |n: u32| {
            let mut c = [0xff; 32];
            c[28..].copy_from_slice(&n.to_be_bytes());
            ChunkId(c)
        };
        let mut index = Index::default();
        let mut expected: Vec<(ChunkId, u64)> = Vec::new();
        let mut pack_no = 0u32;
        let mut add = |index: &mut Index, ids: Vec<ChunkId>| {
            pack_no += 1;
            let blobs: Vec<IndexBlob> = ids
                .iter()
                .enumerate()
                .map(|(k, id)| IndexBlob(*id, k as u64, 1, 1))
                .collect();
            expected.extend(ids.iter().enumerate().map(|(k, id)| (*id, k as u64)));
            index.add(&IndexFile {
                packs: vec![IndexPack {
                    id: crate::crypto::hex(blake3::hash(&pack_no.to_le_bytes()).as_bytes()),
                    size: ids.len() as u64,
                    blobs,
                }],
            });
            index.seal();
        };
        // Empty and one-id tables first.
        assert!(index.get(&hashed(0)).is_none());
        add(&mut index, vec![hashed(0)]);
        add(&mut index, (1..3000).map(hashed).collect());
        add(
            &mut index,
            (0..500).map(crowded).chain((0..500).map(top)).collect(),
        );
        add(&mut index, (3000..5000).map(hashed).collect());
        assert_eq!(index.chunk_count(), expected.len());
        for (id, offset) in &expected {
            assert_eq!(index.get(id).map(|l| l.offset), Some(*offset), "{id}");
        }
        for absent in (5000..8000)
            .map(hashed)
            .chain((500..600).map(crowded))
            .chain((500..600).map(top))
        {
            assert!(!index.contains(&absent), "{absent}");
        }
    }

    /// A zstd frame of RLE blocks: each 4-byte block expands to 128 KiB of zeros.
    fn zstd_bomb(blocks: usize) -> Vec<u8> {
        zstd_bomb_of(blocks, 0)
    }

    /// The same, of `byte`.
    fn zstd_bomb_of(blocks: usize, byte: u8) -> Vec<u8> {
        // magic, frame header descriptor (no content size), window descriptor (128 KiB)
        let mut f = vec![0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x38];
        for i in 0..blocks {
            let last = u32::from(i + 1 == blocks);
            let header = last | (1 << 1) | ((128 * 1024) << 3);
            f.extend_from_slice(&header.to_le_bytes()[..3]);
            f.push(byte);
        }
        f
    }

    /// Issue 13 #7: a small metadata object that would expand to GiBs fails fast at the bound
    /// with a typed "damaged" error instead of exhausting memory.
    #[test]
    fn zstd_bomb_in_metadata_fails_at_the_bound() {
        // The crafted frame is valid: a small one decodes to zeros.
        let mut small = vec![FLAG_ZSTD];
        small.extend(zstd_bomb(4));
        assert_eq!(
            decode(None, b"", &small, DecodedLen::AtMost(1 << 20), "x").unwrap(),
            vec![0u8; 512 * 1024]
        );
        // 128 KiB that would expand to 4 GiB of zeros: not JSON, refused at the first byte
        // (metadata is parsed while it decompresses).
        let mut zeros = vec![FLAG_ZSTD];
        zeros.extend(zstd_bomb(32 * 1024));
        assert!(matches!(
            decode_json::<serde_json::Value>(None, "index/abcdef0123", &zeros),
            Err(BackupError::Metadata { .. })
        ));
        // 128 KiB that would expand to 4 GiB of JSON whitespace: read up to the bound.
        let mut bomb = vec![FLAG_ZSTD];
        bomb.extend(zstd_bomb_of(32 * 1024, b' '));
        assert!(bomb.len() < 200 * 1024);
        let started = std::time::Instant::now();
        let err = decode_json::<serde_json::Value>(None, "index/abcdef0123", &bomb).unwrap_err();
        match &err {
            BackupError::Corrupt { key, reason } => {
                assert_eq!(key, "index/abcdef0123");
                assert!(reason.contains("more than"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(metadata_limit(bomb.len()) <= METADATA_FLOOR);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        // Stored (uncompressed) bodies are bounded the same way.
        let mut raw = vec![FLAG_RAW];
        raw.extend_from_slice(&[b' '; 100]);
        assert!(matches!(
            decode(None, b"", &raw, DecodedLen::AtMost(10), "x"),
            Err(BackupError::Corrupt { .. })
        ));
    }

    /// Issue 13 #7: index entries are bounded before they size a read or an allocation.
    #[test]
    fn forged_index_entries_are_damage() {
        let max = ChunkerParams::default().max_size;
        let id = ChunkId([1; 32]);
        let file = |pack: &str, blob: IndexBlob| IndexFile {
            packs: vec![IndexPack {
                id: pack.to_owned(),
                size: 1000,
                blobs: vec![blob],
            }],
        };
        let good = "ab".repeat(32);
        assert!(
            file(&good, IndexBlob(id, 10, 100, 4000))
                .validate("index/x", max)
                .is_ok()
        );
        for bad in [
            file(&good, IndexBlob(id, 10, 100, u32::MAX)), // raw length above the maximum
            file(&good, IndexBlob(id, 10, 2000, 4000)),    // beyond the pack
            file(&good, IndexBlob(id, u64::MAX, 100, 4000)), // offset overflows
            file(&"\u{e9}".repeat(32), IndexBlob(id, 10, 100, 4000)), // not a pack id
        ] {
            assert!(matches!(
                bad.validate("index/x", max),
                Err(BackupError::Corrupt { .. })
            ));
        }
    }

    /// Random-looking bytes, as a vector matrix is.
    fn random_bytes(n: usize, seed: u8) -> Vec<u8> {
        let mut out = vec![0u8; n];
        blake3::Hasher::new()
            .update(&[seed])
            .finalize_xof()
            .fill(&mut out);
        out
    }

    fn base64_text(n: usize, seed: u8) -> Vec<u8> {
        base64_simd::STANDARD_NO_PAD
            .encode_to_string(random_bytes(n / 4 * 3 + 3, seed))
            .into_bytes()
    }

    /// Base64 text of random bytes, cut anywhere (a chunk starts and ends at any character),
    /// is stored as the bytes it decodes to and restores byte for byte, sealed or not.
    #[test]
    fn base64_chunks_are_stored_decoded_and_restore_byte_for_byte() {
        let k = Keys::derive(b"0123456789abcdef0123456789abcdef", "r");
        let text = base64_text(64 * 1024, 1);
        let mut compressor = zstd::bulk::Compressor::new(1).unwrap();
        for keys in [None, Some(&k)] {
            for start in 0..4 {
                for len in [BASE64_MIN, BASE64_MIN + 1, 12 * 1024 + 2, 48 * 1024 + 3] {
                    let chunk = &text[start..start + len];
                    let id = ChunkId(*blake3::hash(chunk).as_bytes());
                    let e = encode_chunk(&mut compressor, keys, &id, chunk, true).unwrap();
                    let body = match keys {
                        Some(k) => k.open(&id.0, &e).unwrap(),
                        None => e.clone(),
                    };
                    assert_eq!(body[0], FLAG_BASE64, "start {start} len {len}");
                    assert_eq!(body.len(), 2 + len / 4 * 3 + len % 4);
                    let back = decode(keys, &id.0, &e, DecodedLen::Exact(len), "x").unwrap();
                    assert_eq!(back, chunk, "start {start} len {len}");
                    // Any other length is damage, not a shorter or padded chunk.
                    for n in [len - 1, len + 1] {
                        assert!(matches!(
                            decode(keys, &id.0, &e, DecodedLen::Exact(n), "x"),
                            Err(BackupError::Corrupt { .. })
                        ));
                    }
                }
            }
        }
    }

    /// What is not random base64 text is compressed (or stored) as before, and a repository
    /// before version 3 never gets the new flag.
    #[test]
    fn only_random_base64_text_is_stored_decoded() {
        let mut compressor = zstd::bulk::Compressor::new(1).unwrap();
        let text = base64_text(16 * 1024, 2);
        let with = |bytes: &[u8], i: usize, b: u8| {
            let mut v = bytes.to_vec();
            v[i] = b;
            v
        };
        let zeros = b"A".repeat(16 * 1024);
        let padded = [&text[..4096], b"AAA=".as_slice()].concat();
        let cases: Vec<(&str, Vec<u8>, bool)> = vec![
            ("random base64", text.clone(), true),
            ("version 2 repository", text.clone(), false),
            (
                "shorter than the minimum",
                text[..BASE64_MIN - 1].to_vec(),
                true,
            ),
            ("a space early", with(&text, 10, b' '), true),
            ("a quote late", with(&text, 9000, b'"'), true),
            ("a padding character inside", with(&text, 5000, b'='), true),
            ("padded at the end", padded, true),
            ("zero vectors (compress to nothing)", zeros, true),
            (
                "a newline in the last group",
                with(&text, text.len() - 1, b'\n'),
                true,
            ),
            (
                "a newline in the tail",
                with(&text[..4097], 4096, b'\n'),
                true,
            ),
        ];
        for (what, chunk, base64) in cases {
            let id = ChunkId(*blake3::hash(&chunk).as_bytes());
            let e = encode_chunk(&mut compressor, None, &id, &chunk, base64).unwrap();
            let decoded = what == "random base64";
            assert_eq!(e[0] == FLAG_BASE64, decoded, "{what}");
            assert_eq!(
                decode(None, &id.0, &e, DecodedLen::Exact(chunk.len()), "x").unwrap(),
                chunk,
                "{what}"
            );
        }
        let zeros = b"A".repeat(16 * 1024);
        let id = ChunkId(*blake3::hash(&zeros).as_bytes());
        let e = encode_chunk(&mut compressor, None, &id, &zeros, true).unwrap();
        assert!(e.len() < 100, "zero vectors compress: {} bytes", e.len());
    }

    proptest::proptest! {
        /// A damaged or forged base64 body is damage, never a panic or a chunk of another
        /// length; only chunks are ever stored this way.
        #[test]
        fn forged_base64_bodies_are_damage(
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            n in 0usize..100,
        ) {
            let body = [&[FLAG_BASE64][..], &payload].concat();
            if let Ok(out) = decode(None, b"", &body, DecodedLen::Exact(n), "x") {
                proptest::prop_assert_eq!(out.len(), n);
                proptest::prop_assert!(payload[0] <= 3);
            }
            proptest::prop_assert!(
                decode(None, b"", &body, DecodedLen::AtMost(1 << 20), "x").is_err()
            );
        }
    }

    #[test]
    fn pack_keys_of_untrusted_ids_never_panic() {
        assert_eq!(pack_key("abcd"), "data/ab/abcd");
        let _ = pack_key("\u{e9}abc");
        let _ = pack_key("a\u{e9}bc");
        let _ = pack_key("");
    }

    proptest::proptest! {
        /// Parsers of untrusted strings never panic.
        #[test]
        fn untrusted_string_parsers_never_panic(s in "\\PC{0,64}") {
            let _ = validate_graph_id(&s);
            let _ = pack_key(&s);
        }
    }
}
