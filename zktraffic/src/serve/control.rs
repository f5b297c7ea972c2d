//! The flags with which a [`Collector`](super::Collector)'s owner steers its threads.

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use crate::stats::StatsConfig;

/// What the owner of a [`Collector`](super::Collector) asks of its threads.
#[derive(Debug, Default)]
pub struct Control {
    /// Stop capturing (the aggregation thread then publishes what it has and ends).
    pub stop: AtomicBool,
    /// Forget every count at the next chance (`top`'s Ctrl-R).
    pub reset: AtomicBool,
    /// New aggregation settings, for the windows after the current one (SIGHUP re-reading
    /// `--config`).
    pub reconfigure: Mutex<Option<StatsConfig>>,
}
