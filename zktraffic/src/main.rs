//! The zktraffic binary: parses the command line and runs the chosen front-end.

use std::io::{self, BufWriter};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use zktraffic::cli::serve::ServeArgs;
use zktraffic::cli::{Cli, Command};
use zktraffic::output::time_format::TimeFormatter;
use zktraffic::serve::{Daemon, PcapSource, SegmentSource, open_live};

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
    match cli.into_command() {
        Command::Serve(args) => serve(&args),
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

/// Runs the stats daemon until SIGINT/SIGTERM.
fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let source: Box<dyn SegmentSource> = match (&args.pcap, &args.iface) {
        (Some(pcap), _) => Box::new(
            PcapSource::open(pcap).with_context(|| format!("cannot replay {}", pcap.display()))?,
        ),
        (None, Some(iface)) => open_live(iface, &args.ports)?,
        (None, None) => anyhow::bail!(
            "nothing to capture: give --iface IFACE (live) or --pcap FILE (replay), or use a \
             subcommand (see --help)"
        ),
    };
    let mut daemon = Daemon::start(args.config(), source)?;
    eprintln!("zktraffic: serving on http://{}/", daemon.addr());
    if args.exit_when_done {
        daemon.wait_capture();
        println!("{}", daemon.snapshot().replay_summary());
        daemon.shutdown();
        return Ok(());
    }
    daemon.wait();
    Ok(())
}
