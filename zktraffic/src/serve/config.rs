//! What the daemon is asked to do, besides where its segments come from.

use std::net::SocketAddr;
use std::time::Duration;

use super::control::Reload;
use super::http::{HttpAuth, HttpLimits, RenderOptions, TlsFiles};
use crate::pipeline::PipelineConfig;
use crate::stats::StatsConfig;

/// Everything the daemon needs besides its source.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Where HTTP listens (port 0: any free port, see [`Daemon::addr`](super::Daemon::addr)).
    pub http_addr: SocketAddr,
    /// Reassembly and decoding: ports and caps.
    pub pipeline: PipelineConfig,
    /// Aggregation: window, path rules, caps.
    pub stats: StatsConfig,
    /// How `/json/*` bodies are rendered.
    pub render: RenderOptions,
    /// Fraction of connections analysed (`--sampling`).
    pub sampling: f64,
    /// Messages that may wait between capture and aggregation (`--max-queued-*` added up).
    pub queue_messages: usize,
    /// Longest time between two cumulative publications.
    pub publish_interval: Duration,
    /// Stop on SIGINT/SIGTERM (the binary); tests leave signals alone.
    pub handle_signals: bool,
    /// HTTP connection cap and header-read timeout.
    pub http_limits: HttpLimits,
    /// The bearer token asked for, and what is served without it.
    pub http_auth: HttpAuth,
    /// HTTPS instead of HTTP.
    pub tls: Option<TlsFiles>,
    /// What SIGHUP re-reads besides the token and certificate (`--config`), when
    /// `handle_signals`.
    pub reload: Option<Reload>,
    /// Also publish the windows closed over this much capture time, and a history point per
    /// window (`top`'s rates and sparkline; 0 for the daemon, which needs neither).
    pub recent_ns: u64,
}
