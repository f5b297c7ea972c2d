//! zktraffic kernel programs: TC classifiers (ingress and egress) and an XDP program that keep
//! the TCP segments of configured ports and send them, payload included, through a ring buffer.
//!
//! The record layout is defined in `zktraffic_common::record`.
//!
//! Cost per packet matters (the target is ≤ 250 ns on a small VM), so the common case takes a
//! fast path: the headers are read by direct packet access (`data`..`data_end`, the linear part)
//! with one bounds check each, the port filter is one inlined array lookup per port, the counters
//! are one per-CPU lookup, and a small segment costs one ring reservation and one copy.
//! Packets whose headers are not all in the linear part, or that carry IPv6 extension headers,
//! take the slow path, which reads through the kernel's load-bytes helpers (these work on
//! non-linear packets: GSO/GRO, multi-buffer XDP).
//!
//! Kernel requirements of what is used here (the floor is 5.8 for the ring buffer; XDP 5.18):
//! - `BPF_MAP_TYPE_RINGBUF`, `bpf_ringbuf_reserve/submit/discard`: 5.8.
//! - `bpf_skb_load_bytes`: 4.5; direct packet access for TC: 4.7; for XDP: 4.8.
//! - `bpf_xdp_load_bytes`, `bpf_xdp_get_buff_len`, `#[xdp(frags)]`: 5.18.
//! - `bpf_ktime_get_ns`: 4.1; `bpf_get_smp_processor_id`: 4.1.
//! - Per-CPU array lookup: 4.6 (inlined by the verifier on newer kernels); read-only globals
//!   (`.rodata` maps): 5.2.
//! - Bounded loops (the chunk loop is not unrolled): 5.3.
#![no_std]
#![no_main]

use core::mem::size_of;
use core::ptr::read_volatile;

use aya_ebpf::{
    bindings::{
        BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP, TC_ACT_UNSPEC, xdp_action,
    },
    helpers::generated::{
        bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_skb_load_bytes, bpf_xdp_get_buff_len,
        bpf_xdp_load_bytes,
    },
    macros::{classifier, map, xdp},
    maps::{PerCpuArray, RingBuf},
    programs::{TcContext, XdpContext},
};
use aya_log_ebpf::debug;
use zktraffic_common::{
    ZK_CLIENT_PORT,
    record::{
        BIG_CHUNK, DEFAULT_RING_BYTES, MAX_CAPTURE, MAX_CHUNKS, MAX_PORTS, MID_CHUNK, Record,
        RecordHeader, SMALL_CHUNK, Stats, TINY_CHUNK, WAKEUP_RING_FRACTION, hook, rec_flags, stat,
    },
    tcp_flags,
};

/// Kept segments for user space; resized at load time (`--ring-bytes`).
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

/// Per-CPU counters: one entry holding all of them (one lookup per packet), indexed by
/// `zktraffic_common::record::stat`.
#[map]
static STATS: PerCpuArray<Stats> = PerCpuArray::with_max_entries(1, 0);

/// Ports to keep (host byte order), the first `PORT_COUNT` entries; set by user space before
/// load. Read-only data: a scan of one or two cache lines, no map lookup, no helper call, and
/// the verifier knows the count (frozen `.rodata`, 5.2+), so it walks only that many entries.
/// Not zero-initialised so that it stays in `.rodata`.
#[unsafe(no_mangle)]
static PORT_LIST: [u16; MAX_PORTS as usize] = [ZK_CLIENT_PORT; MAX_PORTS as usize];

/// How many entries of `PORT_LIST` are in use (1..=MAX_PORTS).
#[unsafe(no_mangle)]
static PORT_COUNT: u32 = 1;

/// Longest payload copied per segment, ≤ `MAX_CAPTURE`. Set by user space before load
/// (read-only data: the verifier sees the constant); tests lower it to exercise truncation.
#[unsafe(no_mangle)]
static CAPTURE_LIMIT: u32 = MAX_CAPTURE;

/// Ring bytes pending before a record wakes the reader (see
/// `zktraffic_common::record::GLOBAL_WAKEUP_BYTES`). Set by user space before load; not zero
/// so that it stays in `.rodata`.
#[unsafe(no_mangle)]
static WAKEUP_BYTES: u32 = DEFAULT_RING_BYTES / WAKEUP_RING_FRACTION;

/// Whether pure ACKs are sent (see `zktraffic_common::record::GLOBAL_PURE_ACKS`). Set by user
/// space before load; not zero so that it stays in `.rodata` (2 stands for "not sent").
#[unsafe(no_mangle)]
static PURE_ACKS: u32 = 2;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPPROTO_TCP: u8 = 6;
/// IPv6 extension headers walked before giving up (hop-by-hop, routing, fragment, dest opts, AH).
const MAX_IPV6_EXT: usize = 6;

/// Read access to a packet, whatever the program type.
trait Packet {
    /// Most payload bytes this program type can copy per segment.
    const MAX_COPY: u32;
    /// Start of the linear part (direct packet access).
    fn data(&self) -> usize;
    /// End of the linear part.
    fn data_end(&self) -> usize;
    /// Total packet length (linear part and fragments).
    fn len(&self) -> u32;
    /// Copies `len` bytes at `off` to `dst`; negative on error.
    ///
    /// # Safety
    /// `dst` must be valid for `len` bytes.
    unsafe fn load_raw(&self, off: u32, dst: *mut u8, len: u32) -> i64;

    /// Reads `N` bytes at `off` through the helper (slow path).
    #[inline(always)]
    fn load<const N: usize>(&self, off: u32) -> Option<[u8; N]> {
        let mut v = [0u8; N];
        // SAFETY: v is N bytes.
        let rc = unsafe { self.load_raw(off, v.as_mut_ptr(), N as u32) };
        if rc < 0 { None } else { Some(v) }
    }
}

struct Skb<'a>(&'a TcContext);

impl Packet for Skb<'_> {
    const MAX_COPY: u32 = MAX_CAPTURE;
    #[inline(always)]
    fn data(&self) -> usize {
        self.0.data()
    }
    #[inline(always)]
    fn data_end(&self) -> usize {
        self.0.data_end()
    }
    #[inline(always)]
    fn len(&self) -> u32 {
        self.0.len()
    }
    #[inline(always)]
    unsafe fn load_raw(&self, off: u32, dst: *mut u8, len: u32) -> i64 {
        // SAFETY: caller guarantees dst; skb pointer comes from the kernel.
        unsafe { bpf_skb_load_bytes(self.0.skb.skb.cast(), off, dst.cast(), len) }
    }
}

struct Xdp<'a>(&'a XdpContext);

impl Packet for Xdp<'_> {
    /// `bpf_xdp_load_bytes` refuses offsets above 0xffff (and XDP frames stay below 64 KiB).
    const MAX_COPY: u32 = 64 * 1024;
    #[inline(always)]
    fn data(&self) -> usize {
        self.0.data()
    }
    #[inline(always)]
    fn data_end(&self) -> usize {
        self.0.data_end()
    }
    #[inline(always)]
    fn len(&self) -> u32 {
        // SAFETY: plain helper call on the program's own context.
        unsafe { bpf_xdp_get_buff_len(self.0.ctx) as u32 }
    }
    #[inline(always)]
    unsafe fn load_raw(&self, off: u32, dst: *mut u8, len: u32) -> i64 {
        // SAFETY: caller guarantees dst; ctx comes from the kernel.
        unsafe { bpf_xdp_load_bytes(self.0.ctx, off, dst.cast(), len) }
    }
}

/// Why a packet was not kept.
#[derive(Clone, Copy)]
enum Skip {
    /// Not TCP over IP, a later fragment, or another port: not our business.
    Other,
    /// Claims to be TCP/IP but the headers do not add up (stage number for the debug log).
    Malformed(u8),
}

/// Outcome of the fast parser when it does not finish.
enum Fast {
    Skip(Skip),
    /// Headers beyond the linear part, or IPv6 extension headers: parse with the helpers.
    Slow,
}

impl From<Skip> for Fast {
    #[inline(always)]
    fn from(s: Skip) -> Fast {
        Fast::Skip(s)
    }
}

type Counters = *mut Stats;

#[inline(always)]
fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

#[inline(always)]
fn bump(ctr: Counters, index: u32, by: u64) {
    // SAFETY: a per-CPU map value; nothing else runs on this CPU meanwhile. The index is a
    // constant below stat::COUNT at every call site.
    unsafe { (*ctr)[index as usize] += by }
}

/// `N` bytes at `off` of the linear part, or None when they are not all there.
#[inline(always)]
fn at<const N: usize>(data: usize, end: usize, off: usize) -> Option<*const [u8; N]> {
    if data + off + N > end { None } else { Some((data + off) as *const [u8; N]) }
}

#[inline(always)]
fn is_ipv6_ext(next: u8) -> bool {
    matches!(next, 0 | 43 | 44 | 51 | 60)
}

/// Where the TCP header is and where the IP payload ends (`end`, packet offsets).
struct L4 {
    off: u32,
    end: u32,
    /// True when `end` must come from the packet length (BIG TCP, jumbograms).
    end_from_len: bool,
}

/// Checks an IPv4 header (first 20 bytes), fills the addresses and says where TCP starts.
#[inline(always)]
fn ipv4(ip: &[u8; 20], l3: u32, ctr: Counters, h: &mut RecordHeader) -> Result<L4, Skip> {
    if ip[9] != IPPROTO_TCP {
        return Err(Skip::Other);
    }
    bump(ctr, stat::SEEN, 1);
    let ihl = ((ip[0] & 0x0f) as u32) * 4;
    if ip[0] >> 4 != 4 || ihl < 20 {
        return Err(Skip::Malformed(3));
    }
    if be16([ip[6], ip[7]]) & 0x1fff != 0 {
        return Err(Skip::Other); // a later fragment: no TCP header here
    }
    let tot_len = be16([ip[2], ip[3]]) as u32;
    h.family = 4;
    h.saddr[..4].copy_from_slice(&ip[12..16]);
    h.daddr[..4].copy_from_slice(&ip[16..20]);
    // BIG TCP (IPv4 GSO > 64 KiB) leaves tot_len 0: the packet length is the truth then.
    let big = tot_len < ihl;
    Ok(L4 { off: l3 + ihl, end: l3 + tot_len, end_from_len: big })
}

/// Fills the IPv6 addresses (the header's first 40 bytes).
#[inline(always)]
fn ipv6_addrs(ip: &[u8; 40], h: &mut RecordHeader) {
    h.family = 6;
    h.saddr.copy_from_slice(&ip[8..24]);
    h.daddr.copy_from_slice(&ip[24..40]);
}

/// True when either port is in the configured list.
#[inline(always)]
fn port_wanted(sport: u16, dport: u16) -> bool {
    // SAFETY: reads of the program's read-only globals.
    let count = unsafe { read_volatile(&PORT_COUNT) } as usize;
    for i in 0..MAX_PORTS as usize {
        if i >= count {
            break;
        }
        // SAFETY: as above; i < MAX_PORTS.
        let p = unsafe { read_volatile(&PORT_LIST[i]) };
        if p == sport || p == dport {
            return true;
        }
    }
    false
}

/// The TCP header (first 20 bytes): port filter, lengths, header fields. Returns the payload's
/// packet offset; `h.wire_len` gets the payload length.
#[inline(always)]
fn tcp<P: Packet>(pkt: &P, tcp: &[u8; 20], l4: L4, h: &mut RecordHeader) -> Result<u32, Skip> {
    let sport = be16([tcp[0], tcp[1]]);
    let dport = be16([tcp[2], tcp[3]]);
    if !port_wanted(sport, dport) {
        return Err(Skip::Other);
    }
    let pkt_len = pkt.len();
    let end = if l4.end_from_len { pkt_len } else { l4.end };
    let doff = ((tcp[12] >> 4) as u32) * 4;
    let payload_off = l4.off + doff;
    if doff < 20 || end > pkt_len || payload_off > end {
        return Err(Skip::Malformed(7));
    }
    h.sport = sport;
    h.dport = dport;
    h.seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    h.ack = u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]);
    h.tcp_flags = tcp[13];
    h.wire_len = end - payload_off;
    Ok(payload_off)
}

/// Fast parser: Ethernet (≤ 2 VLAN tags), IPv4 or IPv6 without extension headers, TCP, all in
/// the linear part, read in place.
#[inline(always)]
fn parse_direct<P: Packet>(pkt: &P, ctr: Counters, h: &mut RecordHeader) -> Result<u32, Fast> {
    let (data, end) = (pkt.data(), pkt.data_end());
    let eth = at::<14>(data, end, 0).ok_or(Fast::Slow)?;
    // SAFETY (all dereferences below): `at` checked the bytes are inside the linear part.
    let mut proto = be16(unsafe { [(*eth)[12], (*eth)[13]] });
    let mut l3: usize = 14;
    if proto == ETH_P_8021Q || proto == ETH_P_8021AD {
        let tag = at::<4>(data, end, 14).ok_or(Fast::Slow)?;
        proto = be16(unsafe { [(*tag)[2], (*tag)[3]] });
        l3 = 18;
        if proto == ETH_P_8021Q || proto == ETH_P_8021AD {
            let tag = at::<4>(data, end, 18).ok_or(Fast::Slow)?;
            proto = be16(unsafe { [(*tag)[2], (*tag)[3]] });
            l3 = 22;
        }
    }
    let l4 = if proto == ETH_P_IP {
        let ip = at::<20>(data, end, l3).ok_or(Fast::Slow)?;
        ipv4(unsafe { &*ip }, l3 as u32, ctr, h)?
    } else if proto == ETH_P_IPV6 {
        let ip = at::<40>(data, end, l3).ok_or(Fast::Slow)?;
        let ip = unsafe { &*ip };
        if ip[6] != IPPROTO_TCP {
            return Err(if is_ipv6_ext(ip[6]) { Fast::Slow } else { Skip::Other.into() });
        }
        bump(ctr, stat::SEEN, 1);
        ipv6_addrs(ip, h);
        let plen = be16([ip[4], ip[5]]) as u32;
        let l4 = l3 as u32 + 40;
        // payload_len 0 means a jumbogram (BIG TCP): the packet length is the truth then.
        L4 { off: l4, end: l4 + plen, end_from_len: plen == 0 }
    } else {
        return Err(Skip::Other.into());
    };
    let t = at::<20>(data, end, l4.off as usize).ok_or(Fast::Slow)?;
    Ok(tcp(pkt, unsafe { &*t }, l4, h)?)
}

/// Slow parser, through the load-bytes helpers: headers anywhere (non-linear packets), IPv6
/// extension headers. Only called when the fast parser gave up before counting the packet.
#[inline(always)]
fn parse_loaded<P: Packet>(pkt: &P, ctr: Counters, h: &mut RecordHeader) -> Result<u32, Skip> {
    let mut off: u32 = 12;
    let mut proto = be16(pkt.load::<2>(off).ok_or(Skip::Other)?);
    for _ in 0..2 {
        if proto == ETH_P_8021Q || proto == ETH_P_8021AD {
            off += 4;
            proto = be16(pkt.load::<2>(off).ok_or(Skip::Malformed(1))?);
        }
    }
    let l3 = off + 2;
    let l4 = if proto == ETH_P_IP {
        let ip = pkt.load::<20>(l3).ok_or(Skip::Malformed(2))?;
        ipv4(&ip, l3, ctr, h)?
    } else if proto == ETH_P_IPV6 {
        let ip = pkt.load::<40>(l3).ok_or(Skip::Malformed(4))?;
        let plen = be16([ip[4], ip[5]]) as u32;
        let mut next = ip[6];
        let mut l4 = l3 + 40;
        for _ in 0..MAX_IPV6_EXT {
            match next {
                0 | 43 | 60 => {
                    let e = pkt.load::<2>(l4).ok_or(Skip::Malformed(5))?;
                    next = e[0];
                    l4 += (e[1] as u32 + 1) * 8;
                }
                44 => {
                    let e = pkt.load::<4>(l4).ok_or(Skip::Malformed(5))?;
                    if be16([e[2], e[3]]) & 0xfff8 != 0 {
                        return Err(Skip::Other); // a later fragment
                    }
                    next = e[0];
                    l4 += 8;
                }
                51 => {
                    let e = pkt.load::<2>(l4).ok_or(Skip::Malformed(5))?;
                    next = e[0];
                    l4 += (e[1] as u32 + 2) * 4;
                }
                _ => break,
            }
        }
        if next != IPPROTO_TCP {
            return Err(Skip::Other);
        }
        bump(ctr, stat::SEEN, 1);
        ipv6_addrs(&ip, h);
        L4 { off: l4, end: l3 + 40 + plen, end_from_len: plen == 0 }
    } else {
        return Err(Skip::Other);
    };
    let t = pkt.load::<20>(l4.off).ok_or(Skip::Malformed(6))?;
    tcp(pkt, &t, l4, h)
}

/// Sends one record of `N` data bytes holding `n` payload bytes from payload offset `off`
/// (`n ≤ N`, and `n > 0` when `N > 0`). Returns false when the ring is full or the copy failed
/// (the rest of the segment is dropped).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn emit<P: Packet, const N: usize>(
    pkt: &P,
    ctr: Counters,
    hdr: &RecordHeader,
    payload_off: u32,
    off: u32,
    n: u32,
    index: u32,
    last: bool,
) -> bool {
    let Some(mut entry) = EVENTS.reserve::<Record<N>>(0) else {
        bump(ctr, stat::RING_FULL, 1);
        return false;
    };
    let rec = entry.as_mut_ptr();
    // SAFETY: `rec` points to a reserved, writable Record<N>.
    unsafe {
        (*rec).header = *hdr;
        (*rec).header.chunk_offset = off;
        (*rec).header.chunk_len = n as u16;
        (*rec).header.chunk_index = index as u8;
        if last {
            (*rec).header.rec_flags |= rec_flags::LAST;
        }
    }
    if N > 0 {
        // The copy length is read back from the record (ring memory): to the verifier it is a
        // fresh, unknown value, which ends the precision chain that would otherwise run back
        // through the parser and have every parse path (IPv6 extension headers, VLANs, fast
        // and slow parser) verified separately through this loop. The mask then bounds it to
        // 1..=N on the verifier's own terms (N is a power of two).
        // SAFETY: the field was written just above.
        let n = unsafe { read_volatile(&(*rec).header.chunk_len) } as u32;
        let len = (n.wrapping_sub(1) & (N as u32 - 1)) + 1;
        // SAFETY: the data area is N bytes and len ≤ N.
        let rc = unsafe { pkt.load_raw(payload_off + off, (*rec).data.as_mut_ptr(), len) };
        if rc < 0 {
            entry.discard(0);
            bump(ctr, stat::LOAD_FAILED, 1);
            return false;
        }
    }
    entry.submit(wakeup_flag(last));
    bump(ctr, stat::RECORDS, 1);
    true
}

/// The submit flag of a record: only a segment's last record may wake the reader, and only
/// once the ring holds `WAKEUP_BYTES` (the reader polls on a tick for what stays below).
#[inline(always)]
fn wakeup_flag(last: bool) -> u64 {
    if !last {
        return BPF_RB_NO_WAKEUP as u64;
    }
    // SAFETY: a read of the program's read-only global.
    let threshold = unsafe { read_volatile(&WAKEUP_BYTES) } as u64;
    if EVENTS.query(BPF_RB_AVAIL_DATA as u64) >= threshold {
        BPF_RB_FORCE_WAKEUP as u64
    } else {
        BPF_RB_NO_WAKEUP as u64
    }
}

/// Parses the packet and, when kept, sends its segment as chained ring records.
#[inline(always)]
fn capture<P: Packet>(pkt: &P, hook: u8) -> Result<(), Skip> {
    let Some(ctr) = STATS.get_ptr_mut(0) else {
        return Err(Skip::Other);
    };
    let mut hdr = RecordHeader { hook, ..RecordHeader::default() };
    let payload_off = match parse_direct(pkt, ctr, &mut hdr) {
        Ok(off) => off,
        Err(Fast::Skip(s)) => return Err(s),
        Err(Fast::Slow) => parse_loaded(pkt, ctr, &mut hdr)?,
    };

    let wire = hdr.wire_len;
    // A pure ACK: nothing for the decoder, and a ring record saved.
    // SAFETY: a read of the program's read-only global.
    if wire == 0
        && hdr.tcp_flags & (tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST) == 0
        && unsafe { read_volatile(&PURE_ACKS) } != 1
    {
        bump(ctr, stat::PURE_ACKS, 1);
        return Ok(());
    }
    // SAFETY: a read of the program's read-only global.
    let limit = unsafe { read_volatile(&CAPTURE_LIMIT) };
    let limit = if limit > P::MAX_COPY { P::MAX_COPY } else { limit };
    let cap = if wire > limit { limit } else { wire };
    // SAFETY: per-CPU slot read.
    hdr.seg_id = unsafe { (*ctr)[stat::KEPT as usize] } as u32;
    // SAFETY: helpers without arguments (both 4.1+; the CPU id is inlined on newer kernels).
    hdr.ts_ns = unsafe { bpf_ktime_get_ns() };
    hdr.cpu = unsafe { bpf_get_smp_processor_id() } as u16;
    hdr.captured_len = cap;
    if wire > cap {
        hdr.rec_flags = rec_flags::TRUNCATED;
        bump(ctr, stat::TRUNCATED, 1);
    }

    // The full chunks before the last record, each a BIG_CHUNK record, then the last record
    // sized to what is left. The verifier walks every loop iteration: one record size in the
    // loop body (not a four-way choice) makes that 4× cheaper at load time, and counting the
    // full chunks first lets it stop at the most the program type allows (3 for XDP's 64 KiB).
    let mut off: u32 = 0;
    let mut index: u32 = 0;
    let full = if cap == 0 { 0 } else { (cap - 1) / BIG_CHUNK as u32 };
    for i in 0..MAX_CHUNKS - 1 {
        if i >= full {
            break;
        }
        let n = BIG_CHUNK as u32;
        if !emit::<P, BIG_CHUNK>(pkt, ctr, &hdr, payload_off, off, n, i, false) {
            return Ok(());
        }
        count_sent(ctr, i, n);
        off += n;
        index = i + 1;
    }
    // What is left is ≤ BIG_CHUNK: cap ≤ MAX_CHUNKS × BIG_CHUNK.
    let rest = cap - off;
    let ok = if rest == 0 {
        emit::<P, 0>(pkt, ctr, &hdr, payload_off, off, 0, index, true)
    } else if rest <= TINY_CHUNK as u32 {
        emit::<P, TINY_CHUNK>(pkt, ctr, &hdr, payload_off, off, rest, index, true)
    } else if rest <= SMALL_CHUNK as u32 {
        emit::<P, SMALL_CHUNK>(pkt, ctr, &hdr, payload_off, off, rest, index, true)
    } else if rest <= MID_CHUNK as u32 {
        emit::<P, MID_CHUNK>(pkt, ctr, &hdr, payload_off, off, rest, index, true)
    } else {
        let n = if rest > BIG_CHUNK as u32 { BIG_CHUNK as u32 } else { rest };
        emit::<P, BIG_CHUNK>(pkt, ctr, &hdr, payload_off, off, n, index, true)
    };
    if ok {
        count_sent(ctr, index, rest);
    }
    Ok(())
}

/// Counts a record sent: its payload bytes, and the segment with its first record.
#[inline(always)]
fn count_sent(ctr: Counters, index: u32, bytes: u32) {
    if index == 0 {
        bump(ctr, stat::KEPT, 1);
    }
    bump(ctr, stat::BYTES_KEPT, bytes as u64);
}

#[inline(always)]
fn note_skip(skip: Skip) -> u8 {
    match skip {
        Skip::Other => 0,
        Skip::Malformed(stage) => {
            if let Some(ctr) = STATS.get_ptr_mut(0) {
                bump(ctr, stat::PARSE_FAILED, 1);
            }
            stage
        }
    }
}

/// The TC programs' body, for `hook` (`TC_INGRESS` or `TC_EGRESS`, a constant in each program,
/// so the direction test below is folded away).
#[inline(always)]
fn tc(ctx: &TcContext, hook: u8) -> i32 {
    if let Err(skip) = capture(&Skb(ctx), hook) {
        let stage = note_skip(skip);
        if stage != 0 {
            // aya-log needs a literal format string: one per direction.
            if hook == hook::TC_INGRESS {
                debug!(ctx, "zktraffic tc ingress: malformed packet, stage {}", stage);
            } else {
                debug!(ctx, "zktraffic tc egress: malformed packet, stage {}", stage);
            }
        }
    }
    TC_ACT_UNSPEC // a passive tap: let the next program / the default action decide
}

/// TC ingress: packets received by the interface.
#[classifier]
pub fn zk_tc_ingress(ctx: TcContext) -> i32 {
    tc(&ctx, hook::TC_INGRESS)
}

/// TC egress: packets sent by the interface.
#[classifier]
pub fn zk_tc_egress(ctx: TcContext) -> i32 {
    tc(&ctx, hook::TC_EGRESS)
}

/// An empty classifier: the fixed cost of TC dispatch and BPF statistics, as a baseline for
/// the run-time measurement. Never attached by the capture.
#[classifier]
pub fn zk_tc_pass(_ctx: TcContext) -> i32 {
    TC_ACT_UNSPEC
}

/// XDP (ingress only). `frags` accepts multi-buffer frames, so native mode works on jumbo MTUs.
#[xdp(frags)]
pub fn zk_xdp(ctx: XdpContext) -> u32 {
    if let Err(skip) = capture(&Xdp(&ctx), hook::XDP) {
        let stage = note_skip(skip);
        if stage != 0 {
            debug!(&ctx, "zktraffic xdp: malformed packet, stage {}", stage);
        }
    }
    xdp_action::XDP_PASS
}

const _: () = assert!(size_of::<Stats>() == stat::COUNT as usize * 8);

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// GPL: the ring-buffer and load-bytes helpers are GPL-only.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
