//! LightRAG summary computed while a file streams through the backup (no second pass, no
//! whole-file load): a push-based JSON scanner for `kv_store_*.json` / `vdb_*.json` and a
//! push-based XML tokenizer for GraphML. Both also validate structure, which is how a torn
//! (half-rewritten) LightRAG file is detected; the JSON scanner is strict (grammar, UTF-8,
//! escapes, the vdb `matrix` as base64) with memory bounded whatever the file size. Public as
//! [`StoreScanner`], which recovery-point validation and health checks use too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What kind of LightRAG store a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StoreKind {
    /// `kv_store_*.json` (JsonKVStorage).
    KvStore,
    /// `kv_store_doc_status.json` (JsonDocStatusStorage).
    DocStatus,
    /// `vdb_*.json` (NanoVectorDB).
    VectorDb,
    /// `*.graphml` (NetworkX GraphML).
    GraphMl,
}

impl StoreKind {
    /// Classify a file by its name; `None` for files that are not LightRAG stores.
    pub(crate) fn classify(file_name: &str) -> Option<StoreKind> {
        if file_name.ends_with(".graphml") && file_name.len() > ".graphml".len() {
            Some(StoreKind::GraphMl)
        } else if !file_name.ends_with(".json") {
            None
        } else if file_name == "kv_store_doc_status.json" {
            Some(StoreKind::DocStatus)
        } else if file_name.starts_with("kv_store_") {
            Some(StoreKind::KvStore)
        } else if file_name.starts_with("vdb_") {
            Some(StoreKind::VectorDb)
        } else {
            None
        }
    }
}

/// Counts for one LightRAG store file. Fields that do not apply to the kind are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreStats {
    /// Store kind.
    pub kind: StoreKind,
    /// kv stores: top-level keys; vdb: records in `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// vdb: `embedding_dim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_dim: Option<u64>,
    /// vdb: decoded length of the base64 `matrix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix_bytes: Option<u64>,
    /// vdb: `matrix_bytes / (embedding_dim * 4)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix_rows: Option<u64>,
    /// graphml: `<node>` elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u64>,
    /// graphml: `<edge>` elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edges: Option<u64>,
    /// doc_status: documents per `status` value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status_counts: BTreeMap<String, u64>,
    /// doc_status: documents whose derived stores LightRAG is writing at this moment
    /// (`status` `processing` with `metadata.kg_write_state` `graph_mutation_started`, LightRAG
    /// ≥ 1.5): the other stores are mid-save until the status turns `processed`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub docs_mid_save: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl StoreStats {
    /// vdb consistency: matrix rows equal data records and the matrix length is whole rows.
    /// `None` when the file is not a vdb or lacks the fields.
    pub fn vdb_consistent(&self) -> Option<bool> {
        let (dim, rec, bytes) = (self.embedding_dim?, self.records?, self.matrix_bytes?);
        Some(bytes == rec * dim * 4)
    }
}

/// Graph-level summary of a snapshot: stats per LightRAG store file (keyed by relative path).
/// Counts that differ between stores (graph nodes vs vdb entities) are normal, not errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LightRagSummary {
    /// Relative path → stats.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, StoreStats>))]
    pub stores: Stores,
}

/// Store path → stats, sorted by path; serialised as a JSON object (as a `BTreeMap` would
/// be). A sorted vector rather than a `BTreeMap`: listings hold one per snapshot, and a
/// `BTreeMap` of a dozen stores takes ~5.5 KB (three 11-slot nodes) where this takes ~2 KB —
/// 10 000 snapshots listed took 90 MB with the map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stores(Vec<(String, StoreStats)>);

impl Stores {
    fn position(&self, path: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(p, _)| p.as_str().cmp(path))
    }
    /// The stats of `path`.
    pub fn get(&self, path: &str) -> Option<&StoreStats> {
        self.position(path).ok().map(|i| &self.0[i].1)
    }
    /// Sets the stats of `path`; returns the previous ones.
    pub fn insert(&mut self, path: String, stats: StoreStats) -> Option<StoreStats> {
        match self.position(&path) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, stats)),
            Err(i) => {
                self.0.insert(i, (path, stats));
                None
            }
        }
    }
    /// (path, stats) in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &StoreStats)> {
        self.0.iter().map(|(p, s)| (p, s))
    }
    /// Paths in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(p, _)| p)
    }
    /// Stats in path order.
    pub fn values(&self) -> impl Iterator<Item = &StoreStats> {
        self.0.iter().map(|(_, s)| s)
    }
    /// Number of stores.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::ops::Index<&str> for Stores {
    type Output = StoreStats;
    fn index(&self, path: &str) -> &StoreStats {
        self.get(path)
            .unwrap_or_else(|| panic!("no store `{path}` in the summary"))
    }
}

impl<'a> IntoIterator for &'a Stores {
    type Item = (&'a String, &'a StoreStats);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, StoreStats)>,
        fn(&'a (String, StoreStats)) -> (&'a String, &'a StoreStats),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(p, s)| (p, s))
    }
}

impl FromIterator<(String, StoreStats)> for Stores {
    fn from_iter<I: IntoIterator<Item = (String, StoreStats)>>(iter: I) -> Self {
        // Through a map: sorted, and the last of a repeated path wins (as with a BTreeMap).
        let map: BTreeMap<String, StoreStats> = iter.into_iter().collect();
        Stores(map.into_iter().collect())
    }
}

impl Serialize for Stores {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Stores {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, StoreStats>::deserialize(deserializer)?;
        let mut v = Vec::with_capacity(map.len());
        v.extend(map);
        Ok(Stores(v))
    }
}

impl LightRagSummary {
    fn by_name(&self, name: &str) -> Option<&StoreStats> {
        self.stores
            .iter()
            .find(|(p, _)| p.rsplit('/').next() == Some(name))
            .map(|(_, s)| s)
    }
    /// Documents as LightRAG counts them: the records of `kv_store_doc_status.json` (every
    /// document it knows, whatever its status), else of `kv_store_full_docs.json` (stores
    /// without a status file). full_docs can lag or lead doc_status by a document.
    pub fn docs(&self) -> Option<u64> {
        self.by_name("kv_store_doc_status.json")
            .and_then(|s| s.records)
            .or_else(|| self.by_name("kv_store_full_docs.json")?.records)
    }
    /// Text chunks (`kv_store_text_chunks.json` records).
    pub fn chunks(&self) -> Option<u64> {
        self.by_name("kv_store_text_chunks.json")?.records
    }
    /// Entities (graph nodes).
    pub fn entities(&self) -> Option<u64> {
        self.by_name("graph_chunk_entity_relation.graphml")?.nodes
    }
    /// Relations (graph edges).
    pub fn relations(&self) -> Option<u64> {
        self.by_name("graph_chunk_entity_relation.graphml")?.edges
    }
    /// Vectors over all vdb files (`data` records).
    pub fn vectors(&self) -> Option<u64> {
        let v: Vec<u64> = self
            .stores
            .values()
            .filter(|s| s.kind == StoreKind::VectorDb)
            .filter_map(|s| s.records)
            .collect();
        if v.is_empty() {
            None
        } else {
            Some(v.iter().sum())
        }
    }
    /// Document counts by status (`kv_store_doc_status.json`).
    pub fn doc_status(&self) -> BTreeMap<String, u64> {
        self.by_name("kv_store_doc_status.json")
            .map(|s| s.status_counts.clone())
            .unwrap_or_default()
    }
}

/// A streaming scanner for one LightRAG store file.
#[derive(Debug)]
pub(crate) enum Scanner {
    Json(Box<JsonScanner>),
    Xml(Box<XmlScanner>),
}

impl Scanner {
    pub(crate) fn new(kind: StoreKind) -> Scanner {
        match kind {
            StoreKind::GraphMl => Scanner::Xml(Box::default()),
            k => Scanner::Json(Box::new(JsonScanner::new(k))),
        }
    }
    /// A JSON scanner that also records a 64-bit hash of every record's identity (kv
    /// top-level keys, vdb `__id__`s); `None` for kinds without record ids (GraphML).
    pub(crate) fn new_collecting(kind: StoreKind) -> Option<Scanner> {
        match kind {
            StoreKind::GraphMl => None,
            k => {
                let mut s = JsonScanner::new(k);
                s.collect = true;
                Some(Scanner::Json(Box::new(s)))
            }
        }
    }

    /// Record identity hashes collected by a [`Scanner::new_collecting`] scanner.
    pub(crate) fn finish_keys(self) -> Result<Vec<u64>, String> {
        match self {
            Scanner::Json(mut s) => {
                let keys = std::mem::take(&mut s.keys);
                s.finish().map(|_| keys)
            }
            Scanner::Xml(_) => Ok(Vec::new()),
        }
    }

    pub(crate) fn feed(&mut self, buf: &[u8]) {
        match self {
            Scanner::Json(s) => s.feed(buf),
            Scanner::Xml(s) => s.feed(buf),
        }
    }
    /// The stats, or why the file does not parse.
    pub(crate) fn finish(self) -> Result<StoreStats, String> {
        match self {
            Scanner::Json(s) => s.finish(),
            Scanner::Xml(s) => s.finish(),
        }
    }
}

/// A strict, streaming parser of one LightRAG store file, the one the backup uses for its
/// summary: feed it the file in pieces of any size, then [`StoreScanner::finish`]. Memory stays
/// bounded whatever the file size (a vdb `matrix` is validated as base64 and measured as it
/// streams, never kept; `data` records are counted, not built).
///
/// JSON stores must be one JSON object in UTF-8 (Python's `NaN`, `Infinity` and `-Infinity`
/// are accepted, as LightRAG's `json` module reads them); a vdb must not repeat
/// `embedding_dim`, `data` or `matrix`, nor give them another type. Duplicate keys elsewhere
/// are counted as written. GraphML must be well-formed with one root element.
///
/// ```
/// use lightrag_backup::{StoreKind, StoreScanner};
/// let mut s = StoreScanner::new(StoreKind::VectorDb);
/// for piece in [&br#"{"embedding_dim": 1, "data": [{"__id__""#[..], br#": "a"}], "matrix": "AACAPw=="}"#] {
///     s.feed(piece);
/// }
/// let stats = s.finish().unwrap();
/// assert_eq!((stats.records, stats.matrix_bytes, stats.matrix_rows), (Some(1), Some(4), Some(1)));
/// ```
#[derive(Debug)]
pub struct StoreScanner(Scanner);

impl StoreScanner {
    /// A scanner for a store of `kind`.
    pub fn new(kind: StoreKind) -> Self {
        StoreScanner(Scanner::new(kind))
    }

    /// The next bytes of the file.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.0.feed(bytes);
    }

    /// The counts, or why the file does not parse (a clear message with the byte offset).
    pub fn finish(self) -> Result<StoreStats, String> {
        self.0.finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JState {
    /// A value is expected (document start, after ':', after ',' in an array).
    Value,
    /// After '[': a value or ']'.
    ArrValueOrEnd,
    /// After '{': a key or '}'.
    ObjKeyOrEnd,
    /// After ',' in an object: a key.
    ObjKey,
    /// After a key: ':'.
    Colon,
    /// After a value: ',' or the closing bracket.
    AfterValue,
    /// Inside a string.
    Str,
    /// Inside a number.
    Num(NumState),
    /// Inside `true`, `false`, `null`, `NaN`, `Infinity` or `-Infinity`.
    Literal,
    /// After the top-level value: only whitespace may follow.
    End,
}

/// Where a number is in the JSON grammar `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumState {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

impl NumState {
    /// The state after `c`, or `None` when `c` does not continue the number.
    fn step(self, c: u8) -> Option<NumState> {
        use NumState::*;
        let digit = c.is_ascii_digit();
        match (self, c) {
            (Minus, b'0') => Some(Zero),
            (Minus | Int, _) if digit => Some(Int),
            (Zero | Int, b'.') => Some(Dot),
            (Dot | Frac, _) if digit => Some(Frac),
            (Zero | Int | Frac, b'e' | b'E') => Some(Exp),
            (Exp, b'+' | b'-') => Some(ExpSign),
            (Exp | ExpSign | ExpDigits, _) if digit => Some(ExpDigits),
            _ => None,
        }
    }

    /// The number may end here.
    fn complete(self) -> bool {
        matches!(
            self,
            NumState::Zero | NumState::Int | NumState::Frac | NumState::ExpDigits
        )
    }
}

/// Escape state inside a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// After a backslash.
    Backslash,
    /// Inside `\uXXXX`: hex digits still to come and the value so far.
    Hex {
        left: u8,
        acc: u32,
    },
}

const CAP: usize = 64;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// Deepest nesting accepted (the scanner keeps one byte per level).
const MAX_DEPTH: usize = 100_000;

/// vdb top-level fields (a bit each, to reject duplicates).
const F_DIM: u8 = 1;
const F_DATA: u8 = 2;
const F_MATRIX: u8 = 4;

/// `b` is in the standard base64 alphabet (without `=`).
pub(crate) fn is_b64(b: u8) -> bool {
    b.wrapping_sub(b'A') < 26
        || b.wrapping_sub(b'a') < 26
        || b.wrapping_sub(b'0') < 10
        || b == b'+'
        || b == b'/'
}

/// Every byte of `s` is in the base64 alphabet (branch-free so it vectorises).
fn all_b64(s: &[u8]) -> bool {
    let mut ok = true;
    for &b in s {
        ok &= (b.wrapping_sub(b'A') < 26)
            | (b.wrapping_sub(b'a') < 26)
            | (b.wrapping_sub(b'0') < 10)
            | (b == b'+')
            | (b == b'/');
    }
    ok
}

/// `s` holds a byte below 0x20 (which JSON strings must escape).
fn has_control(s: &[u8]) -> bool {
    s.iter().fold(0xFF, |m: u8, &b| m.min(b)) < 0x20
}

/// Push JSON scanner: validates the document strictly (JSON grammar, UTF-8, plus `NaN`,
/// `Infinity` and `-Infinity`, which Python's `json` writes and reads) and collects LightRAG
/// counts. Memory is bounded whatever the document size: a few short captures, one byte per
/// nesting level, and (vdb) the base64 `matrix` is validated and measured, never kept.
#[derive(Debug)]
pub(crate) struct JsonScanner {
    kind: StoreKind,
    stack: Vec<u8>,
    state: JState,
    err: Option<String>,
    /// Bytes fed before the current buffer.
    base: u64,
    /// An incomplete UTF-8 sequence at the end of the previous buffer.
    utf8_tail: [u8; 4],
    utf8_tail_len: usize,
    // current string
    str_is_key: bool,
    esc: Escape,
    /// Decoded start of the current string (keys and the values LightRAG counts).
    str_cap: Vec<u8>,
    str_capturing: bool,
    /// Hash the current string (record keys when collecting).
    str_hashing: bool,
    str_hash: u64,
    /// The current string is the vdb `matrix`: validated as base64 while it streams.
    str_b64: bool,
    b64_chars: u64,
    b64_pad: u8,
    collect: bool,
    keys: Vec<u64>,
    key3: Vec<u8>,
    // current literal
    lit: &'static [u8],
    lit_pos: usize,
    // current number, while it is a non-negative integer that fits
    num_int: Option<u64>,
    // paths
    key1: Vec<u8>,
    key2: Vec<u8>,
    data_array_open: bool,
    // stats
    top_keys: u64,
    vdb_fields: u8,
    dim: Option<u64>,
    data_records: u64,
    data_seen: bool,
    /// vdb `matrix`: (base64 characters, `=` padding).
    matrix: Option<(u64, u64)>,
    status: BTreeMap<String, u64>,
    // doc_status: the current record's `status` and whether its graph mutation has started
    rec_status: Vec<u8>,
    rec_mutation: bool,
    docs_mid_save: u64,
}

impl JsonScanner {
    fn new(kind: StoreKind) -> Self {
        JsonScanner {
            kind,
            stack: Vec::with_capacity(16),
            state: JState::Value,
            err: None,
            base: 0,
            utf8_tail: [0; 4],
            utf8_tail_len: 0,
            str_is_key: false,
            esc: Escape::None,
            str_cap: Vec::new(),
            str_capturing: false,
            str_hashing: false,
            str_hash: FNV_OFFSET,
            str_b64: false,
            b64_chars: 0,
            b64_pad: 0,
            collect: false,
            keys: Vec::new(),
            key3: Vec::new(),
            lit: b"",
            lit_pos: 0,
            num_int: None,
            key1: Vec::new(),
            key2: Vec::new(),
            data_array_open: false,
            top_keys: 0,
            vdb_fields: 0,
            dim: None,
            data_records: 0,
            data_seen: false,
            matrix: None,
            status: BTreeMap::new(),
            rec_status: Vec::new(),
            rec_mutation: false,
            docs_mid_save: 0,
        }
    }

    /// Record the first error, at offset `i` of the current buffer.
    fn fail_at(&mut self, i: usize, what: &str) {
        if self.err.is_none() {
            self.err = Some(format!(
                "invalid JSON at byte {}: {what}",
                self.base + i as u64
            ));
        }
    }

    /// Validate `buf` as the continuation of a UTF-8 text.
    fn check_utf8(&mut self, buf: &[u8]) {
        let mut i = 0;
        if self.utf8_tail_len > 0 {
            let need = match self.utf8_tail[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            while self.utf8_tail_len < need && i < buf.len() {
                self.utf8_tail[self.utf8_tail_len] = buf[i];
                self.utf8_tail_len += 1;
                i += 1;
            }
            if self.utf8_tail_len < need {
                return;
            }
            self.utf8_tail_len = 0;
            if std::str::from_utf8(&self.utf8_tail[..need]).is_err() {
                self.fail_at(0, "invalid UTF-8");
                return;
            }
        }
        if let Err(e) = std::str::from_utf8(&buf[i..]) {
            let at = i + e.valid_up_to();
            if e.error_len().is_none() {
                // Incomplete at the end: the next buffer completes it.
                let tail = &buf[at..];
                self.utf8_tail[..tail.len()].copy_from_slice(tail);
                self.utf8_tail_len = tail.len();
            } else {
                self.fail_at(at, "invalid UTF-8");
            }
        }
    }

    fn start_string(&mut self, is_key: bool) {
        self.state = JState::Str;
        self.str_is_key = is_key;
        self.esc = Escape::None;
        self.str_cap.clear();
        let d = self.stack.len();
        self.str_capturing = if is_key {
            d <= 3
        } else {
            self.kind == StoreKind::DocStatus
                && ((d == 2 && self.key2 == b"status")
                    || (d == 3 && self.key2 == b"metadata" && self.key3 == b"kg_write_state"))
        };
        // Record identity: top-level keys of kv stores, `__id__` of vdb `data` records.
        self.str_hashing = self.collect
            && if self.kind == StoreKind::VectorDb {
                !is_key
                    && d == 3
                    && self.data_array_open
                    && self.stack[2] == b'{'
                    && self.key3 == b"__id__"
            } else {
                is_key && d == 1
            };
        self.str_hash = FNV_OFFSET;
        self.str_b64 =
            !is_key && d == 1 && self.kind == StoreKind::VectorDb && self.key1 == b"matrix";
        self.b64_chars = 0;
        self.b64_pad = 0;
    }

    fn hash_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.str_hash = (self.str_hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }

    /// One character of the `matrix` string, at offset `i` of the current buffer.
    fn b64_byte(&mut self, i: usize, b: u8) {
        if b == b'=' {
            self.b64_pad += 1;
            if self.b64_pad > 2 {
                self.fail_at(i, "matrix base64 has too much '=' padding");
            }
        } else if !is_b64(b) {
            let what = format!(
                "matrix base64 has an invalid character {:?} at offset {} of the string",
                char::from(b),
                self.b64_chars
            );
            self.fail_at(i, &what);
        } else if self.b64_pad > 0 {
            self.fail_at(i, "matrix base64 continues after its '=' padding");
        }
        self.b64_chars += 1;
    }

    /// Raw (unescaped) string content at offset `i` of the current buffer.
    fn str_content(&mut self, i: usize, content: &[u8]) {
        if self.str_b64 {
            if self.b64_pad == 0 && all_b64(content) {
                self.b64_chars += content.len() as u64;
            } else {
                for (k, &b) in content.iter().enumerate() {
                    self.b64_byte(i + k, b);
                    if self.err.is_some() {
                        return;
                    }
                }
            }
        } else if has_control(content) {
            let p = content.iter().position(|&b| b < 0x20).unwrap_or(0);
            self.fail_at(i + p, "unescaped control character in a string");
            return;
        }
        if self.str_hashing {
            self.hash_bytes(content);
        }
        if self.str_capturing && self.str_cap.len() < CAP {
            let take = (CAP - self.str_cap.len()).min(content.len());
            self.str_cap.extend_from_slice(&content[..take]);
        }
    }

    /// A character given by an escape sequence ending at offset `i` of the current buffer.
    fn str_escaped(&mut self, i: usize, cp: u32) {
        if self.str_b64 {
            match u8::try_from(cp) {
                Ok(b) if b.is_ascii() => self.b64_byte(i, b),
                _ => self.fail_at(i, "matrix base64 has a non-ASCII escaped character"),
            }
        }
        if self.str_capturing && self.str_cap.len() < CAP {
            // Lone surrogates (valid JSON escapes) become U+FFFD in the capture.
            let ch = char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut utf8 = [0u8; 4];
            let s = ch.encode_utf8(&mut utf8).as_bytes();
            let take = (CAP - self.str_cap.len()).min(s.len());
            self.str_cap.extend_from_slice(&s[..take]);
        }
    }

    /// Consume string bytes from `buf[i..]`; returns where the string (or `buf`) ends.
    fn feed_str(&mut self, buf: &[u8], mut i: usize) -> usize {
        while i < buf.len() && self.err.is_none() {
            match self.esc {
                Escape::Backslash => {
                    let c = buf[i];
                    if self.str_hashing {
                        self.hash_bytes(&[c]);
                    }
                    let decoded = match c {
                        b'"' | b'\\' | b'/' => c,
                        b'b' => 0x08,
                        b'f' => 0x0C,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            self.esc = Escape::Hex { left: 4, acc: 0 };
                            i += 1;
                            continue;
                        }
                        _ => {
                            self.fail_at(i, "invalid escape sequence in a string");
                            return buf.len();
                        }
                    };
                    self.esc = Escape::None;
                    self.str_escaped(i, u32::from(decoded));
                    i += 1;
                }
                Escape::Hex { left, acc } => {
                    let c = buf[i];
                    let Some(v) = char::from(c).to_digit(16) else {
                        self.fail_at(i, "bad \\u escape (4 hex digits expected)");
                        return buf.len();
                    };
                    if self.str_hashing {
                        self.hash_bytes(&[c]);
                    }
                    let acc = acc * 16 + v;
                    if left == 1 {
                        self.esc = Escape::None;
                        self.str_escaped(i, acc);
                    } else {
                        self.esc = Escape::Hex {
                            left: left - 1,
                            acc,
                        };
                    }
                    i += 1;
                }
                Escape::None => {
                    let rest = &buf[i..];
                    let n = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                    if n > 0 {
                        self.str_content(i, &rest[..n]);
                    }
                    i += n;
                    if i < buf.len() && self.err.is_none() {
                        if buf[i] == b'"' {
                            self.end_string(i);
                            return i + 1;
                        }
                        self.esc = Escape::Backslash;
                        if self.str_hashing {
                            self.hash_bytes(b"\\");
                        }
                        i += 1;
                    }
                }
            }
        }
        i
    }

    fn end_string(&mut self, i: usize) {
        let d = self.stack.len();
        if self.str_is_key {
            if d == 1 {
                self.top_keys += 1;
                self.key1.clear();
                self.key1.extend_from_slice(&self.str_cap);
            } else if d == 2 {
                self.key2.clear();
                self.key2.extend_from_slice(&self.str_cap);
            } else if d == 3 {
                self.key3.clear();
                self.key3.extend_from_slice(&self.str_cap);
            }
            if self.str_hashing {
                self.keys.push(self.str_hash);
            }
            self.state = JState::Colon;
        } else {
            if self.str_b64 {
                if !self.b64_chars.is_multiple_of(4) {
                    let what = format!(
                        "matrix base64 length {} is not a multiple of 4 (truncated?)",
                        self.b64_chars
                    );
                    self.fail_at(i, &what);
                }
                self.matrix = Some((self.b64_chars, u64::from(self.b64_pad)));
            }
            if self.str_capturing && d == 2 {
                let s = String::from_utf8_lossy(&self.str_cap).into_owned();
                *self.status.entry(s).or_default() += 1;
                self.rec_status.clear();
                self.rec_status.extend_from_slice(&self.str_cap);
            } else if self.str_capturing {
                self.rec_mutation = self.str_cap == b"graph_mutation_started";
            }
            if self.str_hashing {
                self.keys.push(self.str_hash);
            }
            self.after_value();
        }
    }

    fn after_value(&mut self) {
        self.state = if self.stack.is_empty() {
            JState::End
        } else {
            JState::AfterValue
        };
    }

    fn end_number(&mut self, i: usize) {
        if self.kind == StoreKind::VectorDb
            && self.stack.len() == 1
            && self.key1 == b"embedding_dim"
        {
            match self.num_int {
                Some(d) => self.dim = Some(d),
                None => self.fail_at(i, "`embedding_dim` is not a non-negative integer"),
            }
        }
        self.after_value();
    }

    fn open(&mut self, i: usize, c: u8) {
        if c == b'[' && self.stack.len() == 1 && self.key1 == b"data" {
            self.data_array_open = true;
            self.data_seen = true;
        }
        self.stack.push(c);
        if self.stack.len() == 2 {
            // A doc_status record begins.
            self.rec_status.clear();
            self.rec_mutation = false;
        }
        self.state = if c == b'{' {
            JState::ObjKeyOrEnd
        } else {
            JState::ArrValueOrEnd
        };
        if self.stack.len() > MAX_DEPTH {
            self.fail_at(i, "nesting deeper than 100000 levels");
        }
    }

    fn close(&mut self) {
        if self.stack.len() == 2
            && self.kind == StoreKind::DocStatus
            && self.rec_mutation
            && self.rec_status == b"processing"
        {
            self.docs_mid_save += 1;
        }
        self.stack.pop();
        if self.stack.len() == 1 {
            self.data_array_open = false;
        }
        self.after_value();
    }

    /// A top-level member of a vdb file begins with `c`: reject duplicates and wrong types of
    /// the fields NanoVectorDB reads.
    fn vdb_field(&mut self, i: usize, c: u8) {
        let (bit, name, ok, want) = match self.key1.as_slice() {
            b"embedding_dim" => (
                F_DIM,
                "embedding_dim",
                c.is_ascii_digit() || c == b'-',
                "a non-negative integer",
            ),
            b"data" => (F_DATA, "data", c == b'[', "an array"),
            b"matrix" => (F_MATRIX, "matrix", c == b'"', "a base64 string"),
            _ => return,
        };
        if self.vdb_fields & bit != 0 {
            self.fail_at(i, &format!("duplicate field `{name}`"));
        } else if !ok {
            self.fail_at(i, &format!("`{name}` must be {want}"));
        }
        self.vdb_fields |= bit;
    }

    fn begin_value(&mut self, i: usize, c: u8) {
        match self.stack.len() {
            0 if c != b'{' => {
                self.fail_at(i, "the top-level JSON value is not an object");
                return;
            }
            1 if self.kind == StoreKind::VectorDb => {
                self.vdb_field(i, c);
                if self.err.is_some() {
                    return;
                }
            }
            2 if self.data_array_open => self.data_records += 1,
            _ => {}
        }
        let literal = |lit: &'static [u8]| (lit, 1);
        let (lit, num) = match c {
            b'{' | b'[' => return self.open(i, c),
            b'"' => return self.start_string(false),
            b'-' => (None, Some((NumState::Minus, None))),
            b'0' => (None, Some((NumState::Zero, Some(0)))),
            b'1'..=b'9' => (None, Some((NumState::Int, Some(u64::from(c - b'0'))))),
            b't' => (Some(literal(b"true")), None),
            b'f' => (Some(literal(b"false")), None),
            b'n' => (Some(literal(b"null")), None),
            b'N' => (Some(literal(b"NaN")), None),
            b'I' => (Some(literal(b"Infinity")), None),
            _ => {
                self.fail_at(i, "expected a value");
                return;
            }
        };
        if let Some((lit, pos)) = lit {
            self.lit = lit;
            self.lit_pos = pos;
            self.state = JState::Literal;
        }
        if let Some((st, int)) = num {
            self.num_int = int;
            self.state = JState::Num(st);
        }
    }

    fn feed(&mut self, buf: &[u8]) {
        if self.err.is_none() {
            self.check_utf8(buf);
        }
        let mut i = 0;
        while i < buf.len() && self.err.is_none() {
            let c = buf[i];
            match self.state {
                JState::Str => {
                    i = self.feed_str(buf, i);
                    continue;
                }
                JState::Num(ns) => {
                    if ns == NumState::Minus && c == b'I' {
                        self.lit = b"-Infinity";
                        self.lit_pos = 2;
                        self.state = JState::Literal;
                    } else if let Some(next) = ns.step(c) {
                        self.num_int = match next {
                            NumState::Int => self
                                .num_int
                                .and_then(|n| n.checked_mul(10)?.checked_add(u64::from(c - b'0'))),
                            _ => None,
                        };
                        self.state = JState::Num(next);
                    } else if ns == NumState::Zero && c.is_ascii_digit() {
                        self.fail_at(i, "number with a leading zero");
                    } else if !ns.complete() {
                        self.fail_at(i, "incomplete number");
                    } else {
                        self.end_number(i);
                        continue; // `c` follows the number
                    }
                    i += 1;
                    continue;
                }
                JState::Literal => {
                    if c == self.lit[self.lit_pos] {
                        self.lit_pos += 1;
                        if self.lit_pos == self.lit.len() {
                            self.after_value();
                        }
                    } else {
                        self.fail_at(i, "invalid literal (true, false, null, NaN, Infinity)");
                    }
                    i += 1;
                    continue;
                }
                _ => {}
            }
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
                continue;
            }
            match self.state {
                JState::Value => self.begin_value(i, c),
                JState::ArrValueOrEnd => {
                    if c == b']' {
                        self.close();
                    } else {
                        self.begin_value(i, c);
                    }
                }
                JState::ObjKeyOrEnd => match c {
                    b'}' => self.close(),
                    b'"' => self.start_string(true),
                    _ => self.fail_at(i, "expected a key or '}'"),
                },
                JState::ObjKey => {
                    if c == b'"' {
                        self.start_string(true);
                    } else {
                        self.fail_at(i, "expected a key");
                    }
                }
                JState::Colon => {
                    if c == b':' {
                        self.state = JState::Value;
                    } else {
                        self.fail_at(i, "expected ':'");
                    }
                }
                JState::AfterValue => match (self.stack.last(), c) {
                    (Some(b'{'), b',') => self.state = JState::ObjKey,
                    (Some(b'{'), b'}') | (Some(b'['), b']') => self.close(),
                    (Some(b'['), b',') => self.state = JState::Value,
                    (Some(b'{'), _) => self.fail_at(i, "expected ',' or '}'"),
                    _ => self.fail_at(i, "expected ',' or ']'"),
                },
                JState::End => self.fail_at(i, "data after the end of the document"),
                JState::Str | JState::Num(_) | JState::Literal => {}
            }
            i += 1;
        }
        self.base += buf.len() as u64;
    }

    fn finish(mut self) -> Result<StoreStats, String> {
        if let Some(e) = self.err.take() {
            return Err(e);
        }
        if self.utf8_tail_len > 0 {
            return Err(format!(
                "JSON document is truncated: the file ends inside a UTF-8 sequence at byte {}",
                self.base
            ));
        }
        if self.state != JState::End {
            let inside = match self.state {
                JState::Value if self.stack.is_empty() => {
                    return Err("file is empty (no JSON value)".to_owned());
                }
                JState::Str => "inside a string",
                JState::Num(_) | JState::Literal => "inside a number or literal",
                JState::Colon => "after a key",
                _ => "before the closing brackets",
            };
            return Err(format!(
                "JSON document is truncated: the file ends {inside} at byte {} ({} brackets open)",
                self.base,
                self.stack.len()
            ));
        }
        let mut st = StoreStats {
            kind: self.kind,
            records: Some(self.top_keys),
            embedding_dim: None,
            matrix_bytes: None,
            matrix_rows: None,
            nodes: None,
            edges: None,
            status_counts: BTreeMap::new(),
            docs_mid_save: 0,
        };
        match self.kind {
            StoreKind::VectorDb => {
                st.records = self.data_seen.then_some(self.data_records);
                st.embedding_dim = self.dim;
                if let Some((len, pad)) = self.matrix {
                    let bytes = (len / 4 * 3).saturating_sub(pad);
                    st.matrix_bytes = Some(bytes);
                    st.matrix_rows = self.dim.filter(|&d| d > 0).map(|d| bytes / (d * 4));
                }
            }
            StoreKind::DocStatus => {
                st.status_counts = self.status;
                st.docs_mid_save = self.docs_mid_save;
            }
            _ => {}
        }
        Ok(st)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum XState {
    #[default]
    Text,
    Lt,
    Bang,
    Comment,
    CData,
    Decl,
    Pi,
    StartName,
    EndName,
    InTag,
    InEndTag,
}

/// Push XML tokenizer: checks nesting and counts `<node>` / `<edge>`.
#[derive(Debug, Default)]
pub(crate) struct XmlScanner {
    state: XState,
    quote: u8,
    last: [u8; 2],
    bang: Vec<u8>,
    name: Vec<u8>,
    stack: Vec<Vec<u8>>,
    root_seen: bool,
    root_closed: bool,
    nodes: u64,
    edges: u64,
    pos: u64,
    err: Option<String>,
}

impl XmlScanner {
    fn fail(&mut self, what: String) {
        if self.err.is_none() {
            self.err = Some(format!("invalid XML near byte {}: {what}", self.pos));
        }
    }

    fn local(name: &[u8]) -> &[u8] {
        match name.iter().rposition(|&c| c == b':') {
            Some(i) => &name[i + 1..],
            None => name,
        }
    }

    fn start_element(&mut self, empty: bool) {
        let name = std::mem::take(&mut self.name);
        if self.root_closed {
            self.fail("second root element".into());
        }
        self.root_seen = true;
        match Self::local(&name) {
            b"node" => self.nodes += 1,
            b"edge" => self.edges += 1,
            _ => {}
        }
        if empty {
            if self.stack.is_empty() {
                self.root_closed = true;
            }
        } else {
            self.stack.push(name);
        }
    }

    fn end_element(&mut self) {
        let name = std::mem::take(&mut self.name);
        match self.stack.pop() {
            Some(open) if open == name => {
                if self.stack.is_empty() {
                    self.root_closed = true;
                }
            }
            Some(open) => self.fail(format!(
                "</{}> closes <{}>",
                String::from_utf8_lossy(&name),
                String::from_utf8_lossy(&open)
            )),
            None => self.fail("end tag without start tag".into()),
        }
    }

    fn feed(&mut self, buf: &[u8]) {
        for &c in buf {
            if self.err.is_some() {
                return;
            }
            self.pos += 1;
            match self.state {
                XState::Text => {
                    if c == b'<' {
                        self.state = XState::Lt;
                    } else if self.stack.is_empty()
                        && !c.is_ascii_whitespace()
                        && c != 0xEF
                        && c != 0xBB
                        && c != 0xBF
                    {
                        self.fail("text outside the root element".into());
                    }
                }
                XState::Lt => match c {
                    b'/' => {
                        self.name.clear();
                        self.state = XState::EndName;
                    }
                    b'?' => {
                        self.last = [0; 2];
                        self.state = XState::Pi;
                    }
                    b'!' => {
                        self.bang.clear();
                        self.state = XState::Bang;
                    }
                    c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                        self.name.clear();
                        self.name.push(c);
                        self.state = XState::StartName;
                    }
                    _ => self.fail("bad character after '<'".into()),
                },
                XState::Bang => {
                    self.bang.push(c);
                    if self.bang == b"--" {
                        self.last = [0; 2];
                        self.state = XState::Comment;
                    } else if self.bang == b"[CDATA[" {
                        self.last = [0; 2];
                        self.state = XState::CData;
                    } else if self.bang.len() >= 7 || (self.bang[0] != b'-' && self.bang[0] != b'[')
                    {
                        self.state = XState::Decl;
                        self.quote = 0;
                    }
                }
                XState::Comment => {
                    if c == b'>' && self.last == *b"--" {
                        self.state = XState::Text;
                    }
                    self.last = [self.last[1], c];
                }
                XState::CData => {
                    if c == b'>' && self.last == *b"]]" {
                        self.state = XState::Text;
                    }
                    self.last = [self.last[1], c];
                }
                XState::Pi => {
                    if c == b'>' && self.last[1] == b'?' {
                        self.state = XState::Text;
                    }
                    self.last = [self.last[1], c];
                }
                XState::Decl => {
                    if c == b'[' {
                        self.quote = self.quote.saturating_add(1);
                    } else if c == b']' {
                        self.quote = self.quote.saturating_sub(1);
                    } else if c == b'>' && self.quote == 0 {
                        self.state = XState::Text;
                    }
                }
                XState::StartName => match c {
                    b'>' => {
                        self.start_element(false);
                        self.state = XState::Text;
                    }
                    b'/' | b' ' | b'\t' | b'\r' | b'\n' => {
                        self.quote = 0;
                        self.last = [0, c];
                        self.state = XState::InTag;
                    }
                    _ => {
                        if self.name.len() < 256 {
                            self.name.push(c);
                        }
                    }
                },
                XState::InTag => {
                    if self.quote != 0 {
                        if c == self.quote {
                            self.quote = 0;
                        }
                    } else if c == b'"' || c == b'\'' {
                        self.quote = c;
                    } else if c == b'>' {
                        let empty = self.last[1] == b'/';
                        self.start_element(empty);
                        self.state = XState::Text;
                    } else if c == b'<' {
                        self.fail("'<' inside a tag".into());
                    }
                    if !c.is_ascii_whitespace() {
                        self.last = [self.last[1], c];
                    }
                }
                XState::EndName => match c {
                    b'>' => {
                        self.end_element();
                        self.state = XState::Text;
                    }
                    b' ' | b'\t' | b'\r' | b'\n' => self.state = XState::InEndTag,
                    _ => {
                        if self.name.len() < 256 {
                            self.name.push(c);
                        }
                    }
                },
                XState::InEndTag => {
                    if c == b'>' {
                        self.end_element();
                        self.state = XState::Text;
                    } else if !c.is_ascii_whitespace() {
                        self.fail("junk in an end tag".into());
                    }
                }
            }
        }
    }

    fn finish(self) -> Result<StoreStats, String> {
        if let Some(e) = self.err {
            return Err(e);
        }
        if !self.root_seen {
            return Err("no XML root element (empty or truncated file)".to_owned());
        }
        if !self.root_closed || self.state != XState::Text {
            return Err(format!(
                "XML document is truncated ({} elements still open)",
                self.stack.len()
            ));
        }
        Ok(StoreStats {
            kind: StoreKind::GraphMl,
            records: None,
            embedding_dim: None,
            matrix_bytes: None,
            matrix_rows: None,
            nodes: Some(self.nodes),
            edges: Some(self.edges),
            status_counts: BTreeMap::new(),
            docs_mid_save: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(kind: StoreKind, data: &[u8], step: usize) -> Result<StoreStats, String> {
        let mut s = Scanner::new(kind);
        for part in data.chunks(step.max(1)) {
            s.feed(part);
        }
        s.finish()
    }

    #[test]
    fn kv_counts_any_split() {
        let doc = b"{\r\n  \"a\": {\"x\": [1, 2.5e3, -1, true, null], \"s\": \"q\\\"\\u0000z\"},\r\n  \"b\": {}, \"c\": \"\"\r\n}";
        for step in 1..8 {
            let st = scan(StoreKind::KvStore, doc, step).unwrap();
            assert_eq!(st.records, Some(3), "step {step}");
        }
        assert_eq!(scan(StoreKind::KvStore, b"{}", 1).unwrap().records, Some(0));
    }

    #[test]
    fn truncated_and_bad_json_rejected() {
        let doc = br#"{"a": {"b": [1, 2]}, "c": "xyz"}"#;
        for cut in 0..doc.len() {
            assert!(
                scan(StoreKind::KvStore, &doc[..cut], 3).is_err(),
                "cut {cut}"
            );
        }
        assert!(scan(StoreKind::KvStore, br#"{"a" 1}"#, 2).is_err());
        assert!(scan(StoreKind::KvStore, br#"{"a": 1}}"#, 2).is_err());
        assert!(scan(StoreKind::KvStore, br#"[1]"#, 2).is_err());
        assert!(scan(StoreKind::KvStore, b"{\"a\": 1}\x00\x00", 2).is_err());
    }

    #[test]
    fn strict_json_and_base64_at_any_split() {
        let ok: [&[u8]; 4] = [
            br#"{"embedding_dim": 1, "data": [{"v": [NaN, -Infinity, 1e-3]}], "matrix": "AACAPw=="}"#,
            br#"{"embedding_dim": 1, "data": [{}], "matrix": "AACA\u0050w=="}"#,
            "{\"clé 中\": \"😀\\u00e9\\ud800\"}".as_bytes(),
            b"{\"a\": -0.5E+2}",
        ];
        let bad: [&[u8]; 10] = [
            br#"{"embedding_dim": 1, "data": [{}], "matrix": "AACA*w=="}"#,
            br#"{"embedding_dim": 1, "data": [{}], "matrix": "AACAPw="}"#,
            br#"{"embedding_dim": 1, "data": [{}], "matrix": "AA=APw=="}"#,
            br#"{"embedding_dim": 1, "data": [{}], "data": [], "matrix": "AACAPw=="}"#,
            br#"{"embedding_dim": 1.5, "data": [{}], "matrix": "AACAPw=="}"#,
            b"{\"a\": \"\xc3\"}",
            b"{\"a\": \"\t\"}",
            br#"{"a": "\q"}"#,
            br#"{"a": 01}"#,
            br#"{"a": Infinit}"#,
        ];
        for step in [1, 2, 3, 5, 1000] {
            for doc in ok {
                assert!(
                    scan(StoreKind::VectorDb, doc, step).is_ok(),
                    "{step} {doc:?}"
                );
            }
            for doc in bad {
                assert!(
                    scan(StoreKind::VectorDb, doc, step).is_err(),
                    "{step} {doc:?}"
                );
            }
        }
        let st = scan(StoreKind::VectorDb, ok[1], 3).unwrap();
        assert_eq!((st.matrix_bytes, st.matrix_rows), (Some(4), Some(1)));
    }

    #[test]
    fn vdb_and_doc_status() {
        let doc = br#"{"embedding_dim": 2, "data": [{"__id__": "a", "v": [1]}, {"__id__": "b"}, {"__id__": "c"}], "matrix": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
        // 44 base64 chars, no padding -> 33 bytes? use a padded one instead below
        let st = scan(StoreKind::VectorDb, doc, 5).unwrap();
        assert_eq!(st.records, Some(3));
        assert_eq!(st.embedding_dim, Some(2));
        assert_eq!(st.matrix_bytes, Some(33));
        let doc2 = br#"{"embedding_dim": 1, "data": [{"__id__": "a"}], "matrix": "AACAPw=="}"#;
        let st = scan(StoreKind::VectorDb, doc2, 1).unwrap();
        assert_eq!(
            (st.matrix_bytes, st.matrix_rows, st.vdb_consistent()),
            (Some(4), Some(1), Some(true))
        );
        let ds = br#"{"d1": {"status": "processed", "x": {"status": "nested"}}, "d2": {"status": "failed"}, "d3": {"status": "failed"}}"#;
        let st = scan(StoreKind::DocStatus, ds, 4).unwrap();
        assert_eq!(st.records, Some(3));
        assert_eq!(st.status_counts.get("failed"), Some(&2));
        assert_eq!(st.status_counts.get("processed"), Some(&1));
        assert_eq!(st.status_counts.len(), 2);
        assert_eq!(st.docs_mid_save, 0);
    }

    #[test]
    fn doc_status_counts_documents_whose_derived_stores_are_being_written() {
        // LightRAG 1.5: `processing` + `graph_mutation_started` from the start of the graph
        // mutation until the flush ends and the status turns `processed` (which keeps the
        // write state). Key order within a record does not matter; nested look-alikes do not
        // count.
        let ds = br#"{
          "d1": {"status": "processed", "metadata": {"kg_write_state": "graph_mutation_started"}},
          "d2": {"metadata": {"kg_write_state": "graph_mutation_started", "x": 1}, "status": "processing"},
          "d3": {"status": "processing", "metadata": {"kg_write_state": "pre_graph"}},
          "d4": {"status": "processing", "chunks_list": ["c"], "metadata": {"kg_write_state": "graph_mutation_started"}},
          "d5": {"status": "pending", "x": {"status": "processing", "metadata": {"kg_write_state": "graph_mutation_started"}}},
          "d6": {"status": "failed", "metadata": {"kg_write_state": "graph_mutation_started"}}
        }"#;
        for piece in [1, 3, 7, 1000] {
            let st = scan(StoreKind::DocStatus, ds, piece).unwrap();
            assert_eq!(st.docs_mid_save, 2, "piece {piece}");
            assert_eq!(st.status_counts.get("processing"), Some(&3));
        }
        // Only doc_status stores look at it.
        let st = scan(StoreKind::KvStore, ds, 5).unwrap();
        assert_eq!(st.docs_mid_save, 0);
    }

    #[test]
    fn graphml() {
        let doc = br#"<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><!-- <node id="x"/> -->
<key id="d0" for="node" attr.name="a&gt;b" attr.type="string"/>
<graph edgedefault="undirected"><node id="&quot;SCROOGE&quot;"><data key="d0">a &lt; b</data></node>
<node id="B"/><edge source="&quot;SCROOGE&quot;" target="B"><data key="d0">x > y</data></edge>
</graph></graphml>
"#;
        for step in [1, 3, 7, 1000] {
            let st = scan(StoreKind::GraphMl, doc, step).unwrap();
            assert_eq!((st.nodes, st.edges), (Some(2), Some(1)));
        }
        for cut in 1..doc.len() - 1 {
            assert!(
                scan(StoreKind::GraphMl, &doc[..cut], 64).is_err(),
                "cut {cut}"
            );
        }
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    fn keys(kind: StoreKind, doc: &[u8], step: usize) -> Vec<u64> {
        let mut s = Scanner::new_collecting(kind).unwrap();
        for p in doc.chunks(step) {
            s.feed(p);
        }
        s.finish_keys().unwrap()
    }

    #[test]
    fn record_identities_are_split_independent() {
        let kv = br#"{"doc-1": {"content": "a", "nested": {"doc-1": 1}}, "doc-\"2\"": {}, "d\u00e9": 3}"#;
        let whole = keys(StoreKind::KvStore, kv, kv.len());
        assert_eq!(whole.len(), 3);
        for step in 1..6 {
            assert_eq!(keys(StoreKind::KvStore, kv, step), whole);
        }
        let vdb = br#"{"embedding_dim": 1, "data": [{"__id__": "ent-a", "x": {"__id__": "no"}}, {"src": "q", "__id__": "ent-b"}], "matrix": "AAAAAAAAAAA="}"#;
        let v = keys(StoreKind::VectorDb, vdb, 3);
        assert_eq!(v.len(), 2);
        assert_ne!(v[0], v[1]);
        assert_eq!(v, keys(StoreKind::VectorDb, vdb, 1000));
    }
}
