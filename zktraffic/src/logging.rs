//! Logs on standard error: `tracing` events (and aya-log's `log` records, bridged) through
//! tracing-subscriber, as text lines for a terminal or JSON lines for a collector.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `TIME LEVEL message`, coloured on a terminal unless `NO_COLOR` is set.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `message`, fields), for a DaemonSet's
    /// log collector.
    Json,
}

/// The filter for a verbosity (`-v` counts up, `-q` down): errors only, warnings, start-up and
/// state changes (the default), then zktraffic's debug (windows, the verifier's log), then trace.
fn default_filter(verbosity: i8) -> &'static str {
    match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "info,zktraffic=debug",
        _ => "debug,zktraffic=trace",
    }
}

/// Installs the logger (once; later calls do nothing). `RUST_LOG` (or the older `ZKTRAFFIC_LOG`),
/// when set, replaces what `verbosity` chooses, in `tracing_subscriber::EnvFilter` syntax.
pub fn init_logging(verbosity: i8, format: LogFormat) {
    let filter = ["RUST_LOG", "ZKTRAFFIC_LOG"]
        .into_iter()
        .find_map(|var| EnvFilter::try_from_env(var).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter(verbosity)));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false);
    // A second call (tests) keeps the first logger.
    let _ = match format {
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(colour).try_init()
        }
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_moves_the_default_level() {
        assert_eq!(default_filter(-5), "error");
        assert_eq!(default_filter(-1), "warn");
        assert_eq!(default_filter(0), "info");
        assert!(default_filter(1).contains("zktraffic=debug"));
        assert!(default_filter(3).contains("zktraffic=trace"));
    }
}
