//! [`GraphId`]: a graph id checked once, where it enters (a request, an argument, a folder
//! name), and carried checked from there on.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::format::validate_graph_id;

/// A valid graph id: `[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`. Deserialising refuses anything
/// else, so a route's path or body never carries an unchecked id past its extractor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
)]
pub struct GraphId(String);

impl GraphId {
    /// Checks `id` ([`crate::BackupError::InvalidGraphId`] when it is not valid).
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        validate_graph_id(&id)?;
        Ok(Self(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for GraphId {
    type Error = crate::BackupError;

    fn try_from(id: String) -> Result<Self> {
        Self::new(id)
    }
}

impl std::str::FromStr for GraphId {
    type Err = crate::BackupError;

    fn from_str(id: &str) -> Result<Self> {
        Self::new(id)
    }
}

impl From<GraphId> for String {
    fn from(id: GraphId) -> Self {
        id.0
    }
}

impl AsRef<str> for GraphId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for GraphId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GraphId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_ids_are_built_or_deserialised() {
        for ok in ["g1", "default", "A.b-c_d", &"x".repeat(128)] {
            assert_eq!(GraphId::new(ok).unwrap().as_str(), ok);
            let j = serde_json::to_string(ok).unwrap();
            assert_eq!(serde_json::from_str::<GraphId>(&j).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "-g",
            ".g",
            "a/b",
            "../x",
            "備援",
            "a b",
            &"x".repeat(129),
        ] {
            assert!(GraphId::new(bad).is_err(), "{bad:?}");
            let j = serde_json::to_string(bad).unwrap();
            let e = serde_json::from_str::<GraphId>(&j).unwrap_err().to_string();
            assert!(e.contains("graph id"), "{e}");
        }
    }
}
