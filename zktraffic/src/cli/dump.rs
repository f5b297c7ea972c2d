//! `zktraffic dump`: options.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::output::filter::{ClientSpec, Filter};
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

/// Options of `zktraffic dump`.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["pcap", "iface"]))]
pub struct DumpArgs {
    /// Read a pcap or pcapng capture file (`-` for standard input, e.g. `tcpdump -w - | …`).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// Capture live on this interface with the kernel programs (needs CAP_BPF and
    /// CAP_NET_ADMIN); stop with Ctrl-C or SIGTERM.
    #[arg(long, value_name = "IF")]
    pub iface: Option<String>,

    #[command(flatten)]
    pub live: LiveArgs,

    /// Also save what is captured live as a pcapng file (for later `--pcap` analysis).
    #[arg(long, value_name = "FILE", requires = "iface")]
    pub write_pcap: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Print per-type counts, errors, latency percentiles and counters instead of messages.
    #[arg(long)]
    pub summary: bool,

    /// Print messages as they arrive instead of each reply under its request.
    #[arg(long)]
    pub unpaired: bool,

    /// Colour each client's lines.
    #[arg(short = 'c', long)]
    pub colors: bool,

    /// Print times in UTC instead of local time (text output; JSON is always UTC).
    #[arg(long)]
    pub utc: bool,

    /// ZooKeeper server port (repeatable).
    #[arg(long = "port", value_name = "PORT", default_values_t = [zktraffic_common::ZK_CLIENT_PORT])]
    pub ports: Vec<u16>,

    /// Show only this client, `IP` or `IP:PORT` (repeatable).
    #[arg(long = "client", value_name = "IP[:PORT]")]
    pub clients: Vec<ClientSpec>,

    /// Hide traffic to or from this host (repeatable).
    #[arg(long = "exclude-host", value_name = "IP")]
    pub exclude_hosts: Vec<IpAddr>,

    /// Show only messages whose path starts with this prefix.
    #[arg(long, value_name = "PREFIX")]
    pub path_prefix: Option<String>,

    /// Show only this message type (repeatable): `GetDataRequest`, `ExistsReply`, or an
    /// operation such as `GetData` for both its requests and replies.
    #[arg(long = "type", value_name = "TYPE")]
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

    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Which kernel hook captures live traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Attach {
    /// TC classifier on ingress and egress: a host's own traffic, both directions.
    Tc,
    /// XDP on ingress (mirror/SPAN ports): native mode if the driver has it, else generic.
    Xdp,
    /// XDP in generic mode only.
    XdpGeneric,
}

/// Live capture options.
#[derive(Args, Debug, Clone)]
pub struct LiveArgs {
    /// Kernel hook.
    #[arg(long, value_enum, default_value_t = Attach::Tc)]
    pub attach: Attach,

    /// Ring buffer between kernel and user space, in bytes: a power of two, at least 32768
    /// (one full-size record; smaller is refused at start).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub ring_bytes: usize,

    /// Show the verifier's log when the kernel rejects a program.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// Caps that bound memory whatever the input; each has a counter when it bites.
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Largest ZooKeeper frame decoded, in bytes; larger frames are skipped and counted.
    #[arg(long, value_name = "BYTES", default_value_t = DecoderConfig::default().max_frame_bytes)]
    pub max_frame_bytes: usize,

    /// Most requests per connection remembered while waiting for their replies.
    #[arg(long, value_name = "N", default_value_t = DecoderConfig::default().max_pending)]
    pub max_outstanding: usize,

    /// Most bytes of requests awaiting replies, over all connections (their paths included).
    #[arg(long, value_name = "BYTES", default_value_t = DecoderConfig::default().max_pending_bytes)]
    pub max_pending_bytes: usize,

    /// Most connections tracked at once.
    #[arg(long, value_name = "N", default_value_t = TcpLimits::default().max_connections)]
    pub max_connections: usize,

    /// Most out-of-order bytes buffered per connection direction.
    #[arg(long, value_name = "BYTES", default_value_t = TcpLimits::default().max_buffered_bytes)]
    pub max_buffered_bytes: usize,

    /// Seconds without a segment after which a connection is forgotten.
    #[arg(long, value_name = "SECS", default_value_t = TcpLimits::default().idle_timeout_ns / 1_000_000_000)]
    pub idle_timeout: u64,
}

impl DumpArgs {
    /// The message filter the options describe.
    pub fn filter(&self) -> Filter {
        Filter {
            clients: self.clients.clone(),
            exclude_hosts: self.exclude_hosts.clone(),
            path_prefix: self.path_prefix.clone(),
            types: self.types.clone(),
            include_pings: self.include_pings,
            writes_only: self.writes_only,
        }
    }

    /// The pipeline the options describe.
    pub fn pipeline_config(&self) -> PipelineConfig {
        self.limits.pipeline_config(&self.ports)
    }
}

impl LimitArgs {
    /// The pipeline configuration with these limits and server ports.
    pub fn pipeline_config(&self, ports: &[u16]) -> PipelineConfig {
        PipelineConfig {
            ports: ports.to_vec(),
            tcp: TcpLimits {
                max_connections: self.max_connections,
                max_buffered_bytes: self.max_buffered_bytes,
                idle_timeout_ns: self.idle_timeout.saturating_mul(1_000_000_000),
                ..TcpLimits::default()
            },
            decoder: DecoderConfig {
                max_frame_bytes: self.max_frame_bytes,
                max_pending: self.max_outstanding,
                max_pending_bytes: self.max_pending_bytes,
            },
        }
    }
}
