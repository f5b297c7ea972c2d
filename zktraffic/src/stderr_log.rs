//! The binary's logger: `log` records (live capture's state changes, aya-log's kernel debug
//! lines) as `zktraffic: LEVEL: message` lines on standard error. `ZKTRAFFIC_LOG` sets the
//! level (`error`, `warn`, `info` (default), `debug`, `trace`).

use std::io::Write as _;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLog;

static LOGGER: StderrLog = StderrLog;

impl Log for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        // One write per line, so lines of several threads do not mix.
        let line = format!("zktraffic: {level}: {}\n", record.args());
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Installs the logger (once; later calls do nothing).
pub fn init() {
    let level = std::env::var("ZKTRAFFIC_LOG")
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::Info);
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
