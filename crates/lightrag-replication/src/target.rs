//! Target definitions (persisted in the recovery DB) and opening a target for sync or
//! failover.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lightrag_recovery_db::{
    DbConn, NewReplicationTarget, Page, ReplicationTarget, ReplicationTargetUpdate, TargetKind,
    create_replication_target, delete_replication_target, get_replication_target,
    get_replication_target_by_name, get_replication_target_secret, list_replication_targets,
    update_replication_target,
};

use crate::error::{ReplicationError, Result};
use crate::peer::{PeerClient, validate_peer_url};
use crate::store::{DirectoryTarget, ReplicaStore};

/// Where a target is. `Debug` never shows the API key.
#[derive(Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A repository in a local or NFS directory (absolute path).
    Directory {
        /// The directory (created on first sync).
        path: PathBuf,
    },
    /// A peer lightrag-ops server receiving into its own replica storage.
    Peer {
        /// Base URL, `http(s)://host[:port][/path]`.
        url: String,
        /// The peer's API key (stored as the target's secret, never returned).
        api_key: Option<String>,
    },
}

impl std::fmt::Debug for TargetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetSpec::Directory { path } => {
                f.debug_struct("Directory").field("path", path).finish()
            }
            TargetSpec::Peer { url, api_key } => f
                .debug_struct("Peer")
                .field("url", url)
                .field("api_key", &api_key.as_ref().map(|_| "***"))
                .finish(),
        }
    }
}

fn validate_dir(path: &Path) -> Result<String> {
    let s = path
        .to_str()
        .ok_or_else(|| ReplicationError::invalid("target path", "must be valid UTF-8"))?;
    if !path.is_absolute() || s.contains('\0') {
        return Err(ReplicationError::invalid(
            "target path",
            format!("`{s}` must be an absolute directory path"),
        ));
    }
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(ReplicationError::invalid(
            "target path",
            format!("`{s}` must not contain `..`"),
        ));
    }
    let trimmed = s.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    })
}

/// Check a target name: `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`.
pub fn validate_target_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ReplicationError::invalid(
            "target name",
            format!(
                "{name:?}: use 1-64 characters [A-Za-z0-9_.-], starting with a letter or digit"
            ),
        ))
    }
}

impl TargetSpec {
    /// Validated (kind, url, secret) as stored in the DB.
    fn to_row(&self) -> Result<(TargetKind, String, Option<String>)> {
        match self {
            TargetSpec::Directory { path } => Ok((TargetKind::Path, validate_dir(path)?, None)),
            TargetSpec::Peer { url, api_key } => {
                if let Some(k) = api_key
                    && (k.is_empty() || k.chars().any(|c| c.is_control()))
                {
                    return Err(ReplicationError::invalid(
                        "peer api key",
                        "must be non-empty without control characters",
                    ));
                }
                Ok((TargetKind::Peer, validate_peer_url(url)?, api_key.clone()))
            }
        }
    }
}

/// Changes of [`update_target`]; `None` keeps a field. `api_key: Some(None)` removes the key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TargetChanges {
    /// New name.
    pub name: Option<String>,
    /// New location (path or peer URL, of the target's kind).
    pub location: Option<String>,
    /// New API key for a peer.
    pub api_key: Option<Option<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for TargetChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetChanges")
            .field("name", &self.name)
            .field("location", &self.location)
            .field(
                "api_key",
                &self.api_key.as_ref().map(|k| k.as_ref().map(|_| "***")),
            )
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Define a target. The id is generated (`tgt-<16 hex>`).
pub fn create_target(
    conn: &mut DbConn,
    name: &str,
    spec: &TargetSpec,
    enabled: bool,
) -> Result<ReplicationTarget> {
    validate_target_name(name)?;
    let (kind, url, secret) = spec.to_row()?;
    Ok(create_replication_target(
        conn,
        &NewReplicationTarget {
            id: format!("tgt-{}", crate::lock::random_hex(8)),
            name: name.to_owned(),
            kind,
            url,
            secret,
            enabled,
        },
    )?)
}

/// Change a target (validated against its kind).
pub fn update_target(
    conn: &mut DbConn,
    id: &str,
    changes: &TargetChanges,
) -> Result<ReplicationTarget> {
    let current = get_replication_target(conn, id)?;
    if let Some(n) = &changes.name {
        validate_target_name(n)?;
    }
    let url = match (&changes.location, current.kind) {
        (None, _) => None,
        (Some(l), TargetKind::Path) => Some(validate_dir(Path::new(l))?),
        (Some(l), TargetKind::Peer) => Some(validate_peer_url(l)?),
        (Some(_), _) => {
            return Err(ReplicationError::invalid(
                "target",
                "object-store targets are not supported yet",
            ));
        }
    };
    if changes.api_key.is_some() && current.kind != TargetKind::Peer {
        return Err(ReplicationError::invalid(
            "api key",
            "only peer targets have an API key",
        ));
    }
    Ok(update_replication_target(
        conn,
        id,
        &ReplicationTargetUpdate {
            name: changes.name.clone(),
            kind: None,
            url,
            secret: changes.api_key.clone(),
            enabled: changes.enabled,
        },
    )?)
}

/// Delete a target and its per-graph state (the target's data stays where it is).
pub fn delete_target(conn: &mut DbConn, id: &str) -> Result<()> {
    Ok(delete_replication_target(conn, id)?)
}

/// All targets (secrets never included), by name.
pub fn list_targets(conn: &mut DbConn, enabled: Option<bool>) -> Result<Vec<ReplicationTarget>> {
    let mut out = Vec::new();
    let mut page = Page::default();
    loop {
        let batch = list_replication_targets(conn, enabled, page)?;
        let n = batch.len();
        out.extend(batch);
        if n < page.limit as usize || n == 0 {
            return Ok(out);
        }
        page.offset += u64::from(page.limit);
    }
}

/// A target by id or name.
pub fn find_target(conn: &mut DbConn, id_or_name: &str) -> Result<ReplicationTarget> {
    match get_replication_target(conn, id_or_name) {
        Err(lightrag_recovery_db::RecoveryDbError::NotFound { .. }) => {
            Ok(get_replication_target_by_name(conn, id_or_name)?)
        }
        other => Ok(other?),
    }
}

/// Open a stored target for sync, health checks or failover (reads its secret).
pub fn open_target(
    conn: &mut DbConn,
    target: &ReplicationTarget,
    timeout: Duration,
) -> Result<Arc<dyn ReplicaStore>> {
    match target.kind {
        TargetKind::Path => Ok(Arc::new(DirectoryTarget::new(&target.url))),
        TargetKind::Peer => {
            let secret = get_replication_target_secret(conn, &target.id)?;
            Ok(Arc::new(PeerClient::new(
                &target.url,
                secret.secret,
                timeout,
            )?))
        }
        _ => Err(ReplicationError::Target {
            target: target.name.clone(),
            message: "object-store targets are not supported yet; use a directory or a peer".into(),
        }),
    }
}

/// Open a target from a spec without the DB (CLI `--target-path`/`--peer-url`).
pub fn open_spec(spec: &TargetSpec, timeout: Duration) -> Result<Arc<dyn ReplicaStore>> {
    let (_, url, secret) = spec.to_row()?;
    match spec {
        TargetSpec::Directory { .. } => Ok(Arc::new(DirectoryTarget::new(url))),
        TargetSpec::Peer { .. } => Ok(Arc::new(PeerClient::new(&url, secret, timeout)?)),
    }
}
