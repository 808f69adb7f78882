//! Start-up: bind the listeners, build the application, run until SIGTERM/SIGINT.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::{Context as _, bail};
use lightrag_config::Config;
use lightrag_monitoring::{MetricsCollector, PROMETHEUS_CONTENT_TYPE};
use lightrag_service::{Mode, Service, ServiceOptions};

use crate::middleware::record_duration;
use crate::routes;
use crate::state::AppState;
use crate::telemetry;

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;
/// How long the background workers, the API's jobs and the event log may take to finish at
/// shutdown (after the HTTP servers stopped); the event log always gets a few seconds of it.
const DRAIN_DEADLINE: Duration = Duration::from_secs(15);

/// A server whose listeners are bound (so bind errors have already surfaced) but not yet run.
pub struct Listening {
    /// Address of the HTTP API.
    pub api_addr: SocketAddr,
    /// Address of the Prometheus listener, when metrics are enabled.
    pub metrics_addr: Option<SocketAddr>,
    /// The state shared by the handlers.
    pub state: AppState,
    api: Server,
    metrics: Option<Server>,
}

/// Validates the configuration against the network policy, binds every listener and builds the
/// application. Errors name the variable to change.
pub async fn bind(config: Config) -> anyhow::Result<Listening> {
    if !config.binds_loopback() && config.api_key.is_none() && !config.allow_insecure {
        bail!(
            "refusing to bind LIGHTRAG_HOST={} (not a loopback address) without an API key: \
             set LIGHTRAG_API_KEY (or LIGHTRAG_API_KEY_FILE), bind 127.0.0.1, or set \
             LIGHTRAG_ALLOW_INSECURE=true to accept an open API",
            config.host
        );
    }
    // Before anything is bound: a key that does not fit the certificate stops start-up here.
    let tls = config.tls.as_ref().map(tls_config).transpose()?;
    let handle = if config.metrics_enabled {
        Some(telemetry::prometheus_handle().context("installing the Prometheus recorder")?)
    } else {
        None
    };
    let api_listener = TcpListener::bind((config.host, config.port)).with_context(|| {
        format!(
            "cannot bind the HTTP API on {}:{} (LIGHTRAG_HOST/LIGHTRAG_PORT); choose another \
             port or stop the process using it",
            config.host, config.port
        )
    })?;
    let metrics_listener = match &handle {
        Some(_) => Some(
            TcpListener::bind((config.metrics_host, config.metrics_port)).with_context(|| {
                format!(
                    "cannot bind the metrics listener on {}:{} (LIGHTRAG_METRICS_HOST/LIGHTRAG_METRICS_PORT); \
                     choose another port, stop the process using it, or set LIGHTRAG_METRICS_ENABLED=false",
                    config.metrics_host, config.metrics_port
                )
            })?,
        ),
        None => None,
    };
    let service = web::block(move || {
        Service::open(
            config,
            ServiceOptions {
                mode: Mode::Server,
                metrics: handle,
            },
        )
    })
    .await
    .context("start-up task failed")??;
    let state = AppState::new(Arc::new(service));
    let api_addr = api_listener.local_addr()?;
    let api = api_server(state.clone(), api_listener, tls.clone())?;
    let (metrics_addr, metrics_server) = match (state.metrics(), metrics_listener) {
        (Some(collector), Some(listener)) => (
            Some(listener.local_addr()?),
            Some(metrics_server(
                collector.clone(),
                listener,
                state.config.metrics_token.clone(),
                tls,
            )?),
        ),
        _ => (None, None),
    };
    state.readiness().set("startup", Ok(()));
    Ok(Listening {
        api_addr,
        metrics_addr,
        state,
        api,
        metrics: metrics_server,
    })
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening")
            .field("api_addr", &self.api_addr)
            .field("metrics_addr", &self.metrics_addr)
            .finish_non_exhaustive()
    }
}

impl Listening {
    /// Handles that stop the servers (graceful).
    pub fn handles(&self) -> Vec<ServerHandle> {
        std::iter::once(self.api.handle())
            .chain(self.metrics.as_ref().map(Server::handle))
            .collect()
    }

    /// Runs until every server has stopped (through [`Listening::handles`] or a signal).
    pub async fn run(self) -> anyhow::Result<()> {
        let handles = self.handles();
        let service = self.state.service.clone();
        actix_web::rt::spawn(async move {
            wait_for_signal().await;
            tracing::info!("Shutting down: finishing in-flight requests");
            // No new background work starts while the requests finish.
            service.workers().stop();
            for h in handles {
                h.stop(true).await;
            }
        });
        self.state.service.start_workers();
        let trim = actix_web::rt::spawn(crate::memory::trim_periodically());
        let metrics = self.metrics.map(actix_web::rt::spawn);
        let api_result = self.api.await.context("HTTP API server failed");
        let metrics_result = match metrics {
            Some(m) => m
                .await
                .context("metrics server task failed")
                .and_then(|r| r.context("metrics server failed")),
            None => Ok(()),
        };
        // Every request has finished: the workers and jobs finish their unit, then the event
        // log stores what it still holds (bounded), so a SIGTERM loses no event, or counts and
        // logs what it had to drop.
        self.state.service.shutdown(DRAIN_DEADLINE).await;
        trim.abort();
        metrics_result?;
        api_result
    }
}

/// Binds and runs the server until SIGTERM or SIGINT.
pub async fn run_server(config: Config) -> anyhow::Result<()> {
    let listening = bind(config).await?;
    tracing::info!(
        scheme = if listening.state.config().tls.is_some() { "https" } else { "http" },
        api = %listening.api_addr,
        metrics = %listening.metrics_addr.map_or_else(|| "disabled".to_owned(), |a| a.to_string()),
        auth = listening.state.config().api_key.is_some(),
        "Listening"
    );
    listening.run().await?;
    tracing::info!("Stopped");
    Ok(())
}

/// The rustls configuration of both listeners (LIGHTRAG_SSL_CERTFILE / LIGHTRAG_SSL_KEYFILE,
/// already read and parsed by `lightrag-config`): TLS 1.2 and 1.3 with the `ring` provider (the
/// one crypto stack of the build), no client certificates. Fails when the key cannot sign
/// (unsupported type) or does not belong to the certificate.
fn tls_config(tls: &lightrag_config::TlsSettings) -> anyhow::Result<rustls::ServerConfig> {
    let (cert_var, key_var) = (tls.source.cert_variable(), tls.source.key_variable());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = provider
        .key_provider
        .load_private_key(tls.private_key())
        .map_err(|e| {
            anyhow::anyhow!(
                "{key_var}={}: the private key cannot be used ({e}); expected an RSA (2048 bits or more), ECDSA P-256/P-384 or Ed25519 key",
                tls.key_file.display()
            )
        })?;
    let certified = rustls::sign::CertifiedKey::new(tls.cert_chain().to_vec(), key);
    match certified.keys_match() {
        // A key type whose public half rustls cannot derive: nothing to compare.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => bail!(
            "{key_var}={} does not belong to the certificate {cert_var}={}: give the key the \
             certificate was issued for (and the leaf certificate first in the chain)",
            tls.key_file.display(),
            tls.cert_file.display()
        ),
        Err(e) => bail!(
            "{cert_var}={}: the leaf certificate is not a valid X.509 certificate ({e})",
            tls.cert_file.display()
        ),
    }
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCert(Arc::new(certified))));
    Ok(config)
}

/// The one certificate, whatever name the client asks for.
#[derive(Debug)]
struct SingleCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for SingleCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

fn api_server(
    state: AppState,
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
) -> anyhow::Result<Server> {
    let guard = crate::guard::Guard::new(state.config.clone());
    let data = web::Data::new(state);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(routes::json_errors)
            .configure(routes::config)
            .default_service(web::to(routes::not_found))
            .wrap(guard.clone())
            .wrap(from_fn(record_duration))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS);
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

/// The Prometheus listener (`LIGHTRAG_METRICS_HOST:LIGHTRAG_METRICS_PORT`); with
/// `LIGHTRAG_METRICS_TOKEN` a scrape needs `Authorization: Bearer <token>`.
fn metrics_server(
    collector: Arc<MetricsCollector>,
    listener: TcpListener,
    token: Option<lightrag_config::Secret>,
    tls: Option<rustls::ServerConfig>,
) -> anyhow::Result<Server> {
    if token.is_none() && !listener.local_addr()?.ip().is_loopback() {
        tracing::warn!(
            target: "security",
            addr = %listener.local_addr()?,
            "The metrics listener is reachable from the network without a token; set LIGHTRAG_METRICS_TOKEN"
        );
    }
    let handle = web::Data::from(collector);
    let token = web::Data::new(crate::guard::MetricsToken(token));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(handle.clone())
            .app_data(token.clone())
            .wrap(from_fn(crate::guard::require_metrics_token))
            .route("/metrics", web::get().to(scrape))
            .route("/", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(5);
    // With TLS configured the scrape is HTTPS too (Prometheus: `scheme: https`), same
    // certificate: the token and the metrics never cross the network in clear.
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

async fn scrape(collector: web::Data<MetricsCollector>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type(PROMETHEUS_CONTENT_TYPE)
        .body(collector.export_to_prometheus().await)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "Cannot listen for SIGTERM; only SIGINT stops the server");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
