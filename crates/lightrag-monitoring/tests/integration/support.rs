//! Per-test databases (the shared harness of `lightrag-testing`), a runtime for thread-local
//! metric recorders and `promtool`.

pub use lightrag_testing::TestDb;

/// A current-thread runtime: futures run on the test thread, so a thread-local recorder
/// (`metrics::with_local_recorder`) sees what they record.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Path of the `promtool` binary; panics (the test fails, never skips) when it is missing.
pub fn promtool() -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "promtool is required: install Debian's `prometheus` package \
                 (apt-get install -y --no-install-recommends prometheus); scripts/test does"
            )
        })
}
