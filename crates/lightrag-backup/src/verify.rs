//! Structural and read-data verification.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{BackupError, Result};
use crate::format::{self, ChunkId, DATA_PREFIX};
use crate::lock::LockKind;
use crate::progress::Progress;
use crate::repair::BadChunk;
use crate::repo::Repository;

/// How much chunk data to read back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReadData {
    /// Structure only: manifests parse, every referenced chunk is indexed, every pack exists
    /// with the indexed size.
    #[default]
    None,
    /// Read, authenticate, decompress and re-hash every referenced chunk.
    All,
    /// Like `All` for a deterministic subset of the packs (1..=100 percent).
    Percent(u8),
}

/// Options of a verification.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyOptions {
    /// Snapshot ids (or unique prefixes) to check; empty = all.
    pub snapshots: Vec<String>,
    /// Data reading.
    pub read_data: ReadData,
    /// Stop reading data after this long (the structural checks always complete);
    /// [`VerifyReport::read_data_complete`] tells whether every selected pack was read.
    pub read_data_budget: Option<std::time::Duration>,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Damage {
    /// Affected snapshot, when known.
    pub snapshot: Option<String>,
    /// Affected file in that snapshot, when known.
    pub file: Option<String>,
    /// Damaged repository object, when known.
    pub object: Option<String>,
    /// What is wrong.
    pub problem: String,
}

/// Result of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyReport {
    /// Manifests checked.
    pub snapshots_checked: u64,
    /// Packs whose data was read.
    pub packs_read: u64,
    /// Chunks decoded and re-hashed.
    pub chunks_read: u64,
    /// Bytes read from storage.
    pub bytes_read: u64,
    /// Every pack selected by `read_data` was read (false when the time budget ran out).
    pub read_data_complete: bool,
    /// Snapshots with at least one problem.
    pub damaged_snapshots: BTreeSet<String>,
    /// Every problem, snapshot/file-level first.
    pub damage: Vec<Damage>,
    /// Damaged chunk copies newly marked by this run: the next backup stores them again
    /// rather than deduplicating against them (see [`Repository::repair`]).
    #[serde(default)]
    pub chunks_marked_bad: u64,
}

impl VerifyReport {
    /// No problem found.
    pub fn is_ok(&self) -> bool {
        self.damage.is_empty()
    }

    /// The manifest `key` of snapshot `id` could not be decoded: that snapshot is damaged.
    fn manifest_unreadable(&mut self, id: &str, key: &str, e: &BackupError) {
        self.damaged_snapshots.insert(id.to_owned());
        self.damage.push(Damage {
            snapshot: Some(id.to_owned()),
            file: None,
            object: Some(key.to_owned()),
            problem: format!("manifest unreadable: {}", lightrag_config::ErrorChain(e)),
        });
    }
}

fn in_subset(pack_id: &str, read: ReadData) -> bool {
    match read {
        ReadData::None => false,
        ReadData::All => true,
        ReadData::Percent(p) => {
            let b = u32::from_str_radix(pack_id.get(..2).unwrap_or("00"), 16).unwrap_or(0);
            b * 100 < u32::from(p.min(100)) * 256
        }
    }
}

/// Pause before re-listing when a listing looks incomplete (object stores).
pub(crate) const LISTING_RECHECK_DELAY: std::time::Duration = std::time::Duration::from_secs(2);
const MISSING_PACK: &str = "pack file is missing";

impl Repository {
    /// Check the repository (or some snapshots) and report exactly what is damaged.
    /// Damage is reported in the [`VerifyReport`]; `Err` means verification itself could not
    /// run (storage unreachable, a read failing with an I/O or network error, bad arguments):
    /// a transient read error is never reported as damage.
    pub fn verify(&self, opts: &VerifyOptions, progress: &dyn Progress) -> Result<VerifyReport> {
        let _lock = self.lock(LockKind::Read)?;
        let mut report = VerifyReport::default();
        let keys: Vec<(String, String, String)> = if opts.snapshots.is_empty() {
            self.manifest_keys(None)?
        } else {
            let all = self.manifest_keys(None)?;
            let mut v = Vec::new();
            for s in &opts.snapshots {
                let key = self.resolve(s)?;
                if let Some(k) = all.iter().find(|k| k.2 == key) {
                    v.push(k.clone());
                }
            }
            v
        };
        // Manifests are read one at a time and only their chunk ids kept: memory does not grow
        // with the number of snapshots. They are read again only to name damaged files.
        let mut referenced: HashSet<ChunkId> = HashSet::new();
        let mut readable: Vec<(&str, &str)> = Vec::new();
        for (_, id, key) in &keys {
            match self.read_manifest(key) {
                Ok(m) => {
                    report.snapshots_checked += 1;
                    referenced.extend(m.files.iter().flat_map(|f| f.chunks.iter().copied()));
                    readable.push((id, key));
                }
                Err(BackupError::ObjectNotFound { .. }) => {} // forgotten meanwhile
                // Could not read it (I/O, network): verification cannot run, not damage.
                Err(e) if e.is_access_failure() => return Err(e),
                Err(e) => {
                    report.snapshots_checked += 1;
                    report.manifest_unreadable(id, key, &e);
                }
            }
        }
        // Listings of an object store may lag behind recent puts: a manifest can be listed
        // before the index and packs it needs. Before reporting such damage, look again
        // (after a pause, and with direct HEAD requests for packs the listing misses).
        let mut attempt = 0;
        let (index, bad_packs) = loop {
            let (index, bad_index) = self.load_index_lenient()?;
            let present: HashMap<String, u64> = self
                .storage
                .list(DATA_PREFIX)?
                .into_iter()
                .filter_map(|o| o.key.rsplit('/').next().map(|id| (id.to_owned(), o.size)))
                .collect();
            let mut bad_packs: HashMap<String, String> = HashMap::new();
            for format::PackView { id, size, .. } in index.packs() {
                match present.get(id) {
                    None => {
                        bad_packs.insert(id.to_owned(), MISSING_PACK.into());
                    }
                    Some(s) if *s != size => {
                        bad_packs.insert(
                            id.to_owned(),
                            format!("pack file has {s} bytes, index says {size}"),
                        );
                    }
                    Some(_) => {}
                }
            }
            let lag = self.storage.listing_may_lag();
            let unindexed = referenced.iter().any(|id| !index.contains(id));
            let missing = bad_packs.values().any(|v| v == MISSING_PACK);
            if attempt == 0 && lag && (unindexed || missing) {
                attempt += 1;
                tracing::info!("Verify found unlisted index or pack objects; re-checking");
                std::thread::sleep(LISTING_RECHECK_DELAY);
                continue;
            }
            if lag && missing {
                let ids: Vec<String> = bad_packs
                    .iter()
                    .filter(|(_, v)| v.as_str() == MISSING_PACK)
                    .map(|(k, _)| k.clone())
                    .collect();
                for id in ids {
                    if self.storage.exists(&format::pack_key(&id))? {
                        bad_packs.remove(&id);
                    }
                }
            }
            for (key, e) in bad_index {
                report.damage.push(Damage {
                    snapshot: None,
                    file: None,
                    object: Some(key),
                    problem: format!("index unreadable: {}", lightrag_config::ErrorChain(&e)),
                });
            }
            break (index, bad_packs);
        };
        let mut bad_chunks: HashMap<ChunkId, String> = HashMap::new();
        let mut to_read: BTreeSet<&str> = BTreeSet::new();
        for id in &referenced {
            match index.get(id) {
                None => {
                    bad_chunks.insert(*id, "chunk is not in any index".into());
                }
                Some(loc) => {
                    if let Some(why) = bad_packs.get(loc.pack) {
                        bad_chunks.insert(*id, format!("{}: {why}", format::pack_key(loc.pack)));
                    } else if in_subset(loc.pack, opts.read_data) {
                        to_read.insert(loc.pack);
                    }
                }
            }
        }
        let to_read: Vec<&str> = to_read.into_iter().collect();
        let total: u64 = to_read
            .iter()
            .filter_map(|p| index.pack(p).map(|x| x.size))
            .sum();
        progress.begin("verify", to_read.len() as u64, total);
        let read_bad: Mutex<Vec<(ChunkId, String, String)>> = Mutex::new(Vec::new());
        let counters = Mutex::new((0u64, 0u64, 0u64));
        let next = Mutex::new(0usize);
        let started = std::time::Instant::now();
        let budget_hit = Mutex::new(false);
        let fatal: Mutex<Option<BackupError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..self.threads() {
                s.spawn(|| {
                    // One pack buffer per thread, reused (see `Storage::get_into`).
                    let mut data = Vec::new();
                    loop {
                        let i = match next.lock() {
                            Ok(mut n) => {
                                *n += 1;
                                *n - 1
                            }
                            Err(_) => return,
                        };
                        let Some(pack) = to_read.get(i) else { return };
                        if opts
                            .read_data_budget
                            .is_some_and(|b| started.elapsed() >= b)
                        {
                            if let Ok(mut c) = budget_hit.lock() {
                                *c = true;
                            }
                            return;
                        }
                        let key = format::pack_key(pack);
                        let Some(format::PackView { blobs, .. }) = index.pack(pack) else {
                            continue;
                        };
                        match self.storage.get_into(&key, &mut data) {
                            Ok(()) => {}
                            Err(e @ BackupError::ObjectNotFound { .. }) => {
                                if let Ok(mut rb) = read_bad.lock() {
                                    rb.extend(blobs.iter().map(|b| {
                                        (b.0, pack.to_string(), lightrag_config::error_chain(&e))
                                    }));
                                }
                                continue;
                            }
                            Err(e) => {
                                if let Ok(mut f) = fatal.lock() {
                                    f.get_or_insert(e);
                                }
                                return;
                            }
                        };
                        let hash_ok =
                            format::pack_key(&crate::crypto::hex(blake3::hash(&data).as_bytes()))
                                == key;
                        let mut n = 0;
                        for b in blobs {
                            // Only the copy reads use (another copy may be marked bad and
                            // superseded by a later backup's).
                            let used = index
                                .get(&b.0)
                                .is_some_and(|l| l.pack == *pack && l.offset == b.1);
                            if !referenced.contains(&b.0) || !used {
                                continue;
                            }
                            let (start, end) = (b.1 as usize, b.1 as usize + b.2 as usize);
                            let res = match data.get(start..end) {
                                Some(slice) => {
                                    self.decode_chunk(&b.0, slice, b.3, &key).map(|_| ())
                                }
                                None => Err(BackupError::Corrupt {
                                    key: key.clone(),
                                    reason: "blob beyond end of pack".into(),
                                }),
                            };
                            if let Err(e) = res
                                && let Ok(mut rb) = read_bad.lock()
                            {
                                rb.push((b.0, pack.to_string(), lightrag_config::error_chain(&e)));
                            }
                            n += 1;
                        }
                        if !hash_ok {
                            tracing::warn!(pack = %key, "Pack content does not match its name");
                        }
                        if let Ok(mut c) = counters.lock() {
                            c.0 += 1;
                            c.1 += n;
                            c.2 += data.len() as u64;
                        }
                        progress.advance(1, data.len() as u64);
                    }
                });
            }
        });
        if let Some(e) = fatal.into_inner().ok().flatten() {
            return Err(e);
        }
        let (packs_read, chunks_read, bytes_read) = counters.into_inner().unwrap_or_default();
        report.packs_read = packs_read;
        report.chunks_read = chunks_read;
        report.bytes_read = bytes_read;
        report.read_data_complete = !budget_hit.into_inner().unwrap_or(true);
        // Definite findings are marked, so the next backup stores these chunks again instead
        // of deduplicating against the damaged copies (damage must not spread).
        let mut marks: Vec<BadChunk> = Vec::new();
        for (id, why) in &bad_chunks {
            if let Some(loc) = index.get(id)
                && bad_packs.contains_key(loc.pack)
            {
                marks.push(BadChunk {
                    chunk: *id,
                    pack: loc.pack.to_string(),
                    reason: why.clone(),
                });
            }
        }
        for (id, pack, why) in read_bad.into_inner().unwrap_or_default() {
            marks.push(BadChunk {
                chunk: id,
                pack,
                reason: why.clone(),
            });
            bad_chunks.insert(id, why);
        }
        // A read-only repository (a peer, a read-only mount) cannot take marks: verification
        // still reports everything.
        report.chunks_marked_bad = self.record_bad(marks).unwrap_or_else(|e| {
            tracing::warn!(error = %lightrag_config::ErrorChain(&e), "Could not record damaged chunks for the next backup");
            0
        });
        // Which files the damaged chunks belong to: each manifest read again. Whatever cannot be
        // named that way (the manifest forgotten meanwhile, or storage failing now) is still
        // reported, by chunk.
        let mut named: HashSet<ChunkId> = HashSet::new();
        let mut unnamed_why = "no snapshot read again names it".to_owned();
        for (id, key) in readable {
            if bad_chunks.is_empty() {
                break;
            }
            let m = match self.read_manifest(key) {
                Ok(m) => m,
                Err(BackupError::ObjectNotFound { .. }) => continue, // forgotten meanwhile
                Err(e) if e.is_access_failure() => {
                    unnamed_why = format!(
                        "its snapshots could not be read again to name the files: {}",
                        lightrag_config::ErrorChain(&e)
                    );
                    break;
                }
                Err(e) => {
                    // Read a moment ago: the object changed under the read lock.
                    report.manifest_unreadable(id, key, &e);
                    continue;
                }
            };
            for f in &m.files {
                let bad: BTreeMap<String, &String> = f
                    .chunks
                    .iter()
                    .filter_map(|c| {
                        bad_chunks.get(c).map(|r| {
                            named.insert(*c);
                            (c.to_string(), r)
                        })
                    })
                    .collect();
                if let Some((chunk, reason)) = bad.iter().next() {
                    report.damaged_snapshots.insert(m.id.clone());
                    report.damage.push(Damage {
                        snapshot: Some(m.id.clone()),
                        file: Some(f.path.clone()),
                        object: Some(format!("chunk {chunk}")),
                        problem: format!("{} damaged chunk(s), first: {reason}", bad.len()),
                    });
                }
            }
        }
        // Only chunks a snapshot uses are damage to report (a missing pack's other blobs are
        // marked above, so no backup deduplicates against them, but nothing depends on them).
        let mut unnamed: Vec<(&ChunkId, &String)> = bad_chunks
            .iter()
            .filter(|(c, _)| !named.contains(c) && referenced.contains(c))
            .collect();
        unnamed.sort();
        for (chunk, reason) in unnamed {
            report.damage.push(Damage {
                snapshot: None,
                file: None,
                object: Some(format!("chunk {chunk}")),
                problem: format!("{reason} ({unnamed_why})"),
            });
        }
        progress.end();
        Ok(report)
    }
}
