//! What the aggregation thread publishes and HTTP reads: immutable, shared by `Arc`.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde_json::Value;

use crate::stats::Tally;
use crate::stats::connections::ConnTable;
use crate::stats::render::{self, Dimension, RenderOptions};

/// The scope of a `/json/*` answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The last completed window (the original's semantics).
    Window,
    /// Totals since start (closed windows plus the current one).
    Cumulative,
}

/// The JSON endpoints rendered from a [`View`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Paths,
    Ips,
    Auths,
    AuthsDump,
    Latency,
    Errors,
    Clients,
}

impl Endpoint {
    /// Every endpoint, in index order.
    pub const ALL: [Endpoint; 7] = [
        Endpoint::Paths,
        Endpoint::Ips,
        Endpoint::Auths,
        Endpoint::AuthsDump,
        Endpoint::Latency,
        Endpoint::Errors,
        Endpoint::Clients,
    ];

    /// The endpoint served at `/json/<name>`.
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Some(match name {
            "paths" => Endpoint::Paths,
            "ips" => Endpoint::Ips,
            "auths" => Endpoint::Auths,
            "auths-dump" => Endpoint::AuthsDump,
            "latency" => Endpoint::Latency,
            "errors" => Endpoint::Errors,
            "clients" => Endpoint::Clients,
            _ => return None,
        })
    }

    /// The `/json/<name>` name.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Paths => "paths",
            Endpoint::Ips => "ips",
            Endpoint::Auths => "auths",
            Endpoint::AuthsDump => "auths-dump",
            Endpoint::Latency => "latency",
            Endpoint::Errors => "errors",
            Endpoint::Clients => "clients",
        }
    }
}

/// One scope's data, frozen. Bodies are rendered on first request and cached: a snapshot
/// never changes, and many pollers ask for the same one.
#[derive(Debug)]
pub struct View {
    pub tally: Tally,
    pub conns: ConnTable,
    pub options: RenderOptions,
    cache: [OnceLock<Arc<str>>; Endpoint::ALL.len()],
}

impl View {
    /// A view of `tally` with the connections known at publication.
    pub fn new(tally: Tally, conns: ConnTable, options: RenderOptions) -> Self {
        View { tally, conns, options, cache: Default::default() }
    }

    /// The JSON body of `endpoint`.
    pub fn body(&self, endpoint: Endpoint) -> Arc<str> {
        self.cache[endpoint as usize]
            .get_or_init(|| {
                let t = &self.tally;
                let o = self.options;
                let v = match endpoint {
                    Endpoint::Paths => render::compatible(t, Dimension::Path, o),
                    Endpoint::Ips => render::compatible(t, Dimension::Ip, o),
                    Endpoint::Auths => render::compatible(t, Dimension::Auth, o),
                    Endpoint::AuthsDump => render::auths_dump(&self.conns),
                    Endpoint::Latency => render::latency(t, o),
                    Endpoint::Errors => render::errors(t),
                    Endpoint::Clients => render::clients(t, &self.conns, o),
                };
                Arc::from(v.to_string())
            })
            .clone()
    }
}

/// Everything HTTP serves, as of one publication.
#[derive(Debug)]
pub struct Snapshot {
    /// The last completed window (empty before the first one closes: `{}` as the original).
    pub window: Arc<View>,
    /// Totals since start.
    pub cumulative: Arc<View>,
    /// `/json/info` without `uptime` (added when served).
    pub info: Value,
    /// The source's health (`/healthz`).
    pub health: Result<(), String>,
    /// The input ended (replayed capture done, or the source failed).
    pub finished: bool,
    /// When the daemon started (for uptime).
    pub started: Instant,
    /// Live TCP connections in the flow table.
    pub live_connections: usize,
    /// `/metrics`, rendered on first request.
    pub metrics: OnceLock<Arc<str>>,
}

impl Snapshot {
    /// `/json/info`: the published counters plus uptime and whether the input ended.
    pub fn info_now(&self) -> Value {
        let mut info = self.info.clone();
        info["uptime"] = self.started.elapsed().as_secs().into();
        info["finished"] = self.finished.into();
        info
    }

    /// One line for `--exit-when-done`: messages decoded, capture-thread time, paths.
    pub fn replay_summary(&self) -> Value {
        let decode = &self.info["pipeline"]["decode"];
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        let agg = &self.info["aggregation"];
        serde_json::json!({
            "messages": n(&decode["requests"]) + n(&decode["replies"]) + n(&decode["events"]),
            "replay_seconds": self.info["capture"]["elapsed_seconds"],
            "distinct_paths": agg["distinct_paths"],
            "folded_paths": agg["cumulative"]["folded_paths"],
            "tracked_clients": self.cumulative.tally.clients.len(),
        })
    }

    /// The view of `scope`.
    pub fn view(&self, scope: Scope) -> &Arc<View> {
        match scope {
            Scope::Window => &self.window,
            Scope::Cumulative => &self.cumulative,
        }
    }
}
