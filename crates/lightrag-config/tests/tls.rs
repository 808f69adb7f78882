//! TLS settings: `LIGHTRAG_SSL_CERTFILE` / `LIGHTRAG_SSL_KEYFILE`, LightRAG's `SSL=true` +
//! `SSL_CERTFILE` / `SSL_KEYFILE` from `.env` or the environment, and the checks at load.
//! Certificates are made with the `openssl` CLI.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use lightrag_config::{Config, TlsSource};

fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl CLI");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

#[test]
fn lightrag_ssl_files_read_and_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "a");
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());

    // Ours.
    let cfg =
        Config::from_vars([("LIGHTRAG_SSL_CERTFILE", c), ("LIGHTRAG_SSL_KEYFILE", k)]).unwrap();
    let tls = cfg.tls.as_ref().unwrap();
    assert_eq!(
        (tls.source, tls.cert_file.as_path()),
        (TlsSource::Lightrag, cert.as_path())
    );
    assert_eq!(tls.cert_chain().len(), 1);
    let key_der = tls.private_key();
    let shown = format!("{cfg:?}");
    assert!(shown.contains("key: \"***\""), "{shown}");
    assert!(
        !shown.contains(&format!("{:?}", &key_der.secret_der()[..8])),
        "{shown}"
    );

    // LightRAG's, from the shared .env, only with SSL=true.
    let dotenv = dir.path().join(".env");
    std::fs::write(
        &dotenv,
        format!("SSL=true\nSSL_CERTFILE={c}\nSSL_KEYFILE={k}\n"),
    )
    .unwrap();
    let cfg = Config::from_sources(env(&[]), Some(&dotenv)).unwrap();
    let tls = cfg.tls.unwrap();
    assert_eq!(tls.source, TlsSource::LightragServer);
    assert_eq!(tls.source.cert_variable(), "SSL_CERTFILE");
    std::fs::write(
        &dotenv,
        format!("SSL=False\nSSL_CERTFILE={c}\nSSL_KEYFILE={k}\n"),
    )
    .unwrap();
    assert!(
        Config::from_sources(env(&[]), Some(&dotenv))
            .unwrap()
            .tls
            .is_none()
    );
    // The environment's SSL wins over the .env's, as for every variable.
    let cfg = Config::from_sources(env(&[("SSL", "1")]), Some(&dotenv)).unwrap();
    assert_eq!(cfg.tls.unwrap().source, TlsSource::LightragServer);
    // LIGHTRAG_SSL_* win over LightRAG's names; one of them alone is an error, not a fallback.
    std::fs::write(
        &dotenv,
        "SSL=true\nSSL_CERTFILE=/nonexistent.crt\nSSL_KEYFILE=/nonexistent.key\n",
    )
    .unwrap();
    let cfg = Config::from_sources(
        env(&[("LIGHTRAG_SSL_CERTFILE", c), ("LIGHTRAG_SSL_KEYFILE", k)]),
        Some(&dotenv),
    )
    .unwrap();
    assert_eq!(cfg.tls.unwrap().source, TlsSource::Lightrag);
    let err =
        Config::from_sources(env(&[("LIGHTRAG_SSL_CERTFILE", c)]), Some(&dotenv)).unwrap_err();
    let bad: Vec<_> = err.invalid_variables().iter().map(|i| i.variable).collect();
    assert_eq!(bad, ["LIGHTRAG_SSL_KEYFILE"], "{err}");

    // Unreadable and unparseable files: every problem at once, each with its variable and path.
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    let missing = dir.path().join("missing.key");
    let err = Config::from_vars([
        ("LIGHTRAG_SSL_CERTFILE", garbage.to_str().unwrap()),
        ("LIGHTRAG_SSL_KEYFILE", missing.to_str().unwrap()),
        ("LIGHTRAG_PORT", "nope"),
    ])
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("3 problems"), "{text}");
    assert!(
        text.contains(&format!(
            "LIGHTRAG_SSL_CERTFILE={:?}: the certificate does not parse",
            garbage.display().to_string()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "LIGHTRAG_SSL_KEYFILE={:?}: cannot read the file",
            missing.display().to_string()
        )),
        "{text}"
    );
}
