//! The zktraffic binary: parses the command line and runs the chosen front-end.

use std::io::{self, BufWriter};
use std::process::ExitCode;

use anyhow::Context;
use zktraffic::Daemon;
use zktraffic::DumpArgs;
use zktraffic::DumpError;
use zktraffic::TimeFormatter;
use zktraffic::{Cli, Command};
use zktraffic::{CollectArgs, ServeArgs, TopArgs};
use zktraffic::{PcapSource, SegmentSource};

fn main() -> ExitCode {
    // The local offset must be read before any thread exists (see TimeFormatter::local_offset).
    let local =
        TimeFormatter::local_offset().map_or_else(TimeFormatter::utc, TimeFormatter::with_offset);
    let cli = match zktraffic::parse_cli(std::env::args_os()) {
        Ok(cli) => cli,
        Err(zktraffic::ConfigError::Usage(e)) => e.exit(),
        Err(e) => {
            eprintln!("zktraffic: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(kind) = cli.generate {
        return match zktraffic::generate(kind, &mut io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("zktraffic: writing {kind:?} failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let command = cli.into_command();
    let log = command.log();
    // While top's screen is up, a log line would tear it: its header shows what the log would
    // (capture errors, drops), and errors are printed once the terminal is restored.
    let screen = matches!(&command, Command::Top(a) if !a.batch);
    if !screen {
        zktraffic::init_logging(log.verbosity(), log.log_format);
    }
    let json_logs = log.log_format == zktraffic::LogFormat::Json;
    match run(command, local) {
        Ok(()) => ExitCode::SUCCESS,
        // As clap's usage errors: the invocation cannot work as given.
        Err(e) if matches!(e.downcast_ref(), Some(zktraffic::TopError::NotATerminal)) => {
            eprintln!("zktraffic: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            let why = zktraffic::error_chain(e.as_ref());
            // A log collector gets JSON; a terminal the plain last word.
            if json_logs {
                tracing::error!("{why}");
            } else {
                eprintln!("zktraffic: {why}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, local: TimeFormatter) -> anyhow::Result<()> {
    match command {
        Command::Dump(args) => dump(&args, local),
        Command::Serve(args) => serve(&args),
        Command::Top(args) => top(&args),
    }
}

/// The live view (or its `--batch` JSON lines) until q, Ctrl-C or SIGTERM.
fn top(args: &TopArgs) -> anyhow::Result<()> {
    zktraffic::top_require_terminal(args)?;
    let source = open_source(&args.collect)?;
    drop_privileges(&args.collect, None)?;
    let stop = zktraffic::stop_flag();
    if args.batch {
        let mut out = io::stdout().lock();
        return match zktraffic::top_batch(args, source, &mut out, stop) {
            Err(zktraffic::TopError::Terminal(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                Ok(())
            }
            other => Ok(other?),
        };
    }
    Ok(zktraffic::top(args, source, stop)?)
}

fn dump(args: &DumpArgs, local: TimeFormatter) -> anyhow::Result<()> {
    let stdout = || BufWriter::new(io::stdout().lock());
    let (outcome, what) = match (&args.pcap, &args.iface) {
        (Some(pcap), _) if pcap.as_os_str() == "-" => (
            zktraffic::dump_stdin_until(args, BufWriter::new(io::stdout()), local, stop_flag(args)),
            "dump of standard input".to_owned(),
        ),
        (Some(pcap), _) => (
            zktraffic::dump_file_until(args, stdout(), local, stop_flag(args)),
            format!("dump of {}", pcap.display()),
        ),
        (None, iface) => (
            zktraffic::open_live_dump(args).and_then(|mut source| {
                zktraffic::dump(args, &mut *source, stdout(), local, stop_flag(args))
            }),
            format!("live capture on {}", iface.as_deref().unwrap_or("?")),
        ),
    };
    let outcome = match outcome {
        // `zktraffic dump … | head` is not an error.
        Err(DumpError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
        other => other.with_context(|| format!("{what} failed"))?,
    };
    for w in &outcome.warnings {
        if args.log.log_format == zktraffic::LogFormat::Json {
            tracing::warn!("{w}");
        } else {
            eprintln!("zktraffic: warning: {w}");
        }
    }
    Ok(())
}

/// Live capture stops on SIGINT/SIGTERM and prints what it has (the summary, a report); so
/// does a quick report read from a file, as the original did. A plain dump of a file stops
/// the process as usual.
fn stop_flag(args: &DumpArgs) -> &'static std::sync::atomic::AtomicBool {
    static NEVER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if args.pcap.is_none() || args.report.config().is_some() {
        zktraffic::stop_flag()
    } else {
        &NEVER
    }
}

/// Runs the stats daemon until SIGINT/SIGTERM.
fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    // Before any thread starts, so that every thread inherits them.
    if let Some(n) = args.niceness {
        zktraffic::process::set_niceness(n).with_context(|| {
            format!("cannot set --niceness {n} (a negative niceness needs root)")
        })?;
    }
    if let Some(cpus) = &args.set_cpu_affinity {
        let cpus = &cpus.0;
        zktraffic::process::set_cpu_affinity(cpus)
            .with_context(|| format!("cannot pin to CPUs {cpus:?} (--set-cpu-affinity)"))?;
    }
    let source = open_source(&args.collect)?;
    drop_privileges(&args.collect, Some(args.listen_addr().port()))?;
    let mut config = args.config();
    if args.collect.config.is_some() {
        config.reload = Some(reload_settings(args.clone()));
    }
    let mut daemon = Daemon::start(config, source).map_err(|e| match &e {
        zktraffic::ServeError::Bind { source, .. } if source.kind() == io::ErrorKind::AddrInUse => {
            anyhow::anyhow!(
                "{e}; another process listens there: choose another address with --http-addr \
                 (e.g. --http-addr 127.0.0.1:7071)"
            )
        }
        _ => anyhow::Error::new(e),
    })?;
    let scheme = if args.tls_cert.is_some() { "https" } else { "http" };
    tracing::info!("serving on {scheme}://{}/", daemon.addr());
    if args.exit_when_done {
        daemon.wait_capture();
        println!("{}", daemon.snapshot().replay_summary());
        daemon.shutdown();
        return Ok(());
    }
    daemon.wait();
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP's re-reading of the command line and its `--config` file: the aggregation settings
/// it may change (what else changed is logged as needing a restart).
fn reload_settings(started: ServeArgs) -> zktraffic::Reload {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    zktraffic::Reload(std::sync::Arc::new(move || {
        let new = match zktraffic::parse_cli(argv.clone()).map(Cli::into_command) {
            Ok(Command::Serve(new)) => new,
            Ok(_) => return Err("the command line is no longer `serve`".to_owned()),
            Err(e) => return Err(e.to_string()),
        };
        if started.restart_needed(&new) {
            tracing::warn!(
                "SIGHUP: the config file changes settings other than the window, path rules and \
                 caps; those take effect at the next restart"
            );
        }
        tracing::info!("SIGHUP: settings re-read from the config file");
        Ok(new.config().stats)
    }))
}

/// Once the source is open, and before any other thread starts (capabilities are per thread),
/// gives up what the process no longer needs (`src/privilege.rs`).
fn drop_privileges(args: &CollectArgs, bind_port: Option<u16>) -> anyhow::Result<()> {
    let plan = args.privileges.plan(args.pcap.is_none(), bind_port);
    let held = zktraffic::privilege::drop_privileges(&plan)
        .context("cannot drop privileges after start-up")?;
    let caps: Vec<&str> = held.effective.iter().map(String::as_str).collect();
    tracing::info!(
        "privileges: uid {} gid {}, capabilities [{}], no_new_privs",
        held.uid,
        held.gid,
        caps.join(" ")
    );
    Ok(())
}

/// The source `serve` and `top` read: a capture file, standard input or live capture.
fn open_source(args: &CollectArgs) -> anyhow::Result<Box<dyn SegmentSource>> {
    Ok(match (&args.pcap, &args.iface) {
        (Some(pcap), _) if pcap.as_os_str() == "-" => {
            Box::new(PcapSource::stdin().context("cannot replay standard input")?)
        }
        (Some(pcap), _) => Box::new(
            PcapSource::open(pcap).with_context(|| format!("cannot replay {}", pcap.display()))?,
        ),
        (None, Some(iface)) => {
            zktraffic::open_live(args.live.config(iface, &args.capture_ports(), &args.log))?
        }
        (None, None) => anyhow::bail!(
            "nothing to capture: give --iface IFACE (live) or --pcap FILE (replay), or use a \
             subcommand (see --help)"
        ),
    })
}
