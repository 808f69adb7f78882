//! `lightrag-ops key generate`: a random repository key for
//! `LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Subcommand;

/// `key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a new random key (32 bytes from the OS, 64 hex digits) for
    /// LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE; without --output it is printed on stdout.
    Generate {
        /// The key file to create (mode 0600; an existing file is never overwritten).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Runs a `key` subcommand.
pub fn key(cmd: &KeyCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Generate { output: None } => {
            println!("{}", lightrag_backup::generate_key_hex());
            Ok(())
        }
        KeyCommand::Generate { output: Some(path) } => {
            write_key_file(path, &lightrag_backup::generate_key_hex())?;
            if json {
                super::print_json(&serde_json::json!({"key_file": path}))?;
            } else {
                println!(
                    "wrote a new key to {}; set LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE={} and keep a copy \
                     elsewhere: without it the backups cannot be read",
                    path.display(),
                    path.display()
                );
            }
            Ok(())
        }
    }
}

/// Creates `path` holding `key` and a newline: written to a 0600 temporary file beside it,
/// fsynced, then linked into place (which fails if `path` exists: never overwritten) and the
/// directory fsynced.
pub fn write_key_file(path: &Path, key: &str) -> anyhow::Result<()> {
    if path.exists() {
        bail!(
            "{} already exists; refusing to overwrite a key (the repository it opens would become unreadable)",
            path.display()
        );
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(key.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
        std::fs::hard_link(&tmp, path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{} already exists; refusing to overwrite a key",
                    path.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("cannot create {}", path.display()))
            }
        })?;
        Ok(())
    })();
    let _ = std::fs::remove_file(&tmp);
    result?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync the directory {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo.key");
        write_key_file(&path, "ab".repeat(32).as_str()).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", "ab".repeat(32))
        );
        let err = write_key_file(&path, "cd".repeat(32).as_str()).unwrap_err();
        assert!(err.to_string().contains("refusing to overwrite"), "{err}");
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("abab"));
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        // The file is what LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE reads.
        let key = dir.path().join("new.key");
        write_key_file(&key, &lightrag_backup::generate_key_hex()).unwrap();
        let k = key.display().to_string();
        let c = lightrag_config::Config::from_vars([(
            "LIGHTRAG_BACKUP_ENCRYPTION_KEY_FILE",
            k.as_str(),
        )])
        .unwrap();
        assert_eq!(c.encryption_key.unwrap().expose().len(), 64);
    }
}
