//! Rebuilding [`Segment`]s from the kernel's chained ring records.
//!
//! The kernel sends a segment as consecutive records from one CPU (chunk 0 first); records of
//! other CPUs may interleave, so partial segments are kept per CPU. A segment whose tail never
//! arrives (the ring was full mid-segment) is delivered with the prefix it has: `wire_len` stays
//! the wire length, so reassembly counts the missing bytes as a gap instead of seeing garbage.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;
use zktraffic_common::record::{MAX_CAPTURE, RecordHeader, hook, rec_flags};

use crate::Timestamp;
use crate::capture::Segment;

/// Where the kernel saw a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// TC ingress: received by the interface.
    TcIngress,
    /// TC egress: sent by the interface.
    TcEgress,
    /// XDP: received, before the network stack.
    Xdp,
}

impl Hook {
    fn from_raw(raw: u8) -> Option<Hook> {
        match raw {
            hook::TC_INGRESS => Some(Hook::TcIngress),
            hook::TC_EGRESS => Some(Hook::TcEgress),
            hook::XDP => Some(Hook::Xdp),
            _ => None,
        }
    }
}

/// Counters of the user-space side of the ring buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReaderStats {
    /// Ring records read.
    pub records: u64,
    /// Segments delivered.
    pub segments: u64,
    /// Segments delivered without their tail (a later chunk was lost to a full ring).
    pub incomplete_segments: u64,
    /// Chunks dropped because the start of their segment was lost.
    pub orphan_chunks: u64,
    /// Records that did not parse (should stay 0).
    pub bad_records: u64,
}

/// A segment in the making on one CPU.
struct Slot {
    active: bool,
    header: RecordHeader,
    next_index: u8,
    touched: Instant,
    /// Reused between segments: grows once to at most [`MAX_CAPTURE`].
    buf: Vec<u8>,
}

/// Turns ring records into segments.
pub(crate) struct Assembler {
    slots: Vec<Slot>,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC, in ns, taken once.
    clock_offset: i128,
    stats: ReaderStats,
}

impl Assembler {
    /// `clock_offset` converts kernel monotonic timestamps into wall-clock nanoseconds.
    pub(crate) fn new(clock_offset: i128) -> Self {
        Assembler { slots: Vec::new(), clock_offset, stats: ReaderStats::default() }
    }

    pub(crate) fn stats(&self) -> ReaderStats {
        self.stats
    }

    /// Handles one ring record, calling `f` for every segment it completes.
    pub(crate) fn push(&mut self, record: &[u8], f: &mut impl FnMut(&Segment<'_>, Hook)) {
        self.stats.records += 1;
        let Some(h) = RecordHeader::read_from(record) else {
            self.stats.bad_records += 1;
            return;
        };
        let data = &record[size_of::<RecordHeader>()..];
        let chunk_len = usize::from(h.chunk_len);
        if chunk_len > data.len()
            || h.chunk_offset.saturating_add(u32::from(h.chunk_len)) > h.captured_len
            || h.captured_len > MAX_CAPTURE.min(h.wire_len)
            || Hook::from_raw(h.hook).is_none()
            || !(h.family == 4 || h.family == 6)
        {
            self.stats.bad_records += 1;
            return;
        }
        let chunk = &data[..chunk_len];
        let cpu = usize::from(h.cpu);
        if cpu >= self.slots.len() {
            self.slots.resize_with(cpu + 1, || Slot {
                active: false,
                header: RecordHeader::default(),
                next_index: 0,
                touched: Instant::now(),
                buf: Vec::new(),
            });
        }
        let last = h.rec_flags & rec_flags::LAST != 0;

        if h.chunk_index == 0 {
            self.flush_slot(cpu, f);
            if last {
                // The common case: the whole segment in one record, delivered without a copy.
                self.stats.segments += 1;
                deliver(&h, chunk, self.clock_offset, f);
                return;
            }
            let slot = &mut self.slots[cpu];
            slot.active = true;
            slot.header = h;
            slot.next_index = 1;
            slot.touched = Instant::now();
            slot.buf.clear();
            slot.buf.extend_from_slice(chunk);
            return;
        }

        let slot = &mut self.slots[cpu];
        let continues = slot.active
            && slot.header.seg_id == h.seg_id
            && slot.next_index == h.chunk_index
            && slot.buf.len() == h.chunk_offset as usize;
        if !continues {
            self.stats.orphan_chunks += 1;
            // Whatever was pending on this CPU will not be continued either.
            self.flush_slot(cpu, f);
            return;
        }
        slot.buf.extend_from_slice(chunk);
        slot.next_index = slot.next_index.wrapping_add(1);
        slot.touched = Instant::now();
        if last {
            slot.active = false;
            self.stats.segments += 1;
            deliver(&slot.header, &slot.buf, self.clock_offset, f);
        }
    }

    /// Delivers segments whose next chunk has not come for `max_wait` (lost to a full ring).
    pub(crate) fn flush_stale(
        &mut self,
        max_wait: Duration,
        f: &mut impl FnMut(&Segment<'_>, Hook),
    ) {
        for cpu in 0..self.slots.len() {
            if self.slots[cpu].active && self.slots[cpu].touched.elapsed() >= max_wait {
                self.flush_slot(cpu, f);
            }
        }
    }

    /// Delivers the pending prefix of `cpu`'s segment, if any, as an incomplete segment.
    fn flush_slot(&mut self, cpu: usize, f: &mut impl FnMut(&Segment<'_>, Hook)) {
        let slot = &mut self.slots[cpu];
        if !slot.active {
            return;
        }
        slot.active = false;
        self.stats.segments += 1;
        self.stats.incomplete_segments += 1;
        deliver(&slot.header, &slot.buf, self.clock_offset, f);
    }
}

fn deliver(
    h: &RecordHeader,
    payload: &[u8],
    clock_offset: i128,
    f: &mut impl FnMut(&Segment<'_>, Hook),
) {
    let Some(hook) = Hook::from_raw(h.hook) else {
        return;
    };
    let ts = (i128::from(h.ts_ns) + clock_offset).clamp(0, i128::from(u64::MAX)) as u64;
    let seg = Segment {
        ts: Timestamp(ts),
        src: SocketAddr::new(addr(h.family, &h.saddr), h.sport),
        dst: SocketAddr::new(addr(h.family, &h.daddr), h.dport),
        seq: h.seq,
        ack: h.ack,
        flags: h.tcp_flags,
        payload,
        wire_len: h.wire_len,
    };
    f(&seg, hook);
}

fn addr(family: u8, raw: &[u8; 16]) -> IpAddr {
    if family == 4 {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*raw))
    }
}

#[cfg(test)]
mod tests;
