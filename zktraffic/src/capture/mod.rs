//! Capture sources: where TCP segments come from.
//!
//! Every source turns what it reads into [`Segment`]s and is polled through one
//! [`SegmentSource`]; nothing after this stage knows whether a segment came from a file or from
//! the kernel.

#[cfg(feature = "ebpf")]
pub mod ebpf;
pub mod link;
pub mod pcap;
pub mod pcap_write;
mod source;

pub use link::{LinkType, SkipReason};
pub use pcap::{CaptureError, CaptureReader, CaptureStats, Frame};
pub use pcap_write::{FrameBuilder, PcapNgWriter, PcapWriter};
pub use source::{
    LiveConfig, LiveHook, PcapSource, Poll, SegmentSource, SourceCounters, SourceError, SourceInfo,
    open_live,
};
#[cfg(feature = "ebpf")]
pub use source::{LiveCounters, LiveSource};

use std::net::SocketAddr;

use crate::Timestamp;

/// One captured TCP segment, borrowed from the source's buffer (no copy on the hot path).
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// When the segment was captured.
    pub ts: Timestamp,
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// TCP sequence number of the first payload byte.
    pub seq: u32,
    /// TCP acknowledgement number (meaningful when the ACK flag is set): lets reassembly tell a
    /// segment the capture lost (the peer acknowledged it) from one still in flight.
    pub ack: u32,
    /// TCP flags (see [`zktraffic_common::tcp_flags`]).
    pub flags: u8,
    /// The captured payload bytes. May be shorter than `wire_len` when the capture was truncated
    /// (snap length, kernel copy limit); the missing tail becomes a counted gap in reassembly.
    pub payload: &'a [u8],
    /// Payload length on the wire.
    pub wire_len: u32,
}

impl Segment<'_> {
    /// True when some flag in `mask` is set.
    pub fn has_flag(&self, mask: u8) -> bool {
        self.flags & mask != 0
    }
}
