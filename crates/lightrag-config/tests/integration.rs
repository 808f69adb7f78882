//! Loading the configuration from the environment, `.env` files and `*_FILE` secrets.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use lightrag_config::{Config, ConfigError, LogFormat, VARIABLES};

fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

fn invalid(err: ConfigError) -> Vec<(String, String, String)> {
    err.invalid_variables()
        .iter()
        .map(|i| (i.variable.to_owned(), i.value.clone(), i.reason.clone()))
        .collect()
}

#[test]
fn defaults_match_the_plan_and_the_docs() {
    let c = Config::from_vars(std::iter::empty::<(&str, &str)>()).unwrap();
    assert_eq!(c.working_dir.to_str(), Some("./rag_storage"));
    assert_eq!(c.backup_storage, "./lightrag_backups");
    assert_eq!(c.retention.keep_within, Duration::from_secs(30 * 86_400));
    assert_eq!(c.retention.keep_last, 3);
    assert_eq!(
        (
            c.retention.keep_hourly,
            c.retention.keep_daily,
            c.retention.keep_weekly,
            c.retention.keep_monthly
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(c.compression_level, 1);
    assert!(c.backup_excludes.is_empty());
    assert!(c.encryption_key.is_none());
    assert!(!c.replication_enabled);
    assert!(c.s3_endpoint.is_none() && c.s3_region.is_none());
    assert!(!c.s3_path_style && !c.s3_allow_http);
    assert_eq!(c.replica_dir.to_str(), Some("./lightrag_replica"));
    assert!(c.replication_path_roots.is_empty());
    assert_eq!(
        c.recovery_db_url.expose(),
        "sqlite:///./lightrag_recovery.db"
    );
    assert!(c.metrics_enabled);
    assert_eq!(c.metrics_port, 9090);
    assert_eq!(c.metrics_host.to_string(), "127.0.0.1");
    assert!(c.metrics_token.is_none());
    assert!(c.allowed_hosts.is_empty());
    assert_eq!(c.host, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(c.port, 9622);
    assert!(c.api_key.is_none());
    assert_eq!(c.whitelist_paths, ["/health", "/livez", "/readyz"]);
    assert!(!c.allow_insecure);
    assert_eq!(c.auto_backup_interval, Duration::from_secs(3600));
    assert_eq!(c.replication_interval, Duration::from_secs(300));
    assert_eq!(c.health_check_interval, Duration::from_secs(30));
    assert_eq!(c.retention_interval, Duration::from_secs(6 * 3600));
    assert_eq!(c.verify_interval, Duration::from_secs(86_400));
    assert_eq!(c.rpo, Duration::from_secs(7200));
    assert_eq!(c.replication_max_lag, Duration::from_secs(900));
    assert_eq!(c.replication_delete_grace, Duration::from_secs(7 * 86_400));
    assert_eq!(c.event_log_retention, Duration::from_secs(90 * 86_400));
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn every_variable_overrides_its_default() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("enc.key");
    std::fs::write(&key_file, "0123456789abcdef-from-file\n").unwrap();
    let key_file = key_file.to_str().unwrap().to_owned();
    let c = Config::from_vars([
        ("LIGHTRAG_WORKING_DIR", "/srv/rag"),
        ("LIGHTRAG_BACKUP_STORAGE", "/srv/backups"),
        ("LIGHTRAG_BACKUP_RETENTION_DAYS", "7"),
        ("LIGHTRAG_BACKUP_KEEP_LAST", "5"),
        ("LIGHTRAG_BACKUP_KEEP_HOURLY", "24"),
        ("LIGHTRAG_BACKUP_KEEP_DAILY", "7"),
        ("LIGHTRAG_BACKUP_KEEP_WEEKLY", "4"),
        ("LIGHTRAG_BACKUP_KEEP_MONTHLY", "12"),
        ("LIGHTRAG_BACKUP_COMPRESSION_LEVEL", "9"),
        ("LIGHTRAG_BACKUP_EXCLUDE", "*.log, tmp/*"),
        ("LIGHTRAG_BACKUP_SETTLE", "2500ms"),
        ("LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE", key_file.as_str()),
        ("LIGHTRAG_REPLICATION_ENABLED", "true"),
        ("LIGHTRAG_S3_ENDPOINT", "http://127.0.0.1:9000"),
        ("LIGHTRAG_S3_REGION", "eu-west-1"),
        ("LIGHTRAG_S3_PATH_STYLE", "true"),
        ("LIGHTRAG_S3_ALLOW_HTTP", "1"),
        ("LIGHTRAG_REPLICA_DIR", "/srv/replica"),
        ("LIGHTRAG_RECOVERY_SCRATCH_DIR", "/srv/drills"),
        ("LIGHTRAG_REPLICATION_PATH_ROOTS", "/mnt/nfs, /srv/copies"),
        (
            "LIGHTRAG_RECOVERY_DB_URL",
            "postgres://ops:pw@127.0.0.1/ops",
        ),
        ("LIGHTRAG_METRICS_ENABLED", "off"),
        ("LIGHTRAG_METRICS_PORT", "9191"),
        ("LIGHTRAG_HOST", "0.0.0.0"),
        ("LIGHTRAG_PORT", "0"),
        ("LIGHTRAG_API_KEY", "k-0123456789abcdef"),
        (
            "LIGHTRAG_ALLOWED_HOSTS",
            "Backup.Example.com, 10.0.0.5,[fd00::5]",
        ),
        ("LIGHTRAG_METRICS_HOST", "0.0.0.0"),
        ("LIGHTRAG_METRICS_TOKEN", "metrics-token-0123456789"),
        ("LIGHTRAG_WHITELIST_PATHS", "/livez"),
        ("LIGHTRAG_ALLOW_INSECURE", "yes"),
        ("LIGHTRAG_AUTO_BACKUP_INTERVAL", "0"),
        ("LIGHTRAG_BACKUP_ON_CHANGE", "true"),
        ("LIGHTRAG_BACKUP_ON_CHANGE_QUIET", "3s"),
        ("LIGHTRAG_BACKUP_ON_CHANGE_MIN_INTERVAL", "20s"),
        ("LIGHTRAG_BACKUP_ON_CHANGE_MAX_DELAY", "2m"),
        ("LIGHTRAG_BACKUP_WATCH_POLL", "5s"),
        ("LIGHTRAG_REPLICATION_INTERVAL", "90s"),
        ("LIGHTRAG_HEALTH_CHECK_INTERVAL", "10"),
        ("LIGHTRAG_RETENTION_INTERVAL", "2h"),
        ("LIGHTRAG_VERIFY_INTERVAL", "6h"),
        ("LIGHTRAG_RPO", "30m"),
        ("LIGHTRAG_REPLICATION_MAX_LAG", "45s"),
        ("LIGHTRAG_REPLICATION_DELETE_GRACE", "36h"),
        ("LIGHTRAG_EVENT_LOG_RETENTION", "14"),
        ("LIGHTRAG_LOG_FORMAT", "JSON"),
    ])
    .unwrap();
    assert_eq!(c.working_dir.to_str(), Some("/srv/rag"));
    assert_eq!(c.backup_storage, "/srv/backups");
    assert_eq!(c.retention.keep_within, Duration::from_secs(7 * 86_400));
    assert_eq!(
        (
            c.retention.keep_last,
            c.retention.keep_hourly,
            c.retention.keep_daily,
            c.retention.keep_weekly,
            c.retention.keep_monthly
        ),
        (5, 24, 7, 4, 12)
    );
    assert_eq!(c.compression_level, 9);
    assert_eq!(c.backup_excludes, ["*.log", "tmp/*"]);
    assert_eq!(
        c.encryption_key.as_ref().unwrap().expose(),
        "0123456789abcdef-from-file"
    );
    assert!(c.replication_enabled);
    assert_eq!(c.s3_endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(c.s3_region.as_deref(), Some("eu-west-1"));
    assert!(c.s3_path_style && c.s3_allow_http);
    assert_eq!(c.replica_dir.to_str(), Some("/srv/replica"));
    assert_eq!(
        c.recovery_scratch_dir.as_deref(),
        Some(std::path::Path::new("/srv/drills"))
    );
    assert_eq!(
        c.replication_path_roots,
        [
            std::path::PathBuf::from("/mnt/nfs"),
            std::path::PathBuf::from("/srv/copies")
        ]
    );
    assert_eq!(
        c.recovery_db_url.expose(),
        "postgres://ops:pw@127.0.0.1/ops"
    );
    assert!(!c.metrics_enabled);
    assert_eq!(c.metrics_port, 9191);
    assert_eq!(c.host.to_string(), "0.0.0.0");
    assert!(!c.binds_loopback());
    assert_eq!(c.port, 0);
    assert_eq!(c.api_key.as_ref().unwrap().expose(), "k-0123456789abcdef");
    assert_eq!(
        c.allowed_hosts,
        ["backup.example.com", "10.0.0.5", "[fd00::5]"]
    );
    assert_eq!(c.metrics_host.to_string(), "0.0.0.0");
    assert_eq!(
        c.metrics_token.as_ref().unwrap().expose(),
        "metrics-token-0123456789"
    );
    assert_eq!(c.whitelist_paths, ["/livez"]);
    assert!(c.allow_insecure);
    assert_eq!(c.auto_backup_interval, Duration::ZERO);
    assert_eq!(
        c.backup_on_change,
        lightrag_config::ChangeBackup {
            enabled: true,
            quiet: Duration::from_secs(3),
            min_interval: Duration::from_secs(20),
            max_delay: Duration::from_secs(120),
            poll: Duration::from_secs(5),
        }
    );
    assert_eq!(c.replication_interval, Duration::from_secs(90));
    assert_eq!(c.health_check_interval, Duration::from_secs(10));
    assert_eq!(c.retention_interval, Duration::from_secs(2 * 3600));
    assert_eq!(c.verify_interval, Duration::from_secs(6 * 3600));
    assert_eq!(c.rpo, Duration::from_secs(1800));
    assert_eq!(c.replication_max_lag, Duration::from_secs(45));
    assert_eq!(c.replication_delete_grace, Duration::from_secs(36 * 3600));
    assert_eq!(c.event_log_retention, Duration::from_secs(14 * 86_400));
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.backup_settle, Duration::from_millis(2500));
}

#[test]
fn ecosystem_names_are_read_when_ours_are_unset_and_ours_win() {
    let c = Config::from_vars([
        ("WORKING_DIR", "/srv/lightrag"),
        ("AWS_ENDPOINT", "http://127.0.0.1:9000"),
        ("AWS_DEFAULT_REGION", "eu-north-1"),
        ("AWS_REGION", "eu-west-3"),
        ("AWS_ALLOW_HTTP", "true"),
    ])
    .unwrap();
    assert_eq!(c.working_dir, std::path::PathBuf::from("/srv/lightrag"));
    assert_eq!(c.s3_endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    // AWS_REGION before AWS_DEFAULT_REGION, as the AWS SDK reads them.
    assert_eq!(c.s3_region.as_deref(), Some("eu-west-3"));
    assert!(c.s3_allow_http);
    assert_eq!(
        c.sources.get("LIGHTRAG_S3_ALLOW_HTTP"),
        Some(&lightrag_config::ValueSource::Environment("AWS_ALLOW_HTTP"))
    );
    let c = Config::from_vars([
        ("WORKING_DIR", "/srv/lightrag"),
        ("LIGHTRAG_WORKING_DIR", "/srv/ours"),
        ("AWS_ALLOW_HTTP", "true"),
        ("LIGHTRAG_S3_ALLOW_HTTP", "false"),
    ])
    .unwrap();
    assert_eq!(c.working_dir, std::path::PathBuf::from("/srv/ours"));
    assert!(!c.s3_allow_http);
    assert_eq!(
        c.sources.get("LIGHTRAG_RPO"),
        None,
        "defaults are not listed"
    );
}

#[test]
fn every_documented_variable_is_exercised_by_the_override_test() {
    let src = concat!(include_str!("integration.rs"), include_str!("tls.rs"));
    for v in VARIABLES {
        // The *_KEY variable and its *_FILE twin are both exercised somewhere in this file.
        assert!(
            src.contains(&format!("\"{}\"", v.name)),
            "{} has no test",
            v.name
        );
    }
}

#[test]
fn environment_wins_over_dotenv_and_dotenv_fills_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let dotenv = dir.path().join(".env");
    std::fs::write(
        &dotenv,
        "# comment\nLIGHTRAG_PORT=9700\nLIGHTRAG_RPO=3h\nLIGHTRAG_API_KEY=from-dotenv-0123456789\nOTHER=1\n",
    )
    .unwrap();
    let c = Config::from_sources(
        env(&[
            ("LIGHTRAG_PORT", "9800"),
            ("PATH", "/bin"),
            ("LIGHTRAG_UNKNOWN", "x"),
        ]),
        Some(&dotenv),
    )
    .unwrap();
    assert_eq!(c.port, 9800, "the real environment wins");
    assert_eq!(
        c.rpo,
        Duration::from_secs(3 * 3600),
        ".env fills what the environment lacks"
    );
    assert_eq!(c.api_key.unwrap().expose(), "from-dotenv-0123456789");

    // A missing .env file is not an error.
    let c = Config::from_sources(env(&[]), Some(&dir.path().join("absent.env"))).unwrap();
    assert_eq!(c.port, 9622);

    // An unparseable .env is a clear error naming the file.
    let bad = dir.path().join("bad.env");
    std::fs::write(&bad, "LIGHTRAG_PORT='unterminated\n").unwrap();
    let err = Config::from_sources(env(&[]), Some(&bad)).unwrap_err();
    assert!(matches!(err, ConfigError::DotEnv { .. }), "{err}");
    assert!(err.to_string().contains("bad.env"), "{err}");
}

#[test]
fn bad_values_are_all_reported_at_once_with_name_value_and_form() {
    let err = Config::from_vars([
        ("LIGHTRAG_PORT", "http"),
        ("LIGHTRAG_METRICS_PORT", "70000"),
        ("LIGHTRAG_BACKUP_RETENTION_DAYS", "a month"),
        ("LIGHTRAG_REPLICATION_ENABLED", "maybe"),
        ("LIGHTRAG_RPO", "0"),
        ("LIGHTRAG_HOST", "my host"),
        ("LIGHTRAG_RECOVERY_DB_URL", "mysql://u:topsecret@db/x"),
        ("LIGHTRAG_WHITELIST_PATHS", "health"),
        ("LIGHTRAG_BACKUP_COMPRESSION_LEVEL", "25"),
        ("LIGHTRAG_LOG_FORMAT", "xml"),
        ("LIGHTRAG_AUTO_BACKUP_INTERVAL", "-1"),
    ])
    .unwrap_err();
    let text = err.to_string();
    let items = invalid(err);
    let names: Vec<_> = items.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "LIGHTRAG_BACKUP_RETENTION_DAYS",
            "LIGHTRAG_BACKUP_COMPRESSION_LEVEL",
            "LIGHTRAG_REPLICATION_ENABLED",
            "LIGHTRAG_RECOVERY_DB_URL",
            "LIGHTRAG_METRICS_PORT",
            "LIGHTRAG_HOST",
            "LIGHTRAG_PORT",
            "LIGHTRAG_WHITELIST_PATHS",
            "LIGHTRAG_AUTO_BACKUP_INTERVAL",
            "LIGHTRAG_RPO",
            "LIGHTRAG_LOG_FORMAT",
        ]
    );
    assert!(
        text.starts_with("invalid configuration (11 problems)"),
        "{text}"
    );
    assert!(
        text.contains("LIGHTRAG_PORT=\"http\": expected a TCP port number"),
        "{text}"
    );
    assert!(
        text.contains("LIGHTRAG_BACKUP_RETENTION_DAYS=\"a month\""),
        "{text}"
    );
    assert!(text.contains("bare whole number of days"), "{text}");
    assert!(
        text.contains("LIGHTRAG_REPLICATION_ENABLED=\"maybe\": expected one of true/false"),
        "{text}"
    );
    assert!(
        text.contains("LIGHTRAG_RPO=\"0\": must be greater than zero"),
        "{text}"
    );
    assert!(text.contains("expected an IP address"), "{text}");
    assert!(
        text.contains("postgres://"),
        "the DB URL error names the accepted form: {text}"
    );
    assert!(
        !text.contains("topsecret"),
        "the DB password must not be echoed: {text}"
    );
    assert!(text.contains("mysql://u:***@db/x"), "{text}");
    assert!(
        text.contains("out of range; expected a whole number from 1 to 19"),
        "{text}"
    );
}

#[test]
fn secrets_never_print() {
    let c = Config::from_vars([
        ("LIGHTRAG_API_KEY", "api-key-value-123"),
        ("LIGHTRAG_BACKUP_ENCRYPTION_KEY", "encryption-key-value-456"),
        (
            "LIGHTRAG_RECOVERY_DB_URL",
            "postgres://u:db-password-789@h/d",
        ),
    ])
    .unwrap();
    let debug = format!("{c:?} {c:#?}");
    for secret in [
        "api-key-value-123",
        "encryption-key-value-456",
        "db-password-789",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked in Debug");
    }
    assert!(debug.contains("Secret(***)"));
}

#[test]
fn secret_sources_are_validated() {
    // Both the value and the file: ambiguous.
    let err = Config::from_vars([
        ("LIGHTRAG_API_KEY", "a"),
        ("LIGHTRAG_API_KEY_FILE", "/etc/key"),
    ])
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("set either LIGHTRAG_API_KEY or LIGHTRAG_API_KEY_FILE"),
        "{err}"
    );
    // An unreadable file.
    let err = Config::from_vars([("LIGHTRAG_API_KEY_FILE", "/nonexistent/key")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("LIGHTRAG_API_KEY_FILE=\"/nonexistent/key\": cannot read the file"),
        "{err}"
    );
    // A short encryption key is rejected without echoing it.
    let err = Config::from_vars([("LIGHTRAG_BACKUP_ENCRYPTION_KEY", "short-key")]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("LIGHTRAG_BACKUP_ENCRYPTION_KEY=\"***\": too short"),
        "{text}"
    );
    assert!(!text.contains("short-key"));
    // An empty value counts as unset (as in .env templates).
    let c = Config::from_vars([("LIGHTRAG_API_KEY", ""), ("LIGHTRAG_PORT", " ")]).unwrap();
    assert!(c.api_key.is_none());
    assert_eq!(c.port, 9622);
}

#[test]
fn non_utf8_environment_values_are_reported() {
    use std::os::unix::ffi::OsStringExt;
    let bad = OsString::from_vec(vec![0x66, 0xff, 0x6f]);
    let err = Config::from_sources(vec![(OsString::from("LIGHTRAG_PORT"), bad)], None).unwrap_err();
    assert!(err.to_string().contains("LIGHTRAG_PORT"), "{err}");
    assert!(err.to_string().contains("UTF-8"), "{err}");
}

#[test]
fn readme_documents_every_variable_with_its_default() {
    let readme = include_str!("../../../README.md");
    for v in VARIABLES {
        let default = if v.default.is_empty() {
            "(unset)".to_owned()
        } else {
            format!("`{}`", v.default)
        };
        let row = format!("| `{}` | {} |", v.name, default);
        assert!(readme.contains(&row), "README lacks the row {row}");
    }
}

/// Issue 13 #4: the retention age is a duration, never rounded to whole days.
#[test]
fn retention_age_keeps_sub_day_precision() {
    for (value, secs) in [("12h", 12 * 3600), ("36h", 36 * 3600), ("2", 2 * 86_400)] {
        let c = Config::from_vars([("LIGHTRAG_BACKUP_RETENTION_DAYS", value)]).unwrap();
        assert_eq!(
            c.retention.keep_within,
            Duration::from_secs(secs),
            "{value}"
        );
    }
}

/// Issue 14 #5: a short API key (or metrics token) stops start-up with a message that names the
/// variable and how to make a good one, without echoing the value.
#[test]
fn short_api_keys_and_tokens_are_refused() {
    let err = Config::from_vars([("LIGHTRAG_API_KEY", "correct-horse")]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("LIGHTRAG_API_KEY=\"***\": too short; expected at least 16 characters"),
        "{text}"
    );
    assert!(text.contains("openssl rand -hex 32"), "{text}");
    assert!(text.contains("LIGHTRAG_API_KEY_FILE"), "{text}");
    assert!(!text.contains("correct-horse"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, "short\n").unwrap();
    let file = file.display().to_string();
    let err = Config::from_vars([("LIGHTRAG_API_KEY_FILE", file.as_str())]).unwrap_err();
    assert!(
        err.to_string()
            .contains("LIGHTRAG_API_KEY_FILE=\"***\": too short"),
        "{err}"
    );

    let err = Config::from_vars([("LIGHTRAG_METRICS_TOKEN", "tok")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("LIGHTRAG_METRICS_TOKEN=\"***\": too short"),
        "{err}"
    );
    let token = dir.path().join("token");
    std::fs::write(&token, "scrape-token-0123456789\n").unwrap();
    let token = token.display().to_string();
    let c = Config::from_vars([("LIGHTRAG_METRICS_TOKEN_FILE", token.as_str())]).unwrap();
    assert_eq!(c.metrics_token.unwrap().expose(), "scrape-token-0123456789");
    // Exactly 16 characters is enough.
    let c = Config::from_vars([("LIGHTRAG_API_KEY", "0123456789abcdef")]).unwrap();
    assert_eq!(c.api_key.unwrap().expose().len(), 16);
}

/// Issue 14 #1: LIGHTRAG_ALLOWED_HOSTS takes names and addresses, never URLs or ports.
#[test]
fn allowed_hosts_are_validated() {
    for bad in ["http://x.example", "x.example:9622", "x/y", "[not-v6]"] {
        let err = Config::from_vars([("LIGHTRAG_ALLOWED_HOSTS", bad)]).unwrap_err();
        assert!(
            err.to_string().contains("LIGHTRAG_ALLOWED_HOSTS"),
            "{bad}: {err}"
        );
    }
    let c = Config::from_vars([("LIGHTRAG_ALLOWED_HOSTS", "*")]).unwrap();
    assert_eq!(c.allowed_hosts, ["*"]);
}

/// Issue 14 #2: the receive-only key is held to the API key's rules (at least 16 characters,
/// from the variable or a file, never echoed) and must differ from the API key.
#[test]
fn replication_receive_key_is_validated() {
    let err = Config::from_vars([("LIGHTRAG_REPLICATION_RECEIVE_KEY", "short-recv")]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(
            "LIGHTRAG_REPLICATION_RECEIVE_KEY=\"***\": too short; expected at least 16 characters"
        ),
        "{text}"
    );
    assert!(!text.contains("short-recv"), "{text}");
    let same = "the-same-key-0123456789";
    let err = Config::from_vars([
        ("LIGHTRAG_API_KEY", same),
        ("LIGHTRAG_REPLICATION_RECEIVE_KEY", same),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("equals LIGHTRAG_API_KEY"), "{err}");
    assert!(!err.to_string().contains(same), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("receive.key");
    std::fs::write(&file, "receive-key-from-file-0123\n").unwrap();
    let file = file.display().to_string();
    let c = Config::from_vars([
        ("LIGHTRAG_API_KEY", "admin-key-0123456789"),
        ("LIGHTRAG_REPLICATION_RECEIVE_KEY_FILE", file.as_str()),
        ("LIGHTRAG_REPLICATION_ALLOW_HTTP", "true"),
        (
            "LIGHTRAG_REPLICATION_SECRET_KEY_FILE",
            "/var/lib/lightrag-ops/targets.key",
        ),
    ])
    .unwrap();
    assert_eq!(
        c.replication_receive_key.unwrap().expose(),
        "receive-key-from-file-0123"
    );
    assert!(c.replication_allow_http);
    assert_eq!(
        c.replication_secret_key_file.as_deref(),
        Some(std::path::Path::new("/var/lib/lightrag-ops/targets.key"))
    );
    let d = Config::default();
    assert!(d.replication_receive_key.is_none() && !d.replication_allow_http);
    assert!(d.replication_secret_key_file.is_none());
}
