//! Giving memory the process freed back to the system.
//!
//! glibc's allocator keeps what it freed in per-thread arenas for reuse: after a recovery-point
//! validation of a 5.5 GB graph the server stayed at 79 MB resident for good (24 MB before it),
//! and a burst of requests left its peak behind the same way (issue 15). `malloc_trim`
//! returns the free pages of every arena; the server calls it on a timer.

use std::time::Duration;

/// How often the server gives free memory back.
pub(crate) const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Allocations at least this large get their own mapping, given back when freed.
const MMAP_THRESHOLD: i32 = 256 * 1024;

/// Called first in `main`, before any thread: large buffers (read buffers, restore batches,
/// packs) are mapped and unmapped on their own. glibc otherwise raises this threshold to the
/// largest block freed so far (up to 32 MiB), after which such buffers stay in the arenas.
#[allow(unsafe_code)]
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` takes two integers and changes only the allocator's parameters; it is
    // called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Return the allocator's free pages to the system (glibc; elsewhere nothing to do).
#[allow(unsafe_code)]
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointer from the caller; it works on the allocator's own
    // state under the allocator's locks, and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Every [`TRIM_EVERY`], on the blocking pool, until the runtime stops.
pub(crate) async fn trim_periodically() {
    loop {
        actix_web::rt::time::sleep(TRIM_EVERY).await;
        let _ = actix_web::rt::task::spawn_blocking(release_free_memory).await;
    }
}
