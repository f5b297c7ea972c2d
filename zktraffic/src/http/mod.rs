//! The daemon's HTTP side (warp): routes that read the latest [`Snapshot`] and never touch
//! the capture thread.

pub mod exposition;
mod limits;
mod listener;
mod metrics;
mod routes;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{oneshot, watch};

use crate::serve::Snapshot;

pub use limits::{HttpCounters, HttpLimits};
pub use metrics::render as render_metrics;

/// Serves `listener` within `limits` (counting in `counters`) until `shutdown` fires (or
/// SIGINT/SIGTERM when `signals`), then lets in-flight requests finish; sets `stop` so the
/// capture thread ends too.
pub async fn serve(
    listener: std::net::TcpListener,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    limits: HttpLimits,
    counters: Arc<HttpCounters>,
    shutdown: oneshot::Receiver<()>,
    signals: bool,
    stop: Arc<AtomicBool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("zktraffic: cannot serve HTTP: {e}");
            stop.store(true, Ordering::Relaxed);
            return;
        }
    };
    let stopping = async move {
        if signals {
            wait_for_signal(shutdown).await;
        } else {
            let _ = shutdown.await;
        }
        stop.store(true, Ordering::Relaxed);
    };
    let routes = routes::all(snapshots, counters.clone());
    listener::run(listener, routes, limits, counters, stopping).await;
}

/// Waits for SIGINT, SIGTERM or `shutdown`.
async fn wait_for_signal(shutdown: oneshot::Receiver<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            // No SIGTERM handler: only SIGINT and `shutdown` stop the daemon.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = shutdown => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
