//! Progress reporting for long operations (a CLI progress bar, a server job, or nothing).

/// Receives progress of a long operation. All methods have empty defaults; implementations
/// must be cheap and thread-safe (they are called from worker threads).
pub trait Progress: Send + Sync {
    /// An operation (`backup`, `restore`, `verify`, `prune`) starts with these totals
    /// (0 when unknown).
    fn begin(&self, _operation: &str, _total_files: u64, _total_bytes: u64) {}
    /// Work done since the last call: whole files finished and bytes processed.
    fn advance(&self, _files: u64, _bytes: u64) {}
    /// A human-readable note (retrying a file, taking the safety snapshot, ...).
    fn note(&self, _message: &str) {}
    /// The operation ended (successfully or not).
    fn end(&self) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
