//! Strict, streaming parsing of LightRAG storage files (used by validation drills and health
//! checks).
//!
//! - `kv_store_*.json`: a JSON object; facts = number of top-level keys.
//! - `vdb_*.json` (NanoVectorDB): `{"embedding_dim": D, "data": [...], "matrix": "<base64>"}`
//!   with `len(base64decode(matrix)) == len(data) * D * 4`.
//! - `*.graphml`: well-formed XML with a `graphml` root; facts = `node` / `edge` elements.
//!
//! Counts across stores are *not* compared (real graphs have more graphml nodes than vdb
//! entities). Each file is read once, front to back, in [`READ_BUFFER`] pieces, so memory does
//! not depend on the file size: JSON goes through [`lightrag_backup::StoreScanner`] (the scanner
//! that records the summary at backup time, so validation compares counts from one parser;
//! a vdb `matrix` is validated as base64 and measured, never decoded or kept, and `data`
//! records are counted, not built), GraphML through `quick_xml` reading a `BufReader` (one
//! event in memory at a time).

use std::{
    fs::File,
    io::{BufReader, ErrorKind, Read},
    path::Path,
};

use lightrag_backup::{StoreKind, StoreScanner};
use serde::Serialize;

/// Bytes read from a file at a time.
pub const READ_BUFFER: usize = 64 * 1024;

/// Kind of LightRAG file, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// `kv_store_*.json`.
    KvStore,
    /// `vdb_*.json`.
    VectorDb,
    /// `*.graphml`.
    GraphMl,
}

impl FileKind {
    /// Kind of the file named `name` (base name), if it is a LightRAG file.
    pub fn of(name: &str) -> Option<FileKind> {
        if name.starts_with("kv_store_") && name.ends_with(".json") {
            Some(FileKind::KvStore)
        } else if name.starts_with("vdb_") && name.ends_with(".json") {
            Some(FileKind::VectorDb)
        } else if name.ends_with(".graphml") && name.len() > ".graphml".len() {
            Some(FileKind::GraphMl)
        } else {
            None
        }
    }
}

/// What parsing a LightRAG file found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileFacts {
    /// Top-level keys (kv) or `data` records (vdb).
    pub records: Option<u64>,
    /// vdb embedding dimension.
    pub embedding_dim: Option<u64>,
    /// vdb matrix rows (decoded matrix bytes / (dim * 4)).
    pub matrix_rows: Option<u64>,
    /// graphml nodes.
    pub nodes: Option<u64>,
    /// graphml edges.
    pub edges: Option<u64>,
}

/// Parse the LightRAG file at `path` strictly, in one streaming pass; `Err` says why it does
/// not parse.
pub fn parse_lightrag_file(path: &Path) -> Result<FileFacts, String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let kind =
        FileKind::of(name).ok_or_else(|| format!("`{name}` is not a LightRAG storage file"))?;
    let file = File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    parse_reader(kind, file)
}

/// Parse `bytes` as a LightRAG file of `kind`.
#[cfg(test)]
pub fn parse_bytes(kind: FileKind, bytes: &[u8]) -> Result<FileFacts, String> {
    parse_reader(kind, bytes)
}

/// Parse what `reader` yields as a LightRAG file of `kind`, reading [`READ_BUFFER`] bytes at
/// a time.
pub fn parse_reader(kind: FileKind, reader: impl Read) -> Result<FileFacts, String> {
    match kind {
        FileKind::KvStore => {
            let st = scan_json(StoreKind::KvStore, reader)?;
            Ok(FileFacts {
                records: st.records,
                ..FileFacts::default()
            })
        }
        FileKind::VectorDb => {
            let st = scan_json(StoreKind::VectorDb, reader)
                .map_err(|e| format!("invalid NanoVectorDB file: {e}"))?;
            let missing = |what: &str| format!("invalid NanoVectorDB file: no `{what}` field");
            let dim = st.embedding_dim.ok_or_else(|| missing("embedding_dim"))?;
            let records = st.records.ok_or_else(|| missing("data"))?;
            let matrix = st.matrix_bytes.ok_or_else(|| missing("matrix"))?;
            let row = dim
                .checked_mul(4)
                .filter(|r| *r > 0)
                .ok_or("embedding_dim is 0")?;
            let expected = records.checked_mul(row).ok_or("record count overflows")?;
            if matrix != expected {
                return Err(format!(
                    "matrix holds {matrix} bytes but {records} records of dim {dim} need {expected}"
                ));
            }
            Ok(FileFacts {
                records: Some(records),
                embedding_dim: Some(dim),
                matrix_rows: Some(matrix / row),
                ..FileFacts::default()
            })
        }
        FileKind::GraphMl => parse_graphml(reader),
    }
}

/// Feed `reader` through the backup's streaming JSON scanner.
fn scan_json(
    kind: StoreKind,
    mut reader: impl Read,
) -> Result<lightrag_backup::StoreStats, String> {
    let mut scanner = StoreScanner::new(kind);
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => scanner.feed(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read: {e}")),
        }
    }
    scanner.finish()
}

fn parse_graphml(reader: impl Read) -> Result<FileFacts, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(BufReader::with_capacity(READ_BUFFER, reader));
    reader.config_mut().check_end_names = true;
    let (mut nodes, mut edges, mut depth, mut root_seen, mut root_closed) =
        (0u64, 0u64, 0usize, false, false);
    let mut buf = Vec::new();
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("invalid XML at byte {}: {e}", reader.buffer_position()))?;
        match ev {
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(ev, Event::Empty(_));
                let local: &[u8] = s.local_name().into_inner().as_bytes();
                if depth == 0 {
                    if root_seen || local != b"graphml" {
                        return Err("root element is not a single <graphml>".into());
                    }
                    root_seen = true;
                }
                match local {
                    b"node" => nodes += 1,
                    b"edge" => edges += 1,
                    _ => {}
                }
                if empty {
                    root_closed |= depth == 0;
                } else {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.checked_sub(1).ok_or("unbalanced end tag")?;
                root_closed |= depth == 0;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
        if buf.capacity() > READ_BUFFER {
            // One huge text or tag must not keep its buffer for the rest of the file.
            buf.shrink_to(READ_BUFFER);
        }
    }
    if !root_seen || !root_closed || depth != 0 {
        return Err("truncated: the <graphml> element is not closed".into());
    }
    Ok(FileFacts {
        nodes: Some(nodes),
        edges: Some(edges),
        ..FileFacts::default()
    })
}

#[cfg(test)]
mod streaming_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_vdb_graphml() {
        let kv = parse_bytes(FileKind::KvStore, br#"{"a": {"x": [1,2]}, "b": 2}"#).unwrap();
        assert_eq!(kv.records, Some(2));
        assert!(parse_bytes(FileKind::KvStore, br#"{"a": 1"#).is_err());
        assert!(parse_bytes(FileKind::KvStore, b"[1]").is_err());
        // 2 records of dim 1 = 8 bytes = "AAAAAAAAAAA=" (12 chars).
        let vdb = parse_bytes(
            FileKind::VectorDb,
            br#"{"embedding_dim": 1, "data": [{}, {}], "matrix": "AAAAAAAAAAA="}"#,
        )
        .unwrap();
        assert_eq!(
            (vdb.records, vdb.matrix_rows, vdb.embedding_dim),
            (Some(2), Some(2), Some(1))
        );
        let err = parse_bytes(
            FileKind::VectorDb,
            br#"{"embedding_dim": 1, "data": [{}], "matrix": "AAAAAAAAAAA="}"#,
        )
        .unwrap_err();
        assert!(err.contains("need 4"), "{err}");
        let g = br#"<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph><node id="a"/><node id="b"><data key="d">x</data></node><edge source="a" target="b"/></graph></graphml>"#;
        let f = parse_bytes(FileKind::GraphMl, g).unwrap();
        assert_eq!((f.nodes, f.edges), (Some(2), Some(1)));
        let err = parse_bytes(FileKind::GraphMl, &g[..g.len() - 12]).unwrap_err();
        assert!(
            err.contains("not closed") || err.contains("invalid XML"),
            "{err}"
        );
    }

    #[test]
    fn real_fixtures_parse_with_documented_counts() {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/lightrag-real");
        let f = |p: &str| parse_lightrag_file(&root.join(p)).unwrap();
        let g = f("bingofhy-rag_storage/graph_chunk_entity_relation.graphml");
        assert_eq!((g.nodes, g.edges), (Some(111), Some(92)));
        let v = f("bingofhy-rag_storage/vdb_entities.json");
        assert_eq!(
            (v.records, v.embedding_dim, v.matrix_rows),
            (Some(47), Some(512), Some(47))
        );
        assert_eq!(
            f("bingofhy-rag_storage/kv_store_doc_status.json").records,
            Some(11)
        );
        let g = f("adamaslan-dickens/graph_chunk_entity_relation.graphml");
        assert_eq!((g.nodes, g.edges), (Some(9), Some(3)));
        assert_eq!(f("adamaslan-dickens/vdb_entities.json").records, Some(5));
        assert_eq!(
            f("adamaslan-dickens/kv_store_llm_response_cache.json").records,
            Some(5)
        );
    }
}
