//! The HTTP side's limits (connection cap, header-read timeout) and the counters of what they
//! did, shown under `http` in `/json/info` and as `zktraffic_http_*` in `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

/// File descriptors kept for the rest of the daemon (capture file or eBPF maps, the runtime,
/// the listener) when the connection cap is clamped below the file limit.
const FD_RESERVE: u64 = 64;

/// How many connections HTTP holds at once and how long a request head may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Concurrent connections; at the cap the oldest idle one is shed for a fresh one.
    pub max_connections: usize,
    /// Longest wait for a complete request head, from accept or from the previous response
    /// (so it also bounds how long a keep-alive connection may sit idle).
    pub header_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits { max_connections: 512, header_timeout: Duration::from_secs(10) }
    }
}

impl HttpLimits {
    /// These limits with the cap kept below the soft file limit (less a reserve for the rest
    /// of the daemon), so accepting never runs the process out of descriptors. Logs a clamp.
    pub fn clamped_to_fd_limit(self) -> HttpLimits {
        let Some(files) = soft_file_limit() else { return self };
        let room = usize::try_from(files.saturating_sub(FD_RESERVE).max(1)).unwrap_or(usize::MAX);
        if self.max_connections <= room {
            return self;
        }
        tracing::warn!(
            "--http-max-connections {} lowered to {room} (file limit {files})",
            self.max_connections
        );
        HttpLimits { max_connections: room, ..self }
    }
}

/// RLIMIT_NOFILE's soft value (`None`: unlimited or unknown).
fn soft_file_limit() -> Option<u64> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0;
    (ok && r.rlim_cur != libc::RLIM_INFINITY).then_some(r.rlim_cur)
}

/// What the limits did, counted since start.
#[derive(Debug, Default)]
pub struct HttpCounters {
    /// Connections accepted and served.
    pub accepted: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
    /// Idle connections (no request in progress) closed to admit a fresh one at the cap.
    pub shed: AtomicU64,
    /// Fresh connections closed at once: the cap was reached and every connection was busy.
    pub rejected: AtomicU64,
    /// Connections closed because no complete request head came in time.
    pub header_timeouts: AtomicU64,
    /// Failed accepts (e.g. EMFILE); the loop backs off after one.
    pub accept_errors: AtomicU64,
    /// TLS handshakes that failed or did not finish within the header timeout.
    pub tls_handshake_failures: AtomicU64,
    /// Requests answered 401: no token or a wrong one (`--http-token-file`).
    pub unauthorized: AtomicU64,
    /// The cap in force (after clamping).
    pub max_connections: AtomicU64,
}

impl HttpCounters {
    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as the `http` object of `/json/info`.
    pub fn to_json(&self) -> Value {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "connections_accepted": n(&self.accepted),
            "connections_open": n(&self.open),
            "connections_shed": n(&self.shed),
            "connections_rejected": n(&self.rejected),
            "header_timeouts": n(&self.header_timeouts),
            "accept_errors": n(&self.accept_errors),
            "tls_handshake_failures": n(&self.tls_handshake_failures),
            "unauthorized": n(&self.unauthorized),
            "max_connections": n(&self.max_connections),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_cap_stays_below_the_file_limit() {
        let huge = HttpLimits { max_connections: usize::MAX, ..Default::default() };
        let clamped = huge.clamped_to_fd_limit();
        if let Some(files) = soft_file_limit() {
            assert!((clamped.max_connections as u64) < files.max(2));
        }
        let small = HttpLimits { max_connections: 1, ..Default::default() };
        assert_eq!(small.clamped_to_fd_limit(), small);
    }
}
