//! What `serve` and `top` share: the source, the server ports, path keys, caps and the queue
//! between capture and aggregation.

use std::path::PathBuf;

use clap::Args;

use super::dump::{LimitArgs, LiveArgs, LogArgs};
use crate::pipeline::PipelineConfig;
use crate::serve::parse_probability;
use crate::stats::{PathRules, StatsConfig, TallyLimits};

/// The source, decoding and aggregation options of `serve` and `top`.
#[derive(Args, Debug, Clone)]
pub struct CollectArgs {
    /// Read settings from this TOML file (keys are the long flags: `iface = "eth0"`,
    /// `port = [2181]`, `exclude-bytes = true`); flags override it. SIGHUP re-reads it: the
    /// window, path rules and caps change from the next window, the HTTP token and TLS
    /// certificate are re-read; anything else needs a restart.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Replay this pcap or pcapng file (`-`: standard input, e.g. from `tcpdump -U -w -`).
    #[arg(long, value_name = "FILE", conflicts_with = "iface")]
    pub pcap: Option<PathBuf>,

    /// Capture live on this interface.
    #[arg(long, value_name = "IFACE")]
    pub iface: Option<String>,

    /// Aggregate paths to this many components (`/a/b/c` at 2 is `/a/b`; 0: full paths).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub aggregation_depth: usize,

    /// Fraction of connections analysed, in [0, 1] (a whole connection is in or out).
    #[arg(long, value_name = "P", default_value_t = 1.0, value_parser = parse_probability)]
    pub sampling: f64,

    /// Keep sequential znode suffixes (`lock-0000000042`) instead of folding them to `-#`.
    #[arg(long)]
    pub keep_sequential_suffix: bool,

    /// Distinct paths per window (and in the cumulative totals); the rest count under `<other>`.
    #[arg(value_parser = super::dump::cap, long, value_name = "N", default_value_t = 10_000)]
    pub max_paths: usize,

    /// Distinct client IPs and identities per window; the rest count under `<other>`.
    #[arg(value_parser = super::dump::cap, long, value_name = "N", default_value_t = 10_000)]
    pub max_ips: usize,

    /// Client connections with their own counters (`/json/clients`, `/json/auths-dump`).
    #[arg(value_parser = super::dump::cap, long, value_name = "N", default_value_t = 10_000)]
    pub max_clients: usize,

    /// Entries of the request map (request type × path × IP × identity) and of the error map;
    /// past it, new keys count under `<other>` for their IP and identity (per-path counts stay
    /// exact) or, for errors, for their path.
    #[arg(value_parser = super::dump::cap, long, value_name = "N", default_value_t = 200_000)]
    pub max_keys: usize,

    /// Keep a latency histogram per path (memory: about 7 KiB per path).
    #[arg(long)]
    pub path_latency: bool,

    /// ZooKeeper server port (repeatable; `--zookeeper-port` as the original).
    #[arg(long = "port", alias = "zookeeper-port", value_name = "PORT", default_values_t = [zktraffic_common::ZK_CLIENT_PORT])]
    pub ports: Vec<u16>,

    /// The leader's quorum (ZAB) port (repeatable): its traffic feeds `/json/quorum`.
    #[arg(long = "zab-port", value_name = "PORT", default_values_t = [zktraffic_common::ZK_QUORUM_PORT])]
    pub zab_ports: Vec<u16>,

    /// The election port (repeatable); the ports its notifications' config names are decoded
    /// too.
    #[arg(long = "election-port", value_name = "PORT", default_values_t = [zktraffic_common::ZK_ELECTION_PORT])]
    pub election_ports: Vec<u16>,

    /// Requests that may wait between capture and aggregation (with the two below: the
    /// capacity of the one queue linking them). Live capture drops what does not fit, and
    /// counts it; a replay waits instead.
    #[arg(value_parser = super::dump::cap, long, value_name = "N", default_value_t = 16_384)]
    pub max_queued_requests: usize,
    /// Replies that may wait between capture and aggregation (see `--max-queued-requests`).
    #[arg(value_parser = super::dump::cap, long, value_name = "N", default_value_t = 16_384)]
    pub max_queued_replies: usize,
    /// Watch events that may wait between capture and aggregation (see
    /// `--max-queued-requests`).
    #[arg(value_parser = super::dump::cap, long, value_name = "N", default_value_t = 16_384)]
    pub max_queued_events: usize,

    /// Live capture's options.
    #[command(flatten)]
    pub live: LiveArgs,

    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,

    /// Memory caps.
    #[command(flatten)]
    pub limits: LimitArgs,

    /// Privileges once the source is open.
    #[command(flatten)]
    pub privileges: super::privilege::PrivilegeArgs,
}

impl CollectArgs {
    /// Reassembly and decoding: the client, quorum and election ports, and the ports election
    /// config text names.
    pub fn pipeline_config(&self) -> PipelineConfig {
        PipelineConfig {
            zab_ports: self.zab_ports.clone(),
            election_ports: self.election_ports.clone(),
            learn_ports: true,
            ..self.limits.pipeline_config(&self.ports)
        }
    }

    /// Every port live capture must see.
    pub fn capture_ports(&self) -> Vec<u16> {
        self.pipeline_config().server_ports()
    }

    /// Aggregation into windows of `window_ns`, paths keyed at `depth` (0: full paths).
    pub fn stats_config(&self, window_ns: u64, depth: usize) -> StatsConfig {
        StatsConfig {
            window_ns,
            rules: PathRules { depth, fold_sequential: !self.keep_sequential_suffix },
            limits: TallyLimits {
                max_paths: self.max_paths,
                max_ips: self.max_ips,
                max_keys: self.max_keys,
                max_clients: self.max_clients,
                path_latency: self.path_latency,
            },
            max_connections: self.max_clients,
            idle_ns: self.idle_timeout_ns(),
        }
    }

    /// Connections silent this long are forgotten (`--idle-timeout`).
    fn idle_timeout_ns(&self) -> u64 {
        self.limits.idle_timeout.saturating_mul(1_000_000_000)
    }

    /// Messages that may wait between capture and aggregation (`--max-queued-*` added up).
    pub fn queue_messages(&self) -> usize {
        self.max_queued_requests
            .saturating_add(self.max_queued_replies)
            .saturating_add(self.max_queued_events)
    }
}
