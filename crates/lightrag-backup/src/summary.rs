//! LightRAG summary computed while a file streams through the backup (no second pass, no
//! whole-file load): a push-based JSON scanner for `kv_store_*.json` / `vdb_*.json` and a
//! push-based XML tokenizer for GraphML. Both also validate structure, which is how a torn
//! (half-rewritten) LightRAG file is detected.

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
    pub stores: BTreeMap<String, StoreStats>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JState {
    Value,
    ArrValueOrEnd,
    ObjKeyOrEnd,
    ObjKey,
    Colon,
    AfterValue,
    Str,
    Token,
    End,
}

const CAP: usize = 64;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Push JSON scanner: validates structure and collects LightRAG counts.
#[derive(Debug)]
pub(crate) struct JsonScanner {
    kind: StoreKind,
    stack: Vec<u8>,
    state: JState,
    err: Option<String>,
    pos: u64,
    // current string
    str_is_key: bool,
    str_escape: bool,
    str_uni: u8,
    str_len: u64,
    str_last2: [u8; 2],
    str_cap: Vec<u8>,
    str_capturing: bool,
    /// Hash the current string (record keys when collecting).
    str_hashing: bool,
    str_hash: u64,
    collect: bool,
    keys: Vec<u64>,
    key3: Vec<u8>,
    // current number/literal
    tok: Vec<u8>,
    // paths
    key1: Vec<u8>,
    key2: Vec<u8>,
    data_array_open: bool,
    // stats
    top_is_object: bool,
    top_keys: u64,
    dim: Option<u64>,
    data_records: u64,
    data_seen: bool,
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
            pos: 0,
            str_is_key: false,
            str_escape: false,
            str_uni: 0,
            str_len: 0,
            str_last2: [0; 2],
            str_cap: Vec::new(),
            str_capturing: false,
            str_hashing: false,
            str_hash: FNV_OFFSET,
            collect: false,
            keys: Vec::new(),
            key3: Vec::new(),
            tok: Vec::new(),
            key1: Vec::new(),
            key2: Vec::new(),
            data_array_open: false,
            top_is_object: false,
            top_keys: 0,
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

    fn fail(&mut self, what: &str) {
        if self.err.is_none() {
            self.err = Some(format!("invalid JSON at byte {}: {what}", self.pos));
        }
    }

    fn start_string(&mut self, is_key: bool) {
        self.state = JState::Str;
        self.str_is_key = is_key;
        self.str_escape = false;
        self.str_uni = 0;
        self.str_len = 0;
        self.str_last2 = [0; 2];
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
    }

    fn hash_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.str_hash = (self.str_hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }

    fn end_string(&mut self) {
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
            if d == 1 && self.key1 == b"matrix" {
                let pad = self.str_last2.iter().filter(|&&c| c == b'=').count() as u64;
                self.matrix = Some((self.str_len, pad));
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
            self.state = JState::AfterValue;
        }
    }

    /// A value begins at the current depth.
    fn value_start(&mut self) {
        if self.stack.len() == 2 && self.data_array_open {
            self.data_records += 1;
        }
    }

    fn end_token(&mut self) {
        let t = std::mem::take(&mut self.tok);
        let ok = match t.as_slice() {
            b"true" | b"false" | b"null" | b"NaN" | b"Infinity" | b"-Infinity" => true,
            _ => {
                (t[0].is_ascii_digit() || t[0] == b'-')
                    && t.iter().all(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
            }
        };
        if !ok {
            self.fail("bad literal or number");
        } else if self.stack.len() == 1 && self.key1 == b"embedding_dim" {
            self.dim = std::str::from_utf8(&t).ok().and_then(|s| s.parse().ok());
        }
        self.tok = t;
        self.tok.clear();
        self.state = JState::AfterValue;
    }

    fn open(&mut self, c: u8) {
        if self.stack.is_empty() && c == b'{' {
            self.top_is_object = true;
        }
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
        if self.stack.len() > 100_000 {
            self.fail("nesting deeper than 100000");
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
        self.state = if self.stack.is_empty() {
            JState::End
        } else {
            JState::AfterValue
        };
    }

    fn begin_value(&mut self, c: u8) {
        match c {
            b'{' | b'[' => {
                self.value_start();
                self.open(c);
            }
            b'"' => {
                self.value_start();
                self.start_string(false);
            }
            b'-' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => {
                self.value_start();
                self.state = JState::Token;
                self.tok.clear();
                self.tok.push(c);
            }
            _ => self.fail("expected a value"),
        }
    }

    fn feed(&mut self, buf: &[u8]) {
        let mut i = 0;
        while i < buf.len() && self.err.is_none() {
            if self.state == JState::Str {
                // Fast path: jump to the next quote or backslash.
                if self.str_escape {
                    self.str_escape = false;
                    if self.str_hashing {
                        self.hash_bytes(&buf[i..=i]);
                    }
                    if buf[i] == b'u' {
                        self.str_uni = 4;
                    }
                    self.str_len += 1;
                    i += 1;
                    continue;
                }
                if self.str_uni > 0 {
                    if !buf[i].is_ascii_hexdigit() {
                        self.pos += i as u64;
                        self.fail("bad \\u escape");
                        return;
                    }
                    if self.str_hashing {
                        self.hash_bytes(&buf[i..=i]);
                    }
                    self.str_uni -= 1;
                    self.str_len += 1;
                    i += 1;
                    continue;
                }
                let rest = &buf[i..];
                let n = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                let content = &rest[..n];
                if !content.is_empty() {
                    self.str_len += content.len() as u64;
                    if content.len() >= 2 {
                        self.str_last2 = [content[content.len() - 2], content[content.len() - 1]];
                    } else {
                        self.str_last2 = [self.str_last2[1], content[0]];
                    }
                    if self.str_hashing {
                        self.hash_bytes(content);
                    }
                    if self.str_capturing && self.str_cap.len() < CAP {
                        let take = (CAP - self.str_cap.len()).min(content.len());
                        self.str_cap.extend_from_slice(&content[..take]);
                    }
                }
                i += n;
                if i < buf.len() {
                    if buf[i] == b'"' {
                        self.end_string();
                    } else {
                        self.str_escape = true;
                        self.str_len += 1;
                        self.str_last2 = [0; 2];
                        if self.str_hashing {
                            self.hash_bytes(b"\\");
                        }
                    }
                    i += 1;
                }
                continue;
            }
            let c = buf[i];
            if self.state == JState::Token {
                if c.is_ascii_alphanumeric() || b"+-.".contains(&c) {
                    if self.tok.len() < 64 {
                        self.tok.push(c);
                    }
                    i += 1;
                    continue;
                }
                self.end_token();
                continue; // reprocess c in AfterValue
            }
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
                continue;
            }
            self.pos_at(i);
            match self.state {
                JState::Value => self.begin_value(c),
                JState::ArrValueOrEnd => {
                    if c == b']' {
                        self.close();
                    } else {
                        self.begin_value(c);
                    }
                }
                JState::ObjKeyOrEnd => match c {
                    b'}' => self.close(),
                    b'"' => self.start_string(true),
                    _ => self.fail("expected a key or '}'"),
                },
                JState::ObjKey => {
                    if c == b'"' {
                        self.start_string(true);
                    } else {
                        self.fail("expected a key");
                    }
                }
                JState::Colon => {
                    if c == b':' {
                        self.state = JState::Value;
                    } else {
                        self.fail("expected ':'");
                    }
                }
                JState::AfterValue => match (self.stack.last(), c) {
                    (Some(b'{'), b',') => self.state = JState::ObjKey,
                    (Some(b'{'), b'}') => self.close(),
                    (Some(b'['), b',') => self.state = JState::Value,
                    (Some(b'['), b']') => self.close(),
                    _ => self.fail("expected ',' or a closing bracket"),
                },
                JState::End => self.fail("data after the end of the document"),
                JState::Str | JState::Token => {}
            }
            i += 1;
        }
        self.pos += buf.len() as u64;
    }

    fn pos_at(&mut self, _i: usize) {}

    fn finish(mut self) -> Result<StoreStats, String> {
        if self.state == JState::Token && self.stack.is_empty() {
            self.end_token();
            self.state = JState::End;
        }
        if let Some(e) = self.err {
            return Err(e);
        }
        if self.state != JState::End {
            return Err(if self.pos == 0 {
                "file is empty".to_owned()
            } else {
                format!(
                    "JSON document is truncated (ends inside a value at byte {})",
                    self.pos
                )
            });
        }
        if !self.top_is_object {
            return Err("top-level JSON value is not an object".to_owned());
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
