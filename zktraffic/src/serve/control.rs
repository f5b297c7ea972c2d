//! The flags with which a [`Collector`](super::Collector)'s owner steers its threads.

use std::sync::atomic::AtomicBool;

/// What the owner of a [`Collector`](super::Collector) asks of its threads.
#[derive(Debug, Default)]
pub struct Control {
    /// Stop capturing (the aggregation thread then publishes what it has and ends).
    pub stop: AtomicBool,
    /// Forget every count at the next chance (`top`'s Ctrl-R).
    pub reset: AtomicBool,
}
