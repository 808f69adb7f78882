use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfigError, InvalidVariable};
use crate::parse::{parse_bool, parse_duration, parse_int};
use crate::secret::Secret;
use crate::tls::{LIGHTRAG_TLS_VARIABLES, TlsSettings};

const DAY: u64 = 86_400;

/// Shortest accepted API key and metrics token, in characters: short keys fall to guessing
/// even with the per-address limit on failed attempts.
pub const MIN_KEY_CHARS: usize = 16;

/// One documented variable: its name, its default (as text, parsed like a user value; empty =
/// unset) and what it means. [`VARIABLES`] is the single source of names and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariableDoc {
    /// Environment variable name.
    pub name: &'static str,
    /// Default value as text (empty: unset).
    pub default: &'static str,
    /// What the variable controls and its accepted form.
    pub meaning: &'static str,
    /// The ecosystem's names for the same setting (LightRAG's `.env`, the AWS SDK and
    /// object_store), read in this order when the variable itself is unset.
    pub aliases: &'static [&'static str],
}

const fn var(name: &'static str, default: &'static str, meaning: &'static str) -> VariableDoc {
    VariableDoc {
        name,
        default,
        meaning,
        aliases: &[],
    }
}

const fn aliased(
    name: &'static str,
    aliases: &'static [&'static str],
    default: &'static str,
    meaning: &'static str,
) -> VariableDoc {
    VariableDoc {
        name,
        default,
        meaning,
        aliases,
    }
}

/// Where a setting's value came from (`lightrag-ops config` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueSource {
    /// Nothing set: the documented default.
    Default,
    /// The process environment, under this variable name.
    Environment(&'static str),
    /// The `.env` file, under this variable name.
    DotEnv(&'static str),
}

impl std::fmt::Display for ValueSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Environment(v) => write!(f, "environment {v}"),
            Self::DotEnv(v) => write!(f, ".env {v}"),
        }
    }
}

/// Every alias of every variable (read besides the `LIGHTRAG_*` variables).
fn is_alias(name: &str) -> bool {
    VARIABLES.iter().any(|d| d.aliases.contains(&name))
}

/// Every variable lightrag-ops reads, with its default. The README's table mirrors this list.
pub const VARIABLES: &[VariableDoc] = &[
    aliased(
        "LIGHTRAG_WORKING_DIR",
        &["WORKING_DIR"],
        "./rag_storage",
        "LightRAG working directory whose graphs are protected (root files = graph `default`, each workspace subfolder and `graphs/<id>/` = one graph)",
    ),
    var(
        "LIGHTRAG_BACKUP_STORAGE",
        "./lightrag_backups",
        "Backup repository: a local directory, file://…, s3://bucket/prefix, az://container/prefix or gs://bucket/prefix (credentials from the standard AWS_*, AZURE_*, GOOGLE_* variables)",
    ),
    aliased(
        "LIGHTRAG_S3_ENDPOINT",
        &["AWS_ENDPOINT_URL", "AWS_ENDPOINT"],
        "",
        "Custom S3/Azure endpoint for object-store repositories and targets (MinIO, Ceph, R2, local servers), e.g. http://127.0.0.1:9000",
    ),
    aliased(
        "LIGHTRAG_S3_REGION",
        &["AWS_REGION", "AWS_DEFAULT_REGION"],
        "",
        "S3 region (default: AWS_REGION, else us-east-1)",
    ),
    var(
        "LIGHTRAG_S3_PATH_STYLE",
        "false",
        "Path-style S3 addressing (needed by most self-hosted S3 servers)",
    ),
    aliased(
        "LIGHTRAG_S3_ALLOW_HTTP",
        &["AWS_ALLOW_HTTP"],
        "false",
        "Allow plain-HTTP object-store endpoints (local servers only)",
    ),
    var(
        "LIGHTRAG_BACKUP_RETENTION_DAYS",
        "30",
        "Snapshots younger than this are always kept (bare number = days, or 12h, 2w…)",
    ),
    var(
        "LIGHTRAG_BACKUP_KEEP_LAST",
        "3",
        "GFS: always keep the newest N snapshots per graph",
    ),
    var(
        "LIGHTRAG_BACKUP_KEEP_HOURLY",
        "0",
        "GFS: keep the newest snapshot of each of the last N hours",
    ),
    var(
        "LIGHTRAG_BACKUP_KEEP_DAILY",
        "0",
        "GFS: keep the newest snapshot of each of the last N days",
    ),
    var(
        "LIGHTRAG_BACKUP_KEEP_WEEKLY",
        "0",
        "GFS: keep the newest snapshot of each of the last N ISO weeks",
    ),
    var(
        "LIGHTRAG_BACKUP_KEEP_MONTHLY",
        "0",
        "GFS: keep the newest snapshot of each of the last N months",
    ),
    var(
        "LIGHTRAG_BACKUP_COMPRESSION_LEVEL",
        "1",
        "zstd level of a new repository, 1–19",
    ),
    var(
        "LIGHTRAG_BACKUP_EXCLUDE",
        "",
        "Comma-separated glob patterns of files in a graph folder not to back up",
    ),
    var(
        "LIGHTRAG_BACKUP_SETTLE",
        "1s",
        "A snapshot is save-consistent when the graph folder was still this long around its reads",
    ),
    var(
        "LIGHTRAG_BACKUP_ENCRYPTION_KEY",
        "",
        "Secret: enables encryption at rest with this key (at least 16 characters)",
    ),
    var(
        "LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE",
        "",
        "File holding the encryption key (instead of LIGHTRAG_BACKUP_ENCRYPTION_KEY)",
    ),
    var(
        "LIGHTRAG_REPLICATION_ENABLED",
        "false",
        "Replicate snapshots to the configured targets after each backup and on LIGHTRAG_REPLICATION_INTERVAL",
    ),
    var(
        "LIGHTRAG_REPLICATION_PATH_ROOTS",
        "",
        "Comma-separated absolute directories under which directory replication targets may be created through the API (empty: none)",
    ),
    var(
        "LIGHTRAG_REPLICA_DIR",
        "./lightrag_replica",
        "Where this server stores replicas that peer lightrag-ops servers send it (needs LIGHTRAG_REPLICATION_RECEIVE_KEY or LIGHTRAG_API_KEY)",
    ),
    var(
        "LIGHTRAG_RECOVERY_DB_URL",
        "sqlite:///./lightrag_recovery.db",
        "Catalog database: sqlite:///./relative.db, sqlite:////abs/path.db, or postgres://user:pass@host/db",
    ),
    var(
        "LIGHTRAG_RECOVERY_SCRATCH_DIR",
        "",
        "Where recovery-point drills (validation restores) write: an on-disk directory; default: .lightrag-drills beside a local repository, else <working dir>/.lightrag-ops/drills (never the system temp dir, often RAM-backed)",
    ),
    var(
        "LIGHTRAG_METRICS_ENABLED",
        "true",
        "Record metrics and serve Prometheus text on LIGHTRAG_METRICS_PORT",
    ),
    var(
        "LIGHTRAG_METRICS_PORT",
        "9090",
        "Port of the Prometheus metrics listener, on LIGHTRAG_METRICS_HOST (0 = any free port)",
    ),
    var(
        "LIGHTRAG_METRICS_HOST",
        "127.0.0.1",
        "Address the Prometheus metrics listener binds (an IP address, or localhost); independent of LIGHTRAG_HOST",
    ),
    var(
        "LIGHTRAG_METRICS_TOKEN",
        "",
        "Secret: when set, the metrics listener needs it as Authorization: Bearer <token> (Prometheus' `authorization` scrape setting; at least 16 characters)",
    ),
    var(
        "LIGHTRAG_METRICS_TOKEN_FILE",
        "",
        "File holding the metrics bearer token (instead of LIGHTRAG_METRICS_TOKEN)",
    ),
    var(
        "LIGHTRAG_HOST",
        "127.0.0.1",
        "Address the HTTP API binds (an IP address, or localhost)",
    ),
    var(
        "LIGHTRAG_PORT",
        "9622",
        "Port of the HTTP API (beside LightRAG's 9621; 0 = any free port)",
    ),
    var(
        "LIGHTRAG_API_KEY",
        "",
        "Secret: when set, every /api/v1 route needs it in X-API-Key or Authorization: Bearer (at least 16 characters; e.g. `openssl rand -hex 32`)",
    ),
    var(
        "LIGHTRAG_API_KEY_FILE",
        "",
        "File holding the API key (instead of LIGHTRAG_API_KEY)",
    ),
    var(
        "LIGHTRAG_WHITELIST_PATHS",
        "/health,/livez,/readyz",
        "Comma-separated paths open without the API key; `/prefix/*` opens a subtree",
    ),
    var(
        "LIGHTRAG_ALLOWED_HOSTS",
        "",
        "Comma-separated Host names (without port) the API answers besides localhost, 127.0.0.1 and [::1]; `*` = any. Empty: any host when LIGHTRAG_API_KEY is set, loopback names only without it (DNS-rebinding protection)",
    ),
    var(
        "LIGHTRAG_ALLOW_INSECURE",
        "false",
        "Allow binding a non-loopback LIGHTRAG_HOST without an API key",
    ),
    // TLS (crate::tls): both files or neither; LightRAG's SSL=true + SSL_CERTFILE/SSL_KEYFILE
    // are read when neither is set.
    var(
        "LIGHTRAG_SSL_CERTFILE",
        "",
        "PEM certificate chain (leaf first): with LIGHTRAG_SSL_KEYFILE, the API and the metrics listener serve HTTPS only (TLS 1.2/1.3). Unset: LightRAG's SSL=true with SSL_CERTFILE/SSL_KEYFILE from the shared .env, else plain HTTP",
    ),
    var(
        "LIGHTRAG_SSL_KEYFILE",
        "",
        "PEM private key (PKCS#8, RSA or EC; unencrypted) of LIGHTRAG_SSL_CERTFILE",
    ),
    var(
        "LIGHTRAG_AUTO_BACKUP_INTERVAL",
        "1h",
        "Automatic backup of every graph (0 = off)",
    ),
    var(
        "LIGHTRAG_BACKUP_ON_CHANGE",
        "false",
        "Back up a graph when its files change (watched with inotify), once a save has settled",
    ),
    var(
        "LIGHTRAG_BACKUP_ON_CHANGE_QUIET",
        "1s",
        "A change is backed up once no file of the graph was written for this long",
    ),
    var(
        "LIGHTRAG_BACKUP_ON_CHANGE_MIN_INTERVAL",
        "2s",
        "Least time between two change-triggered backups of one graph",
    ),
    var(
        "LIGHTRAG_BACKUP_ON_CHANGE_MAX_DELAY",
        "60s",
        "A change is backed up within this long even if writes never pause",
    ),
    var(
        "LIGHTRAG_BACKUP_WATCH_POLL",
        "0",
        "Poll the working directory at this interval instead of inotify (network filesystems; 0 = inotify)",
    ),
    var(
        "LIGHTRAG_REPLICATION_INTERVAL",
        "5m",
        "Periodic replication sync (0 = off)",
    ),
    var(
        "LIGHTRAG_HEALTH_CHECK_INTERVAL",
        "30s",
        "Graph and component health checks (0 = off)",
    ),
    var(
        "LIGHTRAG_RETENTION_INTERVAL",
        "6h",
        "Retention (forget by the keep rules) followed by prune (0 = off)",
    ),
    var(
        "LIGHTRAG_VERIFY_INTERVAL",
        "24h",
        "Repository verification and recovery-point drills (0 = off)",
    ),
    var(
        "LIGHTRAG_RPO",
        "2h",
        "A graph whose last successful backup is older than this is DEGRADED",
    ),
    var(
        "LIGHTRAG_REPLICATION_MAX_LAG",
        "15m",
        "A graph whose replication lag exceeds this is DEGRADED",
    ),
    var(
        "LIGHTRAG_REPLICATION_DELETE_GRACE",
        "7d",
        "Targets keep a snapshot forgotten on the primary this long before syncs delete it (0 = mirror forgets at once)",
    ),
    var(
        "LIGHTRAG_EVENT_LOG_RETENTION",
        "90",
        "Events older than this are purged (bare number = days)",
    ),
    var(
        "LIGHTRAG_LOG_FORMAT",
        "text",
        "Log output: text or json (filter with RUST_LOG)",
    ),
    // ---- Peer replication security (issue 14 #2) ----
    var(
        "LIGHTRAG_REPLICATION_RECEIVE_KEY",
        "",
        "Secret: a receive-only key for peers sending replicas to this server; it authorises /api/v1/replication/receive/* and nothing else (at least 16 characters; give it to the sending server as the peer target's api_key instead of LIGHTRAG_API_KEY)",
    ),
    var(
        "LIGHTRAG_REPLICATION_RECEIVE_KEY_FILE",
        "",
        "File holding the receive-only key (instead of LIGHTRAG_REPLICATION_RECEIVE_KEY)",
    ),
    var(
        "LIGHTRAG_REPLICATION_ALLOW_HTTP",
        "false",
        "Allow peer targets at plain http:// URLs other than loopback (the peer's key then crosses the network in cleartext; prefer https://)",
    ),
    var(
        "LIGHTRAG_REPLICATION_SECRET_KEY_FILE",
        "",
        "File holding the key that encrypts replication target secrets in the catalog (created 0600 on first use); default: beside a SQLite catalog (`<catalog>.key`), `./lightrag_recovery.key` with PostgreSQL",
    ),
];

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Which snapshots retention keeps (a snapshot is kept when any rule selects it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep everything younger than this (`LIGHTRAG_BACKUP_RETENTION_DAYS`).
    pub keep_within: Duration,
    /// Keep the newest N.
    pub keep_last: u32,
    /// Keep the newest of each of the last N hours.
    pub keep_hourly: u32,
    /// Keep the newest of each of the last N days.
    pub keep_daily: u32,
    /// Keep the newest of each of the last N ISO weeks.
    pub keep_weekly: u32,
    /// Keep the newest of each of the last N months.
    pub keep_monthly: u32,
}

/// Change-triggered backups (`LIGHTRAG_BACKUP_ON_CHANGE*`, `LIGHTRAG_BACKUP_WATCH_POLL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeBackup {
    /// Watch the graphs and back each up when it changed.
    pub enabled: bool,
    /// No write for this long: the save is over.
    pub quiet: Duration,
    /// Least time between two change-triggered backups of one graph.
    pub min_interval: Duration,
    /// Longest a change waits for a pause in the writes.
    pub max_delay: Duration,
    /// Poll instead of inotify (zero = inotify).
    pub poll: Duration,
}

/// The whole lightrag-ops configuration. Build it with [`Config::load`] (process environment +
/// `.env`) or [`Config::from_vars`] (an explicit set of variables).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// `LIGHTRAG_WORKING_DIR`.
    pub working_dir: PathBuf,
    /// `LIGHTRAG_BACKUP_STORAGE`.
    pub backup_storage: String,
    /// `LIGHTRAG_S3_ENDPOINT`.
    pub s3_endpoint: Option<String>,
    /// `LIGHTRAG_S3_REGION`.
    pub s3_region: Option<String>,
    /// `LIGHTRAG_S3_PATH_STYLE`.
    pub s3_path_style: bool,
    /// `LIGHTRAG_S3_ALLOW_HTTP`.
    pub s3_allow_http: bool,
    /// Retention rules (`LIGHTRAG_BACKUP_RETENTION_DAYS`, `LIGHTRAG_BACKUP_KEEP_*`).
    pub retention: RetentionPolicy,
    /// `LIGHTRAG_BACKUP_COMPRESSION_LEVEL`.
    pub compression_level: i32,
    /// `LIGHTRAG_BACKUP_EXCLUDE`.
    pub backup_excludes: Vec<String>,
    /// `LIGHTRAG_BACKUP_SETTLE`: how long a graph folder must have been still for a LightRAG
    /// save to count as finished (save-consistent snapshots).
    pub backup_settle: Duration,
    /// `LIGHTRAG_BACKUP_ENCRYPTION_KEY` or the content of `LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE`.
    pub encryption_key: Option<Secret>,
    /// `LIGHTRAG_REPLICATION_ENABLED`.
    pub replication_enabled: bool,
    /// `LIGHTRAG_REPLICATION_PATH_ROOTS`.
    pub replication_path_roots: Vec<PathBuf>,
    /// `LIGHTRAG_REPLICA_DIR`.
    pub replica_dir: PathBuf,
    /// `LIGHTRAG_RECOVERY_DB_URL` (may hold a password, hence secret; see [`crate::redact_url`]).
    pub recovery_db_url: Secret,
    /// `LIGHTRAG_RECOVERY_SCRATCH_DIR` (`None`: beside a local repository or under the working
    /// directory).
    pub recovery_scratch_dir: Option<PathBuf>,
    /// `LIGHTRAG_METRICS_ENABLED`.
    pub metrics_enabled: bool,
    /// `LIGHTRAG_METRICS_PORT`.
    pub metrics_port: u16,
    /// `LIGHTRAG_METRICS_HOST`.
    pub metrics_host: IpAddr,
    /// `LIGHTRAG_METRICS_TOKEN` or the content of `LIGHTRAG_METRICS_TOKEN_FILE`.
    pub metrics_token: Option<Secret>,
    /// `LIGHTRAG_HOST`.
    pub host: IpAddr,
    /// `LIGHTRAG_PORT`.
    pub port: u16,
    /// `LIGHTRAG_API_KEY` or the content of `LIGHTRAG_API_KEY_FILE`.
    pub api_key: Option<Secret>,
    /// `LIGHTRAG_WHITELIST_PATHS`.
    pub whitelist_paths: Vec<String>,
    /// `LIGHTRAG_ALLOWED_HOSTS`, lowercased (`*` = any).
    pub allowed_hosts: Vec<String>,
    /// `LIGHTRAG_ALLOW_INSECURE`.
    pub allow_insecure: bool,
    /// TLS of the API and metrics listeners (`LIGHTRAG_SSL_CERTFILE`/`LIGHTRAG_SSL_KEYFILE`,
    /// or LightRAG's `SSL=true` + `SSL_CERTFILE`/`SSL_KEYFILE`); `None`: plain HTTP.
    pub tls: Option<TlsSettings>,
    /// `LIGHTRAG_AUTO_BACKUP_INTERVAL` (zero = off).
    pub auto_backup_interval: Duration,
    /// `LIGHTRAG_BACKUP_ON_CHANGE` and its bounds.
    pub backup_on_change: ChangeBackup,
    /// `LIGHTRAG_REPLICATION_INTERVAL` (zero = off).
    pub replication_interval: Duration,
    /// `LIGHTRAG_HEALTH_CHECK_INTERVAL` (zero = off).
    pub health_check_interval: Duration,
    /// `LIGHTRAG_RETENTION_INTERVAL` (zero = off).
    pub retention_interval: Duration,
    /// `LIGHTRAG_VERIFY_INTERVAL` (zero = off).
    pub verify_interval: Duration,
    /// `LIGHTRAG_RPO`.
    pub rpo: Duration,
    /// `LIGHTRAG_REPLICATION_MAX_LAG`.
    pub replication_max_lag: Duration,
    /// `LIGHTRAG_REPLICATION_DELETE_GRACE`: how long targets keep snapshots the primary forgot.
    pub replication_delete_grace: Duration,
    /// `LIGHTRAG_EVENT_LOG_RETENTION`.
    pub event_log_retention: Duration,
    /// `LIGHTRAG_LOG_FORMAT`.
    pub log_format: LogFormat,
    // ---- Peer replication security (issue 14 #2) ----
    /// `LIGHTRAG_REPLICATION_RECEIVE_KEY` or the content of
    /// `LIGHTRAG_REPLICATION_RECEIVE_KEY_FILE`: authorises the peer receive routes only.
    pub replication_receive_key: Option<Secret>,
    /// `LIGHTRAG_REPLICATION_ALLOW_HTTP`: peer targets may use `http://` beyond loopback.
    pub replication_allow_http: bool,
    /// `LIGHTRAG_REPLICATION_SECRET_KEY_FILE` (`None`: the default beside the catalog).
    pub replication_secret_key_file: Option<PathBuf>,
    /// Where each variable's value came from (variables not listed: their default).
    pub sources: BTreeMap<&'static str, ValueSource>,
}

impl Default for Config {
    /// The documented defaults (no variable set).
    fn default() -> Self {
        Self::from_vars(std::iter::empty::<(String, String)>())
            .expect("documented defaults are valid")
    }
}

impl Config {
    /// Loads from the process environment and `./.env` (if present); the environment wins.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_with_dotenv(Some(Path::new(".env")))
    }

    /// Loads from the process environment and the given `.env` file (skipped if it does not
    /// exist, or when `None`); a variable in the environment wins over the file.
    pub fn load_with_dotenv(dotenv: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_sources(std::env::vars_os(), dotenv)
    }

    /// Builds the configuration from an environment (`LIGHTRAG_*` entries are used) layered over
    /// a `.env` file (skipped when `None` or missing); the environment wins.
    pub fn from_sources(
        env: impl IntoIterator<Item = (OsString, OsString)>,
        dotenv: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let mut vars: HashMap<String, String> = HashMap::new();
        let mut from_dotenv: HashSet<String> = HashSet::new();
        if let Some(path) = dotenv.filter(|p| p.exists()) {
            let iter = dotenvy::from_path_iter(path).map_err(|source| ConfigError::DotEnv {
                path: path.to_owned(),
                source,
            })?;
            for item in iter {
                let (k, v) = item.map_err(|source| ConfigError::DotEnv {
                    path: path.to_owned(),
                    source,
                })?;
                from_dotenv.insert(k.clone());
                vars.insert(k, v);
            }
        }
        let mut invalid = Vec::new();
        for (k, v) in env {
            let Some(k) = k.to_str().filter(|k| {
                k.starts_with("LIGHTRAG_") || LIGHTRAG_TLS_VARIABLES.contains(k) || is_alias(k)
            }) else {
                continue;
            };
            match v.into_string() {
                Ok(v) => {
                    from_dotenv.remove(k);
                    vars.insert(k.to_owned(), v);
                }
                Err(v) => invalid.push(non_utf8(k, &v)),
            }
        }
        if !invalid.is_empty() {
            return Err(ConfigError::Invalid(invalid));
        }
        Self::build(vars, &from_dotenv)
    }

    /// Builds the configuration from exactly these variables (nothing else is read, except the
    /// files named by `*_FILE` variables).
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::build(vars, &HashSet::new())
    }

    /// [`Config::from_vars`], knowing which variables came from the `.env` file.
    fn build<I, K, V>(vars: I, from_dotenv: &HashSet<String>) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        // LightRAG's own TLS variables (no prefix) are kept aside for crate::tls, the
        // ecosystem's names of our settings for the reader.
        let mut lightrag_tls: HashMap<String, String> = HashMap::new();
        let mut aliases: HashMap<String, String> = HashMap::new();
        let prefixed: Vec<(String, String)> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter_map(|(k, v)| {
                if LIGHTRAG_TLS_VARIABLES.contains(&k.as_str()) {
                    lightrag_tls.insert(k, v);
                    None
                } else if is_alias(&k) {
                    aliases.insert(k, v);
                    None
                } else {
                    Some((k, v))
                }
            })
            .collect();
        let raw: HashMap<String, String> = envy::prefixed("LIGHTRAG_")
            .from_iter(prefixed)
            .map_err(ConfigError::Environment)?;
        let mut r = Reader {
            raw,
            aliases,
            from_dotenv: from_dotenv.clone(),
            sources: BTreeMap::new(),
            errors: Vec::new(),
        };
        let secs = |v: &str| parse_duration(v, 1, "seconds");
        let days = |v: &str| parse_duration(v, DAY, "days");
        let count = |v: &str| parse_int::<u32>(v, "a whole number ≥ 0");

        let cfg = Config {
            working_dir: r.get("LIGHTRAG_WORKING_DIR", non_empty_path),
            backup_storage: r.get("LIGHTRAG_BACKUP_STORAGE", non_empty_string),
            s3_endpoint: r.get("LIGHTRAG_S3_ENDPOINT", optional_url),
            s3_region: r.get("LIGHTRAG_S3_REGION", |v| Ok(Some(v.trim().to_owned()).filter(|s| !s.is_empty()))),
            s3_path_style: r.get("LIGHTRAG_S3_PATH_STYLE", parse_bool),
            s3_allow_http: r.get("LIGHTRAG_S3_ALLOW_HTTP", parse_bool),
            retention: RetentionPolicy {
                keep_within: r.get("LIGHTRAG_BACKUP_RETENTION_DAYS", days),
                keep_last: r.get("LIGHTRAG_BACKUP_KEEP_LAST", count),
                keep_hourly: r.get("LIGHTRAG_BACKUP_KEEP_HOURLY", count),
                keep_daily: r.get("LIGHTRAG_BACKUP_KEEP_DAILY", count),
                keep_weekly: r.get("LIGHTRAG_BACKUP_KEEP_WEEKLY", count),
                keep_monthly: r.get("LIGHTRAG_BACKUP_KEEP_MONTHLY", count),
            },
            compression_level: r.get("LIGHTRAG_BACKUP_COMPRESSION_LEVEL", |v| {
                parse_int::<i32>(v, "a whole number from 1 to 19")
                    .and_then(|n| in_range(n, 1, 19, "a whole number from 1 to 19"))
            }),
            backup_excludes: r.get("LIGHTRAG_BACKUP_EXCLUDE", |v| Ok(comma_list(v))),
            backup_settle: r.get("LIGHTRAG_BACKUP_SETTLE", |v| {
                secs(v).and_then(|d| {
                    if d <= Duration::from_secs(60) {
                        Ok(d)
                    } else {
                        Err("at most 60s: a backup waits this long after a change".into())
                    }
                })
            }),
            encryption_key: r.secret(
                "LIGHTRAG_BACKUP_ENCRYPTION_KEY",
                "LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE",
                16,
                "generate one with `lightrag-ops key generate --output FILE` and set LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE",
            ),
            replication_enabled: r.get("LIGHTRAG_REPLICATION_ENABLED", parse_bool),
            replication_path_roots: r.get("LIGHTRAG_REPLICATION_PATH_ROOTS", |v| {
                let items = comma_list(v);
                match items.iter().find(|p| !p.starts_with('/')) {
                    Some(bad) => Err(format!(
                        "entry {bad:?} is not absolute; expected comma-separated absolute directories"
                    )),
                    None => Ok(items.into_iter().map(PathBuf::from).collect()),
                }
            }),
            replica_dir: r.get("LIGHTRAG_REPLICA_DIR", non_empty_path),
            recovery_db_url: r.get_secret("LIGHTRAG_RECOVERY_DB_URL", db_url),
            recovery_scratch_dir: r.get("LIGHTRAG_RECOVERY_SCRATCH_DIR", optional_path),
            metrics_enabled: r.get("LIGHTRAG_METRICS_ENABLED", parse_bool),
            metrics_port: r.get("LIGHTRAG_METRICS_PORT", port),
            metrics_host: r.get("LIGHTRAG_METRICS_HOST", host),
            metrics_token: r.secret(
                "LIGHTRAG_METRICS_TOKEN",
                "LIGHTRAG_METRICS_TOKEN_FILE",
                MIN_KEY_CHARS,
                "generate one with `openssl rand -hex 32` and set LIGHTRAG_METRICS_TOKEN or LIGHTRAG_METRICS_TOKEN_FILE",
            ),
            host: r.get("LIGHTRAG_HOST", host),
            port: r.get("LIGHTRAG_PORT", port),
            api_key: r.secret(
                "LIGHTRAG_API_KEY",
                "LIGHTRAG_API_KEY_FILE",
                MIN_KEY_CHARS,
                "generate one with `openssl rand -hex 32` and set LIGHTRAG_API_KEY or LIGHTRAG_API_KEY_FILE",
            ),
            whitelist_paths: r.get("LIGHTRAG_WHITELIST_PATHS", whitelist),
            allowed_hosts: r.get("LIGHTRAG_ALLOWED_HOSTS", allowed_hosts),
            allow_insecure: r.get("LIGHTRAG_ALLOW_INSECURE", parse_bool),
            tls: {
                let ours = (
                    r.sourced("LIGHTRAG_SSL_CERTFILE").map(|(v, _)| v.trim().to_owned()),
                    r.sourced("LIGHTRAG_SSL_KEYFILE").map(|(v, _)| v.trim().to_owned()),
                );
                crate::tls::resolve(
                    (ours.0.as_deref(), ours.1.as_deref()),
                    |name| {
                        lightrag_tls
                            .get(name)
                            .map(|v| v.trim().to_owned())
                            .filter(|v| !v.is_empty())
                    },
                    &mut r.errors,
                )
            },
            auto_backup_interval: r.get("LIGHTRAG_AUTO_BACKUP_INTERVAL", secs),
            backup_on_change: ChangeBackup {
                enabled: r.get("LIGHTRAG_BACKUP_ON_CHANGE", parse_bool),
                quiet: r.get("LIGHTRAG_BACKUP_ON_CHANGE_QUIET", secs),
                min_interval: r.get("LIGHTRAG_BACKUP_ON_CHANGE_MIN_INTERVAL", secs),
                max_delay: r.get("LIGHTRAG_BACKUP_ON_CHANGE_MAX_DELAY", |v| {
                    secs(v).and_then(positive)
                }),
                poll: r.get("LIGHTRAG_BACKUP_WATCH_POLL", secs),
            },
            replication_interval: r.get("LIGHTRAG_REPLICATION_INTERVAL", secs),
            health_check_interval: r.get("LIGHTRAG_HEALTH_CHECK_INTERVAL", secs),
            retention_interval: r.get("LIGHTRAG_RETENTION_INTERVAL", secs),
            verify_interval: r.get("LIGHTRAG_VERIFY_INTERVAL", secs),
            rpo: r.get("LIGHTRAG_RPO", |v| secs(v).and_then(positive)),
            replication_max_lag: r.get("LIGHTRAG_REPLICATION_MAX_LAG", |v| {
                secs(v).and_then(positive)
            }),
            replication_delete_grace: r.get("LIGHTRAG_REPLICATION_DELETE_GRACE", secs),
            event_log_retention: r.get("LIGHTRAG_EVENT_LOG_RETENTION", |v| {
                days(v).and_then(positive)
            }),
            log_format: r.get("LIGHTRAG_LOG_FORMAT", |v| {
                match v.trim().to_ascii_lowercase().as_str() {
                    "text" => Ok(LogFormat::Text),
                    "json" => Ok(LogFormat::Json),
                    _ => Err("expected text or json".to_owned()),
                }
            }),
            // ---- Peer replication security (issue 14 #2) ----
            replication_receive_key: r.secret(
                "LIGHTRAG_REPLICATION_RECEIVE_KEY",
                "LIGHTRAG_REPLICATION_RECEIVE_KEY_FILE",
                MIN_KEY_CHARS,
                "generate one with `openssl rand -hex 32` and set LIGHTRAG_REPLICATION_RECEIVE_KEY or LIGHTRAG_REPLICATION_RECEIVE_KEY_FILE",
            ),
            replication_allow_http: r.get("LIGHTRAG_REPLICATION_ALLOW_HTTP", parse_bool),
            replication_secret_key_file: r.get(
                "LIGHTRAG_REPLICATION_SECRET_KEY_FILE",
                optional_path,
            ),
            sources: BTreeMap::new(),
        };
        // ---- Peer replication security (issue 14 #2) ----
        if let (Some(receive), Some(api)) = (&cfg.replication_receive_key, &cfg.api_key)
            && crate::constant_time_eq(receive.expose().as_bytes(), api.expose().as_bytes())
        {
            r.errors.push(InvalidVariable {
                variable: "LIGHTRAG_REPLICATION_RECEIVE_KEY",
                value: "***".to_owned(),
                reason: "equals LIGHTRAG_API_KEY; the receive-only key must be a different secret (else it would open every route): generate one with `openssl rand -hex 32`".to_owned(),
            });
        }
        if r.errors.is_empty() {
            Ok(Config {
                sources: r.sources,
                ..cfg
            })
        } else {
            Err(ConfigError::Invalid(r.errors))
        }
    }

    /// True when the API binds a loopback address only.
    pub fn binds_loopback(&self) -> bool {
        self.host.is_loopback()
    }

    /// Whether `path` is open without the API key (`LIGHTRAG_WHITELIST_PATHS`).
    pub fn is_whitelisted(&self, path: &str) -> bool {
        self.whitelist_paths
            .iter()
            .any(|w| match w.strip_suffix("/*") {
                Some(prefix) => path == prefix || path.starts_with(&format!("{prefix}/")),
                None => path == w,
            })
    }
}

/// Raw variables plus the errors found so far; unparseable values fall back to the default so
/// that every problem is reported in one pass.
struct Reader {
    raw: HashMap<String, String>,
    /// Values of the ecosystem's names (`WORKING_DIR`, `AWS_*`), by exact name.
    aliases: HashMap<String, String>,
    /// Variables whose value came from the `.env` file.
    from_dotenv: HashSet<String>,
    sources: BTreeMap<&'static str, ValueSource>,
    errors: Vec<InvalidVariable>,
}

impl Reader {
    fn doc(name: &'static str) -> &'static VariableDoc {
        VARIABLES
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} is missing from VARIABLES"))
    }

    /// The user's value (empty counts as unset), if any.
    fn value(&self, name: &str) -> Option<&str> {
        let key = name.trim_start_matches("LIGHTRAG_").to_ascii_lowercase();
        self.raw
            .get(&key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The value of `name`, else of its first alias that is set, with the variable that gave
    /// it; records where it came from.
    fn sourced(&mut self, name: &'static str) -> Option<(String, &'static str)> {
        let doc = Self::doc(name);
        let found = match self.value(name) {
            Some(v) => Some((v.to_owned(), name)),
            None => doc.aliases.iter().find_map(|a| {
                self.aliases
                    .get(*a)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (v.clone(), *a))
            }),
        };
        if let Some((_, by)) = &found {
            self.note_source(name, by);
        }
        found
    }

    /// `name` got its value from the variable `by`.
    fn note_source(&mut self, name: &'static str, by: &'static str) {
        let source = if self.from_dotenv.contains(by) {
            ValueSource::DotEnv(by)
        } else {
            ValueSource::Environment(by)
        };
        self.sources.insert(name, source);
    }

    fn get<T>(&mut self, name: &'static str, parse: impl Fn(&str) -> Result<T, String>) -> T {
        self.get_inner(name, false, parse)
    }

    fn get_secret(
        &mut self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<String, String>,
    ) -> Secret {
        Secret::new(self.get_inner(name, true, parse))
    }

    fn get_inner<T>(
        &mut self,
        name: &'static str,
        secret: bool,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        let doc = Self::doc(name);
        if let Some((v, by)) = self.sourced(name) {
            match parse(&v) {
                Ok(t) => return t,
                Err(reason) => {
                    let shown = if secret {
                        crate::parse::redact_url(&v)
                    } else {
                        v
                    };
                    self.errors.push(InvalidVariable {
                        variable: by,
                        value: shown,
                        reason,
                    });
                }
            }
        }
        parse(doc.default).unwrap_or_else(|e| panic!("default of {name} is invalid: {e}"))
    }

    /// A secret from `name` or from the file named by `file_name` (not both).
    fn secret(
        &mut self,
        name: &'static str,
        file_name: &'static str,
        min_len: usize,
        how_to_generate: &str,
    ) -> Option<Secret> {
        let direct = self.value(name).map(str::to_owned);
        let file = self.value(file_name).map(str::to_owned);
        let (value, source) = match (direct, file) {
            (None, None) => return None,
            (Some(_), Some(f)) => {
                self.errors.push(InvalidVariable {
                    variable: file_name,
                    value: f,
                    reason: format!("set either {name} or {file_name}, not both"),
                });
                return None;
            }
            (Some(v), None) => (v, name),
            (None, Some(path)) => match std::fs::read_to_string(&path) {
                Ok(content) => (content.trim_end_matches(['\r', '\n']).to_owned(), file_name),
                Err(e) => {
                    self.errors.push(InvalidVariable {
                        variable: file_name,
                        value: path,
                        reason: format!("cannot read the file ({e}); expected a readable file holding the secret"),
                    });
                    return None;
                }
            },
        };
        self.note_source(name, source);
        if value.chars().count() < min_len {
            self.errors.push(InvalidVariable {
                variable: source,
                value: "***".to_owned(),
                reason: format!(
                    "too short; expected at least {min_len} characters: {how_to_generate}"
                ),
            });
            return None;
        }
        Some(Secret::new(value))
    }
}

fn non_utf8(name: &str, _value: &OsString) -> InvalidVariable {
    InvalidVariable {
        variable: VARIABLES
            .iter()
            .find(|d| d.name == name)
            .map_or("LIGHTRAG_*", |d| d.name),
        value: format!("<non-UTF-8 value of {name}>"),
        reason: "expected valid UTF-8 text".to_owned(),
    }
}

fn non_empty_string(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() {
        Err("expected a non-empty path".to_owned())
    } else {
        Ok(v.to_owned())
    }
}

fn non_empty_path(v: &str) -> Result<PathBuf, String> {
    non_empty_string(v).map(PathBuf::from)
}

fn in_range<T: PartialOrd>(n: T, lo: T, hi: T, form: &str) -> Result<T, String> {
    if n >= lo && n <= hi {
        Ok(n)
    } else {
        Err(format!("out of range; expected {form}"))
    }
}

fn port(v: &str) -> Result<u16, String> {
    parse_int::<u16>(v, "a TCP port number from 0 to 65535 (0 = any free port)")
}

fn positive(d: Duration) -> Result<Duration, String> {
    if d.is_zero() {
        Err("must be greater than zero".to_owned())
    } else {
        Ok(d)
    }
}

fn optional_path(v: &str) -> Result<Option<PathBuf>, String> {
    let v = v.trim();
    Ok((!v.is_empty()).then(|| PathBuf::from(v)))
}

fn optional_url(v: &str) -> Result<Option<String>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if (v.starts_with("http://") || v.starts_with("https://")) && !v.contains('@') {
        Ok(Some(v.to_owned()))
    } else {
        Err("expected an http:// or https:// URL without credentials".to_owned())
    }
}

fn comma_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn whitelist(v: &str) -> Result<Vec<String>, String> {
    let items = comma_list(v);
    match items.iter().find(|p| !p.starts_with('/')) {
        Some(bad) => Err(format!(
            "entry {bad:?} is not a path; expected comma-separated paths starting with / (e.g. /health,/livez)"
        )),
        None => Ok(items),
    }
}

/// `LIGHTRAG_ALLOWED_HOSTS`: host names or IP addresses (no scheme, path or port), or `*`.
fn allowed_hosts(v: &str) -> Result<Vec<String>, String> {
    let items = comma_list(v);
    for item in &items {
        let ok = item == "*"
            || (item.starts_with('[')
                && item.ends_with(']')
                && item[1..item.len() - 1]
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok())
            || (!item.is_empty()
                && item
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_'));
        if !ok {
            return Err(format!(
                "entry {item:?} is not a host name; expected comma-separated names or addresses without scheme or port (e.g. backup.example.com,10.0.0.5,[fd00::5]), or *"
            ));
        }
    }
    Ok(items.into_iter().map(|h| h.to_ascii_lowercase()).collect())
}

fn host(v: &str) -> Result<IpAddr, String> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    v.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| {
            "expected an IP address such as 127.0.0.1, 0.0.0.0 or ::1, or localhost".to_owned()
        })
}

fn db_url(v: &str) -> Result<String, String> {
    let v = v.trim();
    let ok = v.starts_with("sqlite://")
        || v.starts_with("postgres://")
        || v.starts_with("postgresql://")
        || (!v.contains("://") && !v.is_empty());
    if ok {
        Ok(v.to_owned())
    } else {
        Err("expected sqlite:///./relative.db, sqlite:////abs/path.db, a file path, or postgres://user:pass@host:5432/db".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_is_read_and_every_default_parses() {
        // Default::default() parses every documented default; this would panic otherwise.
        let _ = Config::default();
        // Every documented name is a distinct LIGHTRAG_ variable.
        let mut names: Vec<_> = VARIABLES.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), VARIABLES.len());
        assert!(names.iter().all(|n| n.starts_with("LIGHTRAG_")));
    }

    #[test]
    fn whitelist_matching() {
        let cfg = Config::from_vars([("LIGHTRAG_WHITELIST_PATHS", "/health, /docs/*")]).unwrap();
        assert!(cfg.is_whitelisted("/health"));
        assert!(!cfg.is_whitelisted("/healthz"));
        assert!(cfg.is_whitelisted("/docs"));
        assert!(cfg.is_whitelisted("/docs/a/b"));
        assert!(!cfg.is_whitelisted("/docsx"));
        assert!(!cfg.is_whitelisted("/api/v1/graphs"));
    }
}
