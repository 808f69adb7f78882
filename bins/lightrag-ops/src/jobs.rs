//! HTTP around the service's jobs: `?wait=true`, 202 with the job and where to poll it.

use actix_web::HttpResponse;
use lightrag_service::Job;

use crate::error::ApiError;
use crate::state::AppState;

/// `?wait=true` on a route that starts a job: answer when it has finished.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaitQuery {
    /// Wait for the job instead of answering 202 at once.
    #[serde(default)]
    pub wait: bool,
}

/// Runs `work` as a job of the service. Answers 202 with the job (and where to poll it), or
/// with `wait` the finished job (200) or its error; 429 when too many jobs are running.
pub(crate) async fn run_job<F>(
    state: &AppState,
    kind: &str,
    graph_id: Option<&str>,
    wait: bool,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&Job) -> lightrag_service::Result<serde_json::Value> + Send + 'static,
{
    let (job, done) = state.jobs().run(kind, graph_id, work)?;
    if !wait {
        let view = job.view();
        return Ok(HttpResponse::Accepted()
            .insert_header(("Location", format!("/api/v1/jobs/{}", view.id)))
            .json(view));
    }
    match done.await {
        Ok(Ok(_)) => Ok(HttpResponse::Ok().json(job.view())),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ApiError::Internal(anyhow::anyhow!(
            "job {} ended without a result",
            job.id()
        ))),
    }
}
