use std::fmt;
use std::path::PathBuf;

/// One invalid configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidVariable {
    /// The variable's name, e.g. `LIGHTRAG_PORT`.
    pub variable: &'static str,
    /// The offending value as given, or `"***"` for secrets.
    pub value: String,
    /// What went wrong and the accepted form.
    pub reason: String,
}

impl fmt::Display for InvalidVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.variable, self.value, self.reason)
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// One or more variables hold invalid values; all of them are listed.
    #[error("invalid configuration ({} problem{}):\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, list(.0))]
    Invalid(Vec<InvalidVariable>),
    /// The `.env` file exists but cannot be read or parsed.
    #[error("cannot read the .env file {path} (fix or remove it)")]
    DotEnv {
        /// The `.env` file.
        path: PathBuf,
        /// What dotenvy reported.
        #[source]
        source: dotenvy::Error,
    },
    /// The environment could not be mapped onto the raw settings (a non-UTF-8 value, say).
    #[error("cannot read LIGHTRAG_* variables from the environment")]
    Environment(#[source] envy::Error),
}

impl ConfigError {
    /// The invalid variables, when that is what went wrong.
    pub fn invalid_variables(&self) -> &[InvalidVariable] {
        match self {
            Self::Invalid(v) => v,
            _ => &[],
        }
    }
}

fn list(items: &[InvalidVariable]) -> String {
    items
        .iter()
        .map(|i| format!("  - {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}
