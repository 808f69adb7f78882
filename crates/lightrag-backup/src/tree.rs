//! Which entries of a graph folder a backup captures (one rule for backup, restore and the
//! carry-over of an in-place restore), and LightRAG's file-name classifiers.

use std::collections::HashSet;

/// Whether `file_name` is a store file written by LightRAG's default file storages
/// (`kv_store_*.json`, `vdb_*.json`, `*.graphml`).
pub fn is_lightrag_file(file_name: &str) -> bool {
    crate::summary::StoreKind::classify(file_name).is_some()
}

/// Whether `file_name` is one of LightRAG's temporary files: LightRAG (>= 1.5) writes
/// `<file>.tmp.<pid>.<tid>.<ns>` beside each store and renames it over the store. Such files
/// are half-written by design and vanish within moments; backups skip them by default
/// ([`BackupOptions::skip_lightrag_temp_files`](crate::BackupOptions::skip_lightrag_temp_files)).
pub fn is_lightrag_temp_file(file_name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut parts = file_name.rsplitn(4, '.');
    let (Some(ns), Some(tid), Some(pid), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    digits(ns)
        && digits(tid)
        && digits(pid)
        && rest
            .strip_suffix(".tmp")
            .is_some_and(|base| !base.is_empty())
}

/// Whether `file_name` is a partly written file of an interrupted partial in-place restore
/// (`.<name>.lrtmp-<12 hex>`, written beside its destination): never captured, and dropped
/// (not kept) by the next in-place restore of the folder.
pub(crate) fn is_restore_temp_file(file_name: &str) -> bool {
    file_name.starts_with('.')
        && file_name.rsplit_once(".lrtmp-").is_some_and(|(base, hex)| {
            base.len() > 1 && hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// Whether `name` is a folder or file that an operation of ours leaves beside a graph's files
/// while it runs or after a crash: the staged or swapped-out folder of an in-place restore
/// (`.<name>.lrtmp-<hex>`, `.<name>.lrold-<hex>`) or the kept previous state of a
/// recovery-point restore (`.<name>.lrprev-<hex>`). Such an entry may hold another graph's
/// files, or be the only copy of a previous state: a backup never captures it and an in-place
/// restore keeps it as it is (a partly written restore file is the one exception: dropped).
pub fn is_operation_leftover(name: &str) -> bool {
    name.starts_with('.')
        && [".lrtmp-", ".lrold-", ".lrprev-"].iter().any(|m| {
            name.rfind(m).is_some_and(|i| {
                let hex = &name[i + m.len()..];
                i > 1 && !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())
            })
        })
}

/// Normalise a relative path given by an operator: `/`-separated, no leading `./` or `/`,
/// no trailing `/`, no empty components.
pub(crate) fn normalize_rel(p: &str) -> String {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// The exclusion rule of a backup (and of a restore with the same options): glob patterns,
/// exact paths, LightRAG temp files.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    patterns: Vec<String>,
    paths: HashSet<String>,
    skip_temp: bool,
}

impl Selection {
    pub(crate) fn new(patterns: &[String], paths: &[String], skip_temp: bool) -> Selection {
        Selection {
            patterns: patterns.to_vec(),
            paths: paths
                .iter()
                .map(|p| normalize_rel(p))
                .filter(|p| !p.is_empty())
                .collect(),
            skip_temp,
        }
    }

    /// Whether the entry at `rel` (its last component `name`) is skipped. For a directory,
    /// everything below it is skipped as well.
    pub(crate) fn skips(&self, rel: &str, name: &str) -> bool {
        self.paths.contains(rel)
            || is_operation_leftover(name)
            || (self.skip_temp && is_lightrag_temp_file(name))
            || self
                .patterns
                .iter()
                .any(|p| crate::backup::glob_match(p, rel) || crate::backup::glob_match(p, name))
    }

    /// Whether a file at `rel` would not be captured: it or one of its parent directories is
    /// skipped.
    pub(crate) fn skips_path(&self, rel: &str) -> bool {
        let mut end = 0;
        for (i, c) in rel.split('/').enumerate() {
            end += c.len() + usize::from(i > 0);
            if self.skips(&rel[..end], c) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_names() {
        for yes in [
            "kv_store_full_docs.json.tmp.123.140234.1733224000123456789",
            "graph_chunk_entity_relation.graphml.tmp.1.2.3",
            "x.tmp.0.0.0",
        ] {
            assert!(is_lightrag_temp_file(yes), "{yes}");
        }
        for no in [
            "kv_store_full_docs.json",
            "vdb_x.json.tmp",
            ".tmp.1.2.3",
            "a.tmp.1.2",
            "a.tmp.1.2.x",
            "a.tmp.1..3",
            "a.temp.1.2.3",
        ] {
            assert!(!is_lightrag_temp_file(no), "{no}");
        }
    }

    #[test]
    fn selection_rules() {
        let s = Selection::new(&["*.log".into()], &["/ws/w1/".into(), "notes".into()], true);
        assert!(s.skips_path("a.log"));
        assert!(s.skips_path("ws/w1"));
        assert!(s.skips_path("ws/w1/kv_store_x.json"));
        assert!(!s.skips_path("ws/w10/kv_store_x.json"));
        assert!(!s.skips_path("ws/kv_store_x.json"));
        assert!(s.skips_path("notes/a"));
        assert!(!s.skips_path("sub/notes"), "exact paths are not globbed");
        assert!(s.skips_path("kv_store_a.json.tmp.1.2.3"));
        assert!(!Selection::new(&[], &[], false).skips_path("kv_store_a.json.tmp.1.2.3"));
        assert_eq!(normalize_rel("./a//b/"), "a/b");
        assert!(s.skips_path("sub/.kv_store_a.json.lrtmp-0123456789ab"));
        // Kept states and staging folders of other graphs' restores (nested graphs) are never
        // captured: they may hold another graph's files or the only copy of its old state.
        assert!(s.skips_path(".w1.lrprev-0123abcd/kv_store_full_docs.json"));
        assert!(s.skips_path(".w1.lrold-0123abcd/kv_store_full_docs.json"));
        assert!(s.skips_path(".w1.lrtmp-0123abcd/vdb_entities.json"));
        assert!(!s.skips_path(".lrprev-0123/x.json"));
        assert!(!s.skips_path("w1.lrprev-0123/x.json"));
        assert!(!s.skips_path(".kv_store_a.json.lrtmp-notes"));
    }
}
