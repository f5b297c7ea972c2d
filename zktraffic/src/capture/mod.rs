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

/// A [`Segment`] copied out of its source's buffer, for holding it past the callback (a paced
/// replay reads one ahead; tests compare what was delivered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedSegment {
    /// See [`Segment::ts`].
    pub ts: Timestamp,
    /// See [`Segment::src`].
    pub src: SocketAddr,
    /// See [`Segment::dst`].
    pub dst: SocketAddr,
    /// See [`Segment::seq`].
    pub seq: u32,
    /// See [`Segment::ack`].
    pub ack: u32,
    /// See [`Segment::flags`].
    pub flags: u8,
    /// See [`Segment::payload`].
    pub payload: Vec<u8>,
    /// See [`Segment::wire_len`].
    pub wire_len: u32,
}

impl OwnedSegment {
    /// A copy of `s` into `buf`'s memory (cleared first): a reused buffer costs no allocation.
    pub fn copy_into(s: &Segment<'_>, mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.extend_from_slice(s.payload);
        OwnedSegment {
            ts: s.ts,
            src: s.src,
            dst: s.dst,
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            payload: buf,
            wire_len: s.wire_len,
        }
    }

    /// The segment, borrowed again.
    pub fn segment(&self) -> Segment<'_> {
        Segment {
            ts: self.ts,
            src: self.src,
            dst: self.dst,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            payload: &self.payload,
            wire_len: self.wire_len,
        }
    }
}

impl From<&Segment<'_>> for OwnedSegment {
    fn from(s: &Segment<'_>) -> Self {
        OwnedSegment::copy_into(s, Vec::new())
    }
}
