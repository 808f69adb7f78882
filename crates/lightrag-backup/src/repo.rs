//! The repository facade: init/open, metadata access, chunk reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::crypto::{KdfParams, Keys, argon2id_master, from_hex, hex, random_bytes, random_hex};
use crate::error::{BackupError, Result};
use crate::format::{
    self, BASE64_VERSION, CONFIG_KEY, ChunkId, ChunkerParams, EncryptionConfig,
    FINE_CHUNKER_VERSION, FORMAT_NAME, FORMAT_VERSION, INDEX_PART_BLOBS, INDEX_PREFIX, Index,
    IndexFile, IndexPack, KDF_ARGON2ID, KDF_LEGACY, KEY_CHECK_PLAINTEXT, Manifest, RepoConfig,
    SNAPSHOT_PREFIX, StoredKdf, Totals,
};
use crate::headers;
use crate::lock::{self, LockGuard, LockKind};
use crate::storage::{LocalStorage, ObjectInfo, Storage};
use crate::summary::LightRagSummary;

/// Options fixed when a repository is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InitOptions {
    /// Content-defined chunking sizes (default 8/32/128 KiB).
    pub chunker: ChunkerParams,
    /// Chunking sizes of the stores LightRAG rewrites in place (`vdb_*.json`, `*.graphml`;
    /// default [`ChunkerParams::fine`], 3/12/48 KiB); `None` chunks them as everything else
    /// (a version 1 repository, which older builds open too).
    pub fine_chunker: Option<ChunkerParams>,
    /// Default zstd level for new data (1..=22, default 1: on a LightRAG workspace, two thirds
    /// base64 vectors, level 3 stores 1 % less for 16–24 % more user CPU; see `docs/benchmarks.md`).
    /// Can be overridden per backup.
    pub compression_level: i32,
    /// Target pack size in bytes (default 8 MiB): chunks are grouped into packs to bound
    /// the object count (one object per ~8 MiB instead of one per 32 KiB chunk).
    pub pack_size: u64,
    /// Store chunks of random-looking base64 text (the vector matrices of `vdb_*.json`) as the
    /// bytes they decode to instead of compressing them (a version 3 repository; default on):
    /// several times less CPU for about 1 % more bytes on those chunks. Needs `fine_chunker`
    /// (without it the repository is version 1 and this is ignored).
    pub decode_base64: bool,
    /// Argon2id cost of deriving an encrypted repository's keys from the caller's key (stored
    /// in the config; default 64 MiB, 3 passes, 1 lane). Lower it only in tests.
    pub kdf: KdfParams,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            chunker: ChunkerParams::default(),
            fine_chunker: Some(ChunkerParams::fine()),
            decode_base64: true,
            compression_level: 1,
            pack_size: 8 * 1024 * 1024,
            kdf: KdfParams::default(),
        }
    }
}

/// Run-time options of an opened repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepositoryOptions {
    /// How long to wait for a conflicting lock (another backup of the same graph, a prune).
    pub lock_wait: Duration,
    /// A lock not refreshed for this long is considered stale and removed.
    pub stale_lock_after: Duration,
    /// Worker threads for backup/restore/verify (0 = available cores).
    pub threads: usize,
}

impl Default for RepositoryOptions {
    fn default() -> Self {
        RepositoryOptions {
            lock_wait: Duration::from_secs(600),
            stale_lock_after: Duration::from_secs(1800),
            threads: 0,
        }
    }
}

/// The keys of an encrypted repository from the caller's key, by the config's `kdf`.
fn derive_keys(enc: &EncryptionConfig, key: &[u8], id: &str, location: &str) -> Result<Keys> {
    let bad = |reason: String| BackupError::BadConfig {
        location: location.to_owned(),
        reason,
    };
    match (enc.kdf.as_str(), &enc.kdf_params) {
        (KDF_ARGON2ID, Some(p)) => {
            let salt = from_hex(&p.salt)
                .filter(|s| s.len() >= 8)
                .ok_or_else(|| bad("the Argon2id salt is not hex of at least 8 bytes".into()))?;
            let params = KdfParams {
                memory_kib: p.memory_kib,
                iterations: p.iterations,
                parallelism: p.parallelism,
            };
            let master =
                argon2id_master(key, &salt, id, &params).map_err(|e| bad(e.to_string()))?;
            Ok(Keys::derive(&master, id))
        }
        (KDF_ARGON2ID, None) => Err(bad("kdf `argon2id` without kdf_params".into())),
        (KDF_LEGACY, None) => Ok(Keys::derive(key, id)),
        (KDF_LEGACY, Some(_)) => Err(bad(format!("kdf `{KDF_LEGACY}` takes no kdf_params"))),
        (other, _) => Err(bad(format!(
            "unknown kdf `{other}` (expected {KDF_ARGON2ID} or {KDF_LEGACY}); a newer lightrag-ops may have written it"
        ))),
    }
}

/// A snapshot without its file list (what listings return).
///
/// Stored as is in the snapshot header index (`headers.rs`): adding a field that manifests
/// already had needs a new header index version (see the test there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotInfo {
    /// Snapshot id.
    pub id: String,
    /// Graph id.
    pub graph_id: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// Parent snapshot.
    pub parent: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Trigger (`manual`, `scheduled`, `pre_restore`, ...).
    pub trigger: String,
    /// Host.
    pub hostname: String,
    /// Totals.
    pub totals: Totals,
    /// LightRAG summary.
    pub summary: LightRagSummary,
    /// One quiescent state of the graph (see [`Manifest::consistent`]); `None`: not recorded
    /// (taken by an older version).
    #[serde(default)]
    pub consistent: Option<bool>,
    /// Why it is not consistent.
    #[serde(default)]
    pub inconsistency: Option<String>,
    /// How long the backup took (milliseconds; `None` for older snapshots).
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

impl From<&Manifest> for SnapshotInfo {
    fn from(m: &Manifest) -> Self {
        SnapshotInfo {
            id: m.id.clone(),
            graph_id: m.graph_id.clone(),
            created_at: m.created_at,
            parent: m.parent.clone(),
            tags: m.tags.clone(),
            trigger: m.trigger.clone(),
            hostname: m.hostname.clone(),
            totals: m.totals.clone(),
            summary: m.summary.clone(),
            consistent: m.consistent,
            inconsistency: m.inconsistency.clone(),
            duration_ms: m.duration_ms,
        }
    }
}

/// Per-graph figures in [`RepoStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphStats {
    /// Snapshots of the graph.
    pub snapshots: u64,
    /// Latest snapshot id.
    pub latest: Option<String>,
    /// Its creation time.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub latest_created_at: Option<OffsetDateTime>,
    /// Logical size of the latest snapshot.
    pub latest_bytes: u64,
}

/// Repository-wide figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepoStats {
    /// Snapshots (all graphs).
    pub snapshots: u64,
    /// Sum of the logical sizes of all snapshots.
    pub logical_bytes: u64,
    /// Bytes in pack files (what the repository really occupies, compressed).
    pub stored_bytes: u64,
    /// Distinct indexed chunks.
    pub chunks: u64,
    /// Indexed packs.
    pub packs: u64,
    /// Per graph.
    pub graphs: BTreeMap<String, GraphStats>,
}

impl RepoStats {
    /// Logical bytes per stored byte (deduplication × compression); 0 when empty.
    pub fn dedup_ratio(&self) -> f64 {
        if self.stored_bytes == 0 {
            0.0
        } else {
            self.logical_bytes as f64 / self.stored_bytes as f64
        }
    }
}

/// A snapshot repository on some [`Storage`].
#[derive(Debug, Clone)]
pub struct Repository {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) config: RepoConfig,
    pub(crate) keys: Option<Arc<Keys>>,
    pub(crate) options: RepositoryOptions,
}

impl Repository {
    /// Create a new repository. `key` (high-entropy bytes, e.g. 32 random bytes) enables
    /// encryption at rest; `None` stores chunks compressed but not encrypted.
    pub fn init(
        storage: Arc<dyn Storage>,
        options: &InitOptions,
        key: Option<&[u8]>,
    ) -> Result<Repository> {
        options.chunker.validate()?;
        if let Some(fine) = &options.fine_chunker {
            fine.validate()?;
        }
        check_level(options.compression_level)?;
        if options.pack_size < 1024 * 1024 || options.pack_size > 1024 * 1024 * 1024 {
            return Err(BackupError::InvalidArgument(
                "pack_size must be between 1 MiB and 1 GiB".into(),
            ));
        }
        if storage.exists(CONFIG_KEY)? {
            return Err(BackupError::AlreadyInitialized {
                location: storage.location(),
            });
        }
        let id = random_hex(16);
        let (keys, encryption) = match key {
            Some([]) => {
                return Err(BackupError::InvalidArgument("empty encryption key".into()));
            }
            Some(k) => {
                let salt: [u8; 16] = random_bytes();
                let master = argon2id_master(k, &salt, &id, &options.kdf)?;
                let keys = Keys::derive(&master, &id);
                let enc = EncryptionConfig {
                    algorithm: "xchacha20poly1305".into(),
                    kdf: KDF_ARGON2ID.into(),
                    kdf_params: Some(StoredKdf {
                        memory_kib: options.kdf.memory_kib,
                        iterations: options.kdf.iterations,
                        parallelism: options.kdf.parallelism,
                        salt: hex(&salt),
                    }),
                    key_check: hex(&keys.seal(b"key-check", KEY_CHECK_PLAINTEXT)),
                };
                (Some(Arc::new(keys)), Some(enc))
            }
            None => (None, None),
        };
        let config = RepoConfig {
            format: FORMAT_NAME.into(),
            version: match (options.fine_chunker, options.decode_base64) {
                (None, _) => FORMAT_VERSION,
                (Some(_), false) => FINE_CHUNKER_VERSION,
                (Some(_), true) => BASE64_VERSION,
            },
            id,
            created_at: OffsetDateTime::now_utc(),
            chunker: options.chunker,
            fine_chunker: options.fine_chunker,
            compression_level: options.compression_level,
            pack_size: options.pack_size,
            encryption,
        };
        let body = serde_json::to_vec_pretty(&config).map_err(|e| BackupError::Metadata {
            key: CONFIG_KEY.into(),
            source: e,
        })?;
        storage.put(CONFIG_KEY, body)?;
        Ok(Repository {
            storage,
            config,
            keys,
            options: RepositoryOptions::default(),
        })
    }

    /// Open an existing repository. An encrypted repository needs its key
    /// ([`BackupError::KeyRequired`], [`BackupError::WrongKey`] otherwise).
    pub fn open(storage: Arc<dyn Storage>, key: Option<&[u8]>) -> Result<Repository> {
        let body = match storage.get(CONFIG_KEY) {
            Ok(b) => b,
            Err(BackupError::ObjectNotFound { .. }) => {
                return Err(BackupError::NotARepository {
                    location: storage.location(),
                });
            }
            Err(e) => return Err(e),
        };
        // Format and version first, from a lenient parse: a newer version's new fields are
        // "upgrade lightrag-ops", not a damaged config.
        #[derive(Deserialize)]
        struct Header {
            format: String,
            version: u32,
        }
        let bad = |reason: String| BackupError::BadConfig {
            location: storage.location(),
            reason,
        };
        let header: Header = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
        if header.format != FORMAT_NAME {
            return Err(bad(format!(
                "format `{}` is not `{FORMAT_NAME}`",
                header.format
            )));
        }
        if ![FORMAT_VERSION, FINE_CHUNKER_VERSION, BASE64_VERSION].contains(&header.version) {
            return Err(BackupError::UnsupportedVersion {
                found: header.version,
                supported: BASE64_VERSION,
            });
        }
        let config: RepoConfig = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
        // Versions 2 and 3 are exactly "has a fine chunker": a config that says otherwise was
        // not written by any build, and would chunk the stores differently from its writer.
        let chunkers_ok = match config.fine_chunker {
            Some(fine) => config.version != FORMAT_VERSION && fine.validate().is_ok(),
            None => config.version == FORMAT_VERSION,
        };
        if !chunkers_ok || config.chunker.validate().is_err() {
            return Err(BackupError::BadConfig {
                location: storage.location(),
                reason: format!(
                    "version {} with chunkers {:?} / fine {:?}: a version 2 or 3 repository has a valid fine_chunker, a version 1 repository none",
                    config.version, config.chunker, config.fine_chunker
                ),
            });
        }
        let keys = match (&config.encryption, key) {
            (None, None) => None,
            (None, Some(_)) => return Err(BackupError::KeyNotExpected),
            (Some(_), None) => return Err(BackupError::KeyRequired),
            (Some(enc), Some(k)) => {
                let keys = derive_keys(enc, k, &config.id, &storage.location())?;
                let sealed = from_hex(&enc.key_check).unwrap_or_default();
                match keys.open(b"key-check", &sealed) {
                    Some(p) if p == KEY_CHECK_PLAINTEXT => Some(Arc::new(keys)),
                    _ => return Err(BackupError::WrongKey),
                }
            }
        };
        Ok(Repository {
            storage,
            config,
            keys,
            options: RepositoryOptions::default(),
        })
    }

    /// The key derivation of this repository: `argon2id`, or `blake3-derive-key` for one
    /// created before Argon2id; `None` when it is not encrypted.
    pub fn kdf(&self) -> Option<&str> {
        self.config.encryption.as_ref().map(|e| e.kdf.as_str())
    }

    /// Open the repository in a local directory, creating it with `init` options if absent.
    pub fn open_or_init_local(
        path: &Path,
        init: &InitOptions,
        key: Option<&[u8]>,
    ) -> Result<Repository> {
        Repository::open_or_init(Arc::new(LocalStorage::new(path)), init, key)
    }

    /// Open the repository on any storage (see [`open_storage`](crate::open_storage) for
    /// URLs), creating it with `init` options if absent. A missing bucket is an error
    /// (`BackupError::Remote` with `RemoteProblem::BucketNotFound`), not a new repository.
    pub fn open_or_init(
        storage: Arc<dyn Storage>,
        init: &InitOptions,
        key: Option<&[u8]>,
    ) -> Result<Repository> {
        match Repository::open(storage.clone(), key) {
            Err(BackupError::NotARepository { .. }) if !storage.exists(CONFIG_KEY)? => {
                Repository::init(storage, init, key)
            }
            other => other,
        }
    }

    /// Replace the run-time options.
    pub fn with_options(mut self, options: RepositoryOptions) -> Repository {
        self.options = options;
        self
    }

    /// The storage backend.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Repository id (random, fixed at init).
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// Whether data is encrypted at rest.
    pub fn is_encrypted(&self) -> bool {
        self.keys.is_some()
    }

    /// Chunking parameters (of files other than the stores LightRAG rewrites in place).
    pub fn chunker(&self) -> ChunkerParams {
        self.config.chunker
    }

    /// Chunking parameters of the stores LightRAG rewrites in place (`vdb_*.json`,
    /// `*.graphml`), when they differ (repositories created before have none).
    pub fn fine_chunker(&self) -> Option<ChunkerParams> {
        self.config.fine_chunker
    }

    pub(crate) fn threads(&self) -> usize {
        match self.options.threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(1),
            n => n,
        }
    }

    pub(crate) fn lock(&self, kind: LockKind) -> Result<LockGuard> {
        lock::acquire(
            &self.storage,
            kind,
            self.options.lock_wait,
            self.options.stale_lock_after,
        )
    }

    pub(crate) fn keys(&self) -> Option<&Keys> {
        self.keys.as_deref()
    }

    /// Whether new chunks of random-looking base64 text are stored decoded (version 3).
    pub(crate) fn stores_base64_decoded(&self) -> bool {
        self.config.version >= BASE64_VERSION
    }

    pub(crate) fn chunk_id(&self, data: &[u8]) -> ChunkId {
        ChunkId(match self.keys() {
            Some(k) => k.keyed_hash(data),
            None => *blake3::hash(data).as_bytes(),
        })
    }

    /// Load the union of all index files. Unreadable index files are returned as errors
    /// in the second element (the caller decides whether that is fatal).
    pub(crate) fn load_index_lenient(&self) -> Result<(Index, Vec<(String, BackupError)>)> {
        let mut index = Index::default();
        let mut bad = Vec::new();
        let parse = |obj: &ObjectInfo| self.read_index_file(&obj.key);
        // Parts are read and parsed a few at once (one per thread), then added in listing
        // order (the first copy of a chunk added wins): only those few are held parsed.
        let objects = self.storage.list(INDEX_PREFIX)?;
        for window in objects.chunks(self.threads()) {
            let parsed: Vec<Result<IndexFile>> = match window {
                [one] => vec![parse(one)],
                _ => std::thread::scope(|sc| {
                    let handles: Vec<_> = window.iter().map(|o| sc.spawn(|| parse(o))).collect();
                    handles
                        .into_iter()
                        .map(|h| {
                            h.join().unwrap_or_else(|_| {
                                Err(BackupError::WorkerPanicked("index reader".into()))
                            })
                        })
                        .collect()
                }),
            };
            for (obj, parsed) in window.iter().zip(parsed) {
                match parsed {
                    Ok(f) => index.add(&f),
                    Err(BackupError::ObjectNotFound { .. }) => continue, // removed by a prune meanwhile
                    // Could not read it (I/O, network): not a damaged index, an error.
                    Err(e) if e.is_access_failure() => return Err(e),
                    Err(e) => bad.push((obj.key.clone(), e)),
                }
                index.files.push(obj.key.clone());
            }
        }
        self.seal_index(&mut index)?;
        Ok((index, bad))
    }

    /// After index files were added: seal `index` (its lookup table), refuse an overflowed
    /// one, and route chunks known bad in one pack to another copy where there is one.
    fn seal_index(&self, index: &mut Index) -> Result<()> {
        index.seal();
        if index.overflowed {
            return Err(BackupError::Corrupt {
                key: INDEX_PREFIX.to_owned(),
                reason: "the index files list more than 4 billion blobs".into(),
            });
        }
        let (marks, _) = self.bad_marks()?;
        crate::repair::route_around(index, &marks);
        Ok(())
    }

    /// One index file, read, decoded and checked.
    fn read_index_file(&self, key: &str) -> Result<IndexFile> {
        let body = self.storage.get(key)?;
        let file = format::decode_json::<IndexFile>(self.keys(), key, &body)?;
        file.validate(key, self.config.max_chunk_size())?;
        Ok(file)
    }

    /// Add the index files at `keys` (just written by this process) to `index`: read by key, so
    /// a listing that lags behind does not hide them, and without loading the rest again.
    pub(crate) fn add_index_files(&self, index: &mut Index, keys: &[String]) -> Result<()> {
        for key in keys {
            index.add(&self.read_index_file(key)?);
            index.files.push(key.clone());
        }
        self.seal_index(index)
    }

    /// `load_index`, but when the backend's listings may lag and some of `needed` is not
    /// indexed yet (a manifest listed before its index), pause and load once more.
    pub(crate) fn load_index_covering<'a>(
        &self,
        needed: impl Iterator<Item = &'a ChunkId> + Clone,
    ) -> Result<Index> {
        let index = self.load_index()?;
        let mut missing = needed.clone().filter(|id| !index.contains(id));
        if self.storage.listing_may_lag() && missing.next().is_some() {
            tracing::info!("Some chunks are not indexed yet; listing the indexes again");
            std::thread::sleep(crate::verify::LISTING_RECHECK_DELAY);
            return self.load_index();
        }
        Ok(index)
    }

    pub(crate) fn load_index(&self) -> Result<Index> {
        let (index, mut bad) = self.load_index_lenient()?;
        match bad.pop() {
            Some((_, e)) => Err(e),
            None => Ok(index),
        }
    }

    /// Manifest keys as (graph, id, key), sorted by id.
    pub(crate) fn manifest_keys(
        &self,
        graph: Option<&str>,
    ) -> Result<Vec<(String, String, String)>> {
        Ok(self
            .manifest_objects(graph)?
            .into_iter()
            .map(|(g, id, key, _)| (g, id, key))
            .collect())
    }

    /// Manifests as (graph, id, key, stored size), sorted by id: one listing of `snapshots/`.
    pub(crate) fn manifest_objects(&self, graph: Option<&str>) -> Result<Vec<headers::Listed>> {
        let prefix = match graph {
            Some(g) => format!("{SNAPSHOT_PREFIX}{g}/"),
            None => SNAPSHOT_PREFIX.to_owned(),
        };
        let mut out: Vec<_> = self
            .storage
            .list(&prefix)?
            .into_iter()
            .filter_map(|o| {
                let rest = o.key.strip_prefix(SNAPSHOT_PREFIX)?;
                let (g, id) = rest.split_once('/')?;
                Some((g.to_owned(), id.to_owned(), o.key.clone(), o.size))
            })
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(out)
    }

    /// Like `read_manifest`, but a manifest deleted since it was listed (a concurrent
    /// forget) is `None` rather than an error.
    pub(crate) fn read_manifest_opt(&self, key: &str) -> Result<Option<Manifest>> {
        match self.read_manifest(key) {
            Ok(m) => Ok(Some(m)),
            Err(BackupError::ObjectNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn read_manifest(&self, key: &str) -> Result<Manifest> {
        let body = self.storage.get(key)?;
        format::decode_json(self.keys(), key, &body)
    }

    /// Index `packs` in one or more new index files of at most [`INDEX_PART_BLOBS`] blobs each
    /// (a pack is never split), so that no reader has to hold one huge index file while
    /// parsing it. Each file is a complete index of its packs; readers take the union.
    pub(crate) fn write_index(&self, packs: &[IndexPack], level: i32) -> Result<Vec<String>> {
        /// Serialises exactly as [`IndexFile`], without copying the packs.
        #[derive(serde::Serialize)]
        struct Part<'a> {
            packs: &'a [IndexPack],
        }
        let mut keys = Vec::new();
        for part in index_parts(packs) {
            let key = format!("{INDEX_PREFIX}{}", crate::crypto::random_hex(16));
            let body = format::encode_json(self.keys(), &key, &Part { packs: part }, level)?;
            self.storage.put(&key, body)?;
            keys.push(key);
        }
        Ok(keys)
    }

    /// Put a manifest (the snapshot exists from here on), then its header in the snapshot
    /// header index (best effort: a failure there only makes listings read this manifest).
    pub(crate) fn write_manifest(&self, m: &Manifest) -> Result<()> {
        let key = Manifest::key(&m.graph_id, &m.id);
        let body = format::encode_json(self.keys(), &key, m, self.config.compression_level)?;
        let size = body.len() as u64;
        self.storage.put(&key, body)?;
        headers::after_manifest(self, SnapshotInfo::from(m), size);
        Ok(())
    }

    /// Snapshots, oldest first; all graphs when `graph` is `None`.
    ///
    /// Which snapshots exist comes from one listing of `snapshots/`; what each one holds
    /// comes from the snapshot header index (a few objects, see `docs/repository-format.md`)
    /// where it covers them, and from the manifests otherwise. The result is always the one
    /// [`snapshots_from_manifests`](Repository::snapshots_from_manifests) gives; the index
    /// only saves reads (N snapshots: two listings and a few GETs instead of N GETs). A
    /// listing that had to read manifests adds their headers to the index (best effort).
    pub fn snapshots(&self, graph: Option<&str>) -> Result<Vec<SnapshotInfo>> {
        if let Some(g) = graph {
            format::validate_graph_id(g)?;
        }
        headers::list(self, graph, || self.manifest_objects(graph))
    }

    /// Snapshots, oldest first, read from every manifest (one GET per snapshot), without the
    /// snapshot header index. Destructive operations (forget) decide from this; listings use
    /// [`snapshots`](Repository::snapshots), which gives the same result with fewer reads.
    pub fn snapshots_from_manifests(&self, graph: Option<&str>) -> Result<Vec<SnapshotInfo>> {
        if let Some(g) = graph {
            format::validate_graph_id(g)?;
        }
        let mut out = Vec::new();
        for (_, _, key) in self.manifest_keys(graph)? {
            if let Some(m) = self.read_manifest_opt(&key)? {
                out.push(SnapshotInfo::from(&m));
            }
        }
        Ok(out)
    }

    /// Resolve a snapshot id or unique prefix to its manifest key.
    pub(crate) fn resolve(&self, id_or_prefix: &str) -> Result<String> {
        if id_or_prefix.is_empty() {
            return Err(BackupError::SnapshotNotFound(String::new()));
        }
        let keys = self.manifest_keys(None)?;
        if let Some(k) = keys.iter().find(|k| k.1 == id_or_prefix) {
            return Ok(k.2.clone());
        }
        let mut matches = keys.iter().filter(|k| k.1.starts_with(id_or_prefix));
        match (matches.next(), matches.next()) {
            (Some(k), None) => Ok(k.2.clone()),
            (None, _) => Err(BackupError::SnapshotNotFound(id_or_prefix.to_owned())),
            (Some(_), Some(_)) => Err(BackupError::AmbiguousSnapshot(id_or_prefix.to_owned())),
        }
    }

    /// Resolve a FULL snapshot id to its manifest key. Destructive operations use this, never
    /// [`resolve`](Repository::resolve): a prefix that happens to be unique today (`2`) must
    /// not delete a snapshot. A prefix of an existing id is [`BackupError::FullIdRequired`].
    pub(crate) fn resolve_exact(&self, id: &str) -> Result<String> {
        let keys = self.manifest_keys(None)?;
        if let Some(k) = keys.iter().find(|k| k.1 == id) {
            return Ok(k.2.clone());
        }
        if !id.is_empty() && keys.iter().any(|k| k.1.starts_with(id)) {
            return Err(BackupError::FullIdRequired(id.to_owned()));
        }
        Err(BackupError::SnapshotNotFound(id.to_owned()))
    }

    /// One snapshot's manifest by its FULL id (no prefixes), for callers about to change or
    /// delete it: a prefix is [`BackupError::FullIdRequired`].
    pub fn snapshot_exact(&self, id: &str) -> Result<Manifest> {
        let key = self.resolve_exact(id)?;
        self.read_manifest(&key)
    }

    /// One snapshot's full manifest, by id or unique id prefix.
    pub fn snapshot(&self, id_or_prefix: &str) -> Result<Manifest> {
        let key = self.resolve(id_or_prefix)?;
        self.read_manifest(&key)
    }

    /// Latest snapshot id per graph.
    pub fn latest(&self) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (g, id, _) in self.manifest_keys(None)? {
            out.insert(g, id);
        }
        Ok(out)
    }

    /// Prove the repository is reachable and writable (for readiness checks and
    /// `repo check`): writes, reads back and deletes a small probe object.
    pub fn check_writable(&self) -> Result<()> {
        let key = format!("probe/{}", random_hex(8));
        let body = random_hex(16).into_bytes();
        self.storage.put(&key, body.clone())?;
        let back = self.storage.get(&key);
        self.storage.delete(&key)?;
        if back? != body {
            return Err(BackupError::Corrupt {
                key,
                reason: "probe object read back differently".into(),
            });
        }
        Ok(())
    }

    /// Delete one snapshot by its FULL id (a prefix is [`BackupError::FullIdRequired`]: a
    /// destructive step never acts on a guess). Its chunks are freed by the next prune.
    pub fn delete_snapshot(&self, id: &str) -> Result<String> {
        let key = self.resolve_exact(id)?;
        let id = key.rsplit('/').next().unwrap_or_default().to_owned();
        self.storage.delete(&key)?;
        Ok(id)
    }

    /// Repository-wide figures for metrics and dashboards (reads every chunk index; the
    /// snapshots come from [`snapshots`](Repository::snapshots), i.e. the header index).
    pub fn stats(&self) -> Result<RepoStats> {
        let index = self.load_index()?;
        let mut st = RepoStats {
            chunks: index.chunk_count() as u64,
            packs: index.pack_count() as u64,
            ..RepoStats::default()
        };
        st.stored_bytes = self
            .storage
            .list(crate::format::DATA_PREFIX)?
            .iter()
            .map(|o| o.size)
            .sum();
        for s in self.snapshots(None)? {
            st.snapshots += 1;
            st.logical_bytes += s.totals.bytes;
            let g = st.graphs.entry(s.graph_id).or_default();
            g.snapshots += 1;
            g.latest = Some(s.id);
            g.latest_created_at = Some(s.created_at);
            g.latest_bytes = s.totals.bytes;
        }
        Ok(st)
    }

    /// Read `ids` in order, calling `f` with each verified plaintext.
    ///
    /// Works in batches of up to 4 MiB (locally) or 16 MiB (object stores) of stored blobs: the batch's blobs are grouped by
    /// pack, sorted by offset and merged into ranged reads (exactly adjacent blobs locally;
    /// on a backend where requests are expensive, [`Storage::prefers_large_reads`], blobs up
    /// to 2 MiB apart, read up to 4 ranges at once, so the blobs of one file interleaved with
    /// other files' blobs, and chunks deduplicated from older packs, cost a few requests per
    /// batch, not one per chunk). Ranges are capped at 16 MiB.
    pub(crate) fn for_each_chunk(
        &self,
        index: &Index,
        ids: &[ChunkId],
        mut f: impl FnMut(&ChunkId, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        const MAX_RANGE: u64 = 16 * 1024 * 1024;
        let remote = self.storage.prefers_large_reads();
        // Locally a batch of 4 MiB reads as fast as a larger one and keeps each reading
        // thread's memory small; an object store gets larger batches (fewer requests).
        let batch: u64 = if remote { 16 << 20 } else { 4 << 20 };
        let gap: u64 = if remote { 2 * 1024 * 1024 } else { 0 };
        let loc = |id: &ChunkId| {
            index.get(id).ok_or_else(|| BackupError::ObjectNotFound {
                key: format!("chunk {id}"),
            })
        };
        let mut pool: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < ids.len() {
            // The batch: ids[i..j].
            let mut j = i;
            let mut bytes = 0u64;
            let mut by_pack: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
            while j < ids.len() && (j == i || bytes < batch) {
                let l = loc(&ids[j])?;
                bytes += u64::from(l.length);
                by_pack
                    .entry(l.pack)
                    .or_default()
                    .push((l.offset, l.offset + u64::from(l.length)));
                j += 1;
            }
            // Merge each pack's blobs into ranges.
            let mut jobs: Vec<(&str, u64, u64)> = Vec::new();
            for (pack, mut spans) in by_pack {
                spans.sort_unstable();
                let mut merged: Vec<(u64, u64)> = Vec::new();
                for (a, b) in spans {
                    match merged.last_mut() {
                        Some((lo, hi)) if a <= *hi + gap && b.max(*hi) - *lo <= MAX_RANGE => {
                            *hi = (*hi).max(b);
                        }
                        _ => merged.push((a, b)),
                    }
                }
                jobs.extend(merged.into_iter().map(|(lo, hi)| (pack, lo, hi)));
            }
            // Read them (a few at once on an object store: latency, not bandwidth, bounds it).
            let read = |&(pack, lo, hi): &(&str, u64, u64)| {
                self.storage.get_range(&format::pack_key(pack), lo, hi - lo)
            };
            // Locally: one after the other into one buffer kept from batch to batch (a batch,
            // ~4 MiB), not a fresh mapping faulted in and zeroed per read.
            let mut spans = Vec::new();
            if !remote {
                pool.clear();
                for &(pack, lo, hi) in &jobs {
                    let start = pool.len();
                    self.storage.get_range_append(
                        &format::pack_key(pack),
                        lo,
                        hi - lo,
                        &mut pool,
                    )?;
                    spans.push(start..pool.len());
                }
            }
            let data: Vec<Result<Vec<u8>>> = if !remote {
                Vec::new()
            } else if jobs.len() > 1 {
                let mut out = Vec::with_capacity(jobs.len());
                for group in jobs.chunks(4) {
                    std::thread::scope(|sc| {
                        let handles: Vec<_> =
                            group.iter().map(|j| sc.spawn(move || read(j))).collect();
                        for h in handles {
                            out.push(h.join().unwrap_or_else(|_| {
                                Err(BackupError::WorkerPanicked("range reader".into()))
                            }));
                        }
                    });
                }
                out
            } else {
                jobs.iter().map(read).collect()
            };
            let mut ranges: BTreeMap<&str, Vec<(u64, &[u8])>> = BTreeMap::new();
            let owned: Vec<Vec<u8>> = data.into_iter().collect::<Result<_>>()?;
            let read: Vec<&[u8]> = if remote {
                owned.iter().map(Vec::as_slice).collect()
            } else {
                spans.into_iter().map(|r| &pool[r]).collect()
            };
            for (&(pack, lo, _), d) in jobs.iter().zip(read) {
                ranges.entry(pack).or_default().push((lo, d));
            }
            for id in &ids[i..j] {
                let l = loc(id)?;
                let key = format::pack_key(l.pack);
                let in_pack = ranges.get(l.pack).map(Vec::as_slice).unwrap_or_default();
                let at = in_pack.partition_point(|(lo, _)| *lo <= l.offset);
                let slice = at
                    .checked_sub(1)
                    .and_then(|k| {
                        let (lo, data) = &in_pack[k];
                        let start = (l.offset - lo) as usize;
                        data.get(start..start + l.length as usize)
                    })
                    .ok_or_else(|| BackupError::Corrupt {
                        key: key.clone(),
                        reason: "blob outside the ranges read".into(),
                    })?;
                f(id, self.decode_chunk(id, slice, l.raw_length, &key)?)?;
            }
            i = j;
        }
        Ok(())
    }

    pub(crate) fn decode_chunk(
        &self,
        id: &ChunkId,
        data: &[u8],
        raw_len: u32,
        pack_key: &str,
    ) -> Result<Vec<u8>> {
        let what = format!("{pack_key} (chunk {id})");
        // The length comes from an index or a pack trailer: never trust it beyond what the
        // chunker can produce (a forged 4 GiB length would otherwise be allocated up front).
        let max = self.config.max_chunk_size();
        if raw_len > max {
            return Err(BackupError::Corrupt {
                key: what,
                reason: format!(
                    "recorded chunk length {raw_len} exceeds the chunker maximum of {max} bytes"
                ),
            });
        }
        let plain = format::decode(
            self.keys(),
            &id.0,
            data,
            format::DecodedLen::Exact(raw_len as usize),
            &what,
        )?;
        if plain.len() != raw_len as usize || self.chunk_id(&plain) != *id {
            return Err(BackupError::Corrupt {
                key: what,
                reason: "content hash mismatch".into(),
            });
        }
        Ok(plain)
    }
}

pub(crate) fn check_level(level: i32) -> Result<()> {
    if (1..=22).contains(&level) {
        Ok(())
    } else {
        Err(BackupError::InvalidArgument(format!(
            "zstd level {level} out of range 1..=22"
        )))
    }
}

/// How [`Repository::write_index`] splits `packs` into index files: consecutive runs of at most
/// [`INDEX_PART_BLOBS`] blobs (a pack larger than that is a part of its own).
pub(crate) fn index_parts(packs: &[IndexPack]) -> impl Iterator<Item = &[IndexPack]> {
    let mut rest = packs;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (mut n, mut blobs) = (0, 0);
        while n < rest.len() && (n == 0 || blobs + rest[n].blobs.len() <= INDEX_PART_BLOBS) {
            blobs += rest[n].blobs.len();
            n += 1;
        }
        let (part, tail) = rest.split_at(n);
        rest = tail;
        Some(part)
    })
}

#[cfg(test)]
mod tests {
    /// Index parts: runs of at most INDEX_PART_BLOBS blobs, a larger pack on its own, never
    /// an empty part; prune compares the number of index files with this count.
    #[test]
    fn index_parts_are_bounded_runs_of_packs() {
        use crate::format::IndexBlob;
        let pack = |n: usize| IndexPack {
            id: "ab".repeat(32),
            size: 1,
            blobs: vec![IndexBlob(crate::format::ChunkId([0; 32]), 0, 1, 1); n],
        };
        let sizes = |packs: &[IndexPack]| -> Vec<usize> {
            index_parts(packs).map(<[IndexPack]>::len).collect()
        };
        assert!(sizes(&[]).is_empty());
        assert_eq!(sizes(&[pack(1), pack(2)]), [2]);
        let half = INDEX_PART_BLOBS / 2;
        assert_eq!(sizes(&[pack(half), pack(half), pack(1)]), [2, 1]);
        assert_eq!(sizes(&[pack(INDEX_PART_BLOBS + 5), pack(1)]), [1, 1]);
        assert_eq!(sizes(&[pack(0), pack(0)]), [2]);
    }

    use super::*;
    use crate::storage::LocalStorage;

    /// Issue 13 #7: a chunk length from an index (untrusted) is capped by the chunker maximum
    /// before anything is allocated for it.
    #[test]
    fn a_chunk_length_above_the_chunker_maximum_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(
            Arc::new(LocalStorage::new(dir.path())),
            &InitOptions::default(),
            None,
        )
        .unwrap();
        let data = vec![7u8; 4096];
        let id = repo.chunk_id(&data);
        let enc = format::encode(None, &id.0, &data, 3).unwrap();
        assert_eq!(
            repo.decode_chunk(&id, &enc, 4096, "data/aa/bb").unwrap(),
            data
        );
        let max = repo.chunker().max_size;
        for forged in [max + 1, u32::MAX] {
            match repo.decode_chunk(&id, &enc, forged, "data/aa/bb") {
                Err(BackupError::Corrupt { reason, .. }) => {
                    assert!(reason.contains("chunker maximum"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// Small Argon2id cost for tests (the default is 64 MiB x 3 passes).
    const TEST_KDF: KdfParams = KdfParams {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };

    fn config_json(dir: &Path) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join(CONFIG_KEY)).unwrap()).unwrap()
    }

    /// Issue 14 #3: a new encrypted repository derives its keys with Argon2id; the parameters
    /// and salt are in the config (never the key), and only the right key opens it.
    #[test]
    fn new_encrypted_repositories_use_argon2id_with_stored_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()));
        let init = InitOptions {
            kdf: TEST_KDF,
            ..InitOptions::default()
        };
        let repo =
            Repository::init(storage.clone(), &init, Some(b"a passphrase, not a key")).unwrap();
        assert_eq!(repo.kdf(), Some("argon2id"));
        let cfg = config_json(dir.path());
        let enc = &cfg["encryption"];
        assert_eq!(enc["kdf"], "argon2id", "{cfg}");
        assert_eq!(enc["kdf_params"]["memory_kib"], 256, "{cfg}");
        assert_eq!(enc["kdf_params"]["iterations"], 1, "{cfg}");
        assert_eq!(enc["kdf_params"]["parallelism"], 1, "{cfg}");
        let salt = enc["kdf_params"]["salt"].as_str().unwrap();
        assert_eq!(salt.len(), 32, "16 random bytes: {cfg}");
        assert!(!cfg.to_string().contains("passphrase"));

        // Another repository with the same key gets another salt.
        let dir2 = tempfile::tempdir().unwrap();
        Repository::init(
            Arc::new(LocalStorage::new(dir2.path())),
            &init,
            Some(b"a passphrase, not a key"),
        )
        .unwrap();
        assert_ne!(
            config_json(dir2.path())["encryption"]["kdf_params"]["salt"].as_str(),
            Some(salt)
        );

        let reopened = Repository::open(storage.clone(), Some(b"a passphrase, not a key")).unwrap();
        assert!(reopened.is_encrypted());
        assert!(matches!(
            Repository::open(storage.clone(), Some(b"a passphrase, not a kez")),
            Err(BackupError::WrongKey)
        ));
        assert!(matches!(
            Repository::open(storage, None),
            Err(BackupError::KeyRequired)
        ));
    }

    /// The default cost is what the config of a repository made with default options records.
    #[test]
    fn default_init_options_record_the_default_cost() {
        let d = InitOptions::default().kdf;
        assert_eq!(
            (d.memory_kib, d.iterations, d.parallelism),
            (64 * 1024, 3, 1)
        );
    }

    /// Issue 14 #3: a repository created before Argon2id (config `kdf: blake3-derive-key`, no
    /// `kdf_params`; keys = BLAKE3 `derive_key` of key || id) keeps opening and restoring.
    /// Its config is written here exactly as the previous release wrote it.
    #[test]
    fn repositories_created_before_argon2id_keep_opening() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()));
        let key = b"0123456789abcdef0123456789abcdef";
        let id = "00112233445566778899aabbccddeeff";
        let legacy = Keys::derive(key, id);
        let config = serde_json::json!({
            "format": FORMAT_NAME,
            "version": 1,
            "id": id,
            "created_at": "2026-11-25T20:00:00Z",
            "chunker": { "min_size": 8192, "avg_size": 32768, "max_size": 131072 },
            "compression_level": 3,
            "pack_size": 8388608,
            "encryption": {
                "algorithm": "xchacha20poly1305",
                "kdf": "blake3-derive-key",
                "key_check": hex(&legacy.seal(b"key-check", KEY_CHECK_PLAINTEXT)),
            }
        });
        storage
            .put(CONFIG_KEY, serde_json::to_vec_pretty(&config).unwrap())
            .unwrap();

        let repo = Repository::open(storage.clone(), Some(key)).unwrap();
        assert_eq!(repo.kdf(), Some("blake3-derive-key"));
        // Its chunk ids are the legacy keyed hashes: data written before stays addressable.
        let data = b"some graph bytes".to_vec();
        assert_eq!(repo.chunk_id(&data).0, legacy.keyed_hash(&data));

        let src = dir.path().join("g");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("kv_store_full_docs.json"), b"{\"d\": {}}").unwrap();
        let snap = repo
            .backup(
                "g",
                &src,
                &crate::BackupOptions::default(),
                &crate::NoProgress,
            )
            .unwrap()
            .snapshot;
        let reopened = Repository::open(storage.clone(), Some(key)).unwrap();
        let out = dir.path().join("out");
        reopened
            .restore(
                &snap.id,
                &out,
                &crate::RestoreOptions::default(),
                &crate::NoProgress,
            )
            .unwrap();
        assert_eq!(
            std::fs::read(out.join("kv_store_full_docs.json")).unwrap(),
            b"{\"d\": {}}"
        );
        // The config was not rewritten: an older binary still opens it.
        assert_eq!(config_json(dir.path()), config);
        assert!(matches!(
            Repository::open(storage, Some(b"another key of thirty-two bytes!")),
            Err(BackupError::WrongKey)
        ));
    }

    /// Issue 15: a new repository (version 3) chunks the stores LightRAG rewrites in place
    /// (`vdb_*.json`, `*.graphml`) with the fine chunker and everything else as before, and
    /// stores chunks of random base64 text decoded; a version 2 repository chunks alike but
    /// compresses every chunk; a version 1 repository chunks every file alike. Older builds
    /// still open the versions they know, and each restores byte for byte.
    #[test]
    fn stores_rewritten_in_place_get_the_fine_chunker_in_version_2_and_3_repositories() {
        // Identical bytes under a kv-store name and under vector and graph store names.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut body = b"{\"k\": \"".to_vec();
        body.extend((0..640 * 1024).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % 64) as usize]
        }));
        body.extend_from_slice(b"\"}");
        let names = ["kv_store_full_docs.json", "vdb_entities.json", "g.graphml"];
        let options = crate::BackupOptions {
            check_lightrag_files: false, // one body for every kind
            ..Default::default()
        };
        for version in [3, 2, 1] {
            let fine = version > 1;
            let dir = tempfile::tempdir().unwrap();
            let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path().join("r")));
            let init = InitOptions {
                fine_chunker: fine.then(ChunkerParams::fine),
                decode_base64: version != 2,
                ..InitOptions::default()
            };
            if version == 3 {
                assert_eq!(
                    init,
                    InitOptions::default(),
                    "new repositories are version 3"
                );
            }
            Repository::init(storage.clone(), &init, None).unwrap();
            let config = config_json(&dir.path().join("r"));
            assert_eq!(config["version"], version);
            assert_eq!(config.get("fine_chunker").is_some(), fine, "{config}");
            let repo = Repository::open(storage, None).unwrap();
            assert_eq!(repo.fine_chunker(), fine.then(ChunkerParams::fine));

            let src = dir.path().join("g");
            std::fs::create_dir_all(&src).unwrap();
            for n in names {
                std::fs::write(src.join(n), &body).unwrap();
            }
            let snap = repo
                .backup("g", &src, &options, &crate::NoProgress)
                .unwrap()
                .snapshot;
            let snap = repo.snapshot(&snap.id).unwrap();
            let chunks = |n: &str| {
                let f = snap.files.iter().find(|f| f.path == n).unwrap();
                f.chunks.clone()
            };
            let (kv, vdb, graph) = (chunks(names[0]), chunks(names[1]), chunks(names[2]));
            assert_eq!(
                vdb, graph,
                "both stores rewritten in place are chunked alike"
            );
            if fine {
                // 640 KiB: ~20 chunks of 32 KiB, ~53 of 12 KiB.
                assert!(vdb.len() >= 2 * kv.len(), "{} vs {}", vdb.len(), kv.len());
            } else {
                assert_eq!(vdb, kv);
            }
            let index = repo.load_index().unwrap();
            let max = |ids: &[ChunkId]| ids.iter().map(|c| index.get(c).unwrap().raw_length).max();
            let fine_max = ChunkerParams::fine().max_size;
            if fine {
                assert!(max(&vdb).unwrap() <= fine_max);
                assert!(
                    max(&kv).unwrap() > fine_max,
                    "the other files keep 32 KiB chunks"
                );
            }
            // Every chunk but those holding the JSON around the text is base64 text: stored
            // decoded in version 3 only (flag 2, about three quarters of its length).
            let ids: Vec<ChunkId> = kv.iter().chain(&vdb).copied().collect();
            let decoded = decoded_blobs(&repo, &index, &ids);
            let chunks = ids.len();
            if version == 3 {
                assert!(decoded >= chunks - 4, "{decoded} of {chunks}");
            } else {
                assert_eq!(decoded, 0, "version {version}");
            }
            let out = dir.path().join("out");
            repo.restore(
                &snap.id,
                &out,
                &crate::RestoreOptions::default(),
                &crate::NoProgress,
            )
            .unwrap();
            for n in names {
                assert_eq!(std::fs::read(out.join(n)).unwrap(), body, "{n}");
            }
        }
    }

    /// How many of `ids` are stored as decoded base64 (flag 2; an unencrypted repository).
    fn decoded_blobs(repo: &Repository, index: &Index, ids: &[ChunkId]) -> usize {
        let mut decoded = 0;
        for id in ids {
            let loc = index.get(id).unwrap();
            let blob = repo
                .storage
                .get_range(&format::pack_key(loc.pack), loc.offset, 1)
                .unwrap();
            if blob[0] == 2 {
                decoded += 1;
                let raw = loc.raw_length;
                assert_eq!(loc.length, 2 + raw / 4 * 3 + raw % 4);
            }
        }
        decoded
    }

    /// The matrices real LightRAG wrote (float32 embeddings of real models, base64) pass the
    /// randomness check: their whole chunks are stored decoded, and restore byte for byte.
    #[test]
    fn the_matrices_of_real_lightrag_stores_are_stored_decoded() {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/lightrag-real");
        let fixture = root.join("bingofhy-rag_storage");
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path().join("r")));
        let repo = Repository::init(storage, &InitOptions::default(), None).unwrap();
        let snap = repo
            .backup(
                "g",
                &fixture,
                &crate::BackupOptions::default(),
                &crate::NoProgress,
            )
            .unwrap()
            .snapshot;
        let index = repo.load_index().unwrap();
        let snap = repo.snapshot(&snap.id).unwrap();
        for name in ["vdb_entities.json", "vdb_relationships.json"] {
            let f = snap.files.iter().find(|f| f.path == name).unwrap();
            let decoded = decoded_blobs(&repo, &index, &f.chunks);
            // ~128 KB of matrix in 3..48 KiB chunks: all but the chunks it shares with JSON.
            assert!(decoded >= 2, "{name}: {decoded} of {}", f.chunks.len());
        }
        let out = dir.path().join("out");
        repo.restore(
            &snap.id,
            &out,
            &crate::RestoreOptions::default(),
            &crate::NoProgress,
        )
        .unwrap();
        for f in &snap.files {
            assert_eq!(
                std::fs::read(out.join(&f.path)).unwrap(),
                std::fs::read(fixture.join(&f.path)).unwrap(),
                "{}",
                f.path
            );
        }
    }

    /// The version says whether there is a fine chunker; a config where they disagree, or a
    /// newer version, is refused rather than chunked differently from its writer.
    #[test]
    fn a_version_that_disagrees_with_the_chunkers_is_refused() {
        let fine = serde_json::json!({ "min_size": 3072, "avg_size": 12288, "max_size": 49152 });
        for (version, fine_chunker, unsupported) in [
            (2, serde_json::Value::Null, false),
            (1, fine.clone(), false),
            (
                2,
                serde_json::json!({ "min_size": 1, "avg_size": 2, "max_size": 3 }),
                false,
            ),
            (3, serde_json::Value::Null, false),
            (4, fine.clone(), true),
            // A newer version with fields this build does not know: still "upgrade".
            (
                4,
                serde_json::json!({ "min_size": 3072, "avg_size": 12288, "max_size": 49152, "row_aligned": true }),
                true,
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()));
            let mut config = serde_json::json!({
                "format": FORMAT_NAME, "version": version, "id": "ab",
                "created_at": "2026-12-04T08:00:00Z",
                "chunker": { "min_size": 8192, "avg_size": 32768, "max_size": 131072 },
                "compression_level": 1, "pack_size": 8388608, "encryption": null,
            });
            if !fine_chunker.is_null() {
                config["fine_chunker"] = fine_chunker;
            }
            storage
                .put(CONFIG_KEY, serde_json::to_vec(&config).unwrap())
                .unwrap();
            match Repository::open(storage, None) {
                Err(BackupError::UnsupportedVersion { found, supported }) if unsupported => {
                    assert_eq!((found, supported), (4, 3))
                }
                Err(BackupError::BadConfig { reason, .. }) if !unsupported => {
                    assert!(reason.contains("fine_chunker"), "{reason}")
                }
                other => panic!("{config}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_or_inconsistent_kdf_is_a_bad_config() {
        for (kdf, params) in [
            ("scrypt", serde_json::Value::Null),
            ("argon2id", serde_json::Value::Null),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()));
            let mut enc = serde_json::json!({
                "algorithm": "xchacha20poly1305", "kdf": kdf, "key_check": "00"
            });
            if !params.is_null() {
                enc["kdf_params"] = params;
            }
            let config = serde_json::json!({
                "format": FORMAT_NAME, "version": 1, "id": "ab",
                "created_at": "2026-11-25T20:00:00Z",
                "chunker": { "min_size": 8192, "avg_size": 32768, "max_size": 131072 },
                "compression_level": 3, "pack_size": 8388608, "encryption": enc,
            });
            storage
                .put(CONFIG_KEY, serde_json::to_vec(&config).unwrap())
                .unwrap();
            match Repository::open(storage, Some(b"k")) {
                Err(BackupError::BadConfig { reason, .. }) => {
                    assert!(reason.contains("kdf"), "{reason}")
                }
                other => panic!("{kdf}: {other:?}"),
            }
        }
    }
}
