//! Damage must not spread: chunks known to be bad or missing are marked, so later backups
//! store them again instead of deduplicating against the damaged copy; `repair` rebuilds the
//! index from the packs that exist and reports which snapshots stay damaged.
//!
//! A mark is `(chunk, pack)`: "the copy of `chunk` in `pack` is unreadable". Marks are kept in
//! `bad/<random hex>` objects (encoded like an index). When the index is loaded, a marked
//! copy is replaced by another indexed copy of the same chunk (one a later backup stored);
//! without one it stays (reads check every chunk anyway, so a mark never makes a read worse).
//! Backups treat a chunk whose only indexed copy is marked as unknown and store it again.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{BackupError, Result};
use crate::format::{self, ChunkId, DATA_PREFIX, INDEX_PREFIX, Index, IndexFile, IndexPack};
use crate::lock::LockKind;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::retention::RepairReport;

/// Prefix of the bad-chunk mark objects.
pub(crate) const BAD_PREFIX: &str = "bad/";

/// One mark: the copy of `chunk` in `pack` is unreadable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BadChunk {
    pub(crate) chunk: ChunkId,
    pub(crate) pack: String,
    pub(crate) reason: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct BadFile {
    chunks: Vec<BadChunk>,
}

/// Marks in force: chunk → packs whose copy of it is unreadable.
pub(crate) type Marks = HashMap<ChunkId, HashSet<String>>;

/// Options of [`Repository::repair`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepairOptions {
    /// Also read every pack and check every chunk (authenticate, decompress, re-hash); bad
    /// ones are marked so the next backup stores them again. Without it only pack trailers
    /// are read (chunks of missing or truncated packs drop out of the index).
    pub read_data: bool,
}

impl Repository {
    /// The marks recorded so far (`verify`, `repair`). An unreadable mark object is skipped.
    pub(crate) fn bad_marks(&self) -> Result<(Marks, Vec<String>)> {
        let mut marks = Marks::new();
        let mut keys = Vec::new();
        // Marks are advisory: a store that cannot list them (a read-only peer accepts only
        // the replicated prefixes) simply has none. Outages surface on the index listing.
        let listed = match self.storage.list(BAD_PREFIX) {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %lightrag_config::ErrorChain(&e), "Bad-chunk marks not listable; none applied");
                return Ok((marks, keys));
            }
        };
        for obj in listed {
            let parsed = self
                .storage
                .get(&obj.key)
                .and_then(|b| format::decode_json::<BadFile>(self.keys(), &obj.key, &b));
            match parsed {
                Ok(f) => {
                    for b in f.chunks {
                        marks.entry(b.chunk).or_default().insert(b.pack);
                    }
                }
                Err(BackupError::ObjectNotFound { .. }) => continue,
                // Could not read it: skipping would drop its marks (and `repair` would delete
                // the object), so fail instead.
                Err(e) if e.is_access_failure() => return Err(e),
                Err(e) => {
                    tracing::warn!(key = %obj.key, error = %lightrag_config::ErrorChain(&e), "Bad-chunk marks unreadable")
                }
            }
            keys.push(obj.key);
        }
        Ok((marks, keys))
    }

    /// Record marks (those not recorded yet) in a new `bad/` object.
    pub(crate) fn record_bad(&self, found: Vec<BadChunk>) -> Result<u64> {
        let (known, _) = self.bad_marks()?;
        let mut seen = HashSet::new();
        let new: Vec<BadChunk> = found
            .into_iter()
            .filter(|b| !known.get(&b.chunk).is_some_and(|p| p.contains(&b.pack)))
            .filter(|b| seen.insert((b.chunk, b.pack.clone())))
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let n = new.len() as u64;
        let key = format!("{BAD_PREFIX}{}", crate::crypto::random_hex(16));
        let body = format::encode_json(
            self.keys(),
            &key,
            &BadFile { chunks: new },
            self.config.compression_level,
        )?;
        self.storage.put(&key, body)?;
        tracing::warn!(
            marked = n,
            "Marked damaged chunks: the next backup stores them again"
        );
        Ok(n)
    }
}

/// Point every marked chunk at another indexed copy, when there is one (one pass over the
/// index, only when there are marks).
pub(crate) fn route_around(index: &mut Index, marks: &Marks) {
    let needs: HashSet<&ChunkId> = marks
        .iter()
        .filter(|(c, packs)| index.get(c).is_some_and(|l| packs.contains(l.pack)))
        .map(|(c, _)| c)
        .collect();
    if needs.is_empty() {
        return;
    }
    let mut alt: HashMap<ChunkId, usize> = HashMap::new();
    for p in index.packs() {
        for (k, b) in p.blobs.iter().enumerate() {
            if needs.contains(&b.0)
                && !alt.contains_key(&b.0)
                && !marks.get(&b.0).is_some_and(|m| m.contains(p.id))
            {
                alt.insert(b.0, p.start + k);
            }
        }
    }
    for (id, pos) in alt {
        index.relocate(&id, pos);
    }
}

/// Chunks whose indexed copy is marked bad (after [`route_around`]).
pub(crate) fn unusable(index: &Index, marks: &Marks) -> HashSet<ChunkId> {
    marks
        .iter()
        .filter(|(c, packs)| index.get(c).is_some_and(|l| packs.contains(l.pack)))
        .map(|(c, _)| *c)
        .collect()
}

impl Repository {
    /// Repair the repository after damage (`verify` reports it), like restic's `repair`:
    /// rebuild the index from the packs that exist (pack trailers; a truncated pack keeps the
    /// blobs it still holds entirely), optionally check every chunk (`read_data`), mark chunks
    /// known bad so the next backup stores them again (missing ones drop out of the index and
    /// are stored again anyway), and report which snapshots stay damaged. Takes the exclusive
    /// lock.
    pub fn repair(&self, opts: &RepairOptions, progress: &dyn Progress) -> Result<RepairReport> {
        let _lock = self.lock(LockKind::Exclusive)?;
        let old_indexes = self.storage.list(INDEX_PREFIX)?;
        let (old_index, _) = self.load_index_lenient()?;
        let (old_marks, old_mark_keys) = self.bad_marks()?;
        let packs = self.storage.list(DATA_PREFIX)?;
        progress.begin("repair", packs.len() as u64, 0);
        let mut report = RepairReport::default();
        let mut file = IndexFile::default();
        let mut found: Vec<BadChunk> = Vec::new();
        for obj in &packs {
            let Some(id) = obj.key.rsplit('/').next() else {
                continue;
            };
            let blobs = match self.read_trailer(&obj.key, obj.size) {
                Ok(blobs) => blobs,
                // Could not read it (I/O, network): not a damaged pack; the new index must not
                // be written without it.
                Err(e) if e.is_access_failure() => return Err(e),
                Err(e) => match old_index.pack(id) {
                    Some(format::PackView { blobs: known, .. }) => {
                        // Truncated or damaged at the end: keep what is still entirely there.
                        tracing::warn!(pack = %obj.key, error = %lightrag_config::ErrorChain(&e), "Pack trailer unreadable; salvaging indexed blobs");
                        report.packs_salvaged += 1;
                        let (keep, lost): (Vec<_>, Vec<_>) =
                            known.iter().partition(|b| b.1 + u64::from(b.2) <= obj.size);
                        report.chunks_lost += lost.len() as u64;
                        keep
                    }
                    None => {
                        tracing::warn!(pack = %obj.key, error = %lightrag_config::ErrorChain(&e), "Pack trailer unreadable");
                        report.packs_unreadable.push(obj.key.clone());
                        progress.advance(1, obj.size);
                        continue;
                    }
                },
            };
            if opts.read_data {
                match self.storage.get(&obj.key) {
                    Ok(data) => {
                        for b in &blobs {
                            let res = data
                                .get(b.1 as usize..(b.1 + u64::from(b.2)) as usize)
                                .ok_or_else(|| BackupError::Corrupt {
                                    key: obj.key.clone(),
                                    reason: "blob beyond end of pack".into(),
                                })
                                .and_then(|s| self.decode_chunk(&b.0, s, b.3, &obj.key));
                            if let Err(e) = res {
                                found.push(BadChunk {
                                    chunk: b.0,
                                    pack: id.to_owned(),
                                    reason: lightrag_config::error_chain(&e),
                                });
                            }
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            report.packs_indexed += 1;
            report.chunks_indexed += blobs.len() as u64;
            file.packs.push(IndexPack {
                id: id.to_owned(),
                size: obj.size,
                blobs,
            });
            progress.advance(1, obj.size);
        }
        // Marks in force: the old ones whose pack is still indexed, plus the new findings.
        let indexed: HashSet<&str> = file.packs.iter().map(|p| p.id.as_str()).collect();
        let mut marks: Vec<BadChunk> = Vec::new();
        for (chunk, packs) in &old_marks {
            for p in packs.iter().filter(|p| indexed.contains(p.as_str())) {
                marks.push(BadChunk {
                    chunk: *chunk,
                    pack: p.clone(),
                    reason: "marked earlier".into(),
                });
            }
        }
        let mut seen: HashSet<(ChunkId, String)> =
            marks.iter().map(|b| (b.chunk, b.pack.clone())).collect();
        for b in found {
            if seen.insert((b.chunk, b.pack.clone())) {
                marks.push(b);
            }
        }
        report.chunks_marked_bad = marks.len() as u64;
        // Publish: new index and marks first, then remove the old ones.
        self.write_index(&file.packs, self.config.compression_level)?;
        let mut new_marks = Marks::new();
        for b in &marks {
            new_marks.entry(b.chunk).or_default().insert(b.pack.clone());
        }
        if !marks.is_empty() {
            let mkey = format!("{BAD_PREFIX}{}", crate::crypto::random_hex(16));
            let body = format::encode_json(
                self.keys(),
                &mkey,
                &BadFile { chunks: marks },
                self.config.compression_level,
            )?;
            self.storage.put(&mkey, body)?;
        }
        for old in &old_indexes {
            self.storage.delete(&old.key)?;
        }
        for old in &old_mark_keys {
            self.storage.delete(old)?;
        }
        report.indexes_replaced = old_indexes.len() as u64;
        // Which snapshots stay damaged.
        let mut index = Index::default();
        index.add(&file);
        index.seal();
        route_around(&mut index, &new_marks);
        let bad = unusable(&index, &new_marks);
        let mut damaged: BTreeMap<String, u64> = BTreeMap::new();
        for (_, id, mkey) in self.manifest_keys(None)? {
            let Some(m) = self.read_manifest_opt(&mkey)? else {
                continue;
            };
            let n = m
                .files
                .iter()
                .flat_map(|f| f.chunks.iter())
                .filter(|c| !index.contains(c) || bad.contains(c))
                .count() as u64;
            if n > 0 {
                damaged.insert(id, n);
            }
        }
        report.damaged_snapshots = damaged;
        progress.end();
        tracing::info!(
            packs = report.packs_indexed,
            marked = report.chunks_marked_bad,
            damaged_snapshots = report.damaged_snapshots.len(),
            "Repair finished"
        );
        Ok(report)
    }
}
