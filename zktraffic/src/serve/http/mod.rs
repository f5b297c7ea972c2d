//! The daemon's HTTP side (warp): routes that read the latest [`Snapshot`] and never touch
//! the capture thread.

mod auth;
mod endpoint;
mod exposition;
mod limits;
mod listener;
mod metrics;
mod render;
mod routes;
mod tls;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{oneshot, watch};

use super::control::Control;
use super::snapshot::Snapshot;

pub use auth::{Access, HttpAuth, TokenError};
pub use limits::{HttpCounters, HttpLimits};
pub use render::RenderOptions;
pub use tls::{Tls, TlsError, TlsFiles};

/// How HTTP serves: bodies, limits, who is let in, TLS.
pub struct HttpSetup {
    /// How bodies are rendered.
    pub render: RenderOptions,
    /// Connection cap and header timeout.
    pub limits: HttpLimits,
    /// The token asked for.
    pub access: Arc<Access>,
    /// HTTPS, when configured.
    pub tls: Option<Arc<Tls>>,
    /// What else SIGHUP re-reads.
    pub reload: Option<crate::serve::control::Reload>,
}

/// Serves `listener` as `setup` says (with counters of its own) until `shutdown` fires (or
/// SIGINT/SIGTERM when `signals`, which also makes SIGHUP re-read the token and the
/// certificate), then lets in-flight requests finish; sets `control.stop` so the capture
/// thread ends too.
pub async fn serve(
    listener: std::net::TcpListener,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    setup: HttpSetup,
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
    if signals {
        let reload = (setup.access.clone(), setup.tls.clone(), setup.reload.clone());
        tokio::spawn(reload_on_sighup(reload, control.clone()));
    }
    let stopping = async move {
        if signals {
            wait_for_signal(shutdown).await;
            tracing::info!("stopping: in-flight requests finish, capture detaches");
        } else {
            let _ = shutdown.await;
        }
        control.stop.store(true, Ordering::Relaxed);
    };
    let routes = routes::all(snapshots, setup.render, counters.clone(), setup.access);
    listener::run(listener, routes, setup.limits, counters, setup.tls, stopping).await;
}

/// On each SIGHUP, reads the token file, the certificate and key, and the settings again; what
/// fails to load is logged and the old one stays in force.
async fn reload_on_sighup(
    (access, tls, settings): (Arc<Access>, Option<Arc<Tls>>, Option<crate::serve::control::Reload>),
    control: Arc<Control>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot handle SIGHUP: the token and certificate are not reloadable");
        return;
    };
    while hup.recv().await.is_some() {
        match access.reload() {
            Ok(true) => tracing::info!("SIGHUP: HTTP token reloaded"),
            Ok(false) => {}
            Err(e) => tracing::error!("SIGHUP: {e}; the previous token stays in force"),
        }
        if let Some(tls) = &tls {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                Err(e) => tracing::error!("SIGHUP: {e}; the previous certificate stays in force"),
            }
        }
        if let Some(settings) = &settings {
            match (settings.0)() {
                Ok(stats) => {
                    *control.reconfigure.lock().unwrap_or_else(|e| e.into_inner()) = Some(stats)
                }
                Err(e) => tracing::error!("SIGHUP: {e}; the settings stay as they were"),
            }
        }
    }
}

/// Waits for SIGINT, SIGTERM or `shutdown`.
async fn wait_for_signal(shutdown: oneshot::Receiver<()>) {
    tokio::select! {
        _ = shutdown => {}
        () = crate::signals::stop_signal() => {}
    }
}
