//! Typed `LIGHTRAG_*` configuration for lightrag-ops.
//!
//! Settings come from the process environment and an optional `.env` file; a variable set in the
//! real environment wins over the same variable in `.env`. Every value is validated up front and
//! *all* invalid values are reported at once, each naming the variable, the bad value and the
//! accepted form. Secrets (API key, encryption key, database password) are wrapped in [`Secret`]
//! and never printed by `Debug`.
//!
//! The configuration is a plain value: load it once at the edge and pass it down.
//!
//! ```
//! use lightrag_config::Config;
//!
//! let cfg = Config::from_vars([
//!     ("LIGHTRAG_PORT", "9700"),
//!     ("LIGHTRAG_RPO", "6h"),
//!     ("LIGHTRAG_API_KEY", "s3cret-key-0123456789"),
//! ])
//! .unwrap();
//! assert_eq!(cfg.port, 9700);
//! assert_eq!(cfg.rpo.as_secs(), 6 * 3600);
//! assert!(!format!("{cfg:?}").contains("s3cret-key-0123456789"));
//! ```

mod chain;
mod config;
mod error;
mod parse;
mod secret;
mod tls;

pub use chain::{ErrorChain, error_chain};
pub use config::{
    ChangeBackup, Config, LogFormat, MIN_KEY_CHARS, RetentionPolicy, VARIABLES, ValueSource,
    VariableDoc,
};
pub use error::{ConfigError, InvalidVariable};
pub use parse::{format_duration, redact_url};
pub use secret::{Secret, constant_time_eq};
pub use tls::{LIGHTRAG_TLS_VARIABLES, TlsSettings, TlsSource};
