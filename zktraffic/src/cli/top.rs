//! `zktraffic top`: options of the live view.

use clap::Args;

use super::collect::CollectArgs;

/// Options of the live view.
#[derive(Args, Debug, Clone)]
pub struct TopArgs {
    /// Rates are over this many seconds of the latest traffic (`t` shows totals instead).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub window: u64,

    /// Seconds between two redraws (e.g. 0.5); keys redraw at once.
    #[arg(long, value_name = "SECS", default_value_t = 1.0, value_parser = parse_refresh)]
    pub refresh: f64,

    /// With --pcap: replay at this multiple of the capture's pace (0: as fast as possible).
    #[arg(long, value_name = "N", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,

    /// No screen: print each refresh as a JSON line (the Ops and Paths tables) and exit after
    /// --iterations, or once a replay is complete.
    #[arg(long)]
    pub batch: bool,

    /// With --batch: refreshes printed before exiting (default: until the replay is complete
    /// or SIGINT).
    #[arg(long, value_name = "N", requires = "batch", value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,

    /// Rows per table in --batch output (0: all).
    #[arg(long, value_name = "N", default_value_t = 20, requires = "batch")]
    pub rows: usize,

    /// The source, decoding and aggregation (as `serve`).
    #[command(flatten)]
    pub collect: CollectArgs,
}

impl TopArgs {
    /// `--window` in nanoseconds.
    pub fn window_ns(&self) -> u64 {
        self.window.saturating_mul(1_000_000_000)
    }

    /// The refresh interval.
    pub fn refresh_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.refresh)
    }
}

fn parse_refresh(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=60.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: give seconds between 0.1 and 60")),
    }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1e6).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?}: give a speed-up factor ≥ 0 (1: capture pace, 0: as fast as possible)"
        )),
    }
}
