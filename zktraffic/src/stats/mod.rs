//! The stats daemon's aggregation: windows over capture time, the original zk-stats-daemon's
//! compatible keys (per path, IP and identity), latency histograms, errors, per-client
//! accounting, and the caps that bound all of it.
//!
//! The capture thread turns messages into [`fact`]s; everything else here runs on the
//! aggregation thread, and [`render`] works on immutable snapshots.

pub mod aggregator;
pub mod connections;
pub mod fact;
pub mod identity;
pub mod interner;
pub mod latency;
pub mod name;
pub mod path;
pub mod raw_paths;
pub mod tally;
pub mod window;

pub use aggregator::{Aggregator, StatsConfig};
pub use path::PathRules;
pub use tally::{Tally, TallyLimits};
