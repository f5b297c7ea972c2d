//! `cargo xtask bench`: reproducible performance measurements.

use anyhow::Result;
use clap::Subcommand;

/// The available benchmarks.
#[derive(Subcommand)]
pub enum Bench {
    /// Decode a large generated capture of pipelined traffic.
    Decode,
}

/// Runs the chosen benchmark.
pub fn run(which: Bench) -> Result<()> {
    match which {
        Bench::Decode => anyhow::bail!("not yet"),
    }
}
