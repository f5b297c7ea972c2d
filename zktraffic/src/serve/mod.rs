//! The `serve` front-end, the stats daemon, on three threads:
//!
//! - capture (`serve/capture.rs`): a [`SegmentSource`] feeds sampling, reassembly and
//!   decoding, and the decoded messages leave as batches of owned facts through a bounded
//!   channel;
//! - aggregation (`serve/aggregate.rs`): the [`Aggregator`](crate::stats::Aggregator) applies
//!   them and publishes immutable [`Snapshot`]s;
//! - HTTP (warp on tokio), which only reads the latest snapshot.
//!
//! Capture and aggregation run in parallel (on two cores, the daemon goes as fast as the slower
//! of the two, not their sum); the channel between them is bounded, and when it is full a
//! replay waits while live capture drops and counts (see `serve/capture.rs`). Aggregation never
//! waits for HTTP: it swaps an `Arc` into a `tokio::sync::watch` channel (never blocking on
//! readers), and a request clones the `Arc` of the current snapshot and renders from it.
//! Snapshots are published when a window closes and, for the cumulative scope, at most every
//! `publish_interval`.

mod aggregate;
mod capture;
mod config;
mod http;
mod info;
pub mod process;
mod sampling;
mod snapshot;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use thiserror::Error;
use tokio::sync::{oneshot, watch};

use crate::capture::{SegmentSource, SourceError};
use crate::stats::Tally;
use capture::CaptureStatus;
pub use config::ServeConfig;
pub use http::{HttpLimits, RenderOptions};
pub use info::Info;
pub use sampling::parse_probability;
pub use snapshot::{Snapshot, View};

/// Why the daemon could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The HTTP address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A thread or the async runtime could not be created.
    #[error("cannot start the daemon: {0}")]
    Start(std::io::Error),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
}

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
            Arc::new(View::new(t, crate::stats::connections::ConnTable::new(0, 0)))
        };
        let first_status = CaptureStatus::starting(source.info(), &config);
        let first = Arc::new(Snapshot {
            window: empty(&config),
            cumulative: empty(&config),
            info: first_status.info.clone(),
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
            let limits = config.http_limits;
            let render = config.render;
            std::thread::Builder::new()
                .name("zktraffic-http".into())
                .spawn(move || {
                    runtime.block_on(http::serve(
                        listener,
                        rx,
                        render,
                        limits,
                        shutdown_rx,
                        signals,
                        stop,
                    ))
                })
                .map_err(ServeError::Start)?
        };
        let capture = {
            let stop = stop.clone();
            // Bounded (`--max-queued-*`): a replay waits for room, live capture drops and counts.
            let (work_tx, work_rx) = mpsc::sync_channel(capture::queue_batches(&config));
            let (spare_tx, spare_rx) = mpsc::channel();
            let first = first_status;
            let agg_config = config.clone();
            let aggregation = std::thread::Builder::new()
                .name("zktraffic-aggregate".into())
                .spawn(move || aggregate::run(&agg_config, work_rx, spare_tx, &tx, first, started))
                .map_err(ServeError::Start)?;
            std::thread::Builder::new()
                .name("zktraffic-capture".into())
                .spawn(move || {
                    capture::run(source, &config, work_tx, spare_rx, &stop);
                    // The work channel is closed now: aggregation publishes what it has and ends.
                    let _ = aggregation.join();
                })
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
