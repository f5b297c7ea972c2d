//! `zktraffic top`: the live view. The same capture, decoding and aggregation as `serve` (a
//! [`Collector`]), drawn with ratatui once per `--refresh` or on a key, never per message:
//!
//! - `model.rs`: a published snapshot → the header's figures and each view's rows;
//! - `keys.rs`: the view's state and what each key does to it;
//! - `draw.rs`: the screen, for any terminal size;
//! - `paced.rs`: a capture file replayed at its own pace (`--speed`).

mod draw;
mod keys;
mod model;
mod paced;
#[cfg(test)]
mod tests;

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event};
use serde_json::{Map, Value as Json, json};
use thiserror::Error;

use crate::capture::SegmentSource;
use crate::cli::TopArgs;
use crate::serve::{Collector, ServeConfig, ServeError};
use draw::{Theme, draw};
use keys::{Action, UiState};
use model::{Data, Scope, Tab, TableOptions, Value, table};
use paced::PacedSource;

/// Why `top` could not run.
#[derive(Debug, Error)]
pub enum TopError {
    /// Standard output is not a terminal (and `--batch` was not given).
    #[error(
        "standard output is not a terminal, and top draws a full screen: use `top --batch` \
         for JSON lines, `zktraffic dump` for one line per message or its quick reports \
         (--count-requests, --measure-latency), or `zktraffic serve` for HTTP/JSON"
    )]
    NotATerminal,
    /// Capture could not start.
    #[error(transparent)]
    Start(#[from] ServeError),
    /// The terminal could not be driven, or the output written.
    #[error("the terminal failed: {0}")]
    Terminal(#[from] io::Error),
}

/// `top` needs a terminal unless `--batch`: checked before capture starts.
pub fn require_terminal(args: &TopArgs) -> Result<(), TopError> {
    if args.batch || io::stdout().is_terminal() { Ok(()) } else { Err(TopError::NotATerminal) }
}

/// Length of the windows rates are made of: the refresh, at most a second.
fn slice_ns(args: &TopArgs) -> u64 {
    (args.refresh_interval().as_nanos() as u64).min(1_000_000_000)
}

/// The collector's configuration: windows of one slice, full paths (the depth is applied
/// when drawing, so `+`/`-` change it at once), a latency histogram per path, and the windows
/// of the last `--window` kept for rates.
pub fn collector_config(args: &TopArgs) -> ServeConfig {
    let c = &args.collect;
    let mut stats = c.stats_config(slice_ns(args), 0);
    stats.limits.path_latency = true;
    ServeConfig {
        http_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        pipeline: c.pipeline_config(),
        stats,
        render: crate::serve::RenderOptions { max_results: 0, exclude_bytes: false },
        sampling: c.sampling,
        queue_messages: c.queue_messages(),
        publish_interval: args.refresh_interval(),
        handle_signals: false,
        http_limits: crate::serve::HttpLimits::default(),
        http_auth: crate::serve::HttpAuth::default(),
        tls: None,
        reload: None,
        recent_ns: args.window_ns(),
    }
}

/// Starts collecting from `source` (a file is replayed at `--speed`).
fn start(args: &TopArgs, source: Box<dyn SegmentSource>) -> Result<Collector, TopError> {
    let source: Box<dyn SegmentSource> = if !source.info().live && args.speed > 0.0 {
        Box::new(PacedSource::new(source, args.speed))
    } else {
        source
    };
    Ok(Collector::start(collector_config(args), source)?)
}

/// Runs the full-screen view until `q`, Ctrl-C or `stop` (SIGTERM); the terminal is restored
/// however it ends, a panic included.
pub fn run(
    args: &TopArgs,
    source: Box<dyn SegmentSource>,
    stop: &AtomicBool,
) -> Result<(), TopError> {
    let collector = start(args, source)?;
    // Raw mode and the alternate screen, with a panic hook that restores both.
    let mut terminal = ratatui::try_init()?;
    let result = interact(args, &collector, &mut terminal, stop);
    ratatui::restore();
    result
}

fn interact(
    args: &TopArgs,
    collector: &Collector,
    terminal: &mut ratatui::DefaultTerminal,
    stop: &AtomicBool,
) -> Result<(), TopError> {
    let (ports, window_ns) = (&args.collect.ports, args.window_ns());
    let refresh = args.refresh_interval();
    let theme = Theme::from_env();
    let mut screen = Screen {
        state: UiState::new(args.collect.aggregation_depth),
        data: Data::new(&collector.snapshot(), ports, window_ns),
    };
    let mut next = Instant::now() + refresh;
    let mut dirty = true;
    while !stop.load(Ordering::Relaxed) {
        if dirty {
            terminal.draw(|f| draw(f, &screen.data, &screen.state, theme))?;
            dirty = false;
        }
        // At most 250 ms between looks at `stop`.
        let wait = next.saturating_duration_since(Instant::now()).min(Duration::from_millis(250));
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(key) => match screen.state.on_key(key) {
                    Action::Quit => break,
                    Action::Reset => {
                        collector.reset();
                        dirty = true;
                    }
                    Action::Redraw => dirty = true,
                    Action::None => {}
                },
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        if Instant::now() >= next {
            next = Instant::now() + refresh;
            dirty |= screen.refresh(Data::new(&collector.snapshot(), ports, window_ns));
        }
    }
    Ok(())
}

/// What is on screen: the view's state and the data it draws.
struct Screen {
    state: UiState,
    data: Data,
}

impl Screen {
    /// Takes a refresh's data, unless the display is frozen; true when it changed.
    fn refresh(&mut self, data: Data) -> bool {
        if self.state.frozen {
            return false;
        }
        self.data = data;
        true
    }
}

/// `--batch`: a JSON line per refresh (the header, the Ops and Paths tables), until
/// `--iterations`, the end of a replay, or `stop`.
pub fn run_batch(
    args: &TopArgs,
    source: Box<dyn SegmentSource>,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<(), TopError> {
    let collector = start(args, source)?;
    let (ports, window_ns) = (&args.collect.ports, args.window_ns());
    let opts = |tab: Tab| TableOptions {
        scope: Scope::Rates,
        depth: args.collect.aggregation_depth,
        filter: String::new(),
        sort: tab.default_sort(),
        reverse: false,
    };
    let mut printed = 0u64;
    loop {
        let until = Instant::now() + args.refresh_interval();
        let mut finished = false;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            finished = collector.snapshot().finished;
            if finished {
                break;
            }
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
        let data = Data::new(&collector.snapshot(), ports, window_ns);
        let tables = [Tab::Ops, Tab::Paths].map(|tab| {
            let mut t = table(&data, tab, &opts(tab));
            if args.rows > 0 {
                t.rows.truncate(args.rows);
            }
            t
        });
        printed += 1;
        let line = batch_line(printed, &data, &tables[0], &tables[1]);
        serde_json::to_writer(&mut *out, &line).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
        out.flush()?;
        let enough = args.iterations.is_some_and(|n| printed >= n);
        if enough || finished || data.header.finished || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
    }
}

/// One `--batch` line.
fn batch_line(n: u64, data: &Data, ops: &model::Table, paths: &model::Table) -> Json {
    let h = &data.header;
    let l = &h.losses;
    json!({
        "iteration": n,
        "source": h.source,
        "live": h.live,
        "finished": h.finished,
        "uptime_s": h.uptime.as_secs_f64(),
        "window_s": data.span_s,
        "requests_per_s": h.requests,
        "replies_per_s": h.replies,
        "errors_per_s": h.errors,
        "events_per_s": h.events,
        "sessions": h.sessions,
        "p50_us": h.p50_us,
        "p99_us": h.p99_us,
        "losses": {"ring": l.ring, "kernel": l.kernel, "gaps": l.gaps, "queue": l.queue,
                   "decode": l.decode},
        "ops": rows_json(ops),
        "paths": rows_json(paths),
    })
}

/// Rows as objects: counts per second (`requests_per_s`), latencies in µs, text as it is.
fn rows_json(t: &model::Table) -> Vec<Json> {
    t.rows
        .iter()
        .map(|row| {
            let mut o = Map::new();
            for (c, v) in t.columns.iter().zip(row) {
                let key = match c.kind {
                    model::Kind::Count | model::Kind::Bytes => format!("{}_per_s", c.key),
                    _ => c.key.to_owned(),
                };
                let v = match v {
                    Value::Text(s) => json!(s),
                    // Two decimals: more digits are noise.
                    Value::Num(n) => json!((n * 100.0).round() / 100.0),
                    Value::None => Json::Null,
                };
                o.insert(key, v);
            }
            Json::Object(o)
        })
        .collect()
}
