//! Text checks shared by every write.
//!
//! PostgreSQL `text` cannot hold NUL (U+0000). To behave the same on both backends:
//! identifiers, names, paths and URLs containing NUL are rejected with
//! [`RecoveryDbError::InvalidInput`]; free text (messages, descriptions, error strings) has each
//! NUL replaced by U+FFFD so an event or error is never lost; JSON text is re-serialised, which
//! escapes NUL as `\u0000`.

use crate::error::{RecoveryDbError, Result};

/// Rejects NUL and over-long identifiers.
pub(crate) fn check_id(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(RecoveryDbError::invalid(field, "must not be empty"));
    }
    check_text(field, value)?;
    if value.len() > 1024 {
        return Err(RecoveryDbError::invalid(field, "longer than 1024 bytes"));
    }
    Ok(())
}

/// Rejects NUL (PostgreSQL cannot store it).
pub(crate) fn check_text(field: &'static str, value: &str) -> Result<()> {
    if let Some(pos) = value.find('\0') {
        return Err(RecoveryDbError::invalid(
            field,
            format!(
                "contains a NUL byte at offset {pos}; NUL cannot be stored in the recovery database"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn check_opt_id(field: &'static str, value: Option<&str>) -> Result<()> {
    value.map_or(Ok(()), |v| check_id(field, v))
}

/// Replaces NUL with U+FFFD in free text.
pub(crate) fn clean(value: &mut String) {
    if value.contains('\0') {
        *value = value.replace('\0', "\u{FFFD}");
    }
}

pub(crate) fn clean_opt(value: &mut Option<String>) {
    if let Some(v) = value {
        clean(v);
    }
}

/// Validates JSON text and normalises it (compact; NUL escaped as `\u0000`).
pub(crate) fn normalize_json(field: &'static str, value: &mut Option<String>) -> Result<()> {
    if let Some(v) = value {
        let parsed: serde_json::Value = serde_json::from_str(v)
            .map_err(|e| RecoveryDbError::invalid(field, format!("not valid JSON: {e}")))?;
        *v = parsed.to_string();
    }
    Ok(())
}

pub(crate) fn check_non_negative(field: &'static str, value: i64) -> Result<()> {
    if value < 0 {
        return Err(RecoveryDbError::invalid(
            field,
            format!("must not be negative (got {value})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_id_is_rejected_with_offset() {
        let err = check_id("graph id", "a\0b").unwrap_err();
        assert!(err.to_string().contains("graph id"), "{err}");
        assert!(err.to_string().contains("NUL byte at offset 1"), "{err}");
    }

    #[test]
    fn nul_in_free_text_is_replaced() {
        let mut s = "x\0y".to_owned();
        clean(&mut s);
        assert_eq!(s, "x\u{FFFD}y");
    }

    #[test]
    fn json_is_validated_and_nul_escaped() {
        let mut j = Some(serde_json::json!({"k": "a\u{0}b"}).to_string());
        normalize_json("details", &mut j).unwrap();
        assert!(!j.as_deref().unwrap().contains('\0'));
        let mut bad = Some("{not json".to_owned());
        assert!(normalize_json("details", &mut bad).is_err());
    }
}
