//! Command-line interface: argument parsing and the commands that work without a server.

mod key;
mod progress;
mod recovery;
mod replication;
mod repo;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use lightrag_config::{Config, VARIABLES, format_duration, redact_url};

/// Backups, replication, recovery points and monitoring for LightRAG knowledge graphs.
///
/// Configuration comes from LIGHTRAG_* environment variables and a `.env` file (the environment
/// wins); see the README for the table of variables.
///
/// Exit codes: 0 success, 1 operation failed, 2 invalid configuration or usage, 3 damage found
/// (verify) or partial result.
#[derive(Debug, Parser)]
#[command(name = "lightrag-ops", version, about, long_about)]
pub struct Cli {
    /// The `.env` file to read (missing is fine).
    #[arg(long, global = true, value_name = "PATH", default_value = ".env")]
    pub env_file: PathBuf,

    /// Machine-readable JSON on stdout (no progress bars).
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand, Default)]
pub enum Command {
    /// Run the server: HTTP API, dashboard, scheduler and the Prometheus listener (default).
    #[default]
    Serve,
    /// Back up graphs now.
    Backup(repo::BackupArgs),
    /// List snapshots.
    Snapshots(repo::SnapshotsArgs),
    /// Restore a snapshot into a directory or over its graph (in place).
    Restore(repo::RestoreArgs),
    /// Check the repository; --read-data re-hashes every chunk. Exit code 3 on damage.
    Verify(repo::VerifyArgs),
    /// Remove snapshots that the retention rules do not keep (recovery points are kept).
    Forget(repo::ForgetArgs),
    /// Delete repository data no snapshot references.
    Prune(repo::PruneArgs),
    /// Rebuild the index from the packs that exist and mark bad or missing chunks so the next
    /// backup stores them again; lists the snapshots that stay damaged (exit 3 if any).
    Repair(repo::RepairArgs),
    /// Compare two snapshots: files and LightRAG counts (docs, entities, relations, …).
    Diff(repo::DiffArgs),
    /// Repository size, deduplication ratio and per-graph figures.
    Stats,
    /// Repository storage checks.
    #[command(subcommand)]
    Repo(repo::RepoCommand),
    /// Replication targets: list, add, remove.
    #[command(subcommand)]
    Targets(replication::TargetsCommand),
    /// Sync snapshots to replication targets now (exit 3 if a sync failed).
    Replicate {
        /// Only this graph.
        #[arg(long)]
        graph: Option<String>,
        /// Only this target (name or id).
        #[arg(long)]
        target: Option<String>,
    },
    /// Snapshot catalog maintenance.
    #[command(subcommand)]
    Catalog(recovery::CatalogCommand),
    /// Recovery points: create, list, validate, restore, delete.
    #[command(subcommand)]
    Recovery(recovery::RecoveryCommand),
    /// Print the effective configuration (secrets redacted) and exit.
    Config,
    /// Recovery database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// Encryption keys: `key generate [--output FILE]` makes a random repository key.
    #[command(subcommand)]
    Key(key::KeyCommand),
}

/// `db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations (the server also does this at start-up).
    Migrate,
    /// List applied and pending migrations.
    Status,
}

/// How a successful command ended (maps to the exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 3: damage found or only part of the work done.
    Damaged,
}

/// Runs a command that needs no server.
pub fn run(c: &Config, cmd: &Command, json: bool) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Serve => unreachable!("serve is run by main"),
        Command::Backup(a) => repo::backup(c, a, json),
        Command::Snapshots(a) => repo::snapshots(c, a, json),
        Command::Restore(a) => repo::restore(c, a, json),
        Command::Verify(a) => repo::verify(c, a, json),
        Command::Forget(a) => repo::forget(c, a, json),
        Command::Prune(a) => repo::prune(c, a, json),
        Command::Repair(a) => repo::repair(c, a, json),
        Command::Diff(a) => repo::diff(c, a, json),
        Command::Stats => repo::stats(c, json),
        Command::Repo(cmd) => repo::repo(c, cmd, json),
        Command::Targets(cmd) => replication::targets(c, cmd, json),
        Command::Replicate { graph, target } => {
            replication::replicate(c, graph.as_deref(), target.as_deref(), json)
        }
        Command::Catalog(cmd) => recovery::catalog(c, cmd, json),
        Command::Recovery(cmd) => recovery::recovery(c, cmd, json),
        Command::Config => print_config(c, json).map(|()| Outcome::Ok),
        Command::Db(d) => run_db(c, d).map(|()| Outcome::Ok),
        Command::Key(k) => key::key(k, json).map(|()| Outcome::Ok),
    }
}

impl Cli {
    /// Loads the configuration from the environment and `--env-file`.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        Config::load_with_dotenv(Some(&self.env_file)).map_err(anyhow::Error::new)
    }
}

/// The effective configuration as `(variable, value)` pairs, secrets shown as `***`.
pub fn effective_config(c: &Config) -> Vec<(&'static str, String)> {
    let secret =
        |s: &Option<lightrag_config::Secret>| if s.is_some() { "***" } else { "" }.to_owned();
    let d = |d: std::time::Duration| format_duration(d);
    let r = &c.retention;
    let mut values: Vec<(&'static str, String)> = vec![
        ("LIGHTRAG_WORKING_DIR", c.working_dir.display().to_string()),
        ("LIGHTRAG_BACKUP_STORAGE", c.backup_storage.clone()),
        (
            "LIGHTRAG_S3_ENDPOINT",
            c.s3_endpoint.clone().unwrap_or_default(),
        ),
        (
            "LIGHTRAG_S3_REGION",
            c.s3_region.clone().unwrap_or_default(),
        ),
        ("LIGHTRAG_S3_PATH_STYLE", c.s3_path_style.to_string()),
        ("LIGHTRAG_S3_ALLOW_HTTP", c.s3_allow_http.to_string()),
        ("LIGHTRAG_BACKUP_RETENTION_DAYS", d(r.keep_within)),
        ("LIGHTRAG_BACKUP_KEEP_LAST", r.keep_last.to_string()),
        ("LIGHTRAG_BACKUP_KEEP_HOURLY", r.keep_hourly.to_string()),
        ("LIGHTRAG_BACKUP_KEEP_DAILY", r.keep_daily.to_string()),
        ("LIGHTRAG_BACKUP_KEEP_WEEKLY", r.keep_weekly.to_string()),
        ("LIGHTRAG_BACKUP_KEEP_MONTHLY", r.keep_monthly.to_string()),
        (
            "LIGHTRAG_BACKUP_COMPRESSION_LEVEL",
            c.compression_level.to_string(),
        ),
        ("LIGHTRAG_BACKUP_EXCLUDE", c.backup_excludes.join(",")),
        ("LIGHTRAG_BACKUP_ENCRYPTION_KEY", secret(&c.encryption_key)),
        (
            "LIGHTRAG_REPLICATION_ENABLED",
            c.replication_enabled.to_string(),
        ),
        (
            "LIGHTRAG_RECOVERY_DB_URL",
            redact_url(c.recovery_db_url.expose()),
        ),
        (
            "LIGHTRAG_RECOVERY_SCRATCH_DIR",
            c.recovery_scratch_dir
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ("LIGHTRAG_METRICS_ENABLED", c.metrics_enabled.to_string()),
        ("LIGHTRAG_METRICS_PORT", c.metrics_port.to_string()),
        ("LIGHTRAG_METRICS_HOST", c.metrics_host.to_string()),
        ("LIGHTRAG_METRICS_TOKEN", secret(&c.metrics_token)),
        ("LIGHTRAG_HOST", c.host.to_string()),
        ("LIGHTRAG_PORT", c.port.to_string()),
        ("LIGHTRAG_API_KEY", secret(&c.api_key)),
        ("LIGHTRAG_WHITELIST_PATHS", c.whitelist_paths.join(",")),
        ("LIGHTRAG_ALLOWED_HOSTS", c.allowed_hosts.join(",")),
        ("LIGHTRAG_ALLOW_INSECURE", c.allow_insecure.to_string()),
        ("LIGHTRAG_AUTO_BACKUP_INTERVAL", d(c.auto_backup_interval)),
        (
            "LIGHTRAG_BACKUP_ON_CHANGE",
            c.backup_on_change.enabled.to_string(),
        ),
        (
            "LIGHTRAG_BACKUP_ON_CHANGE_QUIET",
            d(c.backup_on_change.quiet),
        ),
        (
            "LIGHTRAG_BACKUP_ON_CHANGE_MIN_INTERVAL",
            d(c.backup_on_change.min_interval),
        ),
        (
            "LIGHTRAG_BACKUP_ON_CHANGE_MAX_DELAY",
            d(c.backup_on_change.max_delay),
        ),
        ("LIGHTRAG_BACKUP_WATCH_POLL", d(c.backup_on_change.poll)),
        ("LIGHTRAG_REPLICATION_INTERVAL", d(c.replication_interval)),
        ("LIGHTRAG_HEALTH_CHECK_INTERVAL", d(c.health_check_interval)),
        ("LIGHTRAG_RETENTION_INTERVAL", d(c.retention_interval)),
        ("LIGHTRAG_VERIFY_INTERVAL", d(c.verify_interval)),
        ("LIGHTRAG_RPO", d(c.rpo)),
        ("LIGHTRAG_REPLICATION_MAX_LAG", d(c.replication_max_lag)),
        ("LIGHTRAG_EVENT_LOG_RETENTION", d(c.event_log_retention)),
        (
            "LIGHTRAG_LOG_FORMAT",
            format!("{:?}", c.log_format).to_lowercase(),
        ),
    ];
    // TLS, under the variables that named the files: LIGHTRAG_SSL_* or LightRAG's SSL_*.
    match &c.tls {
        None => values.extend([
            ("LIGHTRAG_SSL_CERTFILE", String::new()),
            ("LIGHTRAG_SSL_KEYFILE", String::new()),
        ]),
        Some(t) => values.extend([
            (t.source.cert_variable(), t.cert_file.display().to_string()),
            (t.source.key_variable(), t.key_file.display().to_string()),
        ]),
    }
    debug_assert!(values.iter().all(|(n, _)| {
        VARIABLES.iter().any(|v| v.name == *n)
            || lightrag_config::LIGHTRAG_TLS_VARIABLES.contains(n)
    }));
    values
}

/// `lightrag-ops db …`.
pub fn run_db(c: &Config, cmd: &DbCommand) -> anyhow::Result<()> {
    use lightrag_recovery_db::{applied_migrations, pending_migrations};
    let db = lightrag_service::settings::open_db(c)?;
    match cmd {
        DbCommand::Migrate => {
            let applied = db.migrate().context("migrating the recovery database")?;
            if applied.is_empty() {
                println!("{}: up to date", db.describe());
            }
            for v in applied {
                println!("applied {v}");
            }
        }
        DbCommand::Status => {
            let mut conn = db.conn()?;
            for v in applied_migrations(&mut conn)? {
                println!("applied {v}");
            }
            for v in pending_migrations(&mut conn)? {
                println!("pending {v}");
            }
        }
    }
    Ok(())
}

/// How long a command's event log may take to store its events before the process exits.
const EVENT_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the composed service for one command (the same operations the server runs: catalog
/// rows, events, metrics), runs `f`, then stores the command's events.
pub(crate) fn with_service<T>(
    c: &Config,
    create_repository: bool,
    f: impl FnOnce(&lightrag_service::Service) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    use lightrag_service::{Mode, Service, ServiceOptions};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let _enter = rt.enter();
    let svc = Service::open(
        c.clone(),
        ServiceOptions {
            mode: Mode::Command { create_repository },
            metrics: None,
        },
    )?;
    let out = f(&svc);
    rt.block_on(svc.shutdown(EVENT_DRAIN));
    out
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("encoding JSON")?
    );
    Ok(())
}

/// `lightrag-ops config`.
pub fn print_config(c: &Config, json: bool) -> anyhow::Result<()> {
    let values = effective_config(c);
    let source = |k: &str| {
        if lightrag_config::LIGHTRAG_TLS_VARIABLES.contains(&k) {
            return "LightRAG's SSL=true".to_owned();
        }
        c.sources
            .get(k)
            .copied()
            .unwrap_or(lightrag_config::ValueSource::Default)
            .to_string()
    };
    if json {
        // One key per variable (its value), plus `_sources`: where each came from.
        let mut map: serde_json::Map<String, serde_json::Value> = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
            .collect();
        let sources: serde_json::Map<String, serde_json::Value> = values
            .iter()
            .map(|(k, _)| ((*k).to_owned(), source(k).into()))
            .collect();
        map.insert("_sources".into(), sources.into());
        println!(
            "{}",
            serde_json::to_string_pretty(&map).context("encoding JSON")?
        );
    } else {
        for (k, v) in values {
            println!("{k}={v}  # {}", source(k));
        }
    }
    Ok(())
}
