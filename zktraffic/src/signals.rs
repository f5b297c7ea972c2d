//! SIGINT and SIGTERM, for every front-end that stops gracefully on them.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Completes on the first SIGINT or SIGTERM. Where a handler cannot be installed it never
/// completes, and the signal's default disposition stops the process as usual.
pub async fn stop_signal() {
    wait(handlers()).await;
}

/// Installs the handlers (inside a tokio runtime); either may be missing.
fn handlers() -> (Option<Signal>, Option<Signal>) {
    (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok())
}

/// The first signal of those whose handler is installed (never, if none is).
async fn wait(handlers: (Option<Signal>, Option<Signal>)) {
    async fn one(s: Option<Signal>) {
        match s {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let (int, term) = handlers;
    tokio::select! {
        () = one(int) => {}
        () = one(term) => {}
    }
}

/// A flag set on the first SIGINT or SIGTERM, watched by a thread of its own (for loops that
/// poll rather than await). Installing the handlers here also means those signals no longer
/// kill the process: the caller must check the flag.
pub fn stop_flag() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let spawned =
            std::thread::Builder::new().name("zktraffic-signals".into()).spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build()
                else {
                    let _ = ready_tx.send(());
                    return;
                };
                rt.block_on(async {
                    let handlers = handlers();
                    let _ = ready_tx.send(());
                    wait(handlers).await;
                });
                STOP.store(true, Ordering::Relaxed);
            });
        if spawned.is_ok() {
            // Wait for the handlers, so that a signal right after start-up is not lost.
            let _ = ready_rx.recv();
        }
    });
    &STOP
}
