//! `zktraffic dump`: options.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::capture::{LiveConfig, LiveHook};
use crate::logging::LogFormat;
use crate::output::filter::{ClientSpec, Filter, HostSpec};
use crate::output::report::{GroupBy, ReportConfig, ReportKind, SortBy};
use crate::pipeline::PipelineConfig;
use crate::tcp::TcpLimits;
use crate::zk::DecoderConfig;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// zk-dump-style lines.
    Text,
    /// One JSON object per line (per report with --summary).
    Json,
}

/// A protocol `dump` decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// The client protocol, on `--port` (2181).
    Zk,
    /// ZAB, between the leader and its learners, on `--zab-port` (2888).
    Zab,
    /// Leader election, between every two servers, on `--election-port` (3888).
    Election,
    /// Every protocol above, and the ports that election notifications name.
    All,
}

/// Options of `zktraffic dump`.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["pcap", "iface"]))]
#[command(group = clap::ArgGroup::new("report").args(["count_requests", "measure_latency"]))]
pub struct DumpArgs {
    /// Read a pcap or pcapng capture file (`-` for standard input, e.g. `tcpdump -w - | …`).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// Capture live on this interface with the kernel programs (needs CAP_BPF and
    /// CAP_NET_ADMIN); stop with Ctrl-C or SIGTERM.
    #[arg(long, value_name = "IF")]
    pub iface: Option<String>,

    /// Live capture's options.
    #[command(flatten)]
    pub live: LiveArgs,

    /// Privileges once the programs are attached (`--write-pcap`'s file is created after, so
    /// it must be writable by `--user`).
    #[command(flatten)]
    pub privileges: super::privilege::PrivilegeArgs,

    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,

    /// Also save what is captured live as a pcapng file (for later `--pcap` analysis).
    #[arg(long, value_name = "FILE", requires = "iface", conflicts_with = "pcap")]
    pub write_pcap: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Print per-type counts, errors, latency percentiles and counters instead of messages.
    #[arg(long)]
    pub summary: bool,

    /// The quick reports.
    #[command(flatten)]
    pub report: ReportArgs,

    /// Print messages as they arrive instead of each reply under its request.
    #[arg(long)]
    pub unpaired: bool,

    /// Colour each client's lines.
    #[arg(short = 'c', long)]
    pub colors: bool,

    /// Print times in UTC instead of local time (text output; JSON is always UTC).
    #[arg(long)]
    pub utc: bool,

    /// ZooKeeper server port (repeatable; `--zookeeper-port` as the original).
    #[arg(long = "port", alias = "zookeeper-port", value_name = "PORT", default_values_t = [zktraffic_common::ZK_CLIENT_PORT])]
    pub ports: Vec<u16>,

    /// Protocols to decode (repeatable): `zk` (clients, `--port`), `zab` (the quorum port,
    /// `--zab-port`), `election` (`--election-port`), `all` (these, and every port an election
    /// notification's config names).
    #[arg(long = "protocol", value_enum, value_name = "PROTOCOL", default_values_t = [Protocol::Zk])]
    pub protocols: Vec<Protocol>,

    /// The leader's quorum (ZAB) port, with `--protocol zab|all` (repeatable).
    #[arg(long = "zab-port", value_name = "PORT", default_values_t = [zktraffic_common::ZK_QUORUM_PORT])]
    pub zab_ports: Vec<u16>,

    /// The election port, with `--protocol election|all` (repeatable).
    #[arg(long = "election-port", value_name = "PORT", default_values_t = [zktraffic_common::ZK_ELECTION_PORT])]
    pub election_ports: Vec<u16>,

    /// Show only this client, `IP` or `IP:PORT` (repeatable).
    #[arg(long = "client", value_name = "IP[:PORT]")]
    pub clients: Vec<ClientSpec>,

    /// Show only clients on this port (repeatable), as the original's `--client-port`.
    #[arg(long = "client-port", value_name = "PORT")]
    pub client_ports: Vec<u16>,

    /// Show only traffic to or from this host, an IP or a name (repeatable).
    #[arg(long = "include-host", value_name = "HOST", conflicts_with = "exclude_hosts")]
    pub include_hosts: Vec<HostSpec>,

    /// Hide traffic to or from this host, an IP or a name (repeatable).
    #[arg(long = "exclude-host", value_name = "HOST")]
    pub exclude_hosts: Vec<HostSpec>,

    /// (The original's; refused: `dump` shows every message. The daemon samples:
    /// `zktraffic serve --sampling P`.)
    #[arg(long, hide = true, value_name = "P", value_parser = refuse_dump_sampling)]
    pub sampling: Option<String>,

    /// Show only messages whose path starts with this prefix.
    #[arg(long, value_name = "PREFIX")]
    pub path_prefix: Option<String>,

    /// Show only this message type (repeatable): `GetDataRequest`, `ExistsReply`, or an
    /// operation such as `GetData` for both its requests and replies.
    #[arg(long = "type", value_name = "TYPE", value_parser = crate::output::filter::parse_type)]
    pub types: Vec<String>,

    /// Show pings (hidden by default).
    #[arg(short = 'p', long)]
    pub include_pings: bool,

    /// Show only writes (create, delete, setData, setACL, multi, reconfig) and their replies.
    #[arg(long)]
    pub writes_only: bool,

    /// Show auth credentials in clear (digest passwords are redacted by default).
    #[arg(long)]
    pub show_secrets: bool,

    /// Memory caps.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The original's quick reports.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// Count the first N requests and watch events by `--group-by` key, print `KEY COUNT`
    /// lines sorted by count (no N, or 0: until the end, `--duration` or Ctrl-C).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "0",
          conflicts_with_all = ["measure_latency", "summary"])]
    pub count_requests: Option<u64>,

    /// Measure the latency of the first N request/reply pairs by `--group-by` key: avg, p50,
    /// p95, p99, max (seconds) and errors, sorted by `--sort-by` (no N, or 0: until the end,
    /// `--duration` or Ctrl-C).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "0",
          conflicts_with = "summary")]
    pub measure_latency: Option<u64>,

    /// Stop a report after this much capture time (`30s`, `5m`, `1h`, or seconds), or after N
    /// messages, whichever comes first.
    #[arg(long, value_name = "TIME", value_parser = parse_duration_ns, requires = "report")]
    pub duration: Option<u64>,

    /// Report rows keyed by this.
    #[arg(long, value_enum, default_value_t = GroupBy::Path)]
    pub group_by: GroupBy,

    /// Latency rows sorted by this column, descending [default: avg].
    #[arg(long, value_enum, requires = "measure_latency", conflicts_with = "count_requests")]
    pub sort_by: Option<SortBy>,

    /// With `--group-by path`: keep this many path components (0: the whole path).
    #[arg(long, value_name = "D", default_value_t = 0)]
    pub aggregation_depth: usize,
}

impl ReportArgs {
    /// The report asked for, if any.
    pub fn config(&self) -> Option<ReportConfig> {
        let (kind, n) = match (self.count_requests, self.measure_latency) {
            (Some(n), _) => (ReportKind::Count, n),
            (None, Some(n)) => (ReportKind::Latency, n),
            (None, None) => return None,
        };
        Some(ReportConfig {
            kind,
            limit: (n > 0).then_some(n),
            duration_ns: self.duration,
            group_by: self.group_by,
            sort_by: self.sort_by.unwrap_or(SortBy::Avg),
            depth: self.aggregation_depth,
        })
    }
}

/// A cap: at least 1. Every cap means "at most this many", so 0 would keep nothing and is
/// refused; `--max-results 0` (an output option, not a cap) means all, as in the original.
pub fn cap(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("a cap of 0 would keep nothing; give at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

/// `dump --sampling`: the original's daemon flag, refused with where it lives here.
fn refuse_dump_sampling(_: &str) -> Result<String, String> {
    Err("dump decodes every message; sampling is the stats daemon's: zktraffic serve --sampling P"
        .to_owned())
}

/// `30s`, `5m`, `2h`, `1500ms` or plain seconds, as nanoseconds.
fn parse_duration_ns(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let scale = match unit {
        "" | "s" => 1e9,
        "ms" => 1e6,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return Err(format!("{s:?}: use a number with s, ms, m or h (e.g. 30s)")),
    };
    let v: f64 = number.parse().map_err(|_| format!("{s:?} is not a duration (e.g. 30s)"))?;
    if v <= 0.0 {
        return Err("the duration must be positive".to_owned());
    }
    Ok((v * scale) as u64)
}

/// Live capture options.
#[derive(Args, Debug, Clone)]
pub struct LiveArgs {
    /// Kernel hook.
    #[arg(long, value_enum, default_value_t = LiveHook::Tc)]
    pub attach: LiveHook,

    /// Ring buffer between kernel and user space, in bytes: a power of two, at least 32768
    /// (one full-size record; smaller is refused at start).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub ring_bytes: usize,

    /// Have the kernel send pure ACKs (no payload, no SYN/FIN/RST) too: they carry nothing
    /// the decoder needs and are skipped by default (counted as `pure_acks_skipped`), but a
    /// lost hole in a one-way stream is then declared only when its next data comes.
    /// `--write-pcap` keeps them.
    #[arg(long)]
    pub keep_pure_acks: bool,
}

impl LiveArgs {
    /// Live capture of `iface` for the server `ports`, as these options say (with the
    /// verifier's whole log when `log` is verbose).
    pub fn config(&self, iface: &str, ports: &[u16], log: &LogArgs) -> LiveConfig {
        LiveConfig {
            iface: iface.to_owned(),
            ports: ports.to_vec(),
            attach: self.attach,
            ring_bytes: self.ring_bytes,
            verbose_verifier: log.verbose > 0,
            keep_pure_acks: self.keep_pure_acks,
        }
    }
}

/// Logging on standard error.
#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// More log detail: -v windows and the verifier's whole log when the kernel rejects a
    /// program, -vv everything (RUST_LOG, when set, decides instead).
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less: -q warnings and errors only, -qq errors only.
    #[arg(short = 'q', long, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    /// Log lines as text or as JSON objects (one per line, for a log collector).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl LogArgs {
    /// `-v` counted up, `-q` down.
    pub fn verbosity(&self) -> i8 {
        (i16::from(self.verbose) - i16::from(self.quiet)).clamp(-8, 8) as i8
    }
}

/// Caps that bound memory whatever the input; each has a counter when it bites.
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Largest ZooKeeper frame decoded, in bytes; larger frames are skipped and counted.
    #[arg(value_parser = cap, long, value_name = "BYTES", default_value_t = DecoderConfig::default().max_frame_bytes)]
    pub max_frame_bytes: usize,

    /// Most requests per connection remembered while waiting for their replies.
    #[arg(value_parser = cap, long, value_name = "N", default_value_t = DecoderConfig::default().max_pending)]
    pub max_outstanding: usize,

    /// Most bytes of requests awaiting replies, over all connections (their paths included).
    #[arg(value_parser = cap, long, value_name = "BYTES", default_value_t = DecoderConfig::default().max_pending_bytes)]
    pub max_pending_bytes: usize,

    /// Most bytes of incomplete frames (and of searches for a frame boundary), over all
    /// connections; past it the largest holder's are dropped and counted.
    #[arg(value_parser = cap, long, value_name = "BYTES", default_value_t = DecoderConfig::default().max_partial_bytes)]
    pub max_partial_bytes: usize,

    /// Most connections tracked at once.
    #[arg(value_parser = cap, long, value_name = "N", default_value_t = TcpLimits::default().max_connections)]
    pub max_connections: usize,

    /// Most out-of-order bytes buffered per connection direction.
    #[arg(value_parser = cap, long, value_name = "BYTES", default_value_t = TcpLimits::default().max_buffered_bytes)]
    pub max_buffered_bytes: usize,

    /// Most out-of-order bytes buffered over all connections (with a small per-segment
    /// overhead); past it a connection that needs room gives up waiting for its hole (a gap,
    /// counted in `buffer_cap_hits`).
    #[arg(value_parser = cap, long, value_name = "BYTES", default_value_t = TcpLimits::default().max_total_buffered_bytes)]
    pub max_total_buffered_bytes: usize,

    /// Seconds without a segment after which a connection is forgotten.
    #[arg(long, value_name = "SECS", default_value_t = TcpLimits::default().idle_timeout_ns / 1_000_000_000)]
    pub idle_timeout: u64,
}

impl DumpArgs {
    /// The message filter the options describe.
    pub fn filter(&self) -> Filter {
        Filter {
            clients: self.clients.clone(),
            client_ports: self.client_ports.clone(),
            include_hosts: self.include_hosts.iter().flat_map(|h| h.0.clone()).collect(),
            exclude_hosts: self.exclude_hosts.iter().flat_map(|h| h.0.clone()).collect(),
            path_prefix: self.path_prefix.clone(),
            types: self.types.clone(),
            include_pings: self.include_pings,
            writes_only: self.writes_only,
        }
    }

    /// True when `p` is to be decoded.
    fn decodes(&self, p: Protocol) -> bool {
        self.protocols.iter().any(|&q| q == p || q == Protocol::All)
    }

    /// The pipeline the options describe.
    pub fn pipeline_config(&self) -> PipelineConfig {
        let ports: &[u16] = if self.decodes(Protocol::Zk) { &self.ports } else { &[] };
        let mut config = self.limits.pipeline_config(ports);
        if self.decodes(Protocol::Zab) {
            config.zab_ports = self.zab_ports.clone();
        }
        if self.decodes(Protocol::Election) {
            config.election_ports = self.election_ports.clone();
        }
        config.learn_ports = self.protocols.contains(&Protocol::All);
        config
    }

    /// Every server port live capture must see: the client ports and the quorum ports decoded.
    pub fn capture_ports(&self) -> Vec<u16> {
        self.pipeline_config().server_ports()
    }
}

impl LimitArgs {
    /// The pipeline configuration with these limits and server ports.
    pub fn pipeline_config(&self, ports: &[u16]) -> PipelineConfig {
        PipelineConfig {
            ports: ports.to_vec(),
            zab_ports: Vec::new(),
            election_ports: Vec::new(),
            learn_ports: false,
            tcp: TcpLimits {
                max_connections: self.max_connections,
                max_buffered_bytes: self.max_buffered_bytes,
                max_total_buffered_bytes: self.max_total_buffered_bytes,
                idle_timeout_ns: self.idle_timeout.saturating_mul(1_000_000_000),
                ..TcpLimits::default()
            },
            decoder: DecoderConfig {
                max_frame_bytes: self.max_frame_bytes,
                max_pending: self.max_outstanding,
                max_pending_bytes: self.max_pending_bytes,
                max_partial_bytes: self.max_partial_bytes,
            },
        }
    }
}
