//! The streaming parsers against the whole-file parser they replace: every error case, split
//! at every byte boundary, and a generated multi-hundred-MB vdb file parsed in bounded memory.

use std::io::{Read, Write};

use super::*;

/// The parser before streaming: the whole file in memory, then `serde_json` / `quick_xml`.
/// Kept here to compare verdicts.
mod old {
    use std::fmt;

    use serde::{
        Deserialize, Deserializer,
        de::{IgnoredAny, MapAccess, SeqAccess, Visitor},
    };

    use super::{FileFacts, FileKind};

    pub fn parse_bytes(kind: FileKind, bytes: &[u8]) -> Result<FileFacts, String> {
        match kind {
            FileKind::KvStore => {
                let KeyCount(n) = serde_json::from_slice(bytes)
                    .map_err(|e| format!("invalid JSON object: {e}"))?;
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
                    return Err(format!("matrix holds {} bytes", v.matrix.0));
                }
                Ok(FileFacts {
                    records: Some(v.data.0),
                    embedding_dim: Some(v.embedding_dim),
                    matrix_rows: Some(v.matrix.0 / row),
                    ..FileFacts::default()
                })
            }
            FileKind::GraphMl => super::parse_graphml(bytes),
        }
    }

    #[derive(Deserialize)]
    struct Vdb {
        embedding_dim: u64,
        data: SeqCount,
        matrix: B64Len,
    }

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
                    let s = s.as_bytes();
                    if !s.len().is_multiple_of(4) {
                        return Err(E::custom("length"));
                    }
                    let pad = s.iter().rev().take_while(|c| **c == b'=').count();
                    if pad > 2
                        || s[..s.len() - pad]
                            .iter()
                            .any(|c| !(c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/'))
                    {
                        return Err(E::custom("character"));
                    }
                    Ok(B64Len((s.len() / 4 * 3 - pad) as u64))
                }
            }
            d.deserialize_str(V)
        }
    }
}

/// A reader that hands out at most `step` bytes per `read` (so the scanner sees every split).
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The streaming verdict, checked to be the same whatever the read sizes.
fn verdict(kind: FileKind, doc: &[u8]) -> Result<FileFacts, String> {
    let whole = parse_bytes(kind, doc);
    for step in [1, 2, 3, 4, 5, 7, 13] {
        let split = parse_reader(kind, Trickle { data: doc, step });
        match (&whole, &split) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "step {step}: {}", show(doc)),
            (Err(_), Err(_)) => {}
            _ => panic!(
                "step {step} changes the verdict of {}: {whole:?} vs {split:?}",
                show(doc)
            ),
        }
    }
    whole
}

fn show(doc: &[u8]) -> String {
    String::from_utf8_lossy(&doc[..doc.len().min(160)]).into_owned()
}

/// Same verdict (and facts) as the old parser.
fn same_as_old(kind: FileKind, doc: &[u8]) -> Result<FileFacts, String> {
    let new = verdict(kind, doc);
    let old = old::parse_bytes(kind, doc);
    match (&new, &old) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", show(doc)),
        (Err(_), Err(_)) => {}
        _ => panic!("verdicts differ on {}: new {new:?}, old {old:?}", show(doc)),
    }
    new
}

const KV: &str = r#"{
  "doc-1": {"content": "Scrooge \"and\" Marley\\ \/ \b\f\n\r\t \u00e9\uD83D\uDE00 é 中文 😀", "n": [0, -0, 1.5, -2e10, 3E+2, 4.0e-3, 12345678901234567890123, true, false, null],
            "nested": {"a": [{}, [], [[]], {"b": {"c": ""}}]}},
  "": {"empty key": 1},
  "doc-\"2\"": "x", "中文": [], "doc-1": "duplicate keys are counted as written"
}"#;

fn vdb(dim: u64, records: usize, matrix: &str) -> Vec<u8> {
    let data: Vec<String> = (0..records)
        .map(|i| format!(r#"{{"__id__": "ent-{i}", "__created_at__": 1733222222000000000, "vector": [0.5, -1e-3]}}"#))
        .collect();
    format!(
        r#"{{"embedding_dim": {dim}, "data": [{}], "matrix": "{matrix}"}}"#,
        data.join(", ")
    )
    .into_bytes()
}

const GRAPHML: &str = r#"<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<key id="d0" for="node" attr.name="entity_type" attr.type="string"/>
<!-- <node id="commented"/> -->
<graph edgedefault="undirected">
<node id="&quot;SCROOGE&quot;"><data key="d0">person &lt;中文&gt;</data></node>
<node id="B"/>
<edge source="&quot;SCROOGE&quot;" target="B"><data key="d0"><![CDATA[x < y]]></data></edge>
</graph>
</graphml>
"#;

#[test]
fn valid_documents_have_the_old_facts_at_every_split() {
    assert_eq!(
        same_as_old(FileKind::KvStore, KV.as_bytes())
            .unwrap()
            .records,
        Some(5)
    );
    // 3 records of dim 2 = 24 bytes = 32 base64 chars; 2 records of dim 1 = 8 bytes = "…=".
    let f = same_as_old(FileKind::VectorDb, &vdb(2, 3, &"A".repeat(32))).unwrap();
    assert_eq!(
        (f.records, f.embedding_dim, f.matrix_rows),
        (Some(3), Some(2), Some(3))
    );
    let f = same_as_old(FileKind::VectorDb, &vdb(1, 2, "AACAPwAAgD8=")).unwrap();
    assert_eq!(f.matrix_rows, Some(2));
    // Empty store as LightRAG writes it.
    let f = same_as_old(FileKind::VectorDb, &vdb(1024, 0, "")).unwrap();
    assert_eq!((f.records, f.matrix_rows), (Some(0), Some(0)));
    let f = same_as_old(FileKind::GraphMl, GRAPHML.as_bytes()).unwrap();
    assert_eq!((f.nodes, f.edges), (Some(2), Some(1)));
}

#[test]
fn truncation_at_every_byte_is_an_error() {
    let kv = KV.as_bytes();
    let vdb = vdb(1, 2, "AACAPwAAgD8=");
    let cases: [(FileKind, &[u8]); 3] = [
        (FileKind::KvStore, kv),
        (FileKind::VectorDb, &vdb),
        (FileKind::GraphMl, GRAPHML.trim_end().as_bytes()),
    ];
    for (kind, doc) in cases {
        for cut in 0..doc.len() {
            let err =
                verdict(kind, &doc[..cut]).expect_err(&format!("{kind:?} cut at {cut} parses"));
            assert!(
                old::parse_bytes(kind, &doc[..cut]).is_err(),
                "old parser accepts {kind:?} cut at {cut}"
            );
            if kind != FileKind::GraphMl && cut > 0 {
                assert!(
                    err.contains("truncated") || err.contains("invalid"),
                    "{kind:?} cut at {cut}: unclear message {err}"
                );
            }
        }
    }
    // The message names where the file ends.
    let err = parse_bytes(FileKind::VectorDb, &vdb[..vdb.len() - 5]).unwrap_err();
    assert!(
        err.contains("truncated") && err.contains("inside a string"),
        "{err}"
    );
    assert_eq!(
        parse_bytes(FileKind::KvStore, b"").unwrap_err(),
        "file is empty (no JSON value)"
    );
}

#[test]
fn whitespace_variants() {
    for (doc, ok) in [
        (" \t\r\n{ \"a\" \t:\r\n1 ,\n\"b\":[ ] } \n\t ", true),
        ("{\"a\":1}\r\n", true),
        ("{\"a\":{}}", true),
        // Form feed and NBSP are not JSON whitespace.
        ("{\"a\":1}\x0c", false),
        ("{\u{a0}\"a\":1}", false),
        ("\u{feff}{\"a\":1}", false),
        ("", false),
        (" \n ", false),
    ] {
        assert_eq!(
            same_as_old(FileKind::KvStore, doc.as_bytes()).is_ok(),
            ok,
            "{doc:?}"
        );
    }
}

#[test]
fn bad_json_is_rejected_like_before() {
    for doc in [
        r#"[1]"#,
        r#""a""#,
        r#"1"#,
        r#"null"#,
        r#"{"a" 1}"#,
        r#"{"a": 1}}"#,
        r#"{"a": 1} {}"#,
        r#"{"a": 1}x"#,
        r#"{"a": 1,}"#,
        r#"{"a": [1,]}"#,
        r#"{"a": [1 2]}"#,
        r#"{"a": 1 "b": 2}"#,
        r#"{a: 1}"#,
        r#"{'a': 1}"#,
        r#"{"a": 01}"#,
        r#"{"a": 1.}"#,
        r#"{"a": .5}"#,
        r#"{"a": -}"#,
        r#"{"a": +1}"#,
        r#"{"a": 1e}"#,
        r#"{"a": 1e+}"#,
        r#"{"a": 0x10}"#,
        r#"{"a": tru}"#,
        r#"{"a": True}"#,
        r#"{"a": nul}"#,
        r#"{"a": "\x"}"#,
        r#"{"a": "\u12"}"#,
        r#"{"a": "\u12G4"}"#,
        r#"{"a": "\U0041"}"#,
        "{\"a\": \"tab\there\"}",
        "{\"a\": \"line\nbreak\"}",
        "{\"a\x01\": 1}",
        r#"{"a": [}"#,
        r#"{"a": {]}"#,
        r#"{"a": [1}"#,
        r#"{"a": ]"#,
    ] {
        let err = same_as_old(FileKind::KvStore, doc.as_bytes()).unwrap_err();
        assert!(
            err.starts_with("invalid JSON at byte") || err.contains("truncated"),
            "{doc}: {err}"
        );
    }
    // Deep nesting.
    let deep = format!("{{\"a\": {}{}}}", "[".repeat(500), "]".repeat(500));
    assert!(same_as_old(FileKind::KvStore, deep.as_bytes()).is_ok());
    // Odd but valid.
    for (doc, n) in [
        (r#"{"": 1}"#, 1),
        (r#"{"a": 1, "a": 2, "a": 3}"#, 3),
        (
            r#"{"\u0000": "\ud800 lone surrogate escapes are valid JSON"}"#,
            1,
        ),
        (r#"{"__proto__": {}, "constructor": []}"#, 2),
        (r#"{"a": -0.0e-0, "b": 1E400}"#, 2),
    ] {
        assert_eq!(
            same_as_old(FileKind::KvStore, doc.as_bytes())
                .unwrap()
                .records,
            Some(n),
            "{doc}"
        );
    }
}

#[test]
fn deliberate_differences_from_the_old_parser() {
    // Python's json (LightRAG) writes and reads NaN / Infinity: accepted now.
    for doc in [r#"{"a": NaN}"#, r#"{"a": [Infinity, -Infinity]}"#] {
        assert_eq!(
            verdict(FileKind::KvStore, doc.as_bytes()).unwrap().records,
            Some(1)
        );
        assert!(old::parse_bytes(FileKind::KvStore, doc.as_bytes()).is_err());
    }
    for doc in [r#"{"a": Nan}"#, r#"{"a": -Inf}"#, r#"{"a": -infinity}"#] {
        assert!(verdict(FileKind::KvStore, doc.as_bytes()).is_err(), "{doc}");
    }
    // Invalid UTF-8 in a string the old parser skipped: LightRAG could not load it.
    let bad = b"{\"a\": \"\xff\xfe\"}";
    let err = verdict(FileKind::KvStore, bad).unwrap_err();
    assert!(err.contains("invalid UTF-8"), "{err}");
    assert!(old::parse_bytes(FileKind::KvStore, bad).is_ok());
    // A UTF-8 character split across reads is fine (checked at every split by `verdict`).
    assert!(verdict(FileKind::KvStore, "{\"😀中é\": \"😀中é\"}".as_bytes()).is_ok());
}

#[test]
fn vdb_errors_match_the_old_parser() {
    let ok = "AACAPwAAgD8="; // 8 bytes: 2 records of dim 1
    for (doc, needle) in [
        // Fields missing, repeated or of the wrong type.
        (r#"{"data": [], "matrix": ""}"#.to_owned(), "embedding_dim"),
        (r#"{"embedding_dim": 1, "matrix": ""}"#.to_owned(), "data"),
        (r#"{"embedding_dim": 1, "data": []}"#.to_owned(), "matrix"),
        (
            r#"{"embedding_dim": 0, "data": [], "matrix": ""}"#.to_owned(),
            "is 0",
        ),
        (
            r#"{"embedding_dim": -1, "data": [], "matrix": ""}"#.to_owned(),
            "embedding_dim",
        ),
        (
            r#"{"embedding_dim": 1.0, "data": [], "matrix": ""}"#.to_owned(),
            "embedding_dim",
        ),
        (
            r#"{"embedding_dim": 1e3, "data": [], "matrix": ""}"#.to_owned(),
            "embedding_dim",
        ),
        (
            r#"{"embedding_dim": "4", "data": [], "matrix": ""}"#.to_owned(),
            "embedding_dim",
        ),
        (
            r#"{"embedding_dim": null, "data": [], "matrix": ""}"#.to_owned(),
            "embedding_dim",
        ),
        (
            r#"{"embedding_dim": 99999999999999999999999, "data": [], "matrix": ""}"#.to_owned(),
            "embedding_dim",
        ),
        (
            r#"{"embedding_dim": 1, "data": {}, "matrix": ""}"#.to_owned(),
            "data",
        ),
        (
            r#"{"embedding_dim": 1, "data": [], "matrix": 0}"#.to_owned(),
            "matrix",
        ),
        (
            r#"{"embedding_dim": 1, "data": [], "matrix": ["AAAA"]}"#.to_owned(),
            "matrix",
        ),
        (
            format!(r#"{{"embedding_dim": 1, "data": [{{}}], "data": [{{}}], "matrix": "{ok}"}}"#),
            "duplicate field `data`",
        ),
        (
            r#"{"embedding_dim": 1, "embedding_dim": 1, "data": [], "matrix": ""}"#.to_owned(),
            "duplicate",
        ),
        (
            r#"{"embedding_dim": 1, "data": [], "matrix": "", "matrix": ""}"#.to_owned(),
            "duplicate",
        ),
        // Matrix length.
        (String::from_utf8(vdb(1, 1, ok)).unwrap(), "need 4"),
        (String::from_utf8(vdb(1, 3, ok)).unwrap(), "need 12"),
        (String::from_utf8(vdb(2, 2, ok)).unwrap(), "need 16"),
        (
            String::from_utf8(vdb(1, 2, "AACAPwAAgD8")).unwrap(),
            "multiple of 4",
        ),
        (
            String::from_utf8(vdb(1, 2, "AACAPwAAgD8=A")).unwrap(),
            "base64",
        ),
        // Bad base64.
        (
            String::from_utf8(vdb(1, 2, "AACAPwAA*D8=")).unwrap(),
            "invalid character '*'",
        ),
        (
            String::from_utf8(vdb(1, 2, "AACAPwAA-D8=")).unwrap(),
            "invalid character",
        ),
        (
            String::from_utf8(vdb(1, 2, "AACAPwAA_D8=")).unwrap(),
            "invalid character",
        ),
        (
            String::from_utf8(vdb(1, 2, "AACAPwAA D8=")).unwrap(),
            "invalid character",
        ),
        (
            String::from_utf8(vdb(1, 2, r"AACAPwAA\nD8=")).unwrap(),
            "invalid character",
        ),
        (
            String::from_utf8(vdb(1, 2, r"AACAPwAA\u00e9D8=")).unwrap(),
            "non-ASCII",
        ),
        (
            String::from_utf8(vdb(1, 2, "AACA=wAAgD8=")).unwrap(),
            "after its '=' padding",
        ),
        (
            String::from_utf8(vdb(1, 2, "AACAPwAAg===")).unwrap(),
            "padding",
        ),
        (
            String::from_utf8(vdb(1, 3, "AACAPwAAgD8=AAAA")).unwrap(),
            "padding",
        ),
        (
            String::from_utf8(vdb(1, 2, "AACAPwAAgD8é")).unwrap(),
            "invalid character",
        ),
    ] {
        let err = same_as_old(FileKind::VectorDb, doc.as_bytes()).unwrap_err();
        assert!(err.contains(needle), "{doc}: {err}");
    }
    // Escapes in the matrix that decode to base64 characters are fine (as for serde_json).
    let f = same_as_old(FileKind::VectorDb, &vdb(1, 2, r"AACAPwAA\u0067D8=")).unwrap();
    assert_eq!(f.matrix_rows, Some(2));
    let f = same_as_old(FileKind::VectorDb, &vdb(1, 3, r"AACAPwAA\/D8AAAAA")).unwrap();
    assert_eq!(f.matrix_rows, Some(3));
    // Unknown fields, field order, escaped field names, look-alikes inside records.
    for doc in [
        format!(
            r#"{{"matrix": "{ok}", "extra": {{"data": [1,2,3]}}, "data": [1, "x"], "embedding_dim": 1}}"#
        ),
        format!(
            r#"{{"embedding_dim": 1, "d\u0061ta": [{{}}, {{"matrix": 5, "data": {{}}}}], "m\u0061trix": "{ok}"}}"#
        ),
        format!(
            r#"{{"embedding_dim": 1, "data": [[], null], "matrixmatrixmatrixmatrixmatrixmatrixmatrixmatrixmatrixmatrixmatrix": 0, "matrix": "{ok}"}}"#
        ),
    ] {
        let f = same_as_old(FileKind::VectorDb, doc.as_bytes()).unwrap();
        assert_eq!((f.records, f.matrix_rows), (Some(2), Some(2)), "{doc}");
    }
}

#[test]
fn graphml_errors_match_the_old_parser() {
    let g = GRAPHML.trim_end();
    let body = g.split_once("?>").unwrap().1;
    for doc in [
        String::new(),
        "<graph/>".to_owned(),
        format!("{g}<graphml/>"),
        g.replace("</graph>\n</graphml>", "</graphml>\n</graph>"),
        g.replace("<node id=\"B\"/>", "<node id=\"B\">"),
        g.replace("</graphml>", "</graphm>"),
    ] {
        let err = same_as_old(FileKind::GraphMl, doc.as_bytes()).unwrap_err();
        assert!(!err.is_empty());
    }
    let f = same_as_old(FileKind::GraphMl, body.as_bytes()).unwrap();
    assert_eq!((f.nodes, f.edges), (Some(2), Some(1)));
}

/// Peak resident set of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

const BIG_CHILD: &str = "LIGHTRAG_TEST_BIG_VDB_CHILD";

/// A ~300 MB vdb file (one line, a 300 MB base64 matrix, 55k records) parses with the right
/// facts while the peak RSS grows far less than the file. Runs in a child process of its own
/// (this test binary again, with only this test), so other tests do not move the peak.
#[test]
fn big_vdb_parses_in_bounded_memory() {
    if std::env::var_os(BIG_CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "parse::streaming_tests::big_vdb_parses_in_bounded_memory",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(BIG_CHILD, "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "child failed:\n{text}");
        assert!(text.contains("1 passed"), "child ran no test:\n{text}");
        eprintln!(
            "{}",
            text.lines()
                .filter(|l| l.starts_with("big vdb"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        return;
    }
    // 54 931 rows of dim 1024 = 224 997 376 bytes (≡ 1 mod 3, so the base64 ends in "==").
    let (dim, rows) = (1024u64, 54_931u64);
    let bytes = rows * dim * 4;
    let groups = bytes / 3; // whole 4-character groups, then one padded group
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vdb_entities.json");
    {
        let mut w = std::io::BufWriter::with_capacity(READ_BUFFER, File::create(&path).unwrap());
        write!(w, r#"{{"embedding_dim": {dim}, "data": ["#).unwrap();
        for i in 0..rows {
            if i > 0 {
                w.write_all(b", ").unwrap();
            }
            write!(
                w,
                r#"{{"__id__": "ent-{i:x}", "__created_at__": 1733222222, "entity_name": "ENTITY \"{i}\" é"}}"#
            )
            .unwrap();
        }
        w.write_all(br#"], "matrix": ""#).unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let block: Vec<u8> = (0..READ_BUFFER).map(|i| alphabet[i % 64]).collect();
        let mut left = groups * 4;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            w.write_all(&block[..n]).unwrap();
            left -= n as u64;
        }
        w.write_all(br#"QQ=="}"#).unwrap();
        w.flush().unwrap();
    }
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 300_000_000, "{size}");
    let before = peak_rss();
    let started = std::time::Instant::now();
    let f = parse_lightrag_file(&path).unwrap();
    let took = started.elapsed();
    let after = peak_rss();
    assert_eq!(
        (f.records, f.embedding_dim, f.matrix_rows),
        (Some(rows), Some(dim), Some(rows))
    );
    // One byte less: the closing brace is missing.
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(size - 1)
        .unwrap();
    let err = parse_lightrag_file(&path).unwrap_err();
    assert!(err.contains("truncated"), "{err}");
    let after_both = peak_rss();
    eprintln!(
        "big vdb: file {size} bytes, parsed in {took:?}; peak RSS {before} -> {after} -> {after_both} bytes"
    );
    assert!(
        after_both - before < 64 << 20,
        "peak RSS grew by {} bytes parsing a {size}-byte file",
        after_both - before
    );
}
