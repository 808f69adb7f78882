//! Target definitions (persisted in the recovery DB) and opening a target for sync or
//! failover.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lightrag_backup::{ObjectStoreOptions, open_storage};

use lightrag_recovery_db::{
    DbConn, NewReplicationTarget, Page, ReplicationTarget, ReplicationTargetUpdate, TargetKind,
    create_replication_target, delete_replication_target, get_replication_target,
    get_replication_target_by_name, get_replication_target_secret, list_replication_targets,
    set_replication_target_secret, update_replication_target,
};

use crate::error::{ReplicationError, Result};
use crate::peer::{PeerClient, validate_peer_url};
use crate::secrets::{SecretKey, is_sealed};
use crate::store::{DirectoryTarget, ReplicaStore};

/// Where a target is. `Debug` never shows the API key or credentials; deserialisable (for
/// API requests) as `{"kind": "path", "path"}`, `{"kind": "object_store", "url",
/// "credentials"}` or `{"kind": "peer", "url", "api_key"}`, never serialised.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TargetSpec {
    /// A repository in a local or NFS directory (absolute path).
    #[serde(rename = "path")]
    Directory {
        /// The directory (created on first sync).
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        path: PathBuf,
    },
    /// A repository in an object store: `s3://bucket[/prefix]`, `az://container[/prefix]`,
    /// `gs://bucket[/prefix]` (endpoint, region and TLS settings come from
    /// [`TargetOpenOptions::object_store`]).
    ObjectStore {
        /// The store URL (no credentials in it).
        url: String,
        /// object_store configuration keys holding credentials (e.g. `aws_access_key_id`,
        /// `aws_secret_access_key`), stored as the target's secret; empty = from the
        /// environment.
        #[serde(default)]
        credentials: BTreeMap<String, String>,
    },
    /// A peer lightrag-ops server receiving into its own replica storage.
    Peer {
        /// Base URL, `http(s)://host[:port][/path]`.
        url: String,
        /// The peer's API key (stored as the target's secret, never returned).
        #[serde(default)]
        api_key: Option<String>,
    },
}

impl std::fmt::Debug for TargetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetSpec::Directory { path } => {
                f.debug_struct("Directory").field("path", path).finish()
            }
            TargetSpec::ObjectStore { url, credentials } => f
                .debug_struct("ObjectStore")
                .field("url", url)
                .field("credentials", &credentials.keys().collect::<Vec<_>>())
                .finish(),
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

fn validate_object_store_url(url: &str) -> Result<String> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    let ok_scheme = matches!(scheme.as_deref(), Some("s3" | "az" | "azure" | "gs"));
    let authority = url
        .split_once("://")
        .map(|(_, r)| r.split('/').next().unwrap_or_default());
    if !ok_scheme
        || authority.is_none_or(|a| a.is_empty() || a.contains('@'))
        || url.contains(['?', '#'])
    {
        return Err(ReplicationError::invalid(
            "object-store url",
            format!(
                "`{}`: expected s3://bucket[/prefix], az://container[/prefix] or gs://bucket[/prefix], without credentials, query or fragment (put credentials in the target's secret)",
                lightrag_config::redact_url(url)
            ),
        ));
    }
    // Builds the client without contacting the store: checks the URL shape fully.
    open_storage(url, &ObjectStoreOptions::default())?;
    Ok(url.trim_end_matches('/').to_owned())
}

/// The object_store configuration keys a target's credentials may set: credentials and the
/// identity they belong to, nothing that chooses where requests go or what the server reads.
/// Endpoints, metadata-service (IMDS/MSI) URLs, authority hosts, proxies, emulator and
/// signature switches, and file paths (`google_service_account`, federated token files) are
/// refused: with them an API user could send the server's own ambient cloud credentials (from
/// its environment or instance metadata) to a host of theirs, or make it read local files.
/// Endpoints, regions and TLS are the operator's settings (`LIGHTRAG_S3_*`).
pub const ALLOWED_CREDENTIAL_KEYS: &[&str] = &[
    // S3
    "aws_access_key_id",
    "access_key_id",
    "aws_secret_access_key",
    "secret_access_key",
    "aws_session_token",
    "aws_token",
    "session_token",
    // Azure
    "azure_storage_account_name",
    "account_name",
    "azure_storage_account_key",
    "azure_storage_access_key",
    "azure_storage_master_key",
    "account_key",
    "access_key",
    "master_key",
    "azure_storage_sas_key",
    "azure_storage_sas_token",
    "sas_key",
    "sas_token",
    "azure_storage_client_id",
    "azure_client_id",
    "client_id",
    "azure_storage_client_secret",
    "azure_client_secret",
    "client_secret",
    "azure_storage_tenant_id",
    "azure_storage_authority_id",
    "azure_tenant_id",
    "azure_authority_id",
    "tenant_id",
    "authority_id",
    // GCS: the service-account key itself (JSON), never a path to one.
    "google_service_account_key",
    "service_account_key",
];

/// Credential keys are object_store credential keys ([`ALLOWED_CREDENTIAL_KEYS`]) and values
/// are secrets: neither may be empty, overlong or hold control characters (NUL included).
fn check_credentials(credentials: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in credentials {
        if !ALLOWED_CREDENTIAL_KEYS.contains(&k.as_str()) {
            let shown: String = k.chars().filter(|c| !c.is_control()).take(64).collect();
            return Err(ReplicationError::invalid(
                "object-store credentials",
                format!(
                    "`{shown}` is not a credential key; endpoints, metadata-service URLs, proxies and other settings come from the server's configuration (LIGHTRAG_S3_*), never from a target. Allowed keys: {}",
                    ALLOWED_CREDENTIAL_KEYS.join(", ")
                ),
            ));
        }
        if v.is_empty() || v.len() > 4096 || v.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ReplicationError::invalid(
                "object-store credentials",
                format!("the value of {k} must be 1-4096 characters without control characters"),
            ));
        }
    }
    Ok(())
}

impl TargetSpec {
    /// Validated (kind, url, secret in plain text); `allow_http` as in [`validate_peer_url`].
    fn to_row(&self, allow_http: bool) -> Result<(TargetKind, String, Option<String>)> {
        match self {
            TargetSpec::Directory { path } => Ok((TargetKind::Path, validate_dir(path)?, None)),
            TargetSpec::ObjectStore { url, credentials } => {
                check_credentials(credentials)?;
                let secret = if credentials.is_empty() {
                    None
                } else {
                    Some(serde_json::to_string(credentials).map_err(|e| {
                        ReplicationError::invalid("object-store credentials", e.to_string())
                    })?)
                };
                Ok((
                    TargetKind::ObjectStore,
                    validate_object_store_url(url)?,
                    secret,
                ))
            }
            TargetSpec::Peer { url, api_key } => {
                if let Some(k) = api_key
                    && (k.is_empty() || k.chars().any(|c| c.is_control()))
                {
                    return Err(ReplicationError::invalid(
                        "peer api key",
                        "must be non-empty without control characters",
                    ));
                }
                Ok((
                    TargetKind::Peer,
                    validate_peer_url(url, allow_http)?,
                    api_key.clone(),
                ))
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
    /// New credentials of an object-store target (empty map: from the environment).
    pub credentials: Option<BTreeMap<String, String>>,
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

/// A secret as it is stored: sealed under the key of `opts.secret_key_file` (created on first
/// use), or as given when no key file is configured.
fn seal_for_storage(
    opts: &TargetOpenOptions,
    target_id: &str,
    plain: Option<String>,
) -> Result<Option<String>> {
    match (plain, &opts.secret_key_file) {
        (Some(p), Some(path)) => Ok(Some(SecretKey::load_or_create(path)?.seal(target_id, &p))),
        (plain, _) => Ok(plain),
    }
}

/// Define a target. The id is generated (`tgt-<16 hex>`). A peer URL is checked against
/// `opts.allow_http`; the secret is sealed with `opts.secret_key_file`.
pub fn create_target(
    conn: &mut DbConn,
    name: &str,
    spec: &TargetSpec,
    enabled: bool,
    opts: &TargetOpenOptions,
) -> Result<ReplicationTarget> {
    validate_target_name(name)?;
    let (kind, url, secret) = spec.to_row(opts.allow_http)?;
    let id = format!("tgt-{}", random_hex(8));
    let secret = seal_for_storage(opts, &id, secret)?;
    Ok(create_replication_target(
        conn,
        &NewReplicationTarget {
            id,
            name: name.to_owned(),
            kind,
            url,
            secret,
            enabled,
        },
    )?)
}

/// Change a target (validated against its kind; a peer URL against `opts.allow_http`; a new
/// secret sealed with `opts.secret_key_file`).
pub fn update_target(
    conn: &mut DbConn,
    id: &str,
    changes: &TargetChanges,
    opts: &TargetOpenOptions,
) -> Result<ReplicationTarget> {
    let current = get_replication_target(conn, id)?;
    if let Some(n) = &changes.name {
        validate_target_name(n)?;
    }
    let url = match (&changes.location, current.kind) {
        (None, _) => None,
        (Some(l), TargetKind::Path) => Some(validate_dir(Path::new(l))?),
        (Some(l), TargetKind::Peer) => Some(validate_peer_url(l, opts.allow_http)?),
        (Some(l), _) => Some(validate_object_store_url(l)?),
    };
    if changes.api_key.is_some() && current.kind != TargetKind::Peer {
        return Err(ReplicationError::invalid(
            "api key",
            "only peer targets have an API key",
        ));
    }
    if changes.credentials.is_some() && current.kind != TargetKind::ObjectStore {
        return Err(ReplicationError::invalid(
            "credentials",
            "only object-store targets have credentials",
        ));
    }
    if let Some(c) = &changes.credentials {
        check_credentials(c)?;
    }
    if let Some(Some(k)) = &changes.api_key
        && (k.is_empty() || k.chars().any(|c| c.is_control()))
    {
        return Err(ReplicationError::invalid(
            "peer api key",
            "must be non-empty without control characters",
        ));
    }
    let secret = match (&changes.api_key, &changes.credentials) {
        (Some(k), _) => Some(seal_for_storage(opts, &current.id, k.clone())?),
        (None, Some(c)) if c.is_empty() => Some(None),
        (None, Some(c)) => Some(seal_for_storage(
            opts,
            &current.id,
            Some(serde_json::to_string(c).map_err(|e| {
                ReplicationError::invalid("object-store credentials", e.to_string())
            })?),
        )?),
        (None, None) => None,
    };
    Ok(update_replication_target(
        conn,
        id,
        &ReplicationTargetUpdate {
            name: changes.name.clone(),
            kind: None,
            url,
            secret,
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

/// How targets are defined and opened.
#[derive(Debug, Clone)]
pub struct TargetOpenOptions {
    /// Bound on each peer request (connect + transfer).
    pub timeout: Duration,
    /// Endpoint, region, TLS and retry settings for object-store targets (credentials come
    /// from the target's secret, else from the environment).
    pub object_store: ObjectStoreOptions,
    /// Peer targets may use `http://` to hosts other than loopback
    /// (`LIGHTRAG_REPLICATION_ALLOW_HTTP`; default `false`): checked when a target is defined,
    /// moved and opened.
    pub allow_http: bool,
    /// The key file sealing target secrets in the catalog
    /// (`LIGHTRAG_REPLICATION_SECRET_KEY_FILE`; created 0600 on the first secret written).
    /// `None` stores secrets as given (embedding programs that protect the catalog otherwise);
    /// the server and the CLI always set it.
    pub secret_key_file: Option<PathBuf>,
}

impl Default for TargetOpenOptions {
    fn default() -> Self {
        TargetOpenOptions {
            timeout: Duration::from_secs(300),
            object_store: ObjectStoreOptions::default(),
            allow_http: false,
            secret_key_file: None,
        }
    }
}

/// A stored target's secret in plain text. A sealed secret needs `opts.secret_key_file`; a
/// plain-text row (written before secrets were sealed) is sealed in place when a key file is
/// configured (the row's `updated_at` is left as it is).
fn target_secret(
    conn: &mut DbConn,
    target: &ReplicationTarget,
    opts: &TargetOpenOptions,
) -> Result<Option<String>> {
    let Some(stored) = get_replication_target_secret(conn, &target.id)?.secret else {
        return Ok(None);
    };
    if is_sealed(&stored) {
        let Some(path) = &opts.secret_key_file else {
            return Err(ReplicationError::Target {
                target: target.name.clone(),
                message: "its secret is sealed, and no secret key file is configured (LIGHTRAG_REPLICATION_SECRET_KEY_FILE)".to_owned(),
            });
        };
        let Some(key) = SecretKey::load(path)? else {
            return Err(ReplicationError::SecretKey {
                path: path.clone(),
                message: format!(
                    "the file is missing, so the secret of target `{}` cannot be opened; restore the file, or set the target's secret again",
                    target.name
                ),
            });
        };
        return key
            .open(&target.id, &stored)
            .map(Some)
            .ok_or_else(|| ReplicationError::SecretKey {
                path: path.clone(),
                message: format!(
                    "the secret of target `{}` does not open with this key (another key file, or a damaged row); set the target's secret again",
                    target.name
                ),
            });
    }
    if let Some(path) = &opts.secret_key_file {
        let sealed = SecretKey::load_or_create(path)?.seal(&target.id, &stored);
        set_replication_target_secret(conn, &target.id, Some(&sealed))?;
        tracing::info!(
            target: "security",
            target_name = %target.name,
            "Sealed a replication target secret stored in plain text by an older version"
        );
    }
    Ok(Some(stored))
}

fn open_object_store(
    url: &str,
    secret: Option<&str>,
    opts: &TargetOpenOptions,
) -> Result<Arc<dyn ReplicaStore>> {
    let mut os = opts.object_store.clone();
    if let Some(s) = secret {
        let creds: BTreeMap<String, String> = serde_json::from_str(s).map_err(|_| {
            ReplicationError::invalid(
                "object-store credentials",
                "the stored secret is not a JSON object of configuration keys; set it again",
            )
        })?;
        os.extra.extend(creds);
    }
    Ok(Arc::new(DirectoryTarget::with_storage(open_storage(
        url, &os,
    )?)))
}

/// Open a stored target for sync, health checks or failover (reads its secret).
pub fn open_target(
    conn: &mut DbConn,
    target: &ReplicationTarget,
    opts: &TargetOpenOptions,
) -> Result<Arc<dyn ReplicaStore>> {
    match target.kind {
        TargetKind::Path => Ok(Arc::new(DirectoryTarget::new(&target.url))),
        TargetKind::Peer => {
            let secret = target_secret(conn, target, opts)?;
            Ok(Arc::new(PeerClient::with_http_policy(
                &target.url,
                secret,
                opts.timeout,
                opts.allow_http,
            )?))
        }
        _ => {
            let secret = target_secret(conn, target, opts)?;
            open_object_store(&target.url, secret.as_deref(), opts)
        }
    }
}

/// Open a target from a spec without the DB (CLI `--to PATH|URL`).
pub fn open_spec(spec: &TargetSpec, opts: &TargetOpenOptions) -> Result<Arc<dyn ReplicaStore>> {
    let (_, url, secret) = spec.to_row(opts.allow_http)?;
    match spec {
        TargetSpec::Directory { .. } => Ok(Arc::new(DirectoryTarget::new(url))),
        TargetSpec::ObjectStore { .. } => open_object_store(&url, secret.as_deref(), opts),
        TargetSpec::Peer { .. } => Ok(Arc::new(PeerClient::with_http_policy(
            &url,
            secret,
            opts.timeout,
            opts.allow_http,
        )?)),
    }
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    if getrandom::fill(&mut b).is_err() {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = n.to_le_bytes()[..bytes.min(16)].to_vec();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(pairs: &[(&str, &str)]) -> TargetSpec {
        TargetSpec::ObjectStore {
            url: "s3://bucket/replica".to_owned(),
            credentials: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// Issue 14 #7: a target may carry credentials, never settings that redirect the server's
    /// requests (and its ambient credentials) or make it read files.
    #[test]
    fn only_credential_keys_are_accepted() {
        for key in [
            "aws_endpoint",
            "aws_endpoint_url",
            "endpoint",
            "aws_metadata_endpoint",
            "metadata_endpoint",
            "aws_container_credentials_relative_uri",
            "aws_allow_http",
            "aws_skip_signature",
            "aws_imdsv1_fallback",
            "aws_region",
            "azure_storage_endpoint",
            "azure_msi_endpoint",
            "azure_identity_endpoint",
            "azure_authority_host",
            "azure_federated_token_file",
            "azure_use_azure_cli",
            "azure_use_emulator",
            "google_service_account",
            "google_application_credentials",
            "service_account_path",
            "proxy_url",
            "proxy_ca_certificate",
            "AWS_ACCESS_KEY_ID",
        ] {
            let err = spec(&[(key, "http://attacker.example")])
                .to_row(false)
                .expect_err(key);
            let msg = err.to_string();
            assert!(msg.contains("not a credential key"), "{key}: {msg}");
            assert!(
                msg.contains("aws_secret_access_key"),
                "lists the allowed keys: {msg}"
            );
            assert!(!msg.contains("attacker.example"), "{msg}");
        }
        let (_, _, secret) = spec(&[
            ("aws_access_key_id", "AKIA0000"),
            ("aws_secret_access_key", "s3cret"),
            ("aws_session_token", "tok"),
        ])
        .to_row(false)
        .unwrap();
        assert!(secret.unwrap().contains("aws_session_token"));
        for key in ALLOWED_CREDENTIAL_KEYS {
            check_credentials(&BTreeMap::from([((*key).to_owned(), "v".to_owned())]))
                .unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        // A GCS service-account key is JSON, possibly over several lines.
        check_credentials(&BTreeMap::from([(
            "google_service_account_key".to_owned(),
            "{\n  \"type\": \"service_account\"\n}".to_owned(),
        )]))
        .unwrap();
        assert!(
            check_credentials(&BTreeMap::from([(
                "aws_access_key_id".to_owned(),
                "a\u{0}b".to_owned()
            )]))
            .is_err()
        );
    }
}
