//! The flags with which a [`Collector`](super::Collector)'s owner steers its threads.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

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

/// Re-reads the settings (the `--config` file): the new aggregation settings, or why not.
#[derive(Clone)]
pub struct Reload(pub Arc<dyn Fn() -> Result<StatsConfig, String> + Send + Sync>);

impl std::fmt::Debug for Reload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reload")
    }
}
