//! Issue 14 #8: TLS without a proxy. A self-signed certificate made here with the `openssl`
//! CLI; the real binary serves the API and the metrics listener over HTTPS with it; a client
//! trusting that certificate gets answers, plain HTTP to the same ports gets none, and bad
//! settings stop start-up naming the variable and the file.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::child::{ChildServer, run};

const KEY: &str = "tls-test-key-0123456789";

/// A self-signed P-256 certificate for localhost and 127.0.0.1: (certificate, key) PEM files.
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    openssl_cert(dir, name, &[])
}

/// A private CA and a server certificate it signed: (CA certificate, server chain file
/// holding the leaf then the CA, server key).
fn ca_and_leaf(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, ca_key) = openssl_cert(dir, "ca", &["-subj", "/CN=lightrag-ops test CA"]);
    let (leaf, key) = openssl_cert(
        dir,
        "leaf",
        &[
            "-CA",
            ca.to_str().unwrap(),
            "-CAkey",
            ca_key.to_str().unwrap(),
        ],
    );
    let chain = dir.join("chain.pem");
    let mut pem = std::fs::read(&leaf).unwrap();
    pem.extend(std::fs::read(&ca).unwrap());
    std::fs::write(&chain, pem).unwrap();
    (ca, chain, key)
}

/// `openssl req -x509` with a new P-256 key; a leaf for localhost and 127.0.0.1 unless
/// `extra` gives a subject (then it is a CA).
fn openssl_cert(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let leaf: &[&str] = if extra.contains(&"-subj") {
        &[]
    } else {
        &[
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ]
    };
    let out = Command::new("openssl")
        .args(["req", "-x509"])
        .args(extra)
        .args(leaf)
        .args([
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl CLI (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// A client that trusts exactly `cert`.
fn trusting(cert: &Path) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let pem = std::fs::read(cert).unwrap();
    let cert = Certificate::from_pem(&pem).expect("a certificate in the PEM file");
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&[cert]))
                .build(),
        )
        .build()
        .into()
}

/// GET over HTTPS: (status, body), or the client's error.
fn https_get(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String), String> {
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.call().map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((
        status,
        r.body_mut().read_to_string().map_err(|e| e.to_string())?,
    ))
}

/// What a plain-HTTP request to `port` gets back (bytes, possibly none).
fn plain_http(port: u16) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf
}

fn tls_env(cert: &Path, key: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("LIGHTRAG_API_KEY", KEY.to_owned()),
        ("LIGHTRAG_SSL_CERTFILE", cert.display().to_string()),
        ("LIGHTRAG_SSL_KEYFILE", key.display().to_string()),
    ]
}

#[test]
fn api_and_metrics_listener_serve_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    // A private CA, and a chain file (leaf, then CA) as an operator would deploy it.
    let (ca, cert, key) = ca_and_leaf(dir.path());
    let agent = trusting(&ca);
    let s = ChildServer::start(dir.path(), &tls_env(&cert, &key), |s| {
        https_get(
            &agent,
            &format!("https://127.0.0.1:{}/readyz", s.api_port),
            &[],
        )
        .is_ok_and(|(st, _)| st == 200)
    });
    let api = |host: &str, path: &str| format!("https://{host}:{}{path}", s.api_port);

    // The API, by address and by name, with and without the key.
    let (st, body) = https_get(&agent, &api("127.0.0.1", "/livez"), &[]).unwrap();
    assert_eq!((st, body.contains("alive")), (200, true), "{body}");
    let (st, _) = https_get(&agent, &api("localhost", "/api/v1/graphs"), &[]).unwrap();
    assert_eq!(st, 401, "the key is still required over TLS");
    let (st, body) = https_get(
        &agent,
        &api("localhost", "/api/v1/graphs"),
        &[("X-API-Key", KEY)],
    )
    .unwrap();
    assert_eq!(st, 200, "{body}");

    // The metrics listener: same certificate (Prometheus `scheme: https`).
    let (st, body) = https_get(
        &agent,
        &format!("https://127.0.0.1:{}/metrics", s.metrics_port),
        &[],
    )
    .unwrap();
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("lightrag_build_info"), "{body}");

    // A client that does not trust the CA refuses the certificate (a private CA is not in the
    // public roots): the server really presents this certificate.
    let default_agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let err = https_get(&default_agent, &api("127.0.0.1", "/livez"), &[]).unwrap_err();
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );

    // Plain HTTP to the TLS ports gets no HTTP answer.
    for port in [s.api_port, s.metrics_port] {
        let reply = plain_http(port);
        assert!(
            !reply.starts_with(b"HTTP/"),
            "plain HTTP answered on port {port}: {}",
            String::from_utf8_lossy(&reply)
        );
    }
}

/// LightRAG's own convention in the shared `.env`: `SSL=true` with `SSL_CERTFILE` and
/// `SSL_KEYFILE`; `lightrag-ops config` says which variables named the files. Without
/// `SSL=true` LightRAG itself serves plain HTTP, and so does lightrag-ops.
#[test]
fn lightrag_ssl_settings_in_the_shared_dotenv_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "lightrag");
    let dotenv = |ssl: &str| {
        std::fs::write(
            dir.path().join(".env"),
            format!(
                "HOST=0.0.0.0\nPORT=9621\nSSL={ssl}\nSSL_CERTFILE={}\nSSL_KEYFILE={}\nLIGHTRAG_API_KEY={KEY}\n",
                cert.display(),
                key.display()
            ),
        )
        .unwrap();
    };
    dotenv("true");
    let out = run(dir.path(), &[], &["--json", "config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["SSL_CERTFILE"], cert.display().to_string(), "{j}");
    assert_eq!(j["SSL_KEYFILE"], key.display().to_string(), "{j}");
    assert!(j.get("LIGHTRAG_SSL_CERTFILE").is_none(), "{j}");

    let agent = trusting(&cert);
    let s = ChildServer::start(dir.path(), &[], |s| {
        https_get(
            &agent,
            &format!("https://localhost:{}/livez", s.api_port),
            &[],
        )
        .is_ok_and(|(st, _)| st == 200)
    });
    assert!(!plain_http(s.api_port).starts_with(b"HTTP/"));
    drop(s);

    dotenv("false");
    let out = run(dir.path(), &[], &["--json", "config"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["LIGHTRAG_SSL_CERTFILE"], "", "{j}");
    assert!(j.get("SSL_CERTFILE").is_none(), "{j}");

    // LIGHTRAG_SSL_* win over LightRAG's names.
    dotenv("true");
    let (cert2, key2) = self_signed(dir.path(), "ours");
    let out = run(
        dir.path(),
        &[
            ("LIGHTRAG_SSL_CERTFILE", cert2.display().to_string()),
            ("LIGHTRAG_SSL_KEYFILE", key2.display().to_string()),
        ],
        &["--json", "config"],
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["LIGHTRAG_SSL_CERTFILE"],
        cert2.display().to_string(),
        "{j}"
    );
    assert!(j.get("SSL_CERTFILE").is_none(), "{j}");
}

/// Every bad TLS setting stops start-up with a message naming the variable and the file.
#[test]
fn bad_tls_settings_stop_start_up_naming_the_variable_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "a");
    let (_, other_key) = self_signed(dir.path(), "b");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a PEM file\n").unwrap();
    let missing = dir.path().join("missing.key");
    let s = |p: &Path| p.display().to_string();

    let expect = |env: Vec<(&'static str, String)>, code: i32, needles: &[String]| {
        let mut env = env;
        env.extend([
            ("LIGHTRAG_PORT", "0".to_owned()),
            ("LIGHTRAG_METRICS_PORT", "0".to_owned()),
        ]);
        let out = run(dir.path(), &env, &[]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{env:?}\n{err}");
        for n in needles {
            assert!(err.contains(n.as_str()), "{env:?}: no {n:?} in\n{err}");
        }
    };
    // One without the other (exit 2: invalid configuration).
    expect(
        vec![("LIGHTRAG_SSL_CERTFILE", s(&cert))],
        2,
        &["LIGHTRAG_SSL_KEYFILE".into(), s(&cert)],
    );
    // A key file that does not exist.
    expect(
        vec![
            ("LIGHTRAG_SSL_CERTFILE", s(&cert)),
            ("LIGHTRAG_SSL_KEYFILE", s(&missing)),
        ],
        2,
        &[
            format!("LIGHTRAG_SSL_KEYFILE=\"{}\"", s(&missing)),
            "cannot read the file".into(),
        ],
    );
    // Files that are not PEM, and swapped files.
    expect(
        vec![
            ("LIGHTRAG_SSL_CERTFILE", s(&garbage)),
            ("LIGHTRAG_SSL_KEYFILE", s(&garbage)),
        ],
        2,
        &[
            format!("LIGHTRAG_SSL_CERTFILE=\"{}\": no certificate", s(&garbage)),
            format!("LIGHTRAG_SSL_KEYFILE=\"{}\": no private key", s(&garbage)),
        ],
    );
    expect(
        vec![
            ("LIGHTRAG_SSL_CERTFILE", s(&key)),
            ("LIGHTRAG_SSL_KEYFILE", s(&cert)),
        ],
        2,
        &["swapped".into(), s(&key), s(&cert)],
    );
    // LightRAG's SSL=true without the files.
    expect(
        vec![("SSL", "true".into())],
        2,
        &[
            "SSL_CERTFILE".into(),
            "SSL_KEYFILE".into(),
            "SSL=true".into(),
        ],
    );
    // A key of another certificate: refused before anything listens (exit 1).
    expect(
        vec![
            ("LIGHTRAG_SSL_CERTFILE", s(&cert)),
            ("LIGHTRAG_SSL_KEYFILE", s(&other_key)),
        ],
        1,
        &[
            "does not belong to the certificate".into(),
            format!("LIGHTRAG_SSL_KEYFILE={}", s(&other_key)),
            format!("LIGHTRAG_SSL_CERTFILE={}", s(&cert)),
        ],
    );
}
