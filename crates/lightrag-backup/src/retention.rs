//! Retention (forget) and garbage collection (prune).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{BackupError, Result};
use crate::format::{self, ChunkId, DATA_PREFIX, IndexPack};
use crate::lock::LockKind;
use crate::pack::PackWriter;
use crate::progress::Progress;
use crate::repo::Repository;

/// Which snapshots to keep, per graph. A rule set to 0 (or `None`) is off. Pinned snapshots
/// (recovery points) are always kept. The rules are those of restic/borg: `keep_daily = 7`
/// keeps the newest snapshot of each of the 7 most recent days that have snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Keep the newest N snapshots.
    pub keep_last: u32,
    /// Keep the newest snapshot of each of the last N hours that have one.
    pub keep_hourly: u32,
    /// ... days.
    pub keep_daily: u32,
    /// ... ISO weeks.
    pub keep_weekly: u32,
    /// ... months.
    pub keep_monthly: u32,
    /// Keep every snapshot younger than this (`LIGHTRAG_BACKUP_RETENTION_DAYS`, e.g. `12h`,
    /// `36h`, `7d`): an exact duration, never rounded to whole days.
    pub keep_within: Option<Duration>,
}

impl RetentionPolicy {
    /// True when no rule is set (forget would remove everything: refused).
    pub fn is_empty(&self) -> bool {
        self.keep_last == 0
            && self.keep_hourly == 0
            && self.keep_daily == 0
            && self.keep_weekly == 0
            && self.keep_monthly == 0
            && self.keep_within.is_none_or(|d| d.is_zero())
    }
}

/// A snapshot kept by [`apply_policy`] and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeptSnapshot {
    /// Snapshot id.
    pub id: String,
    /// Graph id.
    pub graph_id: String,
    /// Rules that keep it (`last`, `hourly`, `daily`, `weekly`, `monthly`, `within`, `pinned`).
    pub reasons: Vec<String>,
}

/// Result of a forget.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForgetReport {
    /// Kept snapshots with reasons.
    pub kept: Vec<KeptSnapshot>,
    /// Removed (or, with `dry_run`, to-be-removed) snapshot ids.
    pub removed: Vec<String>,
    /// Nothing was deleted.
    pub dry_run: bool,
}

/// Apply `policy` to the snapshots of ONE graph (`(id, created_at)` in any order).
/// Returns the kept ids with their reasons; everything else is to be removed.
pub fn apply_policy(
    snapshots: &[(String, OffsetDateTime)],
    policy: &RetentionPolicy,
    pinned: &BTreeSet<String>,
    now: OffsetDateTime,
) -> BTreeMap<String, Vec<&'static str>> {
    let mut sorted: Vec<&(String, OffsetDateTime)> = snapshots.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0))); // newest first
    let mut kept: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    let mut add = |id: &str, why: &'static str| kept.entry(id.to_owned()).or_default().push(why);
    type Bucket = fn(OffsetDateTime) -> (i32, u32);
    let rules: [(&'static str, u32, Bucket); 4] = [
        ("hourly", policy.keep_hourly, |t| {
            (t.year(), t.ordinal() as u32 * 24 + t.hour() as u32)
        }),
        ("daily", policy.keep_daily, |t| {
            (t.year(), t.ordinal() as u32)
        }),
        ("weekly", policy.keep_weekly, |t| {
            let (y, w, _) = t.to_iso_week_date();
            (y, w as u32)
        }),
        ("monthly", policy.keep_monthly, |t| {
            (t.year(), u8::from(t.month()) as u32)
        }),
    ];
    for (i, (id, _)) in sorted.iter().enumerate() {
        if (i as u64) < u64::from(policy.keep_last) {
            add(id, "last");
        }
    }
    for (name, n, bucket) in rules {
        if n == 0 {
            continue;
        }
        let mut last = None;
        let mut count = 0;
        for (id, t) in &sorted {
            let b = bucket(t.to_offset(time::UtcOffset::UTC));
            if last != Some(b) {
                last = Some(b);
                if count < n {
                    add(id, name);
                    count += 1;
                } else {
                    break;
                }
            }
        }
    }
    if let Some(within) = policy.keep_within.filter(|d| !d.is_zero()) {
        // A duration beyond the calendar's range keeps everything.
        let limit = time::Duration::try_from(within)
            .ok()
            .and_then(|d| now.checked_sub(d));
        for (id, t) in &sorted {
            if limit.is_none_or(|l| *t > l) {
                add(id, "within");
            }
        }
    }
    for (id, _) in &sorted {
        if pinned.contains(id) {
            add(id, "pinned");
        }
    }
    kept
}

/// Options of a prune.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PruneOptions {
    /// Only report what would be done.
    pub dry_run: bool,
    /// Repack a pack when at least this fraction of its bytes is unreferenced (0..=1,
    /// default 0.3). Fully unreferenced packs are always deleted.
    pub repack_threshold: f64,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            dry_run: false,
            repack_threshold: 0.3,
        }
    }
}

/// Result of a prune.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PruneReport {
    /// Packs deleted because nothing in them is referenced.
    pub packs_deleted: u64,
    /// Packs rewritten without their unreferenced chunks.
    pub packs_repacked: u64,
    /// Packs not referenced by any index (left by an interrupted backup) deleted.
    pub orphan_packs_deleted: u64,
    /// Leftovers of interrupted writes (temporary files) older than an hour removed.
    pub incomplete_removed: u64,
    /// New packs written by repacking.
    pub packs_written: u64,
    /// Unreferenced chunks removed.
    pub chunks_removed: u64,
    /// Repository bytes freed (net).
    pub bytes_freed: u64,
    /// Index files replaced by one consolidated index.
    pub indexes_replaced: u64,
    /// Nothing was changed.
    pub dry_run: bool,
}

impl Repository {
    /// Remove the snapshots that `policy` does not keep, per graph (all graphs when `graph` is
    /// `None`). `pinned` snapshot ids (recovery points) are always kept. Chunks are freed by
    /// [`Repository::prune`].
    pub fn forget(
        &self,
        graph: Option<&str>,
        policy: &RetentionPolicy,
        pinned: &BTreeSet<String>,
        dry_run: bool,
    ) -> Result<ForgetReport> {
        if policy.is_empty() {
            return Err(BackupError::InvalidArgument(
                "no keep rule given: refusing to forget every snapshot (set keep_last, keep_daily, ... or keep_within)".into(),
            ));
        }
        // A destructive decision: from the manifests themselves, never from the header index.
        let snaps = self.snapshots_from_manifests(graph)?;
        // Pinned ids decide what survives: an abbreviated one would silently protect nothing.
        for p in pinned {
            if !snaps.iter().any(|s| &s.id == p)
                && snaps
                    .iter()
                    .any(|s| !p.is_empty() && s.id.starts_with(p.as_str()))
            {
                return Err(BackupError::FullIdRequired(p.clone()));
            }
        }
        let mut by_graph: BTreeMap<&str, Vec<(String, OffsetDateTime)>> = BTreeMap::new();
        for s in &snaps {
            by_graph
                .entry(&s.graph_id)
                .or_default()
                .push((s.id.clone(), s.created_at));
        }
        let now = OffsetDateTime::now_utc();
        let mut report = ForgetReport {
            dry_run,
            ..ForgetReport::default()
        };
        for (g, list) in by_graph {
            let kept = apply_policy(&list, policy, pinned, now);
            for (id, _) in list {
                match kept.get(&id) {
                    Some(reasons) => report.kept.push(KeptSnapshot {
                        id,
                        graph_id: g.to_owned(),
                        reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
                    }),
                    None => {
                        if !dry_run {
                            self.storage.delete(&format::Manifest::key(g, &id))?;
                        }
                        report.removed.push(id);
                    }
                }
            }
        }
        tracing::info!(
            kept = report.kept.len(),
            removed = report.removed.len(),
            dry_run,
            "Forget finished"
        );
        Ok(report)
    }

    /// Delete chunks no snapshot references. Takes the exclusive repository lock, so it waits
    /// for running backups (and they wait for it): a chunk a backup relies on is never lost.
    pub fn prune(&self, opts: &PruneOptions, progress: &dyn Progress) -> Result<PruneReport> {
        let _lock = self.lock(LockKind::Exclusive)?;
        if self.storage.listing_may_lag() {
            // Let the listings catch up with the last backups' manifests and indexes: a
            // manifest prune does not see would have its chunks deleted.
            std::thread::sleep(crate::verify::LISTING_RECHECK_DELAY);
        }
        let mut report = PruneReport {
            dry_run: opts.dry_run,
            ..PruneReport::default()
        };
        let mut referenced: HashSet<ChunkId> = HashSet::new();
        for (_, _, key) in self.manifest_keys(None)? {
            let Some(m) = self.read_manifest_opt(&key)? else {
                continue;
            };
            referenced.extend(m.files.iter().flat_map(|f| f.chunks.iter().copied()));
        }
        let mut index = self.load_index()?;
        let unindexed =
            |index: &format::Index| referenced.iter().filter(|id| !index.contains(id)).count();
        if unindexed(&index) > 0 && self.storage.listing_may_lag() {
            std::thread::sleep(crate::verify::LISTING_RECHECK_DELAY);
            index = self.load_index()?;
        }
        // Packs no index mentions are leftovers of crashed backups, unless snapshots need
        // chunks no index knows (an index lost, or not listed yet): then those packs may be
        // exactly what `repair_index` needs, so they are kept.
        let all_indexed = unindexed(&index) == 0;
        if !all_indexed {
            tracing::warn!(
                "Some snapshot chunks are in no index; keeping unindexed packs (run verify, then repair_index)"
            );
        }
        let present: BTreeMap<String, u64> = self
            .storage
            .list(DATA_PREFIX)?
            .into_iter()
            .filter_map(|o| o.key.rsplit('/').next().map(|id| (id.to_owned(), o.size)))
            .collect();
        // A blob is live when referenced and this is the location the index resolves to.
        let live = |pack: &str, b: &format::IndexBlob| {
            referenced.contains(&b.0)
                && index
                    .get(&b.0)
                    .is_some_and(|l| l.pack == pack && l.offset == b.1)
        };
        let mut keep: Vec<IndexPack> = Vec::new();
        let mut delete: Vec<String> = Vec::new();
        let mut repack: Vec<(String, Vec<format::IndexBlob>)> = Vec::new();
        for format::PackView {
            id, size, blobs, ..
        } in index.packs()
        {
            if !present.contains_key(id) {
                continue; // missing pack: verify reports it; nothing to free
            }
            let used: Vec<format::IndexBlob> =
                blobs.iter().filter(|b| live(id, b)).copied().collect();
            let used_bytes: u64 = used.iter().map(|b| u64::from(b.2)).sum();
            let unused_bytes = size.saturating_sub(used_bytes);
            let id = id.to_owned();
            if used.is_empty() {
                report.packs_deleted += 1;
                report.chunks_removed += blobs.len() as u64;
                report.bytes_freed += size;
                delete.push(id);
            } else if (unused_bytes as f64) >= opts.repack_threshold * (size as f64)
                && used.len() < blobs.len()
            {
                report.packs_repacked += 1;
                report.chunks_removed += (blobs.len() - used.len()) as u64;
                report.bytes_freed += unused_bytes;
                repack.push((id.clone(), used));
                delete.push(id);
            } else {
                keep.push(IndexPack {
                    id,
                    size,
                    blobs: blobs.to_vec(),
                });
            }
        }
        let orphans: Vec<String> = present
            .keys()
            .filter(|id| all_indexed && index.pack(id).is_none())
            .cloned()
            .collect();
        report.orphan_packs_deleted = orphans.len() as u64;
        report.bytes_freed += orphans.iter().map(|id| present[id]).sum::<u64>();
        if !opts.dry_run {
            report.incomplete_removed = self
                .storage
                .cleanup_incomplete(std::time::Duration::from_secs(3600))?;
        }
        // More index files than the consolidated index would have: consolidate (a large
        // repository's consolidated index is itself several files; that is not a change).
        let changes = !delete.is_empty()
            || !orphans.is_empty()
            || index.files.len() > crate::repo::index_parts(&keep).count();
        if opts.dry_run || !changes {
            return Ok(report);
        }
        progress.begin("prune", repack.len() as u64, 0);
        // 1. Repack live blobs (copied as stored: no re-compression, no re-encryption).
        let mut writer = PackWriter::new(
            self.storage.clone(),
            self.keys.clone(),
            self.config.compression_level,
            self.config.pack_size,
        );
        for (id, used) in &repack {
            let key = format::pack_key(id);
            let data = self.storage.get(&key)?;
            for b in used {
                let slice = data
                    .get(b.1 as usize..(b.1 + u64::from(b.2)) as usize)
                    .ok_or_else(|| BackupError::Corrupt {
                        key: key.clone(),
                        reason: "blob beyond end of pack".into(),
                    })?;
                self.decode_chunk(&b.0, slice, b.3, &key)?; // never copy damage forward
                writer.add(b.0, b.3, slice)?;
            }
            progress.advance(1, data.len() as u64);
        }
        let (new_packs, _) = writer.finish()?;
        report.packs_written = new_packs.len() as u64;
        let written: u64 = new_packs.iter().map(|p| p.size).sum();
        keep.extend(new_packs);
        // Packs are named by the hash of their bytes, so a repacked pack can get the name of a
        // pack on the delete list (an indexed duplicate or an orphan holding exactly those
        // blobs): its put rewrote identical bytes, and deleting that name would delete the new
        // pack. Nothing the new index references is ever deleted.
        let referenced_packs: HashSet<&str> = keep.iter().map(|p| p.id.as_str()).collect();
        let spared = |id: &String| referenced_packs.contains(id.as_str());
        for id in delete.iter().chain(orphans.iter()).filter(|id| spared(id)) {
            tracing::debug!(pack = %id, "Repacked pack has the name of a pack to delete; kept");
            if orphans.contains(id) {
                report.orphan_packs_deleted -= 1;
            } else if !repack.iter().any(|(r, _)| r == id) {
                report.packs_deleted -= 1;
            }
        }
        delete.retain(|id| !spared(id));
        let orphans: Vec<String> = orphans.into_iter().filter(|id| !spared(id)).collect();
        // Net bytes freed: what is deleted minus what was written.
        report.bytes_freed = delete
            .iter()
            .chain(orphans.iter())
            .map(|id| present[id])
            .sum::<u64>()
            .saturating_sub(written);
        // 2. A consolidated index (in parts of bounded size), written before the old ones go
        // away. A prune that lost its lock (suspended past the stale limit) must not delete
        // what a backup started since then relies on.
        _lock.check()?;
        self.write_index(&keep, self.config.compression_level)?;
        drop(keep);
        // 3. Old indexes, then the packs nothing points at any more.
        for key in &index.files {
            self.storage.delete(key)?;
        }
        report.indexes_replaced = index.files.len() as u64;
        for id in delete.iter().chain(orphans.iter()) {
            self.storage.delete(&format::pack_key(id))?;
        }
        progress.end();
        tracing::info!(
            deleted = report.packs_deleted,
            repacked = report.packs_repacked,
            orphans = report.orphan_packs_deleted,
            bytes_freed = report.bytes_freed,
            "Prune finished"
        );
        Ok(report)
    }
}

/// Result of [`Repository::repair`] (and [`Repository::repair_index`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairReport {
    /// Packs whose trailer was read and indexed.
    pub packs_indexed: u64,
    /// Chunks indexed.
    pub chunks_indexed: u64,
    /// Packs whose trailer could not be read and that no index knew (their chunks stay
    /// unavailable).
    pub packs_unreadable: Vec<String>,
    /// Index files replaced.
    pub indexes_replaced: u64,
    /// Packs whose trailer is unreadable (truncated) but that the old index described: the
    /// blobs still entirely inside them stay indexed.
    #[serde(default)]
    pub packs_salvaged: u64,
    /// Blobs lost with the end of a truncated pack (no longer indexed: stored again by the
    /// next backup that sees the data).
    #[serde(default)]
    pub chunks_lost: u64,
    /// Chunk copies marked bad (read-data findings of this repair, `verify`'s earlier
    /// findings): the next backup stores those chunks again.
    #[serde(default)]
    pub chunks_marked_bad: u64,
    /// Snapshots that stay damaged, with how many of their chunk references are unreadable.
    /// Restore them file by file, or use a replica; newer backups are not affected.
    #[serde(default)]
    pub damaged_snapshots: std::collections::BTreeMap<String, u64>,
}

impl Repository {
    /// Rebuild the index from the pack trailers, e.g. after an index file was lost or damaged
    /// (`verify` reports it). Takes the exclusive lock. Same as [`Repository::repair`] without
    /// `read_data`.
    pub fn repair_index(&self, progress: &dyn Progress) -> Result<RepairReport> {
        self.repair(&crate::repair::RepairOptions::default(), progress)
    }

    pub(crate) fn read_trailer(&self, key: &str, size: u64) -> Result<Vec<format::IndexBlob>> {
        let corrupt = |reason: &str| BackupError::Corrupt {
            key: key.to_owned(),
            reason: reason.to_owned(),
        };
        if size < 4 {
            return Err(corrupt("pack too short"));
        }
        let len_bytes = self.storage.get_range(key, size - 4, 4)?;
        let len = u64::from(u32::from_le_bytes([
            len_bytes[0],
            len_bytes[1],
            len_bytes[2],
            len_bytes[3],
        ]));
        if len + 4 > size {
            return Err(corrupt("bad trailer length"));
        }
        let trailer = self.storage.get_range(key, size - 4 - len, len)?;
        let blobs: Vec<format::IndexBlob> =
            format::decode_json(self.keys(), "pack-trailer", &trailer)?;
        if blobs.iter().any(|b| b.1 + u64::from(b.2) > size - 4 - len) {
            return Err(corrupt("trailer points beyond the blob area"));
        }
        Ok(blobs)
    }
}
