//! What the aggregation thread publishes and HTTP reads: immutable, shared by `Arc`.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::info::Info;
use crate::Timestamp;
use crate::stats::Tally;
use crate::stats::connections::ConnTable;

/// Bodies a [`View`] caches (HTTP decides which body each slot holds).
pub const BODY_SLOTS: usize = 8;

/// The scope of a `/json/*` answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The last completed window (the original's semantics).
    Window,
    /// Totals since start (closed windows plus the current one).
    Cumulative,
}

/// One scope's data, frozen. Bodies rendered from it are cached: a snapshot never changes, and
/// many pollers ask for the same one.
#[derive(Debug)]
pub struct View {
    /// The counters.
    pub tally: Tally,
    /// The client connections known at publication.
    pub conns: ConnTable,
    bodies: [OnceLock<Arc<str>>; BODY_SLOTS],
}

impl View {
    /// A view of `tally` with the connections known at publication.
    pub fn new(tally: Tally, conns: ConnTable) -> Self {
        View { tally, conns, bodies: Default::default() }
    }

    /// The body cached in `slot` (below [`BODY_SLOTS`]), rendered by `render` the first time.
    pub fn cached(&self, slot: usize, render: impl FnOnce() -> String) -> Arc<str> {
        self.bodies[slot].get_or_init(|| Arc::from(render())).clone()
    }
}

/// Windows of [`Snapshot::history`].
pub const HISTORY: usize = 600;

/// The whole server in one closed window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WindowPoint {
    /// Start of the window (capture time).
    pub start: Timestamp,
    /// End of the window.
    pub end: Timestamp,
    /// Requests counted.
    pub requests: u64,
    /// Replies counted.
    pub replies: u64,
    /// Replies with an error code.
    pub errors: u64,
    /// Median reply latency over every request type (none without replies).
    pub p50_us: Option<f64>,
    /// 99th percentile of the same.
    pub p99_us: Option<f64>,
}

impl WindowPoint {
    /// The point of `tally`.
    pub fn of(tally: &Tally) -> Self {
        let mut all = crate::stats::latency::Latency::new(Some(2));
        for l in tally.latency.values() {
            all.merge(l);
        }
        let s = all.summary();
        let errors = tally
            .replies
            .iter()
            .filter(|((_, err, _), _)| *err != crate::zk::ErrorCode::OK)
            .map(|(_, n)| n)
            .sum();
        let latency = |p: Option<f64>| p.filter(|_| all.count > 0);
        WindowPoint {
            start: tally.start,
            end: tally.end,
            requests: tally.counts.requests,
            replies: tally.counts.replies,
            errors,
            p50_us: latency(s.p50_us),
            p99_us: latency(s.p99_us),
        }
    }
}

/// Everything HTTP serves, as of one publication.
#[derive(Debug)]
pub struct Snapshot {
    /// The last completed window (empty before the first one closes: `{}` as the original).
    pub window: Arc<View>,
    /// Totals since start.
    pub cumulative: Arc<View>,
    /// The windows that closed over the last `ServeConfig::recent_ns` of capture time and
    /// held traffic, oldest first (empty unless asked for: `top`'s rates).
    pub recent: Vec<Arc<View>>,
    /// One point per closed window, oldest first, for the last [`HISTORY`] windows (empty
    /// unless `recent_ns` is set: `top`'s sparkline).
    pub history: Vec<WindowPoint>,
    /// `/json/info` as published (see [`Snapshot::info_now`]).
    pub info: Info,
    /// The source's health (`/healthz`).
    pub health: Result<(), String>,
    /// The input ended (replayed capture done, or the source failed).
    pub finished: bool,
    /// When the daemon started (for uptime).
    pub started: Instant,
    /// Live TCP connections in the flow table.
    pub live_connections: usize,
    /// The ensemble (`/json/quorum`), once quorum or election traffic was seen.
    pub quorum: Option<Arc<crate::ensemble::state::QuorumView>>,
    /// `/metrics`, rendered on first request.
    pub metrics: OnceLock<Arc<str>>,
}

impl Snapshot {
    /// `/json/info` now: the published state plus uptime and whether the input ended.
    pub fn info_now(&self) -> Info {
        let mut info = self.info.clone();
        info.uptime = self.started.elapsed().as_secs();
        info.finished = self.finished;
        info.privileges = Some(crate::privilege::Held::now());
        info
    }

    /// One line for `--exit-when-done`: messages decoded, capture-thread time, paths.
    pub fn replay_summary(&self) -> serde_json::Value {
        self.info.replay_summary(self.cumulative.tally.clients.len())
    }

    /// The view of `scope`.
    pub fn view(&self, scope: Scope) -> &Arc<View> {
        match scope {
            Scope::Window => &self.window,
            Scope::Cumulative => &self.cumulative,
        }
    }
}
