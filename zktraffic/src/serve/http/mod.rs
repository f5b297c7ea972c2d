//! The daemon's HTTP side (warp): routes that read the latest [`Snapshot`] and never touch
//! the capture thread.

mod endpoint;
mod exposition;
mod limits;
mod listener;
mod metrics;
mod render;
mod routes;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{oneshot, watch};

use super::control::Control;
use super::snapshot::Snapshot;

pub use limits::{HttpCounters, HttpLimits};
pub use render::RenderOptions;

/// Serves `listener` within `limits` (with counters of its own) until `shutdown` fires (or
/// SIGINT/SIGTERM when `signals`), then lets in-flight requests finish; sets `control.stop` so
/// the capture thread ends too.
pub async fn serve(
    listener: std::net::TcpListener,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    render: RenderOptions,
    limits: HttpLimits,
    shutdown: oneshot::Receiver<()>,
    signals: bool,
    control: Arc<Control>,
) {
    let counters = Arc::new(HttpCounters::default());
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot serve HTTP: {e}");
            control.stop.store(true, Ordering::Relaxed);
            return;
        }
    };
    let stopping = async move {
        if signals {
            wait_for_signal(shutdown).await;
            tracing::info!("stopping: in-flight requests finish, capture detaches");
        } else {
            let _ = shutdown.await;
        }
        control.stop.store(true, Ordering::Relaxed);
    };
    let routes = routes::all(snapshots, render, counters.clone());
    listener::run(listener, routes, limits, counters, stopping).await;
}

/// Waits for SIGINT, SIGTERM or `shutdown`.
async fn wait_for_signal(shutdown: oneshot::Receiver<()>) {
    tokio::select! {
        _ = shutdown => {}
        () = crate::signals::stop_signal() => {}
    }
}
