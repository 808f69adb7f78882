//! Process metrics read from `/proc` at scrape time (Linux), rendered in exposition format.
//!
//! Rendered by hand instead of through the `metrics` facade because
//! `process_cpu_seconds_total` is a fractional counter (the facade's counters are integers).
//! On systems without `/proc` nothing is rendered.

use std::fmt::Write as _;

use crate::catalogue::PROCESS_METRICS;

/// Kernel clock ticks per second as exposed to user space (`USER_HZ`, 100 on Linux ABIs).
const USER_HZ: f64 = 100.0;

/// A snapshot of the process metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    /// Resident set size, bytes.
    pub resident_memory_bytes: u64,
    /// Virtual memory size, bytes.
    pub virtual_memory_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// Soft limit of open file descriptors.
    pub max_fds: u64,
    /// Unix time the process started.
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// Reads `/proc/self`; `None` where `/proc` is unavailable.
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may contain spaces.
        let after = stat.get(stat.rfind(')')? + 2..)?;
        let f: Vec<&str> = after.split_ascii_whitespace().collect();
        // `after` starts at field 3 (state): field N is f[N - 3].
        let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let utime = num(14)?;
        let stime = num(15)?;
        let start_ticks = num(22)?;
        let vsize = num(23)?;
        let rss_pages = num(24)?;
        let page_size = page_size().unwrap_or(4096);
        let btime = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())?;
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_ascii_whitespace().nth(3))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0);
        #[allow(clippy::cast_precision_loss)]
        Some(Self {
            cpu_seconds: (utime + stime) as f64 / USER_HZ,
            resident_memory_bytes: rss_pages * page_size,
            virtual_memory_bytes: vsize,
            open_fds,
            max_fds,
            start_time_seconds: btime as f64 + start_ticks as f64 / USER_HZ,
        })
    }

    /// Appends the metrics (with HELP and TYPE) to `out`.
    pub fn render(&self, out: &mut String) {
        #[allow(clippy::cast_precision_loss)]
        let values = [
            self.cpu_seconds,
            self.resident_memory_bytes as f64,
            self.virtual_memory_bytes as f64,
            self.open_fds as f64,
            self.max_fds as f64,
            self.start_time_seconds,
        ];
        for ((name, ty, help), value) in PROCESS_METRICS.iter().zip(values) {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {}", ty.as_str());
            let _ = writeln!(out, "{name} {value}");
            out.push('\n');
        }
    }
}

/// Page size from the auxiliary vector (`AT_PAGESZ` = 6), read from `/proc/self/auxv`.
fn page_size() -> Option<u64> {
    let auxv = std::fs::read("/proc/self/auxv").ok()?;
    for pair in auxv.chunks_exact(16) {
        let key = u64::from_ne_bytes(pair[..8].try_into().ok()?);
        let value = u64::from_ne_bytes(pair[8..].try_into().ok()?);
        if key == 6 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_plausible_values() {
        let s = ProcessStats::read().expect("/proc is readable");
        assert!(s.resident_memory_bytes > 1_000_000, "{s:?}");
        assert!(s.open_fds >= 3, "{s:?}");
        assert!(s.max_fds >= s.open_fds, "{s:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            s.start_time_seconds <= now + 1.0 && s.start_time_seconds > now - 86_400.0,
            "{s:?}"
        );
        let mut out = String::new();
        s.render(&mut out);
        assert!(out.contains("# TYPE process_cpu_seconds_total counter"));
    }
}
