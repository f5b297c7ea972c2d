//! The `serve` front-end, the stats daemon: a [`SegmentSource`] feeds the pipeline and the
//! [`Aggregator`] on one dedicated capture thread, which publishes immutable [`Snapshot`]s;
//! the HTTP server (warp on tokio) only reads the latest snapshot.
//!
//! Neither side waits for the other: the capture thread swaps an `Arc` into a
//! `tokio::sync::watch` channel (never blocking on readers), and a request clones the `Arc`
//! of the current snapshot and renders from it. Snapshots are published when a window closes
//! and, for the cumulative scope, at most every `publish_interval`.

#[cfg(feature = "ebpf")]
pub mod live;
pub mod sampling;
pub mod snapshot;
pub mod source;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;
use thiserror::Error;
use tokio::sync::{oneshot, watch};

use crate::Timestamp;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::stats::render::RenderOptions;
use crate::stats::{Aggregator, StatsConfig, Tally};
use sampling::Sampler;
pub use snapshot::{Endpoint, Scope, Snapshot, View};
#[cfg(feature = "ebpf")]
pub use source::open_live;
pub use source::{PcapSource, Poll, SegmentSource, SourceError, SourceInfo};

/// Everything the daemon needs besides its source.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Where HTTP listens (port 0: any free port, see [`Daemon::addr`]).
    pub http_addr: SocketAddr,
    pub pipeline: PipelineConfig,
    pub stats: StatsConfig,
    pub render: RenderOptions,
    /// Fraction of connections analysed (`--sampling`).
    pub sampling: f64,
    /// Longest time between two cumulative publications.
    pub publish_interval: Duration,
    /// Stop on SIGINT/SIGTERM (the binary); tests leave signals alone.
    pub handle_signals: bool,
}

/// Why the daemon could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The HTTP address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// A thread or the async runtime could not be created.
    #[error("cannot start the daemon: {0}")]
    Start(std::io::Error),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Segments handed to the pipeline per poll: small enough to publish and stop promptly.
const BATCH: usize = 4096;

/// A running daemon: the capture thread and the HTTP server.
pub struct Daemon {
    addr: SocketAddr,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    stop: Arc<AtomicBool>,
    http_shutdown: Option<oneshot::Sender<()>>,
    capture: Option<JoinHandle<()>>,
    http: Option<JoinHandle<()>>,
}

impl Daemon {
    /// Binds HTTP, then starts capturing from `source` and serving.
    pub fn start(
        config: ServeConfig,
        source: Box<dyn SegmentSource>,
    ) -> Result<Daemon, ServeError> {
        let listener = std::net::TcpListener::bind(config.http_addr)
            .map_err(|source| ServeError::Bind { addr: config.http_addr, source })?;
        let addr = listener.local_addr().map_err(ServeError::Start)?;
        listener.set_nonblocking(true).map_err(ServeError::Start)?;
        let started = Instant::now();
        let empty = |config: &ServeConfig| {
            let t = Tally::new(config.stats.limits);
            let conns = crate::stats::connections::ConnTable::new(0, 0);
            Arc::new(View::new(t, conns, config.render))
        };
        let first = Arc::new(Snapshot {
            window: empty(&config),
            cumulative: empty(&config),
            info: json!({ "capture": source.info() }),
            health: Ok(()),
            finished: false,
            started,
            live_connections: 0,
            metrics: Default::default(),
        });
        let (tx, rx) = watch::channel(first);
        let stop = Arc::new(AtomicBool::new(false));
        let (http_shutdown, shutdown_rx) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("zktraffic-http")
            .enable_all()
            .build()
            .map_err(ServeError::Start)?;
        let http = {
            let (rx, stop, signals) = (rx.clone(), stop.clone(), config.handle_signals);
            std::thread::Builder::new()
                .name("zktraffic-http".into())
                .spawn(move || {
                    runtime.block_on(crate::http::serve(listener, rx, shutdown_rx, signals, stop))
                })
                .map_err(ServeError::Start)?
        };
        let capture = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("zktraffic-capture".into())
                .spawn(move || capture_loop(source, &config, &tx, &stop, started))
                .map_err(ServeError::Start)?
        };
        Ok(Daemon {
            addr,
            snapshots: rx,
            stop,
            http_shutdown: Some(http_shutdown),
            capture: Some(capture),
            http: Some(http),
        })
    }

    /// The address HTTP listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }

    /// Waits until the capture thread ends (a replayed capture is fully aggregated and
    /// published, the source failed, or the daemon is stopping).
    pub fn wait_capture(&mut self) {
        if let Some(t) = self.capture.take() {
            let _ = t.join();
        }
    }

    /// Serves until HTTP stops (SIGINT/SIGTERM when `handle_signals`), then stops capture.
    pub fn wait(mut self) {
        if let Some(t) = self.http.take() {
            let _ = t.join();
        }
        self.stop.store(true, Ordering::Relaxed);
        self.wait_capture();
    }

    /// Stops capture and HTTP (in-flight requests finish) and waits for both.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(tx) = self.http_shutdown.take() {
            let _ = tx.send(());
        }
        self.wait_capture();
        if let Some(t) = self.http.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(tx) = self.http_shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The capture thread: source → sampling → pipeline → aggregator → snapshots.
fn capture_loop(
    mut source: Box<dyn SegmentSource>,
    config: &ServeConfig,
    tx: &watch::Sender<Arc<Snapshot>>,
    stop: &AtomicBool,
    started: Instant,
) {
    let info = source.info();
    let sampler = Sampler::new(config.sampling);
    let mut pipeline = Pipeline::new(config.pipeline.clone(), Aggregator::new(config.stats));
    let mut unsampled = 0u64;
    let mut window = tx.borrow().window.clone();
    let mut last_publish = Instant::now();
    // Publishing copies the cumulative totals; spacing publications by 20× their cost keeps
    // that under 5 % of the capture thread whatever the cardinality.
    let mut publish_every = config.publish_interval;
    let mut last_traffic = Instant::now();
    let mut error = None;
    let capture_start = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let polled = source.poll(BATCH, &mut |seg| {
            if sampler.keep(seg) {
                pipeline.push(seg);
            } else {
                unsampled += 1;
            }
        });
        let finished = match polled {
            Ok(Poll::Delivered(_)) => {
                last_traffic = Instant::now();
                false
            }
            Ok(Poll::Idle) => {
                // Live traffic stopped: let wall-clock time close windows.
                let agg = pipeline.sink_mut();
                let last = agg.last_ts();
                if info.live && last != Timestamp::default() {
                    let idle = last_traffic.elapsed().as_nanos() as u64;
                    agg.advance_to(Timestamp(last.0.saturating_add(idle)));
                }
                false
            }
            Ok(Poll::Finished) => true,
            Err(e) => {
                error = Some(e.to_string());
                true
            }
        };
        if finished {
            pipeline.finish();
            pipeline.sink_mut().finish();
        }
        let closed = pipeline.sink_mut().take_completed();
        if closed.is_some() || finished || last_publish.elapsed() >= publish_every {
            let cost = Instant::now();
            if let Some(t) = closed {
                let conns = pipeline.sink().connections().clone();
                window = Arc::new(View::new(t, conns, config.render));
            }
            let snap = snapshot(&pipeline, &*source, &window, config, unsampled, started);
            let mut info = snap.info;
            info["capture"]["error"] = json!(error);
            info["capture"]["elapsed_seconds"] = json!(capture_start.elapsed().as_secs_f64());
            // A failed source, or a live one that stopped, is unhealthy; a replay that ended
            // is not (the daemon keeps serving its result).
            let health = match (&error, finished && info_live(&info)) {
                (Some(e), _) => Err(format!("capture failed: {e}")),
                (None, true) => Err("live capture stopped".to_owned()),
                (None, false) => snap.health,
            };
            let snap = Snapshot { finished, info, health, ..snap };
            tx.send_replace(Arc::new(snap));
            last_publish = Instant::now();
            publish_every = config.publish_interval.max(cost.elapsed() * 20);
        }
        if finished {
            break;
        }
    }
}

fn info_live(info: &serde_json::Value) -> bool {
    info["capture"]["source"]["live"].as_bool().unwrap_or(false)
}

fn snapshot(
    pipeline: &Pipeline<Aggregator>,
    source: &dyn SegmentSource,
    window: &Arc<View>,
    config: &ServeConfig,
    unsampled: u64,
    started: Instant,
) -> Snapshot {
    let agg = pipeline.sink();
    let conns = agg.connections();
    let cumulative = agg.cumulative();
    let info = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "capture": {
            "source": source.info(),
            "stats": source.stats(),
        },
        "pipeline": pipeline.stats(),
        "sampling": { "probability": config.sampling, "segments_sampled_out": unsampled },
        "aggregation": {
            "window_seconds": config.stats.window_ns as f64 / 1e9,
            "windows_completed": agg.windows_completed,
            "current_window_start": agg.window_start().map(|t| t.to_string()),
            "last_packet": agg.last_ts().to_string(),
            "window": { "start": window.tally.start.to_string(), "end": window.tally.end.to_string(), "counts": &window.tally.counts },
            "cumulative": &cumulative.counts,
            "distinct_paths": cumulative.paths.len(),
            "max_paths": config.stats.limits.max_paths,
        },
        "connections": {
            "live": pipeline.connections(),
            "tracked": conns.len(),
            "sessions": conns.sessions(),
            "not_tracked": conns.overflowed,
            "expired": conns.expired,
        },
    });
    Snapshot {
        window: window.clone(),
        cumulative: Arc::new(View::new(cumulative, conns.clone(), config.render)),
        info,
        health: source.health(),
        finished: false,
        started,
        live_connections: pipeline.connections(),
        metrics: Default::default(),
    }
}
