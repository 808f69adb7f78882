//! Parsers for single values. Each returns the accepted form in its error text.

use std::time::Duration;

/// Accepted boolean spellings, for error messages.
pub(crate) const BOOL_FORM: &str = "one of true/false, 1/0, yes/no, on/off";

pub(crate) fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected {BOOL_FORM}")),
    }
}

/// Parses a duration: a human form (`90s`, `15m`, `6h`, `7d`, `1h 30m`) or a bare non-negative
/// integer counted in `bare_unit` seconds (e.g. 86400 for a `_DAYS` variable).
pub(crate) fn parse_duration(
    value: &str,
    bare_unit: u64,
    unit_name: &str,
) -> Result<Duration, String> {
    let v = value.trim();
    let form = format!(
        "expected a duration such as 90s, 15m, 6h or 7d, or a bare whole number of {unit_name}"
    );
    if v.is_empty() {
        return Err(form);
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = v.parse().map_err(|_| format!("number too large; {form}"))?;
        return n
            .checked_mul(bare_unit)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("number too large; {form}"));
    }
    humantime::parse_duration(v).map_err(|e| format!("{e}; {form}"))
}

pub(crate) fn parse_int<T: std::str::FromStr>(value: &str, form: &str) -> Result<T, String> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| format!("expected {form}"))
}

/// Formats a duration compactly (`0s`, `90s`, `1h 30m`), as accepted back by the parser.
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// Query parameter names (compared case-insensitively, as substrings) whose values are
/// credentials: libpq `password=`, Azure SAS `sig=`, S3/GCS presigned `X-Amz-Signature=`,
/// `X-Amz-Credential=`, `X-Amz-Security-Token=`, API `token=`/`key=`/`secret=`.
const SECRET_QUERY_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "sig",
    "key",
    "credential",
];

/// The one URL redaction of lightrag-ops, for messages, logs and `Debug` output.
///
/// - `scheme://user:password@host…` → `scheme://user:***@host…` (the user name stays);
/// - `scheme://token@host…` (userinfo without `:`) → `scheme://***@host…`;
/// - query parameters whose name looks like a credential (`password`, `sig`, `token`,
///   `secret`, `key`, `credential`, … anywhere in the name, any case) get the value `***`;
/// - the authority ends at the first `/`, `?` or `#`; the fragment is kept;
/// - anything without `://` (a plain path, `sqlite:x.db`) comes back unchanged.
///
/// ```
/// use lightrag_config::redact_url;
///
/// assert_eq!(
///     redact_url("postgres://alice:pw@db:5432/x?sslmode=require"),
///     "postgres://alice:***@db:5432/x?sslmode=require"
/// );
/// assert_eq!(
///     redact_url("https://acct.blob.core.windows.net/c?sv=2024&sig=abc%2B"),
///     "https://acct.blob.core.windows.net/c?sv=2024&sig=***"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let (scheme, rest) = (&url[..scheme_end], &url[scheme_end + 3..]);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    out.push_str("://");
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if !userinfo.is_empty() => {
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str("***"),
            }
            out.push('@');
            out.push_str(host);
        }
        _ => out.push_str(authority),
    }
    let (before_fragment, fragment) = match tail.find('#') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                match pair.split_once('=') {
                    Some((name, _value)) if is_secret_query_key(name) => {
                        out.push_str(name);
                        out.push_str("=***");
                    }
                    _ => out.push_str(pair),
                }
            }
        }
        None => out.push_str(before_fragment),
    }
    out.push_str(fragment);
    out
}

fn is_secret_query_key(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_QUERY_KEYS.iter().any(|k| name.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("90s", 1, "seconds").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_duration("6h", 1, "seconds").unwrap(),
            Duration::from_secs(21600)
        );
        assert_eq!(
            parse_duration("1h 30m", 1, "seconds").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_duration("120", 1, "seconds").unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(
            parse_duration("3", 86400, "days").unwrap(),
            Duration::from_secs(259200)
        );
        assert_eq!(parse_duration("0", 1, "seconds").unwrap(), Duration::ZERO);
        assert!(parse_duration("-5", 1, "seconds").is_err());
        assert!(
            parse_duration("soon", 1, "seconds")
                .unwrap_err()
                .contains("90s")
        );
        assert!(parse_duration("", 1, "seconds").is_err());
        assert!(parse_duration("99999999999999999999", 1, "seconds").is_err());
    }

    #[test]
    fn bools() {
        for t in ["true", "TRUE", "1", "yes", "on"] {
            assert!(parse_bool(t).unwrap());
        }
        for f in ["false", "0", "No", "off"] {
            assert!(!parse_bool(f).unwrap());
        }
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn redaction() {
        // (input, expected): one table for every form the crates redact.
        let table: &[(&str, &str)] = &[
            // user name kept, password masked
            (
                "postgres://alice:pw@db:5432/x?sslmode=require",
                "postgres://alice:***@db:5432/x?sslmode=require",
            ),
            ("postgres://u:hunter2@h/d", "postgres://u:***@h/d"),
            ("postgres://:pw@h/d", "postgres://:***@h/d"),
            // a password holding `@` or `:`: the last `@` of the authority ends the userinfo
            ("postgres://u:p@ss:w@h/d", "postgres://u:***@h/d"),
            // bare userinfo (a token) masked entirely
            ("postgres://tok@db/x", "postgres://***@db/x"),
            ("https://tok@example.com", "https://***@example.com"),
            // the authority ends at `/`, `?` or `#`: an `@` after it is not userinfo
            ("s3://bucket/path@x", "s3://bucket/path@x"),
            ("https://h?u=a@b", "https://h?u=a@b"),
            ("https://h#a@b", "https://h#a@b"),
            ("https://u:pw@h?x=1", "https://u:***@h?x=1"),
            ("https://u:pw@h#frag", "https://u:***@h#frag"),
            ("http://u:pw@h", "http://u:***@h"),
            // credential-like query parameters
            (
                "https://acct.blob.core.windows.net/c?sv=2024-01-01&sp=rl&sig=abc%2Bdef",
                "https://acct.blob.core.windows.net/c?sv=2024-01-01&sp=rl&sig=***",
            ),
            (
                "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=ff&X-Amz-Expires=60",
                "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60",
            ),
            (
                "postgres://u@h/d?password=pw&sslmode=require",
                "postgres://***@h/d?password=***&sslmode=require",
            ),
            (
                "https://h/p?token=t&secret=s&api_key=k&Password=p&flag#top",
                "https://h/p?token=***&secret=***&api_key=***&Password=***&flag#top",
            ),
            // nothing to hide
            ("postgres://db/x", "postgres://db/x"),
            ("s3://bucket/prefix", "s3://bucket/prefix"),
            ("sqlite:///./a.db", "sqlite:///./a.db"),
            ("sqlite:x.db", "sqlite:x.db"),
            ("/plain/path", "/plain/path"),
            ("", ""),
        ];
        for (input, expected) in table {
            assert_eq!(redact_url(input), *expected, "redact_url({input:?})");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h 30m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
