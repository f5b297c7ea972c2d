//! Reading a capture from a pipe (`tcpdump -U -w - | zktraffic dump --pcap -`): output must not
//! sit in a buffer while the pipe is quiet. The printer's output is shared with the input
//! (`PcapSource::stdin_with`), which flushes it each time it is about to wait, so every message
//! is shown as soon as its packets are in, and a busy pipe still writes in large batches.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

/// An output shared by the printer (which writes) and the input (which flushes it).
pub struct SharedOut<W>(Arc<Mutex<W>>);

impl<W> SharedOut<W> {
    /// Shares `out`.
    pub fn new(out: W) -> Self {
        SharedOut(Arc::new(Mutex::new(out)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, W> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<W> Clone for SharedOut<W> {
    fn clone(&self) -> Self {
        SharedOut(self.0.clone())
    }
}

impl<W: Write> Write for SharedOut<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.lock().write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock().flush()
    }
}
