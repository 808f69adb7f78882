//! Logs and the Prometheus recorder.

use std::sync::OnceLock;

use lightrag_config::LogFormat;
use metrics_exporter_prometheus::PrometheusHandle;
use tracing_subscriber::EnvFilter;

/// Installs the tracing subscriber (`RUST_LOG` filter, default `info`). Safe to call twice.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        _ => builder.try_init(),
    };
}

/// The process's Prometheus recorder (lightrag-monitoring's catalogue), installed on first use.
///
/// The `metrics` facade has one recorder per process by design; this is the only place that
/// installs it, and the handle is passed to whoever renders the exposition.
pub fn prometheus_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = lightrag_monitoring::install_global_recorder()
                .map_err(|e| lightrag_config::error_chain(&e))?;
            lightrag_monitoring::record::record_build_info(env!("CARGO_PKG_VERSION"), "unknown");
            Ok(handle)
        })
        .clone()
        .map_err(anyhow::Error::msg)
}
