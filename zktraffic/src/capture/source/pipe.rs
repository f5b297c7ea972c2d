//! Standard input as a pipe that can be waited on in bounded time: a source polled by a daemon
//! must come back while the pipe is quiet (to publish, roll windows, notice shutdown) instead of
//! blocking in `read` until the next packet.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How long a read waits for the pipe before giving up with `WouldBlock`.
const WAIT_MS: i32 = 100;

/// Standard input whose reads, once `armed`, wait at most [`WAIT_MS`] and then fail with
/// `WouldBlock` (which the capture reader takes as "nothing yet", not as an error). Before
/// that (while the file header is read) they block as usual.
pub(super) struct PipeInput {
    stdin: io::Stdin,
    armed: Arc<AtomicBool>,
}

impl PipeInput {
    /// Standard input, and the switch that makes its reads bounded.
    pub(super) fn new() -> (Self, Arc<AtomicBool>) {
        let armed = Arc::new(AtomicBool::new(false));
        (PipeInput { stdin: io::stdin(), armed: armed.clone() }, armed)
    }
}

impl Read for PipeInput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.armed.load(Ordering::Relaxed) && !readable(&self.stdin, WAIT_MS) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.stdin.read(buf)
    }
}

/// True when a read of `fd` would not wait (data, end of file or an error is pending), after
/// waiting up to `timeout_ms` for it.
pub fn readable(fd: &impl AsRawFd, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    n != 0
}
