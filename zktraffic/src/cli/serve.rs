//! `zktraffic serve` (and bare `zktraffic --iface IF`): options of the stats daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::collect::CollectArgs;
use crate::output::filter::HostSpec;
use crate::serve::process::CpuList;
use crate::serve::{HttpAuth, RenderOptions, ServeConfig, TlsFiles};

/// Options of the stats daemon.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// HTTP listen address: `IP:PORT`, `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` for every
    /// interface (e.g. a DaemonSet's `:7070`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070", value_parser = parse_http_addr,
          conflicts_with_all = ["http_port", "http_address"])]
    pub http_addr: SocketAddr,

    /// The original's `--http-port`: the port of `--http-addr` (address 127.0.0.1 unless
    /// `--http-address`).
    #[arg(long, value_name = "PORT")]
    pub http_port: Option<u16>,

    /// The original's `--http-address`: the address of `--http-addr` (port 7070 unless
    /// `--http-port`).
    #[arg(long, value_name = "HOST", value_parser = clap::value_parser!(HostSpec))]
    pub http_address: Option<HostSpec>,

    /// Scheduling priority of the daemon, as `nice` (−20 … 19; raising it needs privilege).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-20..=19))]
    pub niceness: Option<i32>,

    /// Pin the daemon to these CPUs, e.g. `0,2-3` (the original's `--set-cpu-affinity`).
    #[arg(long, value_name = "CPUS", value_parser = clap::value_parser!(CpuList))]
    pub set_cpu_affinity: Option<CpuList>,

    /// HTTP connections served at once (kept below the file limit); at the cap the
    /// connection idle the longest is closed so a fresh poller is still served.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_max_connections: u64,

    /// Seconds a connection may take to send a complete request head, counted from accept
    /// or from the previous response (so it also closes idle keep-alive connections).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_header_timeout: u64,

    /// Require `Authorization: Bearer <token>` on every request, the token read from FILE
    /// (surrounding whitespace ignored) at start and again on SIGHUP; 401 otherwise.
    #[arg(long, value_name = "FILE")]
    pub http_token_file: Option<PathBuf>,

    /// Answer `/healthz` without the token (for probes that cannot send one).
    #[arg(long, requires = "http_token_file")]
    pub http_token_exempt_healthz: bool,

    /// Serve HTTPS with this PEM certificate chain (leaf first); read again on SIGHUP.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Do not serve `/json/auths-dump` (which client connection authenticated as whom).
    #[arg(long)]
    pub no_auths_dump: bool,

    /// Window length in seconds: `/json/*` show the last completed window.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub window: u64,

    /// Top-N paths per operation key in the JSON output (0: all).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_results: usize,

    /// No `*Bytes` counters.
    #[arg(long)]
    pub exclude_bytes: bool,

    /// Milliseconds between publications of the cumulative totals.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub publish_interval: u64,

    /// With --pcap: once the capture is aggregated, print a one-line JSON summary (messages,
    /// replay time, paths) and exit instead of serving on (benchmarks, scripts).
    #[arg(long, requires = "pcap")]
    pub exit_when_done: bool,

    /// The source, decoding and aggregation (shared with `top`).
    #[command(flatten)]
    pub collect: CollectArgs,
}

impl ServeArgs {
    /// Where HTTP listens: `--http-addr`, or the original's `--http-address`/`--http-port`.
    pub fn listen_addr(&self) -> SocketAddr {
        if self.http_port.is_none() && self.http_address.is_none() {
            return self.http_addr;
        }
        let ip = self.http_address.as_ref().and_then(|h| h.0.first().copied());
        SocketAddr::new(ip.unwrap_or(self.http_addr.ip()), self.http_port.unwrap_or(7070))
    }

    /// The daemon configuration these options describe.
    pub fn config(&self) -> ServeConfig {
        let c = &self.collect;
        ServeConfig {
            http_addr: self.listen_addr(),
            stats: c.stats_config(self.window.saturating_mul(1_000_000_000), c.aggregation_depth),
            pipeline: c.pipeline_config(),
            render: RenderOptions {
                max_results: self.max_results,
                exclude_bytes: self.exclude_bytes,
            },
            sampling: c.sampling,
            queue_messages: c.queue_messages(),
            publish_interval: Duration::from_millis(self.publish_interval),
            handle_signals: true,
            http_limits: crate::serve::HttpLimits {
                max_connections: usize::try_from(self.http_max_connections).unwrap_or(usize::MAX),
                header_timeout: Duration::from_secs(self.http_header_timeout),
            },
            http_auth: HttpAuth {
                token_file: self.http_token_file.clone(),
                exempt_healthz: self.http_token_exempt_healthz,
                no_auths_dump: self.no_auths_dump,
            },
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.clone(), key: key.clone() }),
                _ => None,
            },
            reload: None,
            recent_ns: 0,
        }
    }
}

impl ServeArgs {
    /// Whether `new` differs from these options in more than SIGHUP applies (the window, the
    /// path rules and the tally caps).
    pub fn restart_needed(&self, new: &ServeArgs) -> bool {
        let mut same = new.clone();
        let (c, n) = (&self.collect, &mut same.collect);
        same.window = self.window;
        n.aggregation_depth = c.aggregation_depth;
        n.keep_sequential_suffix = c.keep_sequential_suffix;
        n.path_latency = c.path_latency;
        (n.max_paths, n.max_ips, n.max_keys) = (c.max_paths, c.max_ips, c.max_keys);
        format!("{same:?}") != format!("{self:?}")
    }
}

/// `IP:PORT`, `[IPv6]:PORT`, `HOST:PORT` (resolved, IPv4 first) or `:PORT` (every interface).
fn parse_http_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    if let Some(port) = s.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| format!("{s:?}: the port must be a number"))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    use std::net::ToSocketAddrs;
    let mut addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("{s:?} is not IP:PORT, HOST:PORT or :PORT ({e})"))?
        .collect();
    addrs.sort_by_key(|a| a.is_ipv6());
    addrs.first().copied().ok_or_else(|| format!("{s:?} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_addresses() {
        assert_eq!(parse_http_addr(":7070"), Ok("0.0.0.0:7070".parse().unwrap()));
        assert_eq!(parse_http_addr("[::1]:7070"), Ok("[::1]:7070".parse().unwrap()));
        assert_eq!(parse_http_addr("localhost:7070"), Ok("127.0.0.1:7070".parse().unwrap()));
        assert!(parse_http_addr("localhost").is_err() && parse_http_addr(":x").is_err());
    }
}
