//! Strict parsing of LightRAG storage files (used by validation drills and health checks).
//!
//! - `kv_store_*.json`: a JSON object; facts = number of top-level keys.
//! - `vdb_*.json` (NanoVectorDB): `{"embedding_dim": D, "data": [...], "matrix": "<base64>"}`
//!   with `len(base64decode(matrix)) == len(data) * D * 4`.
//! - `*.graphml`: well-formed XML with a `graphml` root; facts = `node` / `edge` elements.
//!
//! Counts across stores are *not* compared (real graphs have more graphml nodes than vdb
//! entities). Files are read whole into memory once (LightRAG itself loads them whole).

use std::{fmt, path::Path};

use serde::{
    Deserialize, Deserializer, Serialize,
    de::{IgnoredAny, MapAccess, SeqAccess, Visitor},
};

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

/// Parse the LightRAG file at `path` strictly; `Err` says why it does not parse.
pub fn parse_lightrag_file(path: &Path) -> Result<FileFacts, String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let kind =
        FileKind::of(name).ok_or_else(|| format!("`{name}` is not a LightRAG storage file"))?;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    parse_bytes(kind, &bytes)
}

/// Parse `bytes` as a LightRAG file of `kind`.
pub fn parse_bytes(kind: FileKind, bytes: &[u8]) -> Result<FileFacts, String> {
    match kind {
        FileKind::KvStore => {
            let KeyCount(n) =
                serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON object: {e}"))?;
            Ok(FileFacts {
                records: Some(n),
                ..FileFacts::default()
            })
        }
        FileKind::VectorDb => {
            let v: Vdb = serde_json::from_slice(bytes)
                .map_err(|e| format!("invalid NanoVectorDB JSON: {e}"))?;
            let row = v
                .embedding_dim
                .checked_mul(4)
                .filter(|r| *r > 0)
                .ok_or("embedding_dim is 0")?;
            let expected = v.data.0.checked_mul(row).ok_or("record count overflows")?;
            if v.matrix.0 != expected {
                return Err(format!(
                    "matrix holds {} bytes but {} records of dim {} need {expected}",
                    v.matrix.0, v.data.0, v.embedding_dim
                ));
            }
            Ok(FileFacts {
                records: Some(v.data.0),
                embedding_dim: Some(v.embedding_dim),
                matrix_rows: Some(v.matrix.0 / row),
                ..FileFacts::default()
            })
        }
        FileKind::GraphMl => parse_graphml(bytes),
    }
}

fn parse_graphml(bytes: &[u8]) -> Result<FileFacts, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(bytes);
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

#[derive(Deserialize)]
struct Vdb {
    embedding_dim: u64,
    data: SeqCount,
    matrix: B64Len,
}

/// Number of keys of a JSON object.
struct KeyCount(u64);

impl<'de> Deserialize<'de> for KeyCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyCount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<KeyCount, A::Error> {
                let mut n = 0;
                while m.next_key::<IgnoredAny>()?.is_some() {
                    m.next_value::<IgnoredAny>()?;
                    n += 1;
                }
                Ok(KeyCount(n))
            }
        }
        d.deserialize_map(V)
    }
}

/// Number of elements of a JSON array.
struct SeqCount(u64);

impl<'de> Deserialize<'de> for SeqCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SeqCount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<SeqCount, A::Error> {
                let mut n = 0;
                while s.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(SeqCount(n))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Decoded length of a standard-alphabet, padded base64 string (validated, not decoded).
struct B64Len(u64);

impl<'de> Deserialize<'de> for B64Len {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = B64Len;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<B64Len, E> {
                b64_decoded_len(s.as_bytes()).map(B64Len).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

fn b64_decoded_len(s: &[u8]) -> Result<u64, String> {
    if !s.len().is_multiple_of(4) {
        return Err(format!(
            "matrix base64 length {} is not a multiple of 4 (truncated?)",
            s.len()
        ));
    }
    let pad = s.iter().rev().take_while(|c| **c == b'=').count();
    if pad > 2 {
        return Err("matrix base64 has too much padding".into());
    }
    if let Some(pos) = s[..s.len() - pad]
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/'))
    {
        return Err(format!("matrix base64 has an invalid character at {pos}"));
    }
    Ok((s.len() / 4 * 3 - pad) as u64)
}

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
