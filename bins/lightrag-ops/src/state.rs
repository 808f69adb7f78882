//! Shared application state handed to every handler: the composed service, plus what only
//! HTTP needs.

use std::sync::Arc;

use lightrag_config::Config;
use lightrag_service::Service;

/// State shared by all HTTP workers (cheap to clone: `Arc` fields). Dereferences to the
/// [`Service`].
#[derive(Clone, Debug)]
pub struct AppState {
    /// The composed service: every operation.
    pub service: Arc<Service>,
    /// The configuration the server started with (the service's).
    pub config: Arc<Config>,
    /// The last serialised `/api/v1/health-dashboard/status` answer.
    pub(crate) status_cache: Arc<StatusCache>,
}

impl AppState {
    /// State around `service`.
    pub fn new(service: Arc<Service>) -> Self {
        Self {
            config: service.shared_config(),
            service,
            status_cache: Arc::default(),
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.service
    }
}

/// The serialised `/status` answer for one health report, reused for a short while:
/// under many polling clients the server answers from memory instead of re-encoding ~100
/// graphs per request.
#[derive(Debug, Default)]
pub(crate) struct StatusCache(
    pub(crate)  std::sync::Mutex<
        Option<(
            Arc<lightrag_recovery::HealthReport>,
            std::time::Instant,
            actix_web::web::Bytes,
        )>,
    >,
);
