//! The zktraffic binary: parses the command line and runs the chosen front-end.

use std::io::{self, BufWriter};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use zktraffic::cli::{Cli, Command};
use zktraffic::output::time_format::TimeFormatter;

fn main() -> ExitCode {
    // The local offset must be read before any thread exists (see TimeFormatter::local_offset).
    let local =
        TimeFormatter::local_offset().map_or_else(TimeFormatter::utc, TimeFormatter::with_offset);
    let cli = Cli::parse();
    match run(cli, local) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zktraffic: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, local: TimeFormatter) -> anyhow::Result<()> {
    match cli.command {
        Command::Dump(args) => {
            let stdout = io::stdout().lock();
            let outcome = zktraffic::dump::run_offline(&args, BufWriter::new(stdout), local);
            let outcome = match outcome {
                Err(zktraffic::dump::DumpError::Output(e))
                    if e.kind() == io::ErrorKind::BrokenPipe =>
                {
                    return Ok(());
                }
                other => {
                    other.with_context(|| format!("dump of {} failed", args.pcap.display()))?
                }
            };
            for w in &outcome.warnings {
                eprintln!("zktraffic: warning: {w}");
            }
            Ok(())
        }
    }
}
