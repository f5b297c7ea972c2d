//! The bounded input buffer: records are framed in it, and it grows only for a record larger
//! than itself, never beyond [`MAX_RECORD_LEN`].

use std::io::{self, Read};

/// Largest record (pcap record header + data, or whole pcapng block) accepted. Real captures
/// stay under 256 KiB per frame; a larger length is corruption, and refusing it keeps a bad
/// length from making us allocate gigabytes.
pub const MAX_RECORD_LEN: usize = 16 << 20;
/// Read buffer size; it only grows (up to [`MAX_RECORD_LEN`]) for a record larger than this.
pub(super) const INITIAL_BUFFER_LEN: usize = 256 << 10;

/// A read buffer over the input: `buf[start..end]` holds unconsumed bytes starting at file
/// offset `offset`.
pub(super) struct Input {
    /// Where the bytes come from.
    reader: Box<dyn Read + Send>,
    /// The buffer; its length is its capacity.
    pub(super) buf: Vec<u8>,
    /// First unconsumed byte in `buf`.
    start: usize,
    /// End of the bytes read into `buf`.
    end: usize,
    /// File offset of `buf[start]`.
    pub(super) offset: u64,
    /// The reader has no more bytes.
    eof: bool,
}

impl Input {
    /// An empty buffer of [`INITIAL_BUFFER_LEN`] bytes over `reader`.
    pub(super) fn new(reader: Box<dyn Read + Send>) -> Self {
        Input { reader, buf: vec![0; INITIAL_BUFFER_LEN], start: 0, end: 0, offset: 0, eof: false }
    }

    /// The unconsumed bytes read so far.
    pub(super) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Passes over `n` bytes (at most those available).
    pub(super) fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads until `want` bytes are available or the input ends; returns how many are.
    /// Callers keep `want` ≤ [`MAX_RECORD_LEN`].
    pub(super) fn fill(&mut self, want: usize) -> io::Result<usize> {
        while self.end - self.start < want && !self.eof {
            if self.buf.len() - self.start < want {
                // The record does not fit after `start`: move it to the front, and grow the
                // buffer if it is larger than the whole buffer.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.buf.len() < want {
                    self.buf.resize(want.next_power_of_two().min(MAX_RECORD_LEN).max(want), 0);
                }
            }
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end - self.start)
    }
}

/// The error an input gives for \"nothing yet, ask again\" (`PcapSource::stdin`'s pipe): the
/// reader resumes after it; any other error, a plain `WouldBlock` included, stays an error.
#[derive(Debug)]
pub struct PipeQuiet;

impl std::fmt::Display for PipeQuiet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("nothing in the pipe yet")
    }
}

impl std::error::Error for PipeQuiet {}

/// True when `e` carries [`PipeQuiet`].
pub fn is_pipe_quiet(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<PipeQuiet>())
}
