use std::fmt;

/// A secret string (API key, encryption key). `Debug` and `Display` print `"***"`; read the value
/// with [`Secret::expose`] only where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Never log or return what this gives.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` (an API key from a request, say) equals this secret, in constant
    /// time: see [`constant_time_eq`].
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

/// The one constant-time comparison of lightrag-ops, for API keys and other secrets.
///
/// Both values are hashed (BLAKE3) and the fixed-size digests compared in constant time
/// (`blake3::Hash`'s equality), so neither where the values first differ nor whether their
/// lengths differ shows in the time taken: there is no early return on a length mismatch.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    blake3::hash(a) == blake3::hash(b)
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.to_string(), "***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn matches_compares_whole_values() {
        let s = Secret::new("k1-secret");
        assert!(s.matches("k1-secret"));
        for wrong in [
            "",
            "k",
            "k1-secre",
            "k1-secret ",
            "k1-secrex",
            "K1-SECRET",
            "x1-secret",
        ] {
            assert!(!s.matches(wrong), "{wrong:?} matched");
        }
        assert!(Secret::new("").matches(""));
        assert!(!Secret::new("").matches("a"));
    }

    #[test]
    fn constant_time_eq_table() {
        let table: &[(&[u8], &[u8], bool)] = &[
            (b"", b"", true),
            (b"abc", b"abc", true),
            (b"abc", b"abd", false),
            (b"abc", b"ab", false),
            (b"ab", b"abc", false),
            (b"\0", b"", false),
            (&[0xff; 64], &[0xff; 64], true),
            (&[0xff; 64], &[0xff; 65], false),
        ];
        for (a, b, eq) in table {
            assert_eq!(constant_time_eq(a, b), *eq, "{a:?} vs {b:?}");
        }
    }
}
