//! The `serve` front-end, the stats daemon, on three threads:
//!
//! - capture (`serve/capture.rs`): a [`SegmentSource`] feeds sampling, reassembly and
//!   decoding, and the decoded messages leave as batches of owned facts through a bounded
//!   channel;
//! - aggregation (`serve/aggregate.rs`): the [`Aggregator`](crate::stats::Aggregator) applies
//!   them and publishes immutable [`Snapshot`]s;
//! - HTTP (warp on tokio), which only reads the latest snapshot.
//!
//! The first two are the [`Collector`] (`serve/collector.rs`), which `top` draws from too.
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
mod collector;
mod config;
mod control;
mod error;
mod http;
mod info;
pub mod process;
mod sampling;
mod snapshot;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::capture::SegmentSource;
pub use collector::Collector;
pub use config::ServeConfig;
pub use control::Reload;
pub use error::ServeError;
pub use http::{HttpAuth, HttpLimits, RenderOptions, TlsFiles};
pub use info::Info;
pub use sampling::parse_probability;
pub use snapshot::{Snapshot, View, WindowPoint};

/// A running daemon: the capture and aggregation threads (`serve/collector.rs`, shared with
/// `top`) and the HTTP server in front of them.
pub struct Daemon {
    addr: SocketAddr,
    collector: Collector,
    http_shutdown: Option<oneshot::Sender<()>>,
    http: Option<JoinHandle<()>>,
}

impl Daemon {
    /// Binds HTTP, then starts capturing from `source` and serving.
    pub fn start(
        config: ServeConfig,
        source: Box<dyn SegmentSource>,
    ) -> Result<Daemon, ServeError> {
        // The files first: a bad token or certificate is the error, not a busy port.
        let setup = http::HttpSetup {
            render: config.render,
            limits: config.http_limits,
            access: Arc::new(http::Access::load(config.http_auth.clone())?),
            tls: config.tls.clone().map(http::Tls::load).transpose()?.map(Arc::new),
            reload: config.reload.clone(),
        };
        let listener = std::net::TcpListener::bind(config.http_addr)
            .map_err(|source| ServeError::Bind { addr: config.http_addr, source })?;
        let addr = listener.local_addr().map_err(ServeError::Start)?;
        listener.set_nonblocking(true).map_err(ServeError::Start)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("zktraffic-http")
            .enable_all()
            .build()
            .map_err(ServeError::Start)?;
        let signals = config.handle_signals;
        let collector = Collector::start(config, source)?;
        let (http_shutdown, shutdown_rx) = oneshot::channel();
        let (rx, control) = (collector.subscribe(), collector.control());
        let http = std::thread::Builder::new()
            .name("zktraffic-http".into())
            .spawn(move || {
                runtime.block_on(http::serve(listener, rx, setup, shutdown_rx, signals, control))
            })
            .map_err(ServeError::Start)?;
        Ok(Daemon { addr, collector, http_shutdown: Some(http_shutdown), http: Some(http) })
    }

    /// The address HTTP listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.collector.snapshot()
    }

    /// Waits until the capture thread ends (a replayed capture is fully aggregated and
    /// published, the source failed, or the daemon is stopping).
    pub fn wait_capture(&mut self) {
        self.collector.wait();
    }

    /// Serves until HTTP stops (SIGINT/SIGTERM when `handle_signals`), then stops capture.
    pub fn wait(mut self) {
        if let Some(t) = self.http.take() {
            let _ = t.join();
        }
        self.collector.stop();
        self.wait_capture();
    }

    /// Stops capture and HTTP (in-flight requests finish) and waits for both.
    pub fn shutdown(mut self) {
        self.collector.stop();
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
        self.collector.stop();
        if let Some(tx) = self.http_shutdown.take() {
            let _ = tx.send(());
        }
    }
}
