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

/// Hides the password of a URL with credentials (`postgres://user:***@host/db`); other URLs and
/// paths come back unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let user = userinfo.split(':').next().unwrap_or("");
    let redacted = if userinfo.contains(':') {
        format!("{user}:***")
    } else {
        "***".to_owned()
    };
    format!("{}://{}@{}", &url[..scheme_end], redacted, &rest[at + 1..])
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
        assert_eq!(
            redact_url("postgres://alice:pw@db:5432/x?sslmode=require"),
            "postgres://alice:***@db:5432/x?sslmode=require"
        );
        assert_eq!(redact_url("postgres://tok@db/x"), "postgres://***@db/x");
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact_url("sqlite:///./a.db"), "sqlite:///./a.db");
        assert_eq!(redact_url("/plain/path"), "/plain/path");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h 30m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
