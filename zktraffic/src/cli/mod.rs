//! Command-line interface: clap types per subcommand.

pub mod dump;

use clap::{Parser, Subcommand};

/// zktraffic: who is hammering my ZooKeeper, on which paths, how slowly?
#[derive(Parser, Debug)]
#[command(name = "zktraffic", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The front-ends.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print ZooKeeper traffic message by message (zk-dump), or summarise it.
    Dump(dump::DumpArgs),
}
