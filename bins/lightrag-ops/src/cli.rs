//! Command-line interface: argument parsing and the small commands that need no server.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use lightrag_config::{Config, VARIABLES, format_duration, redact_url};

/// Backups, replication, recovery points and monitoring for LightRAG knowledge graphs.
///
/// Configuration comes from LIGHTRAG_* environment variables and a `.env` file (the environment
/// wins); see the README for the table of variables.
///
/// Exit codes: 0 success, 1 operation failed, 2 invalid configuration or usage.
#[derive(Debug, Parser)]
#[command(name = "lightrag-ops", version, about, long_about)]
pub struct Cli {
    /// The `.env` file to read (missing is fine).
    #[arg(long, global = true, value_name = "PATH", default_value = ".env")]
    pub env_file: PathBuf,

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
    /// Print the effective configuration (secrets redacted) and exit.
    Config(ConfigArgs),
    /// Recovery database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
}

/// `db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations (the server also does this at start-up).
    Migrate,
    /// List applied and pending migrations.
    Status,
}

/// Arguments of `config`.
#[derive(Debug, Args, Default)]
pub struct ConfigArgs {
    /// Print JSON instead of `NAME=value` lines.
    #[arg(long)]
    pub json: bool,
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
    let values: Vec<(&'static str, String)> = vec![
        ("LIGHTRAG_WORKING_DIR", c.working_dir.display().to_string()),
        ("LIGHTRAG_BACKUP_STORAGE", c.backup_storage.clone()),
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
        ("LIGHTRAG_METRICS_ENABLED", c.metrics_enabled.to_string()),
        ("LIGHTRAG_METRICS_PORT", c.metrics_port.to_string()),
        ("LIGHTRAG_HOST", c.host.to_string()),
        ("LIGHTRAG_PORT", c.port.to_string()),
        ("LIGHTRAG_API_KEY", secret(&c.api_key)),
        ("LIGHTRAG_WHITELIST_PATHS", c.whitelist_paths.join(",")),
        ("LIGHTRAG_ALLOW_INSECURE", c.allow_insecure.to_string()),
        ("LIGHTRAG_AUTO_BACKUP_INTERVAL", d(c.auto_backup_interval)),
        ("LIGHTRAG_REPLICATION_INTERVAL", d(c.replication_interval)),
        ("LIGHTRAG_HEALTH_CHECK_INTERVAL", d(c.health_check_interval)),
        ("LIGHTRAG_VERIFY_INTERVAL", d(c.verify_interval)),
        ("LIGHTRAG_RPO", d(c.rpo)),
        ("LIGHTRAG_REPLICATION_MAX_LAG", d(c.replication_max_lag)),
        ("LIGHTRAG_EVENT_LOG_RETENTION", d(c.event_log_retention)),
        (
            "LIGHTRAG_LOG_FORMAT",
            format!("{:?}", c.log_format).to_lowercase(),
        ),
    ];
    debug_assert!(
        values
            .iter()
            .all(|(n, _)| VARIABLES.iter().any(|v| v.name == *n))
    );
    values
}

/// `lightrag-ops db …`.
pub fn run_db(c: &Config, cmd: &DbCommand) -> anyhow::Result<()> {
    use lightrag_recovery_db::{Db, DbConfig, applied_migrations, pending_migrations};
    let db = Db::connect(&DbConfig::new(c.recovery_db_url.expose()))
        .context("cannot open the recovery database (LIGHTRAG_RECOVERY_DB_URL)")?;
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

/// `lightrag-ops config`.
pub fn print_config(c: &Config, json: bool) -> anyhow::Result<()> {
    let values = effective_config(c);
    if json {
        let map: serde_json::Map<String, serde_json::Value> = values
            .into_iter()
            .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v)))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&map).context("encoding JSON")?
        );
    } else {
        for (k, v) in values {
            println!("{k}={v}");
        }
    }
    Ok(())
}
