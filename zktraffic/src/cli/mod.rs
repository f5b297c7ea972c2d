//! Command-line interface: clap types per subcommand.

pub mod collect;
mod config_file;
pub mod dump;
mod generate;
pub mod privilege;
pub mod serve;
pub mod top;

pub use collect::CollectArgs;
pub use config_file::{ConfigError, parse_cli};
pub use dump::DumpArgs;
pub use generate::{Generate, generate};
pub use serve::ServeArgs;
pub use top::TopArgs;

use clap::{Parser, Subcommand};

/// zktraffic: who is hammering my ZooKeeper, on which paths, how slowly?
#[derive(Parser, Debug)]
#[command(name = "zktraffic", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    /// The subcommand (none: the daemon, as the original ran).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Without a subcommand: the stats daemon (`zktraffic --iface eth0`), as `serve`.
    #[command(flatten)]
    pub serve: serve::ServeArgs,

    /// Print a man page or shell completions and exit (`cargo xtask man` and `cargo xtask
    /// completions` write them all to target/).
    #[arg(long, value_enum, value_name = "KIND")]
    pub generate: Option<Generate>,
}

impl Cli {
    /// The front-end to run: the subcommand, or the daemon when there is none.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

impl Command {
    /// The front-end's logging options.
    pub fn log(&self) -> &dump::LogArgs {
        match self {
            Command::Dump(a) => &a.log,
            Command::Serve(a) => &a.collect.log,
            Command::Top(a) => &a.collect.log,
        }
    }
}

/// The front-ends.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print ZooKeeper traffic message by message (zk-dump), or summarise it.
    #[command(after_help = DUMP_EXAMPLES)]
    Dump(dump::DumpArgs),
    /// The stats daemon: per-path/IP/identity counts, latency, errors, clients over HTTP.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(serve::ServeArgs),
    /// A full-screen live view: rates, latency and errors per operation, path and client.
    #[command(after_help = TOP_EXAMPLES)]
    Top(top::TopArgs),
}

const DUMP_EXAMPLES: &str = "Examples:
  zktraffic dump --iface eth0                          # live, replies under their request
  tcpdump -i eth0 -U -w - port 2181 | zktraffic dump --pcap -
  zktraffic dump --pcap capture.pcap --measure-latency 1000 --group-by path --sort-by p99
  zktraffic dump --pcap capture.pcap --summary --format json";

const SERVE_EXAMPLES: &str = "Examples:
  zktraffic serve --iface eth0 --http-addr :7070       # then curl localhost:7070/json/paths
  zktraffic serve --pcap capture.pcap --window 10      # replay, then keep serving the result
  curl -H 'Accept: application/openmetrics-text' localhost:7070/metrics";

const TOP_EXAMPLES: &str = "Examples:
  zktraffic top --iface eth0                           # live; ? lists the keys, q quits
  zktraffic top --pcap capture.pcap --speed 10         # replay ten times faster
  zktraffic top --pcap capture.pcap --batch --iterations 5 --speed 0";
