//! Object keys of a repository (see `docs/repository-format.md`): strict parsing, so a
//! receiver accepts only the repository's own key shapes.

use crate::error::{ReplicationError, Result};

/// The repository config object.
pub const CONFIG_KEY: &str = "config";
/// Prefix of data packs.
pub const DATA_PREFIX: &str = "data/";
/// Prefix of index files.
pub const INDEX_PREFIX: &str = "index/";
/// Prefix of snapshot manifests.
pub const SNAPSHOT_PREFIX: &str = "snapshots/";

/// What an object key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectKind {
    /// `config`.
    Config,
    /// `data/<aa>/<64 hex pack id>`: content-addressed (BLAKE3 of the whole object).
    Pack {
        /// The pack id (lowercase hex).
        id: String,
    },
    /// `index/<hex>`.
    Index,
    /// `snapshots/<graph id>/<snapshot id>`.
    Snapshot {
        /// Graph id.
        graph: String,
        /// Snapshot id.
        id: String,
    },
}

fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn invalid_key(key: &str, why: &str) -> ReplicationError {
    // Keys come from the network: show at most a bounded prefix, escaped.
    let shown: String = key.chars().take(120).collect();
    ReplicationError::invalid(
        "object key",
        format!(
            "{shown:?}: {why}; accepted: config, data/<aa>/<64 hex>, index/<hex>, snapshots/<graph id>/<snapshot id>"
        ),
    )
}

/// Parse and validate an object key. Anything else (`..`, `locks/`, unknown prefixes,
/// upper-case hex, extra segments) is [`ReplicationError::InvalidInput`].
pub fn parse_key(key: &str) -> Result<ObjectKind> {
    if key.len() > 300 {
        return Err(invalid_key(key, "too long"));
    }
    if key == CONFIG_KEY {
        return Ok(ObjectKind::Config);
    }
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        ["data", aa, id] => {
            if id.len() != 64 || !is_lower_hex(id) || aa.len() != 2 || !id.starts_with(aa) {
                return Err(invalid_key(key, "bad pack key"));
            }
            Ok(ObjectKind::Pack {
                id: (*id).to_owned(),
            })
        }
        ["index", id] => {
            if id.len() < 8 || id.len() > 128 || !is_lower_hex(id) {
                return Err(invalid_key(key, "bad index key"));
            }
            Ok(ObjectKind::Index)
        }
        ["snapshots", graph, id] => {
            if lightrag_backup::validate_graph_id(graph).is_err() {
                return Err(invalid_key(key, "bad graph id"));
            }
            if snapshot_time_ms(id).is_none() {
                return Err(invalid_key(key, "bad snapshot id"));
            }
            Ok(ObjectKind::Snapshot {
                graph: (*graph).to_owned(),
                id: (*id).to_owned(),
            })
        }
        _ => Err(invalid_key(key, "unknown key shape")),
    }
}

/// Validate a listing prefix: empty, `config`, `data/`, `data/<aa>/`, `index/`,
/// `snapshots/` or `snapshots/<graph id>/`.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    let ok = match prefix {
        "" | CONFIG_KEY | DATA_PREFIX | INDEX_PREFIX | SNAPSHOT_PREFIX => true,
        p => {
            if let Some(rest) = p.strip_prefix(DATA_PREFIX) {
                rest.len() == 3 && rest.ends_with('/') && rest.get(..2).is_some_and(is_lower_hex)
            } else if let Some(rest) = p.strip_prefix(SNAPSHOT_PREFIX) {
                rest.strip_suffix('/')
                    .is_some_and(|g| lightrag_backup::validate_graph_id(g).is_ok())
            } else {
                false
            }
        }
    };
    if ok {
        Ok(())
    } else {
        Err(ReplicationError::invalid(
            "listing prefix",
            format!(
                "{:?}; accepted: \"\", config, data/, data/<aa>/, index/, snapshots/, snapshots/<graph id>/",
                prefix.chars().take(120).collect::<String>()
            ),
        ))
    }
}

/// The key of a snapshot manifest.
pub fn snapshot_key(graph: &str, id: &str) -> String {
    format!("{SNAPSHOT_PREFIX}{graph}/{id}")
}

/// Creation time (unix ms) encoded in a snapshot id `YYYYMMDDTHHMMSSmmmZ-<8 hex>`, or `None`
/// when `id` is not a snapshot id.
pub fn snapshot_time_ms(id: &str) -> Option<i64> {
    // Untrusted (a URL path, a listing): ASCII only, so every byte offset below is a character
    // boundary (`aaaéaaaT…` is 28 bytes but slicing it at 4 would panic).
    let b = id.as_bytes();
    if b.len() != 28
        || !id.is_ascii()
        || b[8] != b'T'
        || b[18] != b'Z'
        || b[19] != b'-'
        || !is_lower_hex(id.get(20..)?)
    {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = id.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(digits(4..6)?).ok()?).ok()?;
    let day = u8::try_from(digits(6..8)?).ok()?;
    let hour = u8::try_from(digits(9..11)?).ok()?;
    let minute = u8::try_from(digits(11..13)?).ok()?;
    let second = u8::try_from(digits(13..15)?).ok()?;
    let milli = u16::try_from(digits(15..18)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = time::Time::from_hms_milli(hour, minute, second, milli).ok()?;
    let dt = time::PrimitiveDateTime::new(date, t).assume_utc();
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_shapes() {
        let id = "ab".to_owned() + &"0".repeat(62);
        assert_eq!(parse_key("config").unwrap(), ObjectKind::Config);
        assert!(matches!(
            parse_key(&format!("data/ab/{id}")).unwrap(),
            ObjectKind::Pack { .. }
        ));
        assert!(parse_key(&format!("data/ac/{id}")).is_err());
        assert!(parse_key(&format!("data/ab/{}", id.to_uppercase())).is_err());
        assert_eq!(
            parse_key("index/0123456789abcdef").unwrap(),
            ObjectKind::Index
        );
        assert!(parse_key("index/../config").is_err());
        assert!(parse_key("locks/000-aa").is_err());
        assert!(parse_key("snapshots/g/../../etc").is_err());
        assert!(parse_key("snapshots/..//x").is_err());
        assert!(parse_key("/config").is_err());
        assert!(parse_key("").is_err());
        assert_eq!(
            parse_key("snapshots/default/20261125T200000123Z-3f9a1c2e").unwrap(),
            ObjectKind::Snapshot {
                graph: "default".into(),
                id: "20261125T200000123Z-3f9a1c2e".into()
            }
        );
    }

    #[test]
    fn snapshot_time() {
        let ms = snapshot_time_ms("20261125T200000123Z-3f9a1c2e").unwrap();
        let dt =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
        assert_eq!((dt.year(), dt.hour(), dt.millisecond()), (2026, 20, 123));
        assert!(snapshot_time_ms("20261325T200000123Z-3f9a1c2e").is_none());
        assert!(snapshot_time_ms("20261125T200000123Z-3F9A1C2E").is_none());
    }

    #[test]
    fn prefixes() {
        for ok in [
            "",
            "config",
            "data/",
            "data/ab/",
            "index/",
            "snapshots/",
            "snapshots/g-1/",
        ] {
            validate_prefix(ok).unwrap();
        }
        for bad in [
            "data",
            "data/a/",
            "locks/",
            "snapshots/../",
            "snapshots/g",
            "/",
        ] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }

    /// Issue 13 #7: multibyte input of the right byte length used to panic (500 on
    /// `GET …/receive/objects/snapshots/default/aaa%C3%A9aaaT000000000Z-00000000`).
    #[test]
    fn multibyte_input_is_rejected_not_a_panic() {
        let id = "aaa\u{e9}aaaT000000000Z-00000000";
        assert_eq!(id.len(), 28);
        assert_eq!(snapshot_time_ms(id), None);
        assert!(parse_key(&format!("snapshots/default/{id}")).is_err());
        for id in [
            "2024010\u{e9}T000000000Z-0000000",
            "20240101T000000000Z-0000000\u{e9}",
            "20240101T00000000\u{e9}-000000",
            "\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}\u{1f600}",
        ] {
            assert_eq!(snapshot_time_ms(id), None, "{id}");
            assert!(parse_key(&format!("snapshots/g/{id}")).is_err());
        }
        assert!(validate_prefix("data/\u{e9}/").is_err());
        assert!(validate_prefix("data/a\u{e9}").is_err());
        assert!(parse_key("data/\u{e9}/\u{e9}").is_err());
        assert_eq!(
            snapshot_time_ms("20240101T000000000Z-0000abcd"),
            Some(1_704_067_200_000)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The parsers of untrusted keys never panic, whatever the string.
        #[test]
        fn key_parsers_never_panic(
            s in "\\PC{0,40}",
            t in "[0-9a-fT\u{e9}Z\\-/]{0,40}",
            // Snapshot-id shaped, with multibyte characters anywhere.
            u in "[0-9]{0,6}\u{e9}[0-9]{0,6}T[0-9]{0,7}\u{e9}[0-9]{0,7}Z-[0-9a-f]{8}",
        ) {
            for v in [&s, &t, &u] {
                let _ = parse_key(v);
                let _ = validate_prefix(v);
                let _ = snapshot_time_ms(v);
                let _ = parse_key(&format!("snapshots/g/{v}"));
                let _ = parse_key(&format!("data/{v}"));
            }
        }
    }
}
