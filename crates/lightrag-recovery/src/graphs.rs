//! Discovery of LightRAG graphs in a working directory, safe path resolution, liveness.
//!
//! Layouts recognised (all under one working directory `W`):
//!
//! | where the LightRAG files are | graph id |
//! |---|---|
//! | `W/` itself | `default` |
//! | `W/<ws>/` (one workspace subfolder) | `<ws>` (mapped when not a valid id, see below) |
//! | `W/graphs/<g>/` (multi-graph layout) | `<g>` (mapped likewise) |
//! | `W/graphs/<g>/<ws>/` (multi-graph layout with workspaces) | `<g>.<ws>` (each part mapped) |
//!
//! `W/graphs/` is read as the multi-graph layout when `W/graphs_config.json` exists or when
//! `W/graphs/` itself holds no LightRAG files; otherwise it is an ordinary workspace named
//! `graphs`. A LightRAG file is `kv_store_*.json`, `vdb_*.json` or `*.graphml`. Folders without
//! LightRAG files are ignored silently (they are not graphs).
//!
//! A folder name that is not a valid graph id (`備援`, `my graph`, `.hidden`, a name longer than
//! 128 bytes) is mapped to a stable valid id by [`graph_id_for_folder`], and the name is kept as
//! the graph's [`DiscoveredGraph::label`]: every workspace LightRAG can write is protected.
//!
//! Folders that hold LightRAG files but cannot become a graph are *unprotected*: reported in
//! [`Discovery::skipped`] with the reason, never an error (and never logged here: the server
//! logs each once). They are a symlinked folder, a hidden folder (name starting with `.`), a
//! name that is not UTF-8, an id already taken (at each level, folders named like valid ids get
//! their ids first, then mapped ones, each group in byte order; root first, then workspaces,
//! then `graphs/`), a folder left by an interrupted in-place restore (in the multi-graph layout
//! its workspaces are not walked either), an unreadable folder (except `lost+found`).

use std::{
    fs,
    path::{Component, Path, PathBuf},
    time::{Duration, SystemTime},
};

use serde::Serialize;

use crate::error::{RecoveryError, Result};

/// Id of the graph whose files sit directly in the working directory.
pub const DEFAULT_GRAPH_ID: &str = "default";
/// Name of the multi-graph folder under the working directory.
pub const MULTI_GRAPH_DIR: &str = "graphs";
/// File marking the multi-graph layout at the root of the working directory.
pub const GRAPHS_CONFIG_FILE: &str = "graphs_config.json";

/// Where a discovered graph's files were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphLayout {
    /// Files directly in the working directory (`default`).
    Root,
    /// A workspace subfolder of the working directory.
    Workspace,
    /// `graphs/<id>/` or `graphs/<id>/<workspace>/`.
    MultiGraph,
}

/// One graph found by [`discover_graphs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscoveredGraph {
    /// Valid graph id.
    pub id: String,
    /// Directory holding the graph's LightRAG files.
    pub path: PathBuf,
    /// Layout the graph was found in.
    pub layout: GraphLayout,
    /// The folder's own name when the id had to be mapped from it ([`graph_id_for_folder`]):
    /// what dashboards and listings show beside the id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A folder with LightRAG files that did not become a graph: it is not protected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkippedEntry {
    /// The folder.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub path: PathBuf,
    /// Why it was skipped, in words an operator understands.
    pub reason: String,
}

/// Result of [`discover_graphs`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Discovery {
    /// Graphs found, in visiting order (root, workspaces, then `graphs/`).
    pub graphs: Vec<DiscoveredGraph>,
    /// Folders with LightRAG files that were skipped, with reasons.
    pub skipped: Vec<SkippedEntry>,
}

impl Discovery {
    /// The graph with this id, if found.
    pub fn get(&self, id: &str) -> Option<&DiscoveredGraph> {
        self.graphs.iter().find(|g| g.id == id)
    }
}

/// Whether `file_name` is a file written by LightRAG's default file storages (the one
/// classifier, [`lightrag_backup::is_lightrag_file`]; LightRAG's temp files are not).
pub fn is_lightrag_file(file_name: &str) -> bool {
    lightrag_backup::is_lightrag_file(file_name)
}

/// Whether `id` is a valid graph id (`[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`).
pub fn is_valid_graph_id(id: &str) -> bool {
    lightrag_backup::validate_graph_id(id).is_ok()
}

/// Hex digits of the name's BLAKE3 hash in a mapped id (40 bits).
const MAPPED_HASH_HEX: usize = 10;
/// Longest readable part of a mapped id, in bytes.
const MAPPED_SLUG_MAX: usize = 48;

/// The graph id of a folder named `name`: the name itself when it is a valid graph id,
/// otherwise a stable valid id derived from it.
///
/// The rule (documented in `docs/recovery.md`): every character of the name that is an ASCII
/// letter, digit, `_`, `.` or `-` is kept and every other character becomes `-`; runs of `-`
/// collapse; leading and trailing `-`, `_`, `.` are dropped; the result is cut to 48 bytes.
/// Then `-` and the first 10 hex digits of the BLAKE3 hash of the name's UTF-8 bytes are
/// appended (`printf '%s' NAME | b3sum`), and `ws` stands for an empty readable part. So
/// `備援` becomes `ws-` followed by 10 hex digits and `my graph` becomes `my-graph-` followed by
/// 10 hex digits. The same name always gives the same id, on any machine; a renamed folder is a
/// new graph, as for any folder.
pub fn graph_id_for_folder(name: &str) -> String {
    if is_valid_graph_id(name) {
        return name.to_owned();
    }
    let mut slug = String::with_capacity(name.len().min(MAPPED_SLUG_MAX));
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            c
        } else {
            '-'
        };
        if c == '-' && slug.ends_with('-') {
            continue;
        }
        slug.push(c);
    }
    let trim = |c: char| matches!(c, '-' | '_' | '.');
    let mut slug = slug.trim_matches(trim).to_owned();
    slug.truncate(MAPPED_SLUG_MAX);
    let slug = slug.trim_end_matches(trim);
    let hash = blake3::hash(name.as_bytes()).to_hex();
    let hash = &hash[..MAPPED_HASH_HEX];
    if slug.is_empty() {
        format!("ws-{hash}")
    } else {
        format!("{slug}-{hash}")
    }
}

/// Validate a graph id, with this crate's error.
pub fn check_graph_id(id: &str) -> Result<()> {
    if is_valid_graph_id(id) {
        Ok(())
    } else {
        Err(RecoveryError::InvalidGraphId(id.to_owned()))
    }
}

/// The LightRAG files directly in `dir` (names only, sorted). Errors if `dir` cannot be read.
pub fn lightrag_files(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if is_lightrag_file(&name) && entry.file_type()?.is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

struct SubDir {
    name: std::ffi::OsString,
    path: PathBuf,
    symlink: bool,
}

/// Subdirectories (and symlinks to directories) of `dir`, sorted by name bytes.
fn subdirs(dir: &Path) -> std::io::Result<Vec<SubDir>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let path = entry.path();
        if ft.is_dir() {
            out.push(SubDir {
                name: entry.file_name(),
                path,
                symlink: false,
            });
        } else if ft.is_symlink() && fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false) {
            out.push(SubDir {
                name: entry.file_name(),
                path,
                symlink: true,
            });
        }
    }
    out.sort_by(|a, b| a.name.as_encoded_bytes().cmp(b.name.as_encoded_bytes()));
    Ok(out)
}

struct Collector {
    d: Discovery,
}

/// Folders an unprivileged reader often cannot open and that never hold a graph (the root of
/// an ext4 volume used as the working directory has one).
const NEVER_GRAPHS: &[&str] = &["lost+found"];

/// Why a folder holding LightRAG files cannot become a graph, from its name and kind alone.
fn unprotected_reason(sub: &SubDir) -> Option<&'static str> {
    let Some(name) = sub.name.to_str() else {
        return Some(
            "folder name is not valid UTF-8, so no graph id can be given to it: rename the folder",
        );
    };
    if crate::previous::is_kept_state_name(name) {
        return Some(
            "left by an interrupted in-place restore (a graph's previous state or a staging folder): check the graph beside it, then remove this folder",
        );
    }
    if sub.symlink {
        return Some(
            "folder is a symbolic link; discovery does not follow links (register the target explicitly)",
        );
    }
    if name.starts_with('.') {
        return Some(
            "hidden folder (its name starts with a dot): rename it without the dot to protect it",
        );
    }
    None
}

/// Whether `name` is a valid graph id by itself (such folders get their ids before mapped ones).
fn is_own_id(sub: &SubDir) -> bool {
    sub.name.to_str().is_some_and(is_valid_graph_id)
}

/// `subs` with the folders whose names are valid ids first (each group in byte order): a real
/// folder named like another folder's mapped id keeps its name as its id.
fn own_ids_first(subs: &[SubDir]) -> impl Iterator<Item = &SubDir> {
    subs.iter()
        .filter(|s| is_own_id(s))
        .chain(subs.iter().filter(|s| !is_own_id(s)))
}

/// Whether any subfolder of `dir` holds LightRAG files (unreadable ones do not count).
fn has_nested_graph(dir: &Path) -> bool {
    subdirs(dir).is_ok_and(|subs| {
        subs.iter()
            .any(|s| lightrag_files(&s.path).is_ok_and(|f| !f.is_empty()))
    })
}

impl Collector {
    fn skip(&mut self, path: PathBuf, reason: impl Into<String>) {
        let reason = reason.into();
        self.d.skipped.push(SkippedEntry { path, reason });
    }

    /// Consider `sub` as a graph; its id is the folder's [`graph_id_for_folder`], under
    /// `parent` (the id and the folder name of the graph folder holding it, in the multi-graph
    /// layout) as `<parent id>.<id>`. Returns whether the folder held LightRAG files.
    fn consider(
        &mut self,
        sub: &SubDir,
        layout: GraphLayout,
        parent: Option<(&str, &str)>,
    ) -> bool {
        let files = match lightrag_files(&sub.path) {
            Ok(f) => f,
            Err(_) if sub.name.to_str().is_some_and(|n| NEVER_GRAPHS.contains(&n)) => {
                return false;
            }
            Err(e) => {
                self.skip(
                    sub.path.clone(),
                    format!("cannot read folder ({e}), so a graph in it would not be backed up: let lightrag-ops read it"),
                );
                return false;
            }
        };
        if files.is_empty() {
            return false;
        }
        if let Some(reason) = unprotected_reason(sub) {
            self.skip(sub.path.clone(), reason);
            return true;
        }
        let name = sub.name.to_str().unwrap_or_default();
        let (id, label) = match parent {
            None => (graph_id_for_folder(name), name.to_owned()),
            Some((parent_id, parent_name)) => {
                let id = format!("{parent_id}.{}", graph_id_for_folder(name));
                let label = format!("{parent_name}.{name}");
                if is_valid_graph_id(&id) {
                    (id, label)
                } else {
                    // Too long together: map the whole name.
                    (graph_id_for_folder(&label), label)
                }
            }
        };
        if let Some(prev) = self.d.get(&id) {
            let prev = prev.path.display().to_string();
            self.skip(
                sub.path.clone(),
                format!("graph id {id:?} is already used by {prev}: rename one of the folders"),
            );
            return true;
        }
        self.d.graphs.push(DiscoveredGraph {
            label: (label != id).then_some(label),
            id,
            path: sub.path.clone(),
            layout,
        });
        true
    }
}

/// Find the LightRAG graphs under `working_dir` (see the module docs for the layouts and ids).
///
/// Only an unreadable `working_dir` is an error; problems with subfolders are reported in
/// [`Discovery::skipped`].
pub fn discover_graphs(working_dir: &Path) -> Result<Discovery> {
    let root_files = lightrag_files(working_dir)
        .map_err(|e| RecoveryError::io("read working directory", working_dir, e))?;
    let mut c = Collector {
        d: Discovery::default(),
    };
    if !root_files.is_empty() {
        c.d.graphs.push(DiscoveredGraph {
            id: DEFAULT_GRAPH_ID.to_owned(),
            path: working_dir.to_path_buf(),
            layout: GraphLayout::Root,
            label: None,
        });
    }
    let subs = subdirs(working_dir)
        .map_err(|e| RecoveryError::io("read working directory", working_dir, e))?;
    let has_config = working_dir.join(GRAPHS_CONFIG_FILE).is_file();
    let mut multi = None;
    for sub in own_ids_first(&subs) {
        if sub.name == MULTI_GRAPH_DIR && !sub.symlink {
            let own_files = lightrag_files(&sub.path)
                .map(|f| !f.is_empty())
                .unwrap_or(false);
            if has_config || !own_files {
                multi = Some(sub);
                continue;
            }
        }
        c.consider(sub, GraphLayout::Workspace, None);
    }
    if let Some(graphs_dir) = multi {
        match subdirs(&graphs_dir.path) {
            Err(e) => c.skip(
                graphs_dir.path.clone(),
                format!("cannot read multi-graph folder: {e}"),
            ),
            Ok(graph_dirs) => {
                for g in own_ids_first(&graph_dirs) {
                    let own = c.consider(g, GraphLayout::MultiGraph, None);
                    // A graph folder that cannot be a graph: its workspaces are not walked
                    // (a restore's previous state holds copies of them); reported once.
                    if let Some(reason) = unprotected_reason(g) {
                        if !own && has_nested_graph(&g.path) {
                            c.skip(g.path.clone(), reason);
                        }
                        continue;
                    }
                    let gname = g.name.to_str().unwrap_or_default();
                    let gid = graph_id_for_folder(gname);
                    match subdirs(&g.path) {
                        Err(e) => c.skip(
                            g.path.clone(),
                            format!("cannot read folder ({e}), so a graph in it would not be backed up: let lightrag-ops read it"),
                        ),
                        Ok(workspaces) => {
                            for ws in own_ids_first(&workspaces) {
                                c.consider(ws, GraphLayout::MultiGraph, Some((&gid, gname)));
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(c.d)
}

/// Where a graph's files are, and exactly what in its folder is *not* its own: the one answer
/// every backup and restore of a graph uses (server, CLI, scheduler, recovery points, safety
/// snapshots), so a graph's snapshot never holds another graph's files and an in-place restore
/// never rewinds a graph nested in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphLocation {
    /// Graph id.
    pub id: String,
    /// Directory holding the graph's files.
    pub path: PathBuf,
    /// Layout the graph was found in.
    pub layout: GraphLayout,
    /// Relative, `/`-separated paths below `path` that belong to other graphs, skipped exactly:
    /// for `default` (the working directory itself) every subfolder — the graph is its
    /// top-level files; otherwise the folder of every other known graph nested below `path`
    /// (e.g. `w1` for graph `g1` at `graphs/g1/` holding `g1.w1` at `graphs/g1/w1/`).
    pub exclude_paths: Vec<String>,
    /// Configured exclude patterns (`LIGHTRAG_BACKUP_EXCLUDE`, glob semantics of
    /// `BackupOptions::excludes`).
    pub excludes: Vec<String>,
}

impl GraphLocation {
    /// `base` with this graph's exclusions added (patterns appended to `base.excludes`).
    pub fn backup_options(
        &self,
        base: lightrag_backup::BackupOptions,
    ) -> lightrag_backup::BackupOptions {
        let mut excludes = base.excludes.clone();
        excludes.extend(self.excludes.iter().cloned());
        lightrag_backup::BackupOptions {
            excludes,
            exclude_paths: self.exclude_paths.clone(),
            ..base
        }
    }

    /// Restore options with the same exclusions as [`GraphLocation::backup_options`]: an
    /// in-place restore replaces only what such a backup captures and carries everything else
    /// (the nested graphs' folders among it) over unchanged.
    pub fn restore_options(&self) -> lightrag_backup::RestoreOptions {
        lightrag_backup::RestoreOptions {
            exclude_paths: self.exclude_paths.clone(),
            excludes: self.excludes.clone(),
            ..lightrag_backup::RestoreOptions::default()
        }
    }
}

fn canonical_or_same(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Names of the subfolders of `dir` (not following links), sorted; non-UTF-8 names are left
/// out (no graph can live there).
fn subfolder_names(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| RecoveryError::io("read directory", dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| RecoveryError::io("read directory", dir, e))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false)
            && let Some(n) = entry.file_name().to_str()
        {
            out.push(n.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// The graph locator: the [`GraphLocation`] of `graph`, given the folders of every other
/// known graph (`others`: the discovered ones, plus graphs registered elsewhere) and the
/// configured `excludes`. Paths are compared canonically; `graph` itself in `others` is
/// ignored.
pub fn graph_location<'a>(
    graph: &DiscoveredGraph,
    others: impl IntoIterator<Item = &'a Path>,
    excludes: &[String],
) -> Result<GraphLocation> {
    let exclude_paths = if graph.layout == GraphLayout::Root {
        subfolder_names(&graph.path)?
    } else {
        let base = canonical_or_same(&graph.path);
        let mut nested = std::collections::BTreeSet::new();
        for other in others {
            let other = canonical_or_same(other);
            let Ok(rel) = other.strip_prefix(&base) else {
                continue;
            };
            if rel.as_os_str().is_empty() {
                continue;
            }
            let parts: Option<Vec<&str>> = rel
                .components()
                .map(|c| match c {
                    Component::Normal(n) => n.to_str(),
                    _ => None,
                })
                .collect();
            match parts {
                Some(parts) => {
                    nested.insert(parts.join("/"));
                }
                None => {
                    tracing::warn!(graph = %graph.id, nested = %other.display(), "A graph nested in another has a path that cannot be excluded exactly")
                }
            }
        }
        nested.into_iter().collect()
    };
    Ok(GraphLocation {
        id: graph.id.clone(),
        path: graph.path.clone(),
        layout: graph.layout,
        exclude_paths,
        excludes: excludes.to_vec(),
    })
}

impl Discovery {
    /// The [`GraphLocation`] of discovered graph `id` (see [`graph_location`]).
    pub fn location(&self, id: &str, excludes: &[String]) -> Result<GraphLocation> {
        let g = self
            .get(id)
            .ok_or_else(|| RecoveryError::GraphNotFound(id.to_owned()))?;
        graph_location(g, self.graphs.iter().map(|o| o.path.as_path()), excludes)
    }
}

/// [`resolve_graph`] with the graph's [`GraphLocation`]: what the CLI and every other caller
/// without a catalog back up and restore.
pub fn resolve_graph_location<P: AsRef<Path>>(
    roots: &[P],
    id: &str,
    excludes: &[String],
) -> Result<GraphLocation> {
    let g = resolve_graph(roots, id)?;
    let mut others = Vec::new();
    for root in roots {
        let root = root.as_ref();
        if root.is_dir() {
            others.extend(discover_graphs(root)?.graphs.into_iter().map(|o| o.path));
        }
    }
    graph_location(&g, others.iter().map(PathBuf::as_path), excludes)
}

/// Join a client-supplied relative path onto `root`, refusing anything that could leave it:
/// absolute paths, `..`, prefixes, and symbolic links that resolve outside `root`.
///
/// The result need not exist; the longest existing prefix is canonicalized and checked.
pub fn resolve_under(root: &Path, relative: &Path) -> Result<PathBuf> {
    let reject = |reason| RecoveryError::PathNotAllowed {
        path: relative.to_path_buf(),
        reason,
    };
    if relative.as_os_str().is_empty() {
        return Err(reject("empty path"));
    }
    // Malformed input, not an I/O failure: the OS would refuse these names.
    let bytes = relative.as_os_str().as_encoded_bytes();
    if bytes.contains(&0) {
        return Err(reject("it contains a NUL byte"));
    }
    if bytes.len() > 4095 || relative.components().any(|c| c.as_os_str().len() > 255) {
        return Err(reject(
            "it is too long (at most 4095 bytes, 255 per component)",
        ));
    }
    for comp in relative.components() {
        match comp {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(reject("it contains `..`")),
            Component::RootDir | Component::Prefix(_) => return Err(reject("it is absolute")),
        }
    }
    let canon_root =
        fs::canonicalize(root).map_err(|e| RecoveryError::io("resolve root directory", root, e))?;
    let joined = canon_root.join(relative);
    // Walk down the existing prefix; every existing component must stay inside the root.
    let mut probe = canon_root.clone();
    for comp in relative.components() {
        let Component::Normal(part) = comp else {
            continue;
        };
        probe.push(part);
        match fs::symlink_metadata(&probe) {
            Ok(_) => {
                let real = fs::canonicalize(&probe)
                    .map_err(|e| RecoveryError::io("resolve path", &probe, e))?;
                if !real.starts_with(&canon_root) {
                    return Err(reject(
                        "a symbolic link in it points outside the working directory",
                    ));
                }
                probe = real;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(RecoveryError::io("inspect path", &probe, e)),
        }
    }
    Ok(joined)
}

/// Find graph `id` under the configured `roots` (first root wins), by discovery — never by a
/// client-supplied path. The returned path is canonical and inside its root.
pub fn resolve_graph<P: AsRef<Path>>(roots: &[P], id: &str) -> Result<DiscoveredGraph> {
    check_graph_id(id)?;
    for root in roots {
        let root = root.as_ref();
        if !root.is_dir() {
            continue;
        }
        let found = discover_graphs(root)?;
        if let Some(g) = found.get(id) {
            let rel = g.path.strip_prefix(root).unwrap_or(Path::new(""));
            let path = if rel.as_os_str().is_empty() {
                fs::canonicalize(root)
                    .map_err(|e| RecoveryError::io("resolve root directory", root, e))?
            } else {
                resolve_under(root, rel)?
            };
            return Ok(DiscoveredGraph { path, ..g.clone() });
        }
    }
    Err(RecoveryError::GraphNotFound(id.to_owned()))
}

/// Directory for a *new* graph `id` under `working_dir`: `<working_dir>/<id>` (a workspace
/// subfolder, so discovery finds it under the same id). Validates the id and the containment;
/// does not create anything.
pub fn new_graph_dir(working_dir: &Path, id: &str) -> Result<PathBuf> {
    check_graph_id(id)?;
    if id == DEFAULT_GRAPH_ID {
        return Err(RecoveryError::PathNotAllowed {
            path: PathBuf::from(id),
            reason: "graph `default` lives in the working directory itself and cannot be created as a new folder",
        });
    }
    resolve_under(working_dir, Path::new(id))
}

/// Whether the graph in `dir` looks written to by a running LightRAG: any LightRAG file modified
/// within `window` before now (or in the future). A missing directory is not live.
pub fn looks_live(dir: &Path, window: Duration) -> Result<bool> {
    looks_live_at(dir, window, SystemTime::now())
}

/// [`looks_live`] with an explicit "now", for tests and injected clocks.
pub fn looks_live_at(dir: &Path, window: Duration, now: SystemTime) -> Result<bool> {
    let files = match lightrag_files(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(RecoveryError::io("read graph directory", dir, e)),
    };
    for name in files {
        let path = dir.join(&name);
        let mtime = fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_err(|e| RecoveryError::io("read modification time of", &path, e))?;
        match now.duration_since(mtime) {
            Ok(age) if age > window => {}
            _ => return Ok(true),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"{}").unwrap();
    }

    #[test]
    fn lightrag_file_names() {
        for ok in [
            "kv_store_full_docs.json",
            "vdb_entities.json",
            "graph_chunk_entity_relation.graphml",
        ] {
            assert!(is_lightrag_file(ok), "{ok}");
        }
        for no in [
            "graphs_config.json",
            "kv_store_x.txt",
            ".graphml",
            "notes.json",
            "vdb_x.json.tmp",
            "kv_store_x.json.tmp.12.34.56",
        ] {
            assert!(!is_lightrag_file(no), "{no}");
        }
    }

    #[test]
    fn all_layouts() {
        let t = tempfile::tempdir().unwrap();
        let w = t.path();
        touch(&w.join("kv_store_full_docs.json"));
        touch(&w.join("ws_b/vdb_chunks.json"));
        touch(&w.join("ws_a/graph_chunk_entity_relation.graphml"));
        touch(&w.join("empty_dir/readme.txt"));
        touch(&w.join("知识库/kv_store_text_chunks.json"));
        touch(&w.join(GRAPHS_CONFIG_FILE));
        touch(&w.join("graphs/g1/kv_store_doc_status.json"));
        touch(&w.join("graphs/g1/w1/kv_store_doc_status.json"));
        touch(&w.join("graphs/g2/w2/vdb_entities.json"));
        touch(&w.join("graphs/g2/bad name/vdb_entities.json"));
        let d = discover_graphs(w).unwrap();
        let ids: Vec<_> = d.graphs.iter().map(|g| (g.id.as_str(), g.layout)).collect();
        let cjk = graph_id_for_folder("知识库");
        let bad = format!("g2.{}", graph_id_for_folder("bad name"));
        assert_eq!(
            ids,
            vec![
                ("default", GraphLayout::Root),
                ("ws_a", GraphLayout::Workspace),
                ("ws_b", GraphLayout::Workspace),
                (cjk.as_str(), GraphLayout::Workspace),
                ("g1", GraphLayout::MultiGraph),
                ("g1.w1", GraphLayout::MultiGraph),
                ("g2.w2", GraphLayout::MultiGraph),
                (bad.as_str(), GraphLayout::MultiGraph),
            ]
        );
        assert_eq!(d.get("g2.w2").unwrap().path, w.join("graphs/g2/w2"));
        assert_eq!(d.get(&cjk).unwrap().label.as_deref(), Some("知识库"));
        assert_eq!(d.get(&bad).unwrap().label.as_deref(), Some("g2.bad name"));
        assert_eq!(d.get("ws_a").unwrap().label, None);
        assert!(d.skipped.is_empty(), "{:?}", d.skipped);
        // Every mapped graph resolves by its id, as any other.
        assert_eq!(
            resolve_graph(&[w], &cjk).unwrap().path,
            fs::canonicalize(w.join("知识库")).unwrap()
        );
    }

    #[test]
    fn folder_names_map_to_stable_valid_ids() {
        // Valid names are their own id.
        for ok in ["alpha", "ws_1", "a.b-c", "A"] {
            assert_eq!(graph_id_for_folder(ok), ok);
        }
        // The documented rule, with hashes anyone can recompute (`printf '%s' NAME | b3sum`).
        let h = |n: &str| blake3::hash(n.as_bytes()).to_hex()[..10].to_owned();
        assert_eq!(graph_id_for_folder("備援"), format!("ws-{}", h("備援")));
        assert_eq!(
            graph_id_for_folder("my graph"),
            format!("my-graph-{}", h("my graph"))
        );
        assert_eq!(
            graph_id_for_folder(".hidden"),
            format!("hidden-{}", h(".hidden"))
        );
        assert_eq!(
            graph_id_for_folder("知识库 v2!"),
            format!("v2-{}", h("知识库 v2!"))
        );
        assert_eq!(graph_id_for_folder("--__"), format!("ws-{}", h("--__")));
        let long = "x".repeat(200);
        assert_eq!(
            graph_id_for_folder(&long),
            format!("{}-{}", "x".repeat(48), h(&long))
        );
        // Stable, distinct, always valid.
        let names = [
            "備援",
            "备援",
            "my graph",
            "my  graph",
            "my/graph",
            " ",
            "é",
            "a b",
            "a\tb",
            ".x.",
            "-a",
            "_a",
            &long,
        ];
        let mut seen = std::collections::BTreeSet::new();
        for n in names {
            let id = graph_id_for_folder(n);
            assert!(is_valid_graph_id(&id), "{n:?} -> {id:?}");
            assert_eq!(id, graph_id_for_folder(n));
            assert!(seen.insert(id), "{n:?} collides");
        }
    }

    #[test]
    fn graphs_folder_with_files_and_no_config_is_a_workspace() {
        let t = tempfile::tempdir().unwrap();
        touch(&t.path().join("graphs/kv_store_full_docs.json"));
        let d = discover_graphs(t.path()).unwrap();
        assert_eq!(d.graphs.len(), 1);
        assert_eq!(d.graphs[0].id, "graphs");
        assert_eq!(d.graphs[0].layout, GraphLayout::Workspace);
    }

    #[test]
    fn leftovers_of_interrupted_restores_are_reported_not_graphs() {
        let t = tempfile::tempdir().unwrap();
        touch(&t.path().join("alpha/kv_store_full_docs.json"));
        touch(
            &t.path()
                .join(".alpha.lrprev-0123abcd/kv_store_full_docs.json"),
        );
        let d = discover_graphs(t.path()).unwrap();
        assert_eq!(d.graphs.len(), 1);
        assert_eq!(d.skipped.len(), 1);
        assert!(
            d.skipped[0].reason.contains("interrupted in-place restore"),
            "{}",
            d.skipped[0].reason
        );
    }

    #[test]
    fn locator_excludes_nested_graphs_exactly() {
        let t = tempfile::tempdir().unwrap();
        let w = t.path();
        touch(&w.join("kv_store_full_docs.json"));
        touch(&w.join("ws/kv_store_full_docs.json"));
        touch(&w.join(GRAPHS_CONFIG_FILE));
        touch(&w.join("graphs/g1/kv_store_full_docs.json"));
        touch(&w.join("graphs/g1/w1/kv_store_full_docs.json"));
        touch(&w.join("graphs/g1/notes/readme.txt"));
        let d = discover_graphs(w).unwrap();
        let ex = |id: &str| d.location(id, &[]).unwrap().exclude_paths;
        assert_eq!(ex("default"), ["graphs", "ws"]);
        assert_eq!(ex("g1"), ["w1"], "only other graphs, not every subfolder");
        assert!(ex("g1.w1").is_empty());
        assert!(ex("ws").is_empty());
        // A graph registered elsewhere but nested counts too.
        let g1 = d.get("g1").unwrap();
        let extra = w.join("graphs/g1/notes");
        let loc = graph_location(g1, [extra.as_path(), g1.path.as_path()], &[]).unwrap();
        assert_eq!(loc.exclude_paths, ["notes"]);
    }

    #[test]
    fn mapped_id_taken_by_a_real_folder_is_unprotected_not_merged() {
        let t = tempfile::tempdir().unwrap();
        let taken = graph_id_for_folder("備援");
        touch(&t.path().join("備援/kv_store_full_docs.json"));
        touch(&t.path().join(&taken).join("kv_store_full_docs.json"));
        let d = discover_graphs(t.path()).unwrap();
        assert_eq!(d.graphs.len(), 1);
        assert_eq!(d.graphs[0].path, t.path().join(&taken));
        assert_eq!(d.skipped.len(), 1);
        assert_eq!(d.skipped[0].path, t.path().join("備援"));
        assert!(
            d.skipped[0].reason.contains("already used"),
            "{}",
            d.skipped[0].reason
        );
    }

    #[test]
    fn a_real_folder_keeps_its_name_even_when_a_mapped_one_sorts_first() {
        // "my graph" (0x20) sorts before "my-graph-<hash>" (0x2D): ids are still given to
        // folders named like ids first.
        let t = tempfile::tempdir().unwrap();
        let taken = graph_id_for_folder("my graph");
        touch(&t.path().join("my graph/kv_store_full_docs.json"));
        touch(&t.path().join(&taken).join("kv_store_full_docs.json"));
        let d = discover_graphs(t.path()).unwrap();
        assert_eq!(d.graphs.len(), 1, "{:?}", d.graphs);
        assert_eq!(d.graphs[0].path, t.path().join(&taken));
        assert_eq!(d.skipped.len(), 1);
        assert_eq!(d.skipped[0].path, t.path().join("my graph"));
    }

    #[test]
    fn leftovers_and_hidden_folders_in_the_multi_graph_layout_are_not_walked() {
        let t = tempfile::tempdir().unwrap();
        let w = t.path();
        touch(&w.join(GRAPHS_CONFIG_FILE));
        touch(&w.join("graphs/g1/w1/kv_store_full_docs.json"));
        // A restore's previous state of g1 holds a copy of its workspaces.
        touch(&w.join("graphs/.g1.lrprev-0123abcd/w1/kv_store_full_docs.json"));
        touch(&w.join("graphs/.hidden/w2/kv_store_full_docs.json"));
        touch(&w.join("graphs/知识/w1/kv_store_full_docs.json"));
        let d = discover_graphs(w).unwrap();
        let ids: Vec<_> = d.graphs.iter().map(|g| g.id.clone()).collect();
        let cjk = format!("{}.w1", graph_id_for_folder("知识"));
        assert_eq!(ids, vec!["g1.w1".to_owned(), cjk.clone()]);
        assert_eq!(d.get(&cjk).unwrap().label.as_deref(), Some("知识.w1"));
        let skipped: Vec<_> = d.skipped.iter().map(|s| s.path.clone()).collect();
        assert_eq!(
            skipped,
            vec![
                w.join("graphs/.g1.lrprev-0123abcd"),
                w.join("graphs/.hidden")
            ]
        );
        assert!(
            d.skipped[0].reason.contains("interrupted"),
            "{:?}",
            d.skipped
        );
        assert!(d.skipped[1].reason.contains("hidden"), "{:?}", d.skipped);
    }

    #[test]
    fn mapped_ids_are_pinned() {
        // Changing the rule would give existing backups new ids: these values must not move.
        assert_eq!(graph_id_for_folder("備援"), "ws-5fcd6e355d");
        assert_eq!(graph_id_for_folder("my graph"), "my-graph-b7cd588550");
    }

    #[test]
    fn id_collision_is_skipped_not_fatal() {
        let t = tempfile::tempdir().unwrap();
        touch(&t.path().join("a.b/kv_store_full_docs.json"));
        touch(&t.path().join("graphs/a/b/kv_store_full_docs.json"));
        let d = discover_graphs(t.path()).unwrap();
        assert_eq!(d.graphs.len(), 1);
        assert_eq!(d.graphs[0].path, t.path().join("a.b"));
        assert!(d.skipped[0].reason.contains("already used"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_workspace_skipped_and_resolution_contained() {
        let outside = tempfile::tempdir().unwrap();
        touch(&outside.path().join("kv_store_full_docs.json"));
        let t = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("escape")).unwrap();
        let d = discover_graphs(t.path()).unwrap();
        assert!(d.graphs.is_empty());
        assert!(d.skipped[0].reason.contains("symbolic link"));
        assert!(matches!(
            resolve_graph(&[t.path()], "escape"),
            Err(RecoveryError::GraphNotFound(_))
        ));
        let err = resolve_under(t.path(), Path::new("escape/kv_store_full_docs.json")).unwrap_err();
        assert!(matches!(err, RecoveryError::PathNotAllowed { .. }), "{err}");
        // A link that stays inside is fine.
        fs::create_dir(t.path().join("real")).unwrap();
        std::os::unix::fs::symlink(t.path().join("real"), t.path().join("inside")).unwrap();
        assert!(resolve_under(t.path(), Path::new("inside/x")).is_ok());
    }

    #[test]
    fn resolve_rejects_escapes() {
        let t = tempfile::tempdir().unwrap();
        for bad in ["../x", "a/../../x", "/etc/passwd", ""] {
            assert!(
                matches!(
                    resolve_under(t.path(), Path::new(bad)),
                    Err(RecoveryError::PathNotAllowed { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            new_graph_dir(t.path(), ".."),
            Err(RecoveryError::InvalidGraphId(_))
        ));
        assert!(matches!(
            new_graph_dir(t.path(), "a/b"),
            Err(RecoveryError::InvalidGraphId(_))
        ));
        let canon = fs::canonicalize(t.path()).unwrap();
        assert_eq!(
            new_graph_dir(t.path(), "new-1").unwrap(),
            canon.join("new-1")
        );
    }

    #[test]
    fn resolve_graph_finds_by_id_across_roots() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        touch(&b.path().join("ws/kv_store_full_docs.json"));
        let g = resolve_graph(&[a.path(), b.path()], "ws").unwrap();
        assert_eq!(g.path, fs::canonicalize(b.path()).unwrap().join("ws"));
        assert!(matches!(
            resolve_graph(&[a.path()], "ws"),
            Err(RecoveryError::GraphNotFound(_))
        ));
        assert!(matches!(
            resolve_graph(&[a.path()], "../ws"),
            Err(RecoveryError::InvalidGraphId(_))
        ));
    }

    #[test]
    fn liveness_window() {
        let t = tempfile::tempdir().unwrap();
        touch(&t.path().join("kv_store_full_docs.json"));
        let now = SystemTime::now();
        assert!(looks_live_at(t.path(), Duration::from_secs(60), now).unwrap());
        let later = now + Duration::from_secs(3600);
        assert!(!looks_live_at(t.path(), Duration::from_secs(60), later).unwrap());
        // Non-LightRAG files do not count.
        touch(&t.path().join("notes.txt"));
        assert!(!looks_live_at(t.path(), Duration::from_secs(60), later).unwrap());
        assert!(!looks_live(&t.path().join("missing"), Duration::from_secs(60)).unwrap());
    }
}
