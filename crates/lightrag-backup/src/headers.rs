//! The snapshot header index: a compact, derived copy of what listings need from each manifest
//! (a [`SnapshotInfo`] plus the manifest's stored size), packed into a few *segments* under
//! `headers/v1/`, so that listing N snapshots costs one LIST of `snapshots/`, one LIST of
//! `headers/v1/` and a few segment GETs instead of N manifest GETs.
//!
//! The manifests stay the source of truth; the index never decides what exists:
//!
//! - the set of snapshots is always the LIST of `snapshots/`: a header whose manifest is not
//!   listed (forgotten, deleted, pruned) is ignored, and a listed manifest no header covers is
//!   read in full;
//! - a header is used only for the manifest it was made from: same graph, same id and same
//!   stored size as listed (a manifest replaced or truncated since is read again);
//! - every segment carries a BLAKE3 checksum of its body and is encoded like a manifest
//!   (compressed; sealed with the object key as associated data in an encrypted repository, so
//!   graph names, sizes and counts are never in plaintext): a damaged, foreign-version,
//!   missing or unreadable segment only means its manifests are read again.
//!
//! Writes are best effort and never fail the operation that makes them: a backup puts a
//! one-header segment after its manifest (a crash between the two leaves a manifest that the
//! next listing reads and indexes); a listing that had to read manifests puts a segment with
//! their headers; when there are more than [`MAX_SEGMENTS`] segments, or many headers of
//! snapshots that are gone or duplicated, a listing (or a backup) writes one consolidated
//! segment and only then deletes the segments it read. Concurrent writers can at worst
//! duplicate a header or drop one (another consolidation deleting a segment it did not fold
//! in): both only cost a manifest read later, never a wrong list.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::crypto::random_hex;
use crate::error::{BackupError, Result};
use crate::format::{self, HEADERS_PREFIX};
use crate::repo::{Repository, SnapshotInfo};

/// More segments than this are folded into one.
pub(crate) const MAX_SEGMENTS: usize = 16;
/// Headers of gone or duplicated snapshots tolerated before a consolidation (at least this
/// many, and at least a quarter of the useful ones).
const MIN_WASTE: usize = 64;
/// Concurrent GETs on a backend where each request is slow (object stores).
const PARALLEL_GETS: usize = 8;

/// One snapshot's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    /// Stored size of the manifest object the header was made from.
    pub(crate) size: u64,
    /// What listings return.
    pub(crate) info: SnapshotInfo,
}

/// The body of a segment (after the checksum), as read.
#[derive(Debug, Deserialize)]
struct Segment {
    headers: Vec<Header>,
}

/// One header to write, borrowed: serialises exactly as a [`Header`].
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct HeaderRef<'a> {
    pub(crate) size: u64,
    pub(crate) info: &'a SnapshotInfo,
}

/// The body of a segment to write, borrowed: serialises exactly as a [`Segment`].
#[derive(Serialize)]
struct SegmentRef<'a> {
    headers: &'a [HeaderRef<'a>],
}

/// Manifests read (and decoded) at a time when the index does not cover them: memory stays
/// bounded however many snapshots a repository without an index has.
const MANIFEST_BATCH: usize = 64;

/// A segment's key: `headers/v1/<32 hex>` (random: the name says nothing about its content).
fn new_segment_key() -> String {
    format!("{HEADERS_PREFIX}{}", random_hex(16))
}

fn is_segment_key(key: &str) -> bool {
    key.strip_prefix(HEADERS_PREFIX).is_some_and(|id| {
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `blake3(json) || json`, encoded like any metadata object. Serialised twice (once into the
/// checksum, once into the compressor) rather than held: a segment of 10 000 headers is
/// about 11 MB of JSON.
fn encode_segment(repo: &Repository, key: &str, headers: &[HeaderRef<'_>]) -> Result<Vec<u8>> {
    let seg = SegmentRef { headers };
    let mut hasher = blake3::Hasher::new();
    serde_json::to_writer(&mut hasher, &seg).map_err(|e| BackupError::Metadata {
        key: key.to_owned(),
        source: e,
    })?;
    let sum = hasher.finalize();
    format::encode_stream(repo.keys(), key, repo.config.compression_level, |w| {
        w.write_all(sum.as_bytes()).map_err(serde_json::Error::io)?;
        serde_json::to_writer(w, &seg)
    })
}

/// Inverse of [`encode_segment`], parsed while it decompresses (the checksum is compared once
/// the whole body has been read).
fn decode_segment(repo: &Repository, key: &str, data: &[u8]) -> Result<Vec<Header>> {
    let corrupt = |reason: &str| BackupError::Corrupt {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    let mut short = false;
    let (seg, sum, found) = format::decode_stream(repo.keys(), key, data, |r| {
        let mut sum = [0u8; 32];
        if let Err(e) = r.read_exact(&mut sum) {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                short = true;
                return Ok((None, sum, [0u8; 32]));
            }
            return Err(serde_json::Error::io(e));
        }
        let mut hashing = Hashing {
            inner: r,
            hasher: blake3::Hasher::new(),
        };
        let seg: std::result::Result<Segment, _> =
            serde_json::from_reader(std::io::BufReader::with_capacity(64 * 1024, &mut hashing));
        // Hash what the parser left unread too: the checksum covers every byte.
        let rest = std::io::copy(&mut hashing, &mut std::io::sink());
        let found = *hashing.hasher.finalize().as_bytes();
        match (seg, rest) {
            (Ok(seg), Ok(_)) => Ok((Some(seg), sum, found)),
            // A body that fails its checksum is damage, whatever the parser said of it.
            (Err(_), _) | (_, Err(_)) if found != sum => Ok((None, sum, found)),
            (Err(e), _) => Err(e),
            (_, Err(e)) => Err(serde_json::Error::io(e)),
        }
    })?;
    if short {
        return Err(corrupt("shorter than its checksum"));
    }
    if found != sum {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(seg.map(|s| s.headers).unwrap_or_default())
}

/// A reader that hashes what it passes on.
struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Put a new segment holding `headers`; returns its key.
pub(crate) fn put_segment(repo: &Repository, headers: &[HeaderRef<'_>]) -> Result<String> {
    let key = new_segment_key();
    let body = encode_segment(repo, &key, headers)?;
    repo.storage.put(&key, body)?;
    Ok(key)
}

/// GET `keys`, several at once where requests are slow; results in the order of `keys`.
pub(crate) fn get_many(repo: &Repository, keys: &[&str]) -> Vec<Result<Vec<u8>>> {
    if !repo.storage.prefers_large_reads() || keys.len() < 2 {
        return keys.iter().map(|k| repo.storage.get(k)).collect();
    }
    let mut out = Vec::with_capacity(keys.len());
    for group in keys.chunks(PARALLEL_GETS) {
        std::thread::scope(|sc| {
            let handles: Vec<_> = group
                .iter()
                .map(|k| sc.spawn(move || repo.storage.get(k)))
                .collect();
            for h in handles {
                out.push(h.join().unwrap_or_else(|_| {
                    Err(BackupError::WorkerPanicked("manifest reader".into()))
                }));
            }
        });
    }
    out
}

/// The segments found (never an error: an index that cannot be read is an empty one).
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// Segments read: key and headers.
    segments: Vec<(String, Vec<Header>)>,
    /// Segments that are damaged (checksum, authentication, parse): removed by the next
    /// consolidation.
    damaged: Vec<String>,
}

pub(crate) fn load(repo: &Repository) -> Loaded {
    let mut loaded = Loaded::default();
    let listed = match repo.storage.list(HEADERS_PREFIX) {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(error = %e, "Snapshot header index not listed; reading manifests");
            return loaded;
        }
    };
    let keys: Vec<&str> = listed
        .iter()
        .map(|o| o.key.as_str())
        .filter(|k| is_segment_key(k))
        .collect();
    for (key, got) in keys.iter().zip(get_many(repo, &keys)) {
        match got.and_then(|b| decode_segment(repo, key, &b)) {
            Ok(h) => loaded.segments.push(((*key).to_owned(), h)),
            // Deleted by a consolidation since it was listed.
            Err(BackupError::ObjectNotFound { .. }) => {}
            Err(e) if e.is_access_failure() => {
                tracing::debug!(segment = key, error = %e, "Snapshot header segment not read");
            }
            Err(e) => {
                tracing::info!(segment = key, error = %e,
                    "Damaged snapshot header segment ignored (its snapshots are read from their manifests)");
                loaded.damaged.push((*key).to_owned());
            }
        }
    }
    loaded
}

/// One listed manifest: graph, snapshot id, key, stored size.
pub(crate) type Listed = (String, String, String, u64);

/// The snapshots `list_manifests` lists (sorted by id), from the header index where it covers
/// them and from their manifests otherwise; then the index is brought up to date (best
/// effort). The index is loaded while the manifests are listed. `scope` is the graph the
/// listing covers (`None`: all graphs): headers of other graphs are kept as they are.
pub(crate) fn list(
    repo: &Repository,
    scope: Option<&str>,
    list_manifests: impl FnOnce() -> Result<Vec<Listed>>,
) -> Result<Vec<SnapshotInfo>> {
    let (listed, loaded) = std::thread::scope(|sc| {
        let loading = sc.spawn(|| load(repo));
        let listed = list_manifests();
        let loaded = loading.join().unwrap_or_default();
        (listed, loaded)
    });
    let listed = listed?;
    if listed.is_empty() {
        return Ok(Vec::new());
    }
    let mut segments: Vec<(String, Vec<Option<Header>>)> = loaded
        .segments
        .into_iter()
        .map(|(k, hs)| (k, hs.into_iter().map(Some).collect()))
        .collect();
    let read: usize = segments.iter().map(|(_, hs)| hs.len()).sum();
    // Where each listed manifest's header is (graph, id and stored size must match).
    let found: Vec<Option<(usize, usize)>> = {
        let mut known: HashMap<(&str, &str, u64), (usize, usize)> = HashMap::with_capacity(read);
        for (si, (_, hs)) in segments.iter().enumerate() {
            for (hi, h) in hs.iter().enumerate() {
                if let Some(h) = h {
                    known
                        .entry((h.info.graph_id.as_str(), h.info.id.as_str(), h.size))
                        .or_insert((si, hi));
                }
            }
        }
        listed
            .iter()
            .map(|(g, id, _, size)| known.get(&(g.as_str(), id.as_str(), *size)).copied())
            .collect()
    };
    let used = found.iter().flatten().count();
    let mut slots: Vec<Option<SnapshotInfo>> = found
        .iter()
        .map(|at| at.and_then(|(si, hi)| segments[si].1[hi].take().map(|h| h.info)))
        .collect();
    // Stored size of each manifest a header is (or will be) made from.
    let mut sizes: Vec<u64> = listed.iter().map(|l| l.3).collect();
    let missing: Vec<usize> = (0..listed.len()).filter(|&i| slots[i].is_none()).collect();
    let mut fresh: Vec<usize> = Vec::new();
    for batch in missing.chunks(MANIFEST_BATCH) {
        let keys: Vec<&str> = batch.iter().map(|&i| listed[i].2.as_str()).collect();
        for (&i, got) in batch.iter().zip(get_many(repo, &keys)) {
            let key = &listed[i].2;
            let body = match got {
                Ok(b) => b,
                // Forgotten since it was listed.
                Err(BackupError::ObjectNotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let m: format::Manifest = format::decode_json(repo.keys(), key, &body)?;
            slots[i] = Some(SnapshotInfo::from(&m));
            sizes[i] = body.len() as u64;
            fresh.push(i);
        }
    }

    // Bring the index up to date; nothing here changes the result.
    let in_scope = |g: &str| scope.is_none_or(|s| s == g);
    // Headers of other graphs, each once (the ones used above are taken already).
    let keep: Vec<(usize, usize)> = {
        let mut seen: HashSet<(&str, &str, u64)> = HashSet::new();
        let mut keep = Vec::new();
        for (si, (_, hs)) in segments.iter().enumerate() {
            for (hi, h) in hs.iter().enumerate() {
                if let Some(h) = h
                    && !in_scope(&h.info.graph_id)
                    && seen.insert((h.info.graph_id.as_str(), h.info.id.as_str(), h.size))
                {
                    keep.push((si, hi));
                }
            }
        }
        keep
    };
    let outside: Vec<Header> = keep
        .into_iter()
        .filter_map(|(si, hi)| segments[si].1[hi].take())
        .collect();
    let useful = used + outside.len();
    let waste = read.saturating_sub(useful);
    let consolidate = segments.len() > MAX_SEGMENTS
        || !loaded.damaged.is_empty()
        || waste > MIN_WASTE.max(useful / 4);
    let header = |i: usize| {
        slots[i].as_ref().map(|info| HeaderRef {
            size: sizes[i],
            info,
        })
    };
    if consolidate {
        let mut all: Vec<HeaderRef<'_>> = (0..listed.len()).filter_map(header).collect();
        all.extend(outside.iter().map(|h| HeaderRef {
            size: h.size,
            info: &h.info,
        }));
        let written = if all.is_empty() {
            Ok(None)
        } else {
            put_segment(repo, &all).map(Some)
        };
        match written {
            Ok(new) => {
                let folded = segments
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .chain(loaded.damaged.iter().map(String::as_str));
                for old in folded {
                    if let Err(e) = repo.storage.delete(old) {
                        tracing::debug!(segment = old, error = %e, "Old snapshot header segment not deleted");
                    }
                }
                tracing::debug!(segment = ?new, folded = segments.len(), waste,
                    "Snapshot header index consolidated");
            }
            Err(e) => {
                tracing::debug!(error = %e, "Snapshot header index not consolidated");
            }
        }
    } else if !fresh.is_empty() {
        let n = fresh.len();
        let fresh: Vec<HeaderRef<'_>> = fresh.into_iter().filter_map(header).collect();
        if let Err(e) = put_segment(repo, &fresh) {
            tracing::debug!(error = %e, headers = n, "Snapshot headers not written");
        }
    }
    Ok(slots.into_iter().flatten().collect())
}

/// After a backup put its manifest (`size` stored bytes): put its header, and fold the
/// segments together when there are too many. Best effort: failures are logged, never
/// returned (the next listing reads the manifest instead).
pub(crate) fn after_manifest(repo: &Repository, info: SnapshotInfo, size: u64) {
    let graph = info.graph_id.clone();
    if let Err(e) = put_segment(repo, &[HeaderRef { size, info: &info }]) {
        tracing::debug!(error = %e, "Snapshot header not written; listings read the manifest");
        return;
    }
    let many = repo
        .storage
        .list(HEADERS_PREFIX)
        .map(|l| l.iter().filter(|o| is_segment_key(&o.key)).count() > MAX_SEGMENTS);
    if matches!(many, Ok(true)) {
        let res = list(repo, Some(&graph), || repo.manifest_objects(Some(&graph)));
        if let Err(e) = res {
            tracing::debug!(error = %e, "Snapshot header index not consolidated");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_keys_are_random_hex_under_the_versioned_prefix() {
        let k = new_segment_key();
        assert!(is_segment_key(&k), "{k}");
        assert!(k.starts_with("headers/v1/"));
        for bad in [
            "headers/v1/xyz",
            "headers/v2/0123456789abcdef0123456789abcdef",
            "headers/v1/0123456789ABCDEF0123456789ABCDEF",
            "headers/v1/0123456789abcdef0123456789abcdef/x",
        ] {
            assert!(!is_segment_key(bad), "{bad}");
        }
    }

    /// The header carries exactly the fields of [`SnapshotInfo`]. A field added to
    /// `SnapshotInfo` that older manifests already had would be missing from older headers
    /// and make listings differ from the manifests: then the index version must change
    /// (`HEADERS_PREFIX` `headers/v1/` → `headers/v2/`) and this list with it.
    #[test]
    fn snapshot_info_fields_are_those_of_header_version_1() {
        let info = SnapshotInfo {
            id: "20261125T200000123Z-3f9a1c2e".into(),
            graph_id: "g".into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            parent: None,
            tags: vec![],
            trigger: "manual".into(),
            hostname: "h".into(),
            totals: Default::default(),
            summary: Default::default(),
            consistent: None,
            inconsistency: None,
            duration_ms: None,
        };
        let v = serde_json::to_value(&info).unwrap();
        let mut fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "consistent",
                "created_at",
                "duration_ms",
                "graph_id",
                "hostname",
                "id",
                "inconsistency",
                "parent",
                "summary",
                "tags",
                "totals",
                "trigger"
            ],
            "SnapshotInfo changed: bump the header index version (see this test's doc)"
        );
        assert_eq!(HEADERS_PREFIX, "headers/v1/");
    }

    /// A segment is written and read as a stream (never whole as plain JSON) with the bytes of
    /// the whole-buffer format `blake3(json) || json`; damage is caught by the checksum even
    /// where the damaged JSON still parses, and a cut body is damage, not a parse error.
    #[test]
    fn segments_stream_both_ways_and_damage_fails_the_checksum() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init(
            std::sync::Arc::new(crate::storage::LocalStorage::new(tmp.path())),
            &crate::repo::InitOptions::default(),
            None,
        )
        .unwrap();
        let infos: Vec<SnapshotInfo> = (0..3000u32)
            .map(|i| SnapshotInfo {
                id: format!("20261125T200000123Z-{i:08x}"),
                graph_id: format!("g{}", i % 7),
                created_at: time::OffsetDateTime::UNIX_EPOCH,
                parent: None,
                tags: vec![format!("t{i}")],
                trigger: "manual".into(),
                hostname: "h".into(),
                totals: Default::default(),
                summary: Default::default(),
                consistent: Some(i % 2 == 0),
                inconsistency: None,
                duration_ms: Some(u64::from(i)),
            })
            .collect();
        let refs: Vec<HeaderRef<'_>> = infos
            .iter()
            .enumerate()
            .map(|(i, info)| HeaderRef {
                size: i as u64,
                info,
            })
            .collect();
        let key = new_segment_key();
        let streamed = encode_segment(&repo, &key, &refs).unwrap();
        let back = decode_segment(&repo, &key, &streamed).unwrap();
        assert_eq!(back.len(), infos.len());
        assert!(
            back.iter()
                .zip(&infos)
                .enumerate()
                .all(|(i, (h, info))| h.size == i as u64 && h.info == *info)
        );

        let json = serde_json::to_vec(&SegmentRef { headers: &refs }).unwrap();
        let mut body = blake3::hash(&json).as_bytes().to_vec();
        body.extend_from_slice(&json);
        let whole = |b: &[u8]| format::encode(None, key.as_bytes(), b, 3).unwrap();
        assert_eq!(
            format::decode(
                None,
                key.as_bytes(),
                &streamed,
                format::DecodedLen::AtMost(1 << 30),
                &key
            )
            .unwrap(),
            body,
            "the streamed segment holds the whole-buffer bytes"
        );
        assert_eq!(decode_segment(&repo, &key, &whole(&body)).unwrap(), back);

        let damage = |b: &[u8]| match decode_segment(&repo, &key, &whole(b)) {
            Err(BackupError::Corrupt { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        // One digit changed: still valid JSON, but not what was written.
        let mut changed = body.clone();
        let at = 32 + json.len() / 2;
        let d = (at..changed.len())
            .find(|&i| changed[i].is_ascii_digit())
            .unwrap();
        changed[d] = if changed[d] == b'1' { b'2' } else { b'1' };
        assert_eq!(damage(&changed), "checksum mismatch");
        // Cut short: the parse fails, and that is reported as the damage it is.
        assert_eq!(damage(&body[..body.len() - 10]), "checksum mismatch");
        assert_eq!(damage(&body[..20]), "shorter than its checksum");
        // A cut compressed stream: the decompressor's failure is the damage reported.
        match decode_segment(&repo, &key, &streamed[..streamed.len() / 2]) {
            Err(BackupError::Corrupt { reason, .. }) => {
                assert!(reason.starts_with("zstd"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        // Trailing bytes after the JSON are covered by the checksum too.
        let mut longer = body.clone();
        longer.extend_from_slice(b"   ");
        assert_eq!(damage(&longer), "checksum mismatch");
    }
}
