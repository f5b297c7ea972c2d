//! The kernel → user ring-buffer record layout.
//!
//! Every kept TCP segment becomes one or more ring records. A record is a [`RecordHeader`]
//! followed by a fixed-size data area of one of four tiers: none for a segment without payload
//! (SYN, FIN, pure ACK: reassembly needs their sequence and acknowledgement numbers),
//! [`SMALL_CHUNK`] bytes (most ZooKeeper messages), [`MID_CHUNK`] bytes (an MTU-sized segment)
//! and [`BIG_CHUNK`] bytes (GSO/GRO segments, taken in pieces). A segment's last record uses the
//! smallest tier its tail fits. The verifier only accepts ring reservations of constant size,
//! hence fixed tiers instead of exact lengths; user space tells them apart by the record length
//! and reads `chunk_len` bytes of data.
//!
//! A segment whose payload needs several records is sent as consecutive chunks from the same CPU
//! (chunk 0 first); records of other CPUs may interleave. All chunks of a segment carry the same
//! `cpu`, `seg_id` and header fields; only `chunk_index`, `chunk_offset`, `chunk_len` and the
//! [`rec_flags::LAST`] bit differ. User space rebuilds the segment from them.
//!
//! All multi-byte integers are in host byte order, except the addresses, which are the raw
//! network-order bytes (IPv4 in the first 4 bytes, the rest zero).

/// Largest payload copied per segment; longer payloads are cut and marked [`rec_flags::TRUNCATED`].
///
/// 256 KiB: loopback does BIG TCP (`tso_max_size` 512 KiB; segments a little above 64 KiB are
/// common there), GRO on veth and NICs stays at 64 KiB. The loader may set a lower limit.
pub const MAX_CAPTURE: u32 = 256 * 1024;
/// Data bytes of a large record.
pub const BIG_CHUNK: usize = 16 * 1024;
/// Data bytes of a medium record (an MTU-1500 segment fits).
pub const MID_CHUNK: usize = 2048;
/// Data bytes of a tiny record (a ZooKeeper ping, a short reply).
pub const TINY_CHUNK: usize = 64;
/// Data bytes of a small record. Powers of two let the kernel bound copy lengths with a mask.
pub const SMALL_CHUNK: usize = 256;
/// Most records one segment can take.
pub const MAX_CHUNKS: u32 = MAX_CAPTURE / BIG_CHUNK as u32;

/// Default ring-buffer size in bytes.
///
/// Cost note: each record is written into ring memory last touched one ring-wrap earlier, so
/// with a ring larger than the caches every record starts with cache misses, exposed by the
/// atomic commit. On the 2-vCPU test VM the measured difference between 256 KiB and 16 MiB
/// rings was within the noise once small records became 152 bytes (64-byte tier); before that
/// it was up to 200 ns per packet. Smaller rings absorb shorter user-space stalls.
pub const DEFAULT_RING_BYTES: u32 = 16 * 1024 * 1024;

/// Name of the ring-buffer map.
pub const MAP_EVENTS: &str = "EVENTS";
/// Name of the per-CPU counter map.
pub const MAP_STATS: &str = "STATS";
/// Name of the kernel global listing the ports to keep (`[u16; MAX_PORTS]`, host byte order),
/// set before load.
pub const GLOBAL_PORT_LIST: &str = "PORT_LIST";
/// Name of the kernel global saying how many entries of the port list are used (`u32`).
pub const GLOBAL_PORT_COUNT: &str = "PORT_COUNT";
/// Most ports the configuration may name.
pub const MAX_PORTS: u32 = 64;
/// Name of the kernel global holding the per-segment capture limit (`u32`, ≤ [`MAX_CAPTURE`]).
pub const GLOBAL_CAPTURE_LIMIT: &str = "CAPTURE_LIMIT";
/// Name of the kernel global holding the wakeup threshold (`u32`, bytes): a record wakes the
/// reader only when the ring holds at least this much; below it the reader polls on a tick.
///
/// Why: with the ring buffer's default (adaptive) notification, every record that finds the
/// reader caught up wakes it through an `irq_work` self-interrupt, which costs microseconds per
/// packet in the kernel program (a VM exit on virtual machines) and a reader wakeup per packet
/// in user space. Batching the wakeups makes both per-batch costs.
pub const GLOBAL_WAKEUP_BYTES: &str = "WAKEUP_BYTES";
/// Name of the kernel global saying whether pure ACKs are sent (`u32`, 0 or 1; default 0).
///
/// Why not: a segment with no payload and no SYN, FIN or RST carries nothing the decoder uses,
/// and under pipelined load such ACKs are a large share of the packets, each costing a ring
/// record. Reassembly uses a peer's ACK only to declare, at once, a hole the capture lost below
/// it (the peer did receive those bytes); the data segments' own ACK fields still do that, and
/// the holes of a one-way stream are declared when its next data arrives or the connection
/// ends. `--write-pcap` (a copy of the traffic) and `--keep-pure-acks` send them.
pub const GLOBAL_PURE_ACKS: &str = "PURE_ACKS";
/// The wakeup threshold as a fraction of the ring: an eighth, so a burst fills at most that
/// much before the reader is woken, leaving the rest of the ring as headroom.
pub const WAKEUP_RING_FRACTION: u32 = 8;

/// Program names, as user space looks them up.
pub mod programs {
    /// TC classifier for ingress.
    pub const TC_INGRESS: &str = "zk_tc_ingress";
    /// TC classifier for egress.
    pub const TC_EGRESS: &str = "zk_tc_egress";
    /// XDP program.
    pub const XDP: &str = "zk_xdp";
    /// An empty TC classifier: the baseline of run-time measurements (never attached by the
    /// capture).
    pub const TC_PASS: &str = "zk_tc_pass";
}

/// Where a record was captured ([`RecordHeader::hook`]).
pub mod hook {
    /// TC ingress (packet received).
    pub const TC_INGRESS: u8 = 1;
    /// TC egress (packet sent).
    pub const TC_EGRESS: u8 = 2;
    /// XDP (received, before the stack).
    pub const XDP: u8 = 3;
}

/// Bits of [`RecordHeader::rec_flags`].
pub mod rec_flags {
    /// The payload was longer than the capture limit (at most [`super::MAX_CAPTURE`]); only
    /// `captured_len` bytes follow.
    pub const TRUNCATED: u8 = 0x01;
    /// This is the segment's last record.
    pub const LAST: u8 = 0x02;
}

/// The per-CPU counters: the `STATS` map's only value, indexed by [`stat`].
pub type Stats = [u64; stat::COUNT as usize];

/// Indices of the per-CPU counters in the `STATS` map's value.
pub mod stat {
    /// TCP/IP packets looked at (any port).
    pub const SEEN: u32 = 0;
    /// Segments kept (port matched) and sent, at least their first record.
    pub const KEPT: u32 = 1;
    /// Payload bytes sent to user space.
    pub const BYTES_KEPT: u32 = 2;
    /// Segments (or segment tails) lost because the ring buffer was full.
    pub const RING_FULL: u32 = 3;
    /// Segments whose payload exceeded the capture limit (at most [`super::MAX_CAPTURE`]).
    pub const TRUNCATED: u32 = 4;
    /// Packets whose headers could not be parsed (cut short, bad lengths).
    pub const PARSE_FAILED: u32 = 5;
    /// Ring records sent.
    pub const RECORDS: u32 = 6;
    /// Payload copies the kernel refused (should stay 0).
    pub const LOAD_FAILED: u32 = 7;
    /// Pure ACKs (no payload, no SYN, FIN or RST) of kept ports not sent (see
    /// [`super::GLOBAL_PURE_ACKS`]).
    pub const PURE_ACKS: u32 = 8;
    /// Number of counters.
    pub const COUNT: u32 = 9;
}

/// Header of every ring record (80 bytes, 8-byte aligned).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordHeader {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) when the segment was seen.
    pub ts_ns: u64,
    /// Source address, network byte order; IPv4 uses the first 4 bytes.
    pub saddr: [u8; 16],
    /// Destination address, as `saddr`.
    pub daddr: [u8; 16],
    /// TCP sequence number.
    pub seq: u32,
    /// TCP acknowledgement number.
    pub ack: u32,
    /// Payload length on the wire.
    pub wire_len: u32,
    /// Payload bytes the kernel sends for this segment (≤ `wire_len`, ≤ [`MAX_CAPTURE`]).
    pub captured_len: u32,
    /// Offset of this record's data within the payload.
    pub chunk_offset: u32,
    /// Per-CPU segment counter: with `cpu`, identifies the segment the chunk belongs to.
    pub seg_id: u32,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Valid data bytes in this record.
    pub chunk_len: u16,
    /// CPU the program ran on.
    pub cpu: u16,
    /// 4 or 6.
    pub family: u8,
    /// See [`hook`].
    pub hook: u8,
    /// TCP flags byte.
    pub tcp_flags: u8,
    /// See [`rec_flags`].
    pub rec_flags: u8,
    /// Index of this record within the segment (0-based).
    pub chunk_index: u8,
    /// Padding, zero.
    pub _pad: [u8; 3],
}

/// A ring record: header plus `N` data bytes, of which `header.chunk_len` are valid.
#[repr(C)]
pub struct Record<const N: usize> {
    /// The header.
    pub header: RecordHeader,
    /// The payload chunk.
    pub data: [u8; N],
}

/// Size of a header-only record (a segment without payload).
pub const HEADER_RECORD: usize = core::mem::size_of::<Record<0>>();
/// Size of a small record in the ring.
pub const SMALL_RECORD: usize = core::mem::size_of::<Record<SMALL_CHUNK>>();
/// Size of a medium record in the ring.
pub const MID_RECORD: usize = core::mem::size_of::<Record<MID_CHUNK>>();
/// Size of a big record in the ring.
pub const BIG_RECORD: usize = core::mem::size_of::<Record<BIG_CHUNK>>();

const _: () = assert!(core::mem::size_of::<RecordHeader>() == 80);
const _: () = assert!(HEADER_RECORD == 80 && SMALL_RECORD == 336);
const _: () = assert!(MID_RECORD == 2128 && BIG_RECORD == 16_464);
const _: () = assert!(SMALL_CHUNK.is_power_of_two() && SMALL_CHUNK < MID_CHUNK);
const _: () = assert!(MID_CHUNK.is_power_of_two() && MID_CHUNK < BIG_CHUNK);
const _: () = assert!(MAX_CHUNKS as usize * BIG_CHUNK == MAX_CAPTURE as usize);
const _: () = assert!(BIG_CHUNK.is_power_of_two() && BIG_CHUNK <= u16::MAX as usize);
const _: () = assert!(MAX_CHUNKS < 256);

impl RecordHeader {
    /// Parses a header from the start of a ring record (no alignment assumed).
    pub fn read_from(bytes: &[u8]) -> Option<RecordHeader> {
        if bytes.len() < core::mem::size_of::<RecordHeader>() {
            return None;
        }
        // SAFETY: length checked above; RecordHeader is plain old data with no invalid bit
        // patterns, and read_unaligned accepts any alignment.
        Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<RecordHeader>()) })
    }
}

#[cfg(feature = "user")]
// SAFETY: repr(C), Copy, no padding the compiler adds (explicit `_pad`), every bit pattern valid.
unsafe impl aya::Pod for RecordHeader {}
