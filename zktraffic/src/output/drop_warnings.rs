//! Live capture's lost data, said as it happens: a warning on standard error when a counter of
//! dropped or missing data moves, at most every [`WARN_EVERY`], with what moved since the last
//! one. The counters themselves stay in `--summary`, `/json/info` and `/metrics`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Shortest time between two warnings.
pub const WARN_EVERY: Duration = Duration::from_secs(10);
/// Shortest time between two looks at the counters (collecting them is not free).
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Counters (by the last part of their name) that count data lost or not decoded.
const WATCHED: &[&str] = &[
    // kernel and ring reader
    "ring_full_drops",
    "truncated",
    "load_failures",
    "bad_records",
    "orphan_chunks",
    // reassembly
    "gaps",
    "buffer_cap_hits",
    "connection_cap_hits",
    "unanswered_evicted",
    // decoding
    "frames_lost_to_gaps",
    "oversized_frames",
    "pending_cap_hits",
    "pending_budget_hits",
    "partial_frames_shed",
    "resync_candidates_shed",
];

/// True for a flattened counter name (`tcp.gaps`, `queue_dropped.requests`…) that counts data
/// lost or not decoded.
pub fn is_loss_counter(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or_default();
    name.starts_with("queue_dropped.") || WATCHED.contains(&last)
}

/// Watches the counters of a live capture.
#[derive(Debug)]
pub struct DropWarnings {
    /// Values at the last warning (absent: 0).
    warned_at: BTreeMap<String, u64>,
    last_warning: Option<Instant>,
    last_check: Instant,
}

impl Default for DropWarnings {
    fn default() -> Self {
        DropWarnings { warned_at: BTreeMap::new(), last_warning: None, last_check: Instant::now() }
    }
}

impl DropWarnings {
    /// Looks at the counters `collect` gives (flattened `name → value`; names under
    /// `queue_dropped.` all count; others by their last part) at most every second, and warns when watched ones grew.
    pub fn observe(&mut self, collect: impl FnOnce() -> Vec<(String, u64)>) {
        let now = Instant::now();
        if now.duration_since(self.last_check) < CHECK_EVERY
            || self.last_warning.is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            return;
        }
        self.last_check = now;
        if let Some(line) = self.moved(collect()) {
            tracing::warn!("{line}");
            self.last_warning = Some(now);
        }
    }

    /// What grew since the last warning, as one line (and the new baseline), if anything did.
    fn moved(&mut self, counters: Vec<(String, u64)>) -> Option<String> {
        let mut grew = Vec::new();
        for (name, value) in counters {
            if !is_loss_counter(&name) {
                continue;
            }
            let before = self.warned_at.get(&name).copied().unwrap_or(0);
            if value > before {
                grew.push(format!("{name} +{}", value - before));
                self.warned_at.insert(name, value);
            }
        }
        (!grew.is_empty()).then(|| {
            format!(
                "live capture is losing data: {} (since the last warning; every counter is in \
                 --summary, /json/info and /metrics)",
                grew.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(ring: u64, gaps: u64, segments: u64) -> Vec<(String, u64)> {
        vec![
            ("kernel.ring_full_drops".into(), ring),
            ("tcp.gaps".into(), gaps),
            ("tcp.segments".into(), segments),
        ]
    }

    #[test]
    fn only_watched_counters_that_grew_are_said_with_their_growth() {
        let mut w = DropWarnings::default();
        assert_eq!(w.moved(counters(0, 0, 100)), None, "traffic alone is no loss");
        let line = w.moved(counters(5, 0, 200)).expect("a drop");
        assert!(line.contains("kernel.ring_full_drops +5") && !line.contains("segments"), "{line}");
        let line = w.moved(counters(7, 1, 300)).expect("more");
        assert!(line.contains("ring_full_drops +2") && line.contains("tcp.gaps +1"), "{line}");
        assert_eq!(w.moved(counters(7, 1, 400)), None);
        let queue = vec![("queue_dropped.requests".to_owned(), 3)];
        assert!(w.moved(queue).expect("queue drops").contains("queue_dropped.requests +3"));
    }
}
