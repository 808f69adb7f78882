//! Graph-level diff between two snapshots.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{BackupError, Result};
use crate::format::{FileEntry, Index};
use crate::lock::LockKind;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::summary::{LightRagSummary, Scanner, StoreKind};

/// A file present in both snapshots with different content or metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Relative path.
    pub path: String,
    /// Size in A.
    pub size_a: u64,
    /// Size in B.
    pub size_b: u64,
    /// Content differs (otherwise only metadata changed).
    pub content_changed: bool,
    /// Distinct chunks of B not in A (roughly: new data).
    pub chunks_added: u64,
    /// Distinct chunks of A not in B.
    pub chunks_removed: u64,
}

/// A count in A and B.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CountDelta {
    /// What is counted (`docs`, `entities`, `vdb_entities.json records`, `doc_status failed`, ...).
    pub name: String,
    /// Value in A.
    pub a: Option<u64>,
    /// Value in B.
    pub b: Option<u64>,
    /// `b - a` when both exist.
    pub delta: Option<i64>,
}

impl CountDelta {
    fn new(name: impl Into<String>, a: Option<u64>, b: Option<u64>) -> Self {
        let delta = match (a, b) {
            (Some(a), Some(b)) => Some(b as i64 - a as i64),
            _ => None,
        };
        CountDelta {
            name: name.into(),
            a,
            b,
            delta,
        }
    }
}

/// Records added and removed in one LightRAG store (kv keys, vdb `__id__`s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDelta {
    /// Store path (`kv_store_full_docs.json` = documents, `kv_store_text_chunks.json` =
    /// chunks, `vdb_entities.json` = entities, `vdb_relationships.json` = relations, ...).
    pub path: String,
    /// Records in B and not in A.
    pub added: u64,
    /// Records in A and not in B.
    pub removed: u64,
}

/// Difference between snapshot A (older) and B (newer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDiff {
    /// Snapshot A id.
    pub a: String,
    /// Snapshot B id.
    pub b: String,
    /// Files only in B.
    pub added: Vec<String>,
    /// Files only in A.
    pub removed: Vec<String>,
    /// Files in both that differ.
    pub changed: Vec<FileChange>,
    /// Files identical in both.
    pub unchanged: u64,
    /// Headline LightRAG counts: docs, chunks, entities, relations, vectors.
    pub graph: Vec<CountDelta>,
    /// Per-store counts that differ (records, nodes, edges, matrix rows, doc status).
    pub stores: Vec<CountDelta>,
    /// Records added/removed per changed store; filled by [`Repository::diff_records`] only.
    pub records: Vec<RecordDelta>,
}

/// The headline LightRAG counts of a graph-level diff (docs, chunks, entities, relations,
/// vectors) between two snapshot summaries, older first: what [`Repository::diff`] reports as
/// [`SnapshotDiff::graph`], for callers that hold the summaries already (the dashboard's
/// catalog rows).
pub fn graph_deltas(a: &LightRagSummary, b: &LightRagSummary) -> Vec<CountDelta> {
    vec![
        CountDelta::new("docs", a.docs(), b.docs()),
        CountDelta::new("chunks", a.chunks(), b.chunks()),
        CountDelta::new("entities", a.entities(), b.entities()),
        CountDelta::new("relations", a.relations(), b.relations()),
        CountDelta::new("vectors", a.vectors(), b.vectors()),
    ]
}

fn store_deltas(a: &LightRagSummary, b: &LightRagSummary) -> Vec<CountDelta> {
    let mut out = Vec::new();
    let paths: BTreeSet<&String> = a.stores.keys().chain(b.stores.keys()).collect();
    for p in paths {
        let (sa, sb) = (a.stores.get(p), b.stores.get(p));
        type Getter = fn(&crate::summary::StoreStats) -> Option<u64>;
        let fields: [(&str, Getter); 5] = [
            ("records", |s| s.records),
            ("nodes", |s| s.nodes),
            ("edges", |s| s.edges),
            ("matrix_rows", |s| s.matrix_rows),
            ("embedding_dim", |s| s.embedding_dim),
        ];
        for (name, get) in fields {
            let (va, vb) = (sa.and_then(get), sb.and_then(get));
            if va != vb {
                out.push(CountDelta::new(format!("{p} {name}"), va, vb));
            }
        }
        let statuses: BTreeSet<&String> = sa
            .iter()
            .flat_map(|s| s.status_counts.keys())
            .chain(sb.iter().flat_map(|s| s.status_counts.keys()))
            .collect();
        for st in statuses {
            let va = sa.map(|s| s.status_counts.get(st).copied().unwrap_or(0));
            let vb = sb.map(|s| s.status_counts.get(st).copied().unwrap_or(0));
            if va != vb {
                out.push(CountDelta::new(format!("{p} status {st}"), va, vb));
            }
        }
    }
    out
}

impl Repository {
    /// Compare two snapshots (ids or unique prefixes): files changed plus the LightRAG delta.
    pub fn diff(&self, a: &str, b: &str) -> Result<SnapshotDiff> {
        let (ma, mb) = (self.snapshot(a)?, self.snapshot(b)?);
        let fa: BTreeMap<&str, &FileEntry> =
            ma.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let fb: BTreeMap<&str, &FileEntry> =
            mb.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let mut d = SnapshotDiff {
            a: ma.id.clone(),
            b: mb.id.clone(),
            added: fb
                .keys()
                .filter(|p| !fa.contains_key(*p))
                .map(|p| (*p).to_owned())
                .collect(),
            removed: fa
                .keys()
                .filter(|p| !fb.contains_key(*p))
                .map(|p| (*p).to_owned())
                .collect(),
            changed: Vec::new(),
            unchanged: 0,
            graph: graph_deltas(&ma.summary, &mb.summary),
            stores: store_deltas(&ma.summary, &mb.summary),
            records: Vec::new(),
        };
        for (p, ea) in &fa {
            let Some(eb) = fb.get(p) else { continue };
            if ea.hash == eb.hash
                && ea.mode == eb.mode
                && ea.mtime == eb.mtime
                && ea.mtime_nsec == eb.mtime_nsec
            {
                d.unchanged += 1;
                continue;
            }
            let ca: HashSet<_> = ea.chunks.iter().collect();
            let cb: HashSet<_> = eb.chunks.iter().collect();
            d.changed.push(FileChange {
                path: (*p).to_owned(),
                size_a: ea.size,
                size_b: eb.size,
                content_changed: ea.hash != eb.hash,
                chunks_added: cb.difference(&ca).count() as u64,
                chunks_removed: ca.difference(&cb).count() as u64,
            });
        }
        Ok(d)
    }
}

impl Repository {
    /// Like [`Repository::diff`], plus which records were added and removed in every changed
    /// kv/vdb store (so 10 entities removed and 10 added do not look like "no change"). Reads
    /// both versions of each changed store from the repository (streamed, not loaded whole).
    pub fn diff_records(&self, a: &str, b: &str, progress: &dyn Progress) -> Result<SnapshotDiff> {
        let _lock = self.lock(LockKind::Read)?;
        let mut d = self.diff(a, b)?;
        let (ma, mb) = (self.snapshot(&d.a)?, self.snapshot(&d.b)?);
        let index = self.load_index()?;
        let fa: BTreeMap<&str, &FileEntry> =
            ma.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let fb: BTreeMap<&str, &FileEntry> =
            mb.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let paths: BTreeSet<&str> = fa.keys().chain(fb.keys()).copied().collect();
        let total: u64 = paths
            .iter()
            .flat_map(|p| [fa.get(p), fb.get(p)])
            .flatten()
            .map(|e| e.size)
            .sum();
        progress.begin("diff", paths.len() as u64, total);
        for path in paths {
            let name = path.rsplit('/').next().unwrap_or(path);
            let Some(kind) = StoreKind::classify(name) else {
                continue;
            };
            if Scanner::new_collecting(kind).is_none() {
                continue;
            }
            let (ea, eb) = (fa.get(path), fb.get(path));
            if let (Some(x), Some(y)) = (ea, eb)
                && x.hash == y.hash
            {
                continue;
            }
            let ka = match ea {
                Some(e) => self.record_keys(&index, &ma.id, e, kind, progress)?,
                None => HashSet::new(),
            };
            let kb = match eb {
                Some(e) => self.record_keys(&index, &mb.id, e, kind, progress)?,
                None => HashSet::new(),
            };
            d.records.push(RecordDelta {
                path: path.to_owned(),
                added: kb.difference(&ka).count() as u64,
                removed: ka.difference(&kb).count() as u64,
            });
            progress.advance(1, 0);
        }
        progress.end();
        Ok(d)
    }

    fn record_keys(
        &self,
        index: &Index,
        snapshot: &str,
        e: &FileEntry,
        kind: StoreKind,
        progress: &dyn Progress,
    ) -> Result<HashSet<u64>> {
        let damaged = |reason: String| BackupError::DamagedFile {
            snapshot: snapshot.to_owned(),
            file: e.path.clone(),
            reason,
        };
        let Some(mut scanner) = Scanner::new_collecting(kind) else {
            return Ok(HashSet::new());
        };
        self.for_each_chunk(index, &e.chunks, |_, data| {
            scanner.feed(&data);
            progress.advance(0, data.len() as u64);
            Ok(())
        })
        .map_err(|err| damaged(lightrag_config::error_chain(&err)))?;
        let keys = scanner.finish_keys().map_err(damaged)?;
        Ok(keys.into_iter().collect())
    }
}
