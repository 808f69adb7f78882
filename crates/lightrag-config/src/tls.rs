//! TLS settings: the certificate chain and private key the API and metrics listeners serve.
//!
//! Two ways to name the files, in this order:
//! 1. `LIGHTRAG_SSL_CERTFILE` and `LIGHTRAG_SSL_KEYFILE` (both or neither);
//! 2. when neither is set, LightRAG's own convention from a shared `.env` (or the environment):
//!    `SSL=true` with `SSL_CERTFILE` and `SSL_KEYFILE`. As in LightRAG, the two file names are
//!    used only when `SSL` is true (`true`, `1`, `yes`, `t`, `on`, any case): a LightRAG that
//!    serves plain HTTP with the file names left in its `.env` does not turn TLS on here.
//!
//! Validation happens at load: both files named, readable, the certificate file holding at
//! least one PEM certificate (the chain, leaf first) and the key file a PEM private key
//! (PKCS#8, PKCS#1 RSA or SEC1 EC). Whether the key matches the certificate is checked by the
//! server when it builds its TLS configuration, before it listens.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::InvalidVariable;

/// LightRAG's variables read besides the `LIGHTRAG_*` ones (from `.env` or the environment).
pub const LIGHTRAG_TLS_VARIABLES: [&str; 3] = ["SSL", "SSL_CERTFILE", "SSL_KEYFILE"];

/// Which variables named the TLS files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsSource {
    /// `LIGHTRAG_SSL_CERTFILE` / `LIGHTRAG_SSL_KEYFILE`.
    Lightrag,
    /// LightRAG's `SSL=true` with `SSL_CERTFILE` / `SSL_KEYFILE`.
    LightragServer,
}

impl TlsSource {
    /// The variable that named the certificate file.
    pub fn cert_variable(self) -> &'static str {
        match self {
            Self::Lightrag => "LIGHTRAG_SSL_CERTFILE",
            Self::LightragServer => "SSL_CERTFILE",
        }
    }

    /// The variable that named the key file.
    pub fn key_variable(self) -> &'static str {
        match self {
            Self::Lightrag => "LIGHTRAG_SSL_KEYFILE",
            Self::LightragServer => "SSL_KEYFILE",
        }
    }
}

/// A validated certificate chain and private key, read once at load. `Debug` never shows the
/// key.
#[derive(Clone)]
pub struct TlsSettings {
    /// The certificate chain file (PEM).
    pub cert_file: PathBuf,
    /// The private key file (PEM).
    pub key_file: PathBuf,
    /// Which variables named them.
    pub source: TlsSource,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl TlsSettings {
    /// The certificates of the chain, leaf first (DER).
    pub fn cert_chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// A copy of the private key (DER).
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("source", &self.source)
            .field("certificates", &self.chain.len())
            .field("key", &"***")
            .finish()
    }
}

/// LightRAG's boolean convention (`get_env_value(..., bool)`).
fn lightrag_true(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "t" | "on"
    )
}

/// Resolves and validates the TLS settings. `ours` holds the values of
/// `LIGHTRAG_SSL_CERTFILE` / `LIGHTRAG_SSL_KEYFILE`, `lightrag` looks up LightRAG's `SSL`,
/// `SSL_CERTFILE`, `SSL_KEYFILE` (empty values count as unset everywhere).
pub(crate) fn resolve(
    ours: (Option<&str>, Option<&str>),
    lightrag: impl Fn(&str) -> Option<String>,
    errors: &mut Vec<InvalidVariable>,
) -> Option<TlsSettings> {
    let (cert, key, source) = match ours {
        (None, None) => {
            let ssl = lightrag("SSL");
            if !ssl.as_deref().is_some_and(lightrag_true) {
                return None;
            }
            (
                lightrag("SSL_CERTFILE"),
                lightrag("SSL_KEYFILE"),
                TlsSource::LightragServer,
            )
        }
        (c, k) => (
            c.map(str::to_owned),
            k.map(str::to_owned),
            TlsSource::Lightrag,
        ),
    };
    let (cert_var, key_var) = (source.cert_variable(), source.key_variable());
    let how = match source {
        TlsSource::Lightrag => format!("set both {cert_var} and {key_var}, or neither"),
        TlsSource::LightragServer => format!(
            "SSL=true (LightRAG's convention) needs both {cert_var} and {key_var}; or set LIGHTRAG_SSL_CERTFILE and LIGHTRAG_SSL_KEYFILE"
        ),
    };
    let (cert, key) = match (cert, key) {
        (Some(c), Some(k)) => (c, k),
        (c, k) => {
            for (name, value, (other_name, other)) in
                [(cert_var, &c, (key_var, &k)), (key_var, &k, (cert_var, &c))]
            {
                if value.is_none() {
                    let reason = match other {
                        Some(o) => format!("not set while {other_name}={o:?} is; {how}"),
                        None => format!("not set; {how}"),
                    };
                    errors.push(InvalidVariable {
                        variable: name,
                        value: String::new(),
                        reason,
                    });
                }
            }
            return None;
        }
    };
    let chain = read_chain(cert_var, &cert, errors);
    let private = read_key(key_var, &key, errors);
    Some(TlsSettings {
        cert_file: PathBuf::from(cert),
        key_file: PathBuf::from(key),
        source,
        chain: chain?,
        key: Arc::new(private?),
    })
}

fn read_file(
    variable: &'static str,
    path: &str,
    what: &str,
    errors: &mut Vec<InvalidVariable>,
) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) => {
            errors.push(InvalidVariable {
                variable,
                value: path.to_owned(),
                reason: format!(
                    "cannot read the file ({e}); expected a readable file holding {what}"
                ),
            });
            None
        }
    }
}

fn read_chain(
    variable: &'static str,
    path: &str,
    errors: &mut Vec<InvalidVariable>,
) -> Option<Vec<CertificateDer<'static>>> {
    const WHAT: &str = "the PEM certificate chain (-----BEGIN CERTIFICATE-----, leaf first)";
    let bytes = read_file(variable, path, WHAT, errors)?;
    let mut bad = |reason: String| {
        errors.push(InvalidVariable {
            variable,
            value: path.to_owned(),
            reason,
        });
        None
    };
    match CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>() {
        Ok(chain) if chain.is_empty() => bad(format!(
            "no certificate in the file; expected {WHAT}{}",
            if PrivateKeyDer::from_pem_slice(&bytes).is_ok() {
                " (this file holds a private key: are the certificate and key files swapped?)"
            } else {
                ""
            }
        )),
        Ok(chain) => Some(chain),
        Err(e) => bad(format!(
            "the certificate does not parse ({e}); expected {WHAT}"
        )),
    }
}

fn read_key(
    variable: &'static str,
    path: &str,
    errors: &mut Vec<InvalidVariable>,
) -> Option<PrivateKeyDer<'static>> {
    const WHAT: &str = "a PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY), unencrypted";
    let bytes = read_file(variable, path, WHAT, errors)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(k) => Some(k),
        Err(e) => {
            let hint = if CertificateDer::pem_slice_iter(&bytes).next().is_some() {
                " (this file holds a certificate: are the certificate and key files swapped?)"
            } else if bytes
                .windows(b"ENCRYPTED PRIVATE KEY".len())
                .any(|w| w == b"ENCRYPTED PRIVATE KEY")
            {
                " (the key is encrypted: decrypt it with `openssl pkey -in KEY -out KEY.plain`)"
            } else {
                ""
            };
            let why = match e {
                rustls_pki_types::pem::Error::NoItemsFound => {
                    "no private key in the file".to_owned()
                }
                e => format!("the private key does not parse ({e})"),
            };
            errors.push(InvalidVariable {
                variable,
                value: path.to_owned(),
                reason: format!("{why}{hint}; expected {WHAT}"),
            });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lightrag_booleans() {
        for t in ["true", "TRUE", "1", "yes", "t", "On"] {
            assert!(lightrag_true(t), "{t}");
        }
        for f in ["false", "0", "no", "", "maybe"] {
            assert!(!lightrag_true(f), "{f}");
        }
    }

    #[test]
    fn nothing_set_is_no_tls_and_file_names_without_ssl_true_are_ignored() {
        let mut errors = Vec::new();
        assert!(resolve((None, None), |_| None, &mut errors).is_none());
        let lightrag = |k: &str| match k {
            "SSL_CERTFILE" => Some("/nonexistent/cert.pem".to_owned()),
            "SSL_KEYFILE" => Some("/nonexistent/key.pem".to_owned()),
            "SSL" => Some("false".to_owned()),
            _ => None,
        };
        assert!(resolve((None, None), lightrag, &mut errors).is_none());
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn one_file_without_the_other_names_the_missing_variable() {
        let mut errors = Vec::new();
        assert!(resolve((Some("/c.pem"), None), |_| None, &mut errors).is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].variable, "LIGHTRAG_SSL_KEYFILE");
        assert!(errors[0].reason.contains("/c.pem"), "{errors:?}");

        let mut errors = Vec::new();
        let lightrag = |k: &str| (k == "SSL").then(|| "true".to_owned());
        assert!(resolve((None, None), lightrag, &mut errors).is_none());
        let names: Vec<_> = errors.iter().map(|e| e.variable).collect();
        assert_eq!(names, ["SSL_CERTFILE", "SSL_KEYFILE"]);
        assert!(errors[0].reason.contains("SSL=true"), "{errors:?}");
    }
}
