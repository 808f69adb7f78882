//! The binary's own smoke test (the end-to-end suite is in the workspace's `tests/`): it
//! starts, knows its version and exits 2 on invalid configuration. Also makes
//! `cargo test --workspace` build the binary the end-to-end suite runs.

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lightrag-ops"));
    for (k, _) in std::env::vars() {
        if k.starts_with("LIGHTRAG_") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn starts_and_refuses_invalid_configuration() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("lightrag-ops {}", env!("CARGO_PKG_VERSION"))
    );
    let out = bin()
        .arg("config")
        .env("LIGHTRAG_PORT", "nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LIGHTRAG_PORT"));
}
