//! The zktraffic binary: parses the command line and runs the chosen front-end.

use std::io::{self, BufWriter};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use zktraffic::cli::dump::DumpArgs;
use zktraffic::cli::serve::ServeArgs;
use zktraffic::cli::{Cli, Command};
use zktraffic::dump::{DumpError, DumpOutcome};
use zktraffic::output::time_format::TimeFormatter;
use zktraffic::serve::{Daemon, PcapSource, SegmentSource, SourceError};

fn main() -> ExitCode {
    // The local offset must be read before any thread exists (see TimeFormatter::local_offset).
    let local =
        TimeFormatter::local_offset().map_or_else(TimeFormatter::utc, TimeFormatter::with_offset);
    let cli = Cli::parse();
    zktraffic::stderr_log::init();
    match run(cli, local) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zktraffic: {}", zktraffic::error_chain::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, local: TimeFormatter) -> anyhow::Result<()> {
    match cli.into_command() {
        Command::Dump(args) => dump(&args, local),
        Command::Serve(args) => serve(&args),
    }
}

fn dump(args: &DumpArgs, local: TimeFormatter) -> anyhow::Result<()> {
    let stdout = || BufWriter::new(io::stdout().lock());
    let (outcome, what) = match (&args.pcap, &args.iface) {
        (Some(pcap), _) if pcap.as_os_str() == "-" => (
            zktraffic::dump::run_stdin_until(
                args,
                BufWriter::new(io::stdout()),
                local,
                report_interrupt(args),
            ),
            "dump of standard input".to_owned(),
        ),
        (Some(pcap), _) => (
            zktraffic::dump::run_offline_until(args, stdout(), local, report_interrupt(args)),
            format!("dump of {}", pcap.display()),
        ),
        (None, iface) => (
            live_dump(args, stdout(), local),
            format!("live capture on {}", iface.as_deref().unwrap_or("?")),
        ),
    };
    let outcome = match outcome {
        // `zktraffic dump … | head` is not an error.
        Err(DumpError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
        other => other.with_context(|| format!("{what} failed"))?,
    };
    for w in &outcome.warnings {
        eprintln!("zktraffic: warning: {w}");
    }
    Ok(())
}

/// During a quick report, Ctrl-C stops reading and prints the report so far (as the original
/// did); otherwise it stops the process as usual. The flag is set from a signal thread.
fn report_interrupt(args: &DumpArgs) -> &'static std::sync::atomic::AtomicBool {
    use std::sync::atomic::{AtomicBool, Ordering};
    static STOP: AtomicBool = AtomicBool::new(false);
    if args.report.config().is_some() {
        std::thread::spawn(|| {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
                STOP.store(true, Ordering::Relaxed);
            }
        });
    }
    &STOP
}

#[cfg(feature = "ebpf")]
fn live_dump(
    args: &DumpArgs,
    out: impl io::Write,
    local: TimeFormatter,
) -> Result<DumpOutcome, DumpError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // A report's `--duration` is also wall-clock time live: a quiet server still ends it.
    let duration =
        args.report.config().and_then(|c| c.duration_ns).map(std::time::Duration::from_nanos);
    let shutdown = async move {
        match duration {
            Some(d) => {
                tokio::select! {
                    () = shutdown_signal() => {}
                    () = tokio::time::sleep(d) => {}
                }
            }
            None => shutdown_signal().await,
        }
    };
    runtime.block_on(zktraffic::dump::run_live(args, out, local, shutdown))
}

#[cfg(not(feature = "ebpf"))]
fn live_dump(
    _args: &DumpArgs,
    _out: impl io::Write,
    _local: TimeFormatter,
) -> Result<DumpOutcome, DumpError> {
    Err(DumpError::NoLiveCapture)
}

/// Completes on SIGINT or SIGTERM.
#[cfg(feature = "ebpf")]
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        // Without signal handlers, the default disposition still stops the process.
        _ => std::future::pending().await,
    }
}

/// Runs the stats daemon until SIGINT/SIGTERM.
fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    // Before any thread starts, so that every thread inherits them.
    if let Some(n) = args.niceness {
        zktraffic::serve::process::set_niceness(n).with_context(|| {
            format!("cannot set --niceness {n} (a negative niceness needs root)")
        })?;
    }
    if let Some(cpus) = &args.set_cpu_affinity {
        let cpus = &cpus.0;
        zktraffic::serve::process::set_cpu_affinity(cpus)
            .with_context(|| format!("cannot pin to CPUs {cpus:?} (--set-cpu-affinity)"))?;
    }
    let source: Box<dyn SegmentSource> = match (&args.pcap, &args.iface) {
        (Some(pcap), _) => Box::new(
            PcapSource::open(pcap).with_context(|| format!("cannot replay {}", pcap.display()))?,
        ),
        (None, Some(iface)) => live_source(args, iface)?,
        (None, None) => anyhow::bail!(
            "nothing to capture: give --iface IFACE (live) or --pcap FILE (replay), or use a \
             subcommand (see --help)"
        ),
    };
    let mut daemon = Daemon::start(args.config(), source).map_err(|e| match &e {
        zktraffic::serve::ServeError::Bind { source, .. }
            if source.kind() == io::ErrorKind::AddrInUse =>
        {
            anyhow::anyhow!(
                "{e}; another process listens there: choose another address with --http-addr \
                 (e.g. --http-addr 127.0.0.1:7071)"
            )
        }
        _ => anyhow::Error::new(e),
    })?;
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

#[cfg(feature = "ebpf")]
fn live_source(args: &ServeArgs, iface: &str) -> Result<Box<dyn SegmentSource>, SourceError> {
    zktraffic::serve::open_live(args.live_config(iface))
}

#[cfg(not(feature = "ebpf"))]
fn live_source(_args: &ServeArgs, iface: &str) -> Result<Box<dyn SegmentSource>, SourceError> {
    Err(SourceError::LiveUnavailable { iface: iface.to_owned() })
}
