//! Lag and retry back-off: pure functions (the state they read lives in `replication_state`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::keys::snapshot_time_ms;

/// Lag in ms = age at `now_ms` of the oldest primary snapshot (ids, any order) that
/// `on_target` says is missing; 0 when every snapshot is on the target. The snapshot's
/// creation time comes from its id, so no manifest is read.
pub fn lag_ms(primary_ids: &[String], on_target: impl Fn(&str) -> bool, now_ms: i64) -> i64 {
    primary_ids
        .iter()
        .filter(|id| !on_target(id))
        .filter_map(|id| snapshot_time_ms(id))
        .min()
        .map_or(0, |t| now_ms.saturating_sub(t).max(0))
}

/// Lag when the target cannot be listed (unreachable, or to keep the number fresh without
/// touching it): syncs copy oldest first, so the target holds every primary snapshot up to
/// `last_synced` (ids sort by time); anything newer is missing.
pub fn lag_from_last_synced(primary_ids: &[String], last_synced: Option<&str>, now_ms: i64) -> i64 {
    lag_ms(
        primary_ids,
        |id| last_synced.is_some_and(|l| id <= l),
        now_ms,
    )
}

/// The newest primary snapshot such that it and every older primary snapshot are on the
/// target (what `replication_state.last_synced_snapshot_id` records).
pub fn newest_contiguous(
    primary_ids: &[String],
    on_target: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut sorted: Vec<&String> = primary_ids.iter().collect();
    sorted.sort();
    let mut last = None;
    for id in sorted {
        if on_target(id) {
            last = Some(id.clone());
        } else {
            break;
        }
    }
    last
}

/// Exponential back-off with jitter for consecutive failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffPolicy {
    /// Delay after the first failure.
    pub base: Duration,
    /// Largest delay.
    pub cap: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(3600),
        }
    }
}

impl BackoffPolicy {
    /// Delay before the next attempt after `failures` consecutive failures (0 → none):
    /// `min(cap, base·2^(failures-1))`, scaled into `[1/2, 1]` by `jitter` (a value in
    /// `[0, 1)`; pass [`jitter_for`] so the delay is stable across restarts).
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let exp = failures.saturating_sub(1).min(40);
        let raw = self.base.saturating_mul(1u32 << exp.min(31)).min(self.cap);
        let raw = if exp > 31 { self.cap } else { raw };
        raw.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// When the next attempt is due (unix ms), given the time of the last failure.
    pub fn next_attempt_ms(&self, last_failure_ms: i64, failures: u32, jitter: f64) -> i64 {
        let d = self.delay(failures, jitter);
        last_failure_ms.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A deterministic jitter in `[0, 1)` for (target, graph, failures).
pub fn jitter_for(target_id: &str, graph_id: &str, failures: u32) -> f64 {
    let mut h = blake3::Hasher::new();
    h.update(target_id.as_bytes());
    h.update(&[0]);
    h.update(graph_id.as_bytes());
    h.update(&failures.to_le_bytes());
    let b = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&b.as_bytes()[..8]);
    (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ts: &str) -> String {
        format!("{ts}Z-00000000")
    }

    #[test]
    fn lag_is_age_of_oldest_missing() {
        let a = id("20261125T200000000");
        let b = id("20261125T200010000");
        let c = id("20261125T200020000");
        let ids = vec![a.clone(), b.clone(), c.clone()];
        let now = crate::keys::snapshot_time_ms(&c).unwrap() + 5_000;
        assert_eq!(lag_ms(&ids, |_| true, now), 0);
        assert_eq!(lag_ms(&ids, |x| x == a, now), 15_000);
        assert_eq!(lag_ms(&ids, |_| false, now), 25_000);
        assert_eq!(lag_from_last_synced(&ids, Some(&b), now), 5_000);
        assert_eq!(lag_from_last_synced(&ids, None, now), 25_000);
        assert_eq!(lag_ms(&[], |_| false, now), 0);
        assert_eq!(newest_contiguous(&ids, |x| x != c), Some(b.clone()));
        assert_eq!(newest_contiguous(&ids, |x| x != a), None);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = BackoffPolicy {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(300),
        };
        assert_eq!(p.delay(0, 0.3), Duration::ZERO);
        assert_eq!(p.delay(1, 1.0), Duration::from_secs(10));
        assert_eq!(p.delay(1, 0.0), Duration::from_secs(5));
        assert_eq!(p.delay(3, 1.0), Duration::from_secs(40));
        assert_eq!(p.delay(10, 1.0), Duration::from_secs(300));
        assert_eq!(p.delay(u32::MAX, 1.0), Duration::from_secs(300));
        let j = jitter_for("t", "g", 3);
        assert!((0.0..1.0).contains(&j));
        assert_eq!(j, jitter_for("t", "g", 3));
        assert_ne!(j, jitter_for("t", "g", 4));
        assert_eq!(p.next_attempt_ms(1000, 1, 1.0), 11_000);
    }
}
