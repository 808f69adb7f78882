//! Logs and the Prometheus recorder.

use std::sync::OnceLock;

use lightrag_config::LogFormat;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Name of the request-duration histogram (labels `method`, `route`, `status`).
pub const HTTP_REQUEST_DURATION: &str = "lightrag_http_request_duration_seconds";

/// Buckets of the request-duration histogram, in seconds.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

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

/// The process's Prometheus recorder, installed on first use.
///
/// The `metrics` facade has one recorder per process by design; this is the only place that
/// installs it, and the handle is passed to whoever renders the exposition.
pub fn prometheus_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(install_recorder)
        .clone()
        .map_err(anyhow::Error::msg)
}

fn install_recorder() -> Result<PrometheusHandle, String> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(HTTP_REQUEST_DURATION.to_owned()),
            HTTP_BUCKETS,
        )
        .map_err(|e| e.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| "a foreign metrics recorder is already installed".to_owned())?;
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Duration of HTTP requests by method, route pattern and status code."
    );
    Ok(handle)
}
