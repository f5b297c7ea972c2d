//! Standard input as a pipe that can be waited on in bounded time: a front-end polling a
//! source must come back while the pipe is quiet (to publish, roll windows, notice Ctrl-C or a
//! complete report) instead of blocking in `read` until the next packet.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::capture::pcap::PipeQuiet;

/// How long a read waits for the pipe before giving up for now.
const WAIT_MS: i32 = 100;

/// Standard input whose reads, once `armed`, first call `on_dry` when the pipe is empty (a
/// printer flushes its output there), then wait at most [`WAIT_MS`] and give up with
/// [`PipeQuiet`]. Before that (while the file header is read) they block as usual.
pub(super) struct PipeInput {
    stdin: io::Stdin,
    armed: Arc<AtomicBool>,
    on_dry: Box<dyn FnMut() + Send>,
}

impl PipeInput {
    /// Standard input, and the switch that makes its reads bounded.
    pub(super) fn new(on_dry: Box<dyn FnMut() + Send>) -> (Self, Arc<AtomicBool>) {
        let armed = Arc::new(AtomicBool::new(false));
        (PipeInput { stdin: io::stdin(), armed: armed.clone(), on_dry }, armed)
    }
}

impl Read for PipeInput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !readable(&self.stdin, 0) {
            (self.on_dry)();
            if self.armed.load(Ordering::Relaxed) && !readable(&self.stdin, WAIT_MS) {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, PipeQuiet));
            }
        }
        self.stdin.read(buf)
    }
}

/// True when a read of `fd` would not wait (data, end of file or an error is pending), after
/// waiting up to `timeout_ms` for it. An interrupted wait (a signal) counts as not readable:
/// the caller comes back and asks again.
pub fn readable(fd: &impl AsRawFd, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    n > 0
}
