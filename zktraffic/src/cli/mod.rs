//! Command-line interface: clap types per subcommand.

pub mod dump;
pub mod serve;

use clap::{Parser, Subcommand};

/// zktraffic: who is hammering my ZooKeeper, on which paths, how slowly?
#[derive(Parser, Debug)]
#[command(name = "zktraffic", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Without a subcommand: the stats daemon (`zktraffic --iface eth0`), as `serve`.
    #[command(flatten)]
    pub serve: serve::ServeArgs,
}

impl Cli {
    /// The front-end to run: the subcommand, or the daemon when there is none.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

/// The front-ends.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print ZooKeeper traffic message by message (zk-dump), or summarise it.
    Dump(dump::DumpArgs),
    /// The stats daemon: per-path/IP/identity counts, latency, errors, clients over HTTP.
    Serve(serve::ServeArgs),
}
