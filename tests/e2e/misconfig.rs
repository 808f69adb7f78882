//! Issue 17 #3: common misconfigurations, each answered once, at once, with what to do.
//! Every row runs the real binary in an empty folder with only the row's variables set and
//! checks the exit code, that the message names the setting and the fix, that no cause is
//! printed twice, and that nothing waited for a connection timeout ("unavailable").

use std::path::Path;
use std::process::Command;

struct Case {
    what: &'static str,
    env: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    code: i32,
    /// Substrings the message must hold (`{dir}` is the test folder).
    says: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        what: "a port that is not a number",
        env: &[("LIGHTRAG_PORT", "nope")],
        args: &["config"],
        code: 2,
        says: &["LIGHTRAG_PORT=\"nope\""],
    },
    Case {
        what: "a relative SQLite path whose folder does not exist (the slash rule)",
        env: &[("LIGHTRAG_RECOVERY_DB_URL", "sqlite:///tmp/x/cat.db")],
        args: &["snapshots"],
        code: 1,
        says: &[
            "LIGHTRAG_RECOVERY_DB_URL",
            "{dir}/tmp/x/cat.db",
            "does not exist",
            "sqlite:////absolute/path.db",
        ],
    },
    Case {
        what: "a SQLite URL with two slashes",
        env: &[("LIGHTRAG_RECOVERY_DB_URL", "sqlite://cat.db")],
        args: &["snapshots"],
        code: 1,
        says: &["LIGHTRAG_RECOVERY_DB_URL", "three slashes"],
    },
    Case {
        what: "a database the catalog cannot use",
        env: &[("LIGHTRAG_RECOVERY_DB_URL", "mysql://u@127.0.0.1/x")],
        args: &["snapshots"],
        code: 2,
        says: &["LIGHTRAG_RECOVERY_DB_URL=\"mysql://***@", "postgres://"],
    },
    Case {
        what: "an http:// S3 endpoint (AWS_ENDPOINT_URL) without allowing plain HTTP",
        env: &[
            ("LIGHTRAG_BACKUP_STORAGE", "s3://bucket/lightrag"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test-secret"),
        ],
        args: &["snapshots"],
        code: 1,
        says: &[
            "LIGHTRAG_S3_ALLOW_HTTP=true",
            "AWS_ALLOW_HTTP=true",
            "http://",
        ],
    },
    Case {
        what: "a repository URL scheme that does not exist",
        env: &[("LIGHTRAG_BACKUP_STORAGE", "ftp://host/backups")],
        args: &["snapshots"],
        code: 1,
        says: &["LIGHTRAG_BACKUP_STORAGE", "`ftp://`", "s3://"],
    },
    Case {
        what: "no repository yet",
        env: &[],
        args: &["snapshots"],
        code: 1,
        says: &["LIGHTRAG_BACKUP_STORAGE", "init"],
    },
    Case {
        what: "a short API key",
        env: &[("LIGHTRAG_API_KEY", "short")],
        args: &["config"],
        code: 2,
        says: &["LIGHTRAG_API_KEY", "at least 16", "openssl rand"],
    },
    Case {
        what: "a short encryption key",
        env: &[("LIGHTRAG_BACKUP_ENCRYPTION_KEY", "hunter2")],
        args: &["config"],
        code: 2,
        says: &[
            "LIGHTRAG_BACKUP_ENCRYPTION_KEY",
            "lightrag-ops key generate",
        ],
    },
    Case {
        what: "an encryption key given twice",
        env: &[
            ("LIGHTRAG_BACKUP_ENCRYPTION_KEY", "0123456789abcdef0123"),
            ("LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE", "key.txt"),
        ],
        args: &["config"],
        code: 2,
        says: &["not both"],
    },
    Case {
        what: "a key file that does not exist",
        env: &[("LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE", "missing.key")],
        args: &["config"],
        code: 2,
        says: &[
            "LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE",
            "cannot read the file",
        ],
    },
    Case {
        what: "a compression level out of range",
        env: &[("LIGHTRAG_BACKUP_COMPRESSION_LEVEL", "40")],
        args: &["config"],
        code: 2,
        says: &["LIGHTRAG_BACKUP_COMPRESSION_LEVEL=\"40\"", "1 to 19"],
    },
    Case {
        what: "a zero RPO",
        env: &[("LIGHTRAG_RPO", "0")],
        args: &["config"],
        code: 2,
        says: &["LIGHTRAG_RPO", "greater than zero"],
    },
    Case {
        what: "a duration in an unknown unit",
        env: &[("LIGHTRAG_AUTO_BACKUP_INTERVAL", "3 fortnights")],
        args: &["config"],
        code: 2,
        says: &["LIGHTRAG_AUTO_BACKUP_INTERVAL", "90s, 15m, 6h or 7d"],
    },
    Case {
        what: "a settle time longer than a minute",
        env: &[("LIGHTRAG_BACKUP_SETTLE", "5m")],
        args: &["config"],
        code: 2,
        says: &["LIGHTRAG_BACKUP_SETTLE", "at most 60s"],
    },
    Case {
        what: "a certificate without its key",
        env: &[("LIGHTRAG_SSL_CERTFILE", "cert.pem")],
        args: &["config"],
        code: 2,
        says: &["LIGHTRAG_SSL_KEYFILE", "set both"],
    },
    Case {
        what: "an open API on all interfaces",
        env: &[("LIGHTRAG_HOST", "0.0.0.0"), ("LIGHTRAG_PORT", "0")],
        args: &["serve"],
        code: 1,
        says: &["LIGHTRAG_HOST=0.0.0.0", "LIGHTRAG_API_KEY", "127.0.0.1"],
    },
    Case {
        what: "a log format that does not exist",
        env: &[("LIGHTRAG_LOG_FORMAT", "xml")],
        args: &["config"],
        code: 2,
        says: &["LIGHTRAG_LOG_FORMAT", "text or json"],
    },
    Case {
        what: "an AWS_ALLOW_HTTP that is not a boolean (the alias is named, not ours)",
        env: &[("AWS_ALLOW_HTTP", "maybe")],
        args: &["config"],
        code: 2,
        says: &["AWS_ALLOW_HTTP=\"maybe\""],
    },
];

fn run(dir: &Path, case: &Case) -> (Option<i32>, String) {
    let mut c = Command::new(crate::common::bin_path());
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("RUST_LOG", "off")
        .current_dir(dir)
        .envs(case.env.iter().copied())
        .args(case.args);
    let out = c.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_common_misconfiguration_says_what_to_do_once() {
    assert!(CASES.len() >= 15);
    let mut failures = Vec::new();
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        let (code, err) = run(dir.path(), case);
        let dir_s = dir.path().display().to_string();
        let mut problems = Vec::new();
        if code != Some(case.code) {
            problems.push(format!("exit {code:?}, expected {}", case.code));
        }
        for s in case.says {
            let s = s.replace("{dir}", &dir_s);
            if !err.contains(&s) {
                problems.push(format!("does not say {s:?}"));
            }
        }
        // Each cause once: no clause of the message repeats.
        let mut seen = std::collections::HashSet::new();
        for clause in err
            .lines()
            .flat_map(|l| l.split(": "))
            .filter(|c| c.len() > 24)
        {
            if !seen.insert(clause) {
                problems.push(format!("repeats {clause:?}"));
            }
        }
        if err.contains("unavailable") || err.contains("timed out") {
            problems.push("waited for a connection instead of naming the mistake".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n    {err}", case.what, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn lightrag_and_aws_names_are_used_and_config_says_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    // LightRAG's shared .env names its folder WORKING_DIR; the AWS SDK's names configure S3.
    std::fs::write(
        dir.path().join(".env"),
        "WORKING_DIR=/srv/lightrag\nAWS_ALLOW_HTTP=true\nLIGHTRAG_S3_REGION=eu-west-3\n",
    )
    .unwrap();
    let case = Case {
        what: "",
        env: &[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_REGION", "us-east-2"),
            ("LIGHTRAG_PORT", "9700"),
        ],
        args: &["--json", "config"],
        code: 0,
        says: &[],
    };
    let mut c = Command::new(crate::common::bin_path());
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .envs(case.env.iter().copied())
        .args(case.args);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["LIGHTRAG_WORKING_DIR"], "/srv/lightrag");
    assert_eq!(j["LIGHTRAG_S3_ENDPOINT"], "http://127.0.0.1:9000");
    assert_eq!(j["LIGHTRAG_S3_ALLOW_HTTP"], "true");
    // Ours wins over the ecosystem's name, wherever each is set.
    assert_eq!(j["LIGHTRAG_S3_REGION"], "eu-west-3");
    let src = &j["_sources"];
    assert_eq!(src["LIGHTRAG_WORKING_DIR"], ".env WORKING_DIR");
    assert_eq!(src["LIGHTRAG_S3_ENDPOINT"], "environment AWS_ENDPOINT_URL");
    assert_eq!(src["LIGHTRAG_S3_ALLOW_HTTP"], ".env AWS_ALLOW_HTTP");
    assert_eq!(src["LIGHTRAG_S3_REGION"], ".env LIGHTRAG_S3_REGION");
    assert_eq!(src["LIGHTRAG_PORT"], "environment LIGHTRAG_PORT");
    assert_eq!(src["LIGHTRAG_RPO"], "default");
}
