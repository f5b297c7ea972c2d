//! The accept loop: every connection holds one of `max_connections` permits; at the cap the
//! connection idle the longest (no request in progress: a fresh socket that has not sent a
//! complete head, or a keep-alive one between requests) is shed so a fresh poller is still
//! served, since an attacker holding every slot would otherwise lock pollers out. Each
//! connection is HTTP/1.1 (hyper), over TLS with `--tls-cert`, with a header-read timeout
//! (which the TLS handshake counts against); routing stays warp's.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use super::limits::{HttpCounters, HttpLimits};
use super::tls::Tls;

/// Pause after a failed accept that is not the peer's doing (EMFILE, ENOBUFS): retrying at
/// once would spin at full CPU while nothing can change.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Longest wait for a shed connection to give its permit back.
const SHED_WAIT: Duration = Duration::from_secs(1);

/// One connection as the shedder sees it.
#[derive(Debug)]
struct Conn {
    /// A request is being answered.
    busy: AtomicBool,
    /// Milliseconds since the loop started at accept or at the end of the last response.
    last_active_ms: AtomicU64,
    /// Fired to close the connection.
    shed: Notify,
}

/// The open connections.
#[derive(Debug)]
struct Registry {
    start: Instant,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn insert(&self) -> (u64, Arc<Conn>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            busy: AtomicBool::new(false),
            last_active_ms: AtomicU64::new(self.now_ms()),
            shed: Notify::new(),
        });
        self.lock().insert(id, conn.clone());
        (id, conn)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Fires the shed of the connection idle the longest; false when every one is busy.
    fn shed_oldest_idle(&self) -> bool {
        let mut conns = self.lock();
        let victim = conns
            .iter()
            .filter(|(_, c)| !c.busy.load(Ordering::Relaxed))
            .min_by_key(|(_, c)| c.last_active_ms.load(Ordering::Relaxed))
            .map(|(&id, _)| id);
        let Some(conn) = victim.and_then(|id| conns.remove(&id)) else { return false };
        conn.shed.notify_one();
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        // A panic elsewhere while holding the lock leaves the map usable.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Marks its connection busy while a request is answered, and idle again after.
#[derive(Debug)]
struct Tracked<S> {
    inner: S,
    conn: Arc<Conn>,
    registry: Arc<Registry>,
}

/// Ends a request's busy spell when dropped (answered or abandoned).
struct BusyGuard {
    conn: Arc<Conn>,
    registry: Arc<Registry>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.conn.last_active_ms.store(self.registry.now_ms(), Ordering::Relaxed);
        self.conn.busy.store(false, Ordering::Relaxed);
    }
}

impl<S, R> Service<R> for Tracked<S>
where
    S: Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, req: R) -> Self::Future {
        self.conn.busy.store(true, Ordering::Relaxed);
        let guard = BusyGuard { conn: self.conn.clone(), registry: self.registry.clone() };
        let fut = self.inner.call(req);
        Box::pin(async move {
            let _guard = guard;
            fut.await
        })
    }
}

/// Accepts and serves connections through `filter` until `stopping` resolves, then closes the
/// listener and lets in-flight requests finish.
pub async fn run<F>(
    listener: TcpListener,
    filter: F,
    limits: HttpLimits,
    counters: Arc<HttpCounters>,
    tls: Option<Arc<Tls>>,
    stopping: impl Future<Output = ()>,
) where
    F: warp::Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let limits = limits.clamped_to_fd_limit();
    let cap = limits.max_connections.max(1);
    counters.max_connections.store(cap as u64, Ordering::Relaxed);
    let permits = Arc::new(Semaphore::new(cap));
    let registry = Arc::new(Registry {
        start: Instant::now(),
        next_id: AtomicU64::new(0),
        conns: Mutex::new(HashMap::new()),
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stopping = std::pin::pin!(stopping);
    loop {
        let accepted = tokio::select! {
            () = &mut stopping => break,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                HttpCounters::bump(&counters.accept_errors);
                if !is_connection_error(&e) {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                continue;
            }
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) if registry.shed_oldest_idle() => {
                HttpCounters::bump(&counters.shed);
                match tokio::time::timeout(SHED_WAIT, permits.clone().acquire_owned()).await {
                    Ok(Ok(p)) => p,
                    _ => {
                        HttpCounters::bump(&counters.rejected);
                        continue;
                    }
                }
            }
            Err(_) => {
                HttpCounters::bump(&counters.rejected);
                continue;
            }
        };
        HttpCounters::bump(&counters.accepted);
        counters.open.fetch_add(1, Ordering::Relaxed);
        let (id, conn) = registry.insert();
        let svc = Tracked {
            inner: hyper_util::service::TowerToHyperService::new(warp::service(filter.clone())),
            conn: conn.clone(),
            registry: registry.clone(),
        };
        let (counters, registry, watcher) =
            (counters.clone(), registry.clone(), graceful.watcher());
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        tokio::spawn(async move {
            let timeout = limits.header_timeout;
            let served = async {
                let Some(acceptor) = acceptor else {
                    return serve_connection(stream, svc, timeout, watcher).await;
                };
                // The handshake is part of the request head's time budget.
                match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => serve_connection(tls, svc, timeout, watcher).await,
                    Ok(Err(_)) | Err(_) => {
                        HttpCounters::bump(&counters.tls_handshake_failures);
                        Ok(())
                    }
                }
            };
            tokio::select! {
                r = served => {
                    if r.is_err_and(|e| e.is_timeout()) {
                        HttpCounters::bump(&counters.header_timeouts);
                    }
                }
                // Dropping the connection closes the socket.
                () = conn.shed.notified() => {}
            }
            registry.remove(id);
            counters.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One HTTP/1.1 connection over `io` (plain TCP or TLS), with a header-read timeout, until it
/// ends or the graceful shutdown lets it finish.
async fn serve_connection<I, S>(
    io: I,
    svc: S,
    header_timeout: Duration,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), hyper::Error>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send + 'static,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), svc);
    watcher.watch(conn).await
}

/// Errors of one connection (the peer gave up before accept), not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}
