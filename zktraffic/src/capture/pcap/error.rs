//! [`CaptureError`]: why a capture could not be read.

use std::io;

/// Why a capture could not be read. Every variant names the file; offsets are byte offsets
/// from the start of the file (or of standard input).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened.
    #[error("{name}: cannot open: {source}")]
    Open {
        /// File name as given.
        name: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// Reading failed.
    #[error("{name}: read failed at offset {offset}: {source}")]
    Read {
        /// File name as given.
        name: String,
        /// Where the read was to start.
        offset: u64,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The input does not start like a pcap or pcapng file.
    #[error(
        "{name}: not a pcap or pcapng file (offset {offset}: {detail}); zktraffic reads captures \
         written by tcpdump -w, dumpcap or Wireshark"
    )]
    NotCapture {
        /// File name as given.
        name: String,
        /// Where the problem is.
        offset: u64,
        /// What was found instead.
        detail: String,
    },
    /// The file is damaged at `offset`; every record before it was delivered.
    #[error(
        "{name}: corrupt capture at offset {offset}: {detail}; records before it were processed, \
         the rest of the file was not"
    )]
    Corrupt {
        /// File name as given.
        name: String,
        /// Start of the damaged record.
        offset: u64,
        /// What is wrong with it.
        detail: String,
    },
}

impl CaptureError {
    /// A pipe read through `PcapSource::stdin` found nothing yet: not an error of the capture,
    /// reading resumes later.
    pub(super) fn would_block(&self) -> bool {
        matches!(self, CaptureError::Read { source, .. } if super::input::is_pipe_quiet(source))
    }
}
