//! zktraffic kernel programs: TC classifiers (ingress and egress) and an XDP program that keep
//! the TCP segments of configured ports and send them, payload included, through a ring buffer.
//!
//! The record layout is defined in `zktraffic_common::record`. Both program types share one
//! parser written against [`Packet`], which reads through the kernel's load-bytes helpers: they
//! work on non-linear packets (GSO/GRO, multi-buffer XDP) where direct packet access does not.
#![no_std]
#![no_main]

use core::mem::{MaybeUninit, size_of};

use aya_ebpf::{
    bindings::{TC_ACT_UNSPEC, xdp_action},
    helpers::generated::{
        bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_skb_load_bytes, bpf_xdp_get_buff_len,
        bpf_xdp_load_bytes,
    },
    macros::{classifier, map, xdp},
    maps::{HashMap, PerCpuArray, RingBuf},
    programs::{TcContext, XdpContext},
};
use aya_log_ebpf::debug;
use zktraffic_common::record::{
    BIG_CHUNK, DEFAULT_RING_BYTES, MAX_CAPTURE, MAX_CHUNKS, MAX_PORTS, Record, RecordHeader,
    SMALL_CHUNK, hook, rec_flags, stat,
};

/// Kept segments for user space; resized at load time (`--ring-bytes`).
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

/// Per-CPU counters, indexed by `zktraffic_common::record::stat`.
#[map]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(stat::COUNT, 0);

/// Parser output, per CPU. Going through map memory (read back with volatile loads) hides the
/// parse path from the verifier: without it, every IPv6 extension-header path is verified
/// separately through the whole chunk loop (state explosion past the 1M-instruction limit).
#[map]
static SCRATCH: PerCpuArray<Meta> = PerCpuArray::with_max_entries(1, 0);

/// Ports to keep (host byte order → 1), filled by user space.
#[map]
static PORTS: HashMap<u16, u8> = HashMap::with_max_entries(MAX_PORTS, 0);

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPPROTO_TCP: u8 = 6;
/// IPv6 extension headers walked before giving up (hop-by-hop, routing, fragment, dest opts, AH).
const MAX_IPV6_EXT: usize = 6;

/// Read access to a packet, whatever the program type.
trait Packet {
    /// Total packet length (linear part and fragments).
    fn len(&self) -> u32;
    /// Copies `len` bytes at `off` to `dst`; negative on error.
    ///
    /// # Safety
    /// `dst` must be valid for `len` bytes.
    unsafe fn load_raw(&self, off: u32, dst: *mut u8, len: u32) -> i64;

    /// Reads a plain-data value at `off`.
    #[inline(always)]
    fn load<T: Copy>(&self, off: u32) -> Option<T> {
        let mut v = MaybeUninit::<T>::uninit();
        // SAFETY: v is size_of::<T>() bytes; T is only used with byte arrays (any bits valid).
        let rc = unsafe { self.load_raw(off, v.as_mut_ptr().cast(), size_of::<T>() as u32) };
        if rc < 0 {
            return None;
        }
        // SAFETY: the helper filled all the bytes.
        Some(unsafe { v.assume_init() })
    }
}

struct Skb<'a>(&'a TcContext);

impl Packet for Skb<'_> {
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

/// What the parser learns about a TCP segment.
#[repr(C)]
#[derive(Clone, Copy)]
struct Meta {
    saddr: [u8; 16],
    daddr: [u8; 16],
    seq: u32,
    ack: u32,
    sport: u16,
    dport: u16,
    family: u8,
    flags: u8,
    payload_off: u32,
    payload_len: u32,
}

#[inline(always)]
fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

#[inline(always)]
fn bump(index: u32, by: u64) {
    if let Some(p) = STATS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe { *p += by }
    }
}

/// Parses Ethernet (≤ 2 VLAN tags), IPv4/IPv6 and TCP. `STATS[SEEN]` counts TCP/IP packets.
#[inline(always)]
fn parse<P: Packet>(pkt: &P, meta: &mut Meta) -> Result<(), Skip> {
    let pkt_len = pkt.len();
    let mut off: u32 = 12;
    let mut proto = be16(pkt.load::<[u8; 2]>(off).ok_or(Skip::Other)?);
    for _ in 0..2 {
        if proto == ETH_P_8021Q || proto == ETH_P_8021AD {
            off += 4;
            proto = be16(pkt.load::<[u8; 2]>(off).ok_or(Skip::Malformed(1))?);
        }
    }
    let l3 = off + 2;
    let (l4, end) = if proto == ETH_P_IP {
        let ip = pkt.load::<[u8; 20]>(l3).ok_or(Skip::Malformed(2))?;
        if ip[9] != IPPROTO_TCP {
            return Err(Skip::Other);
        }
        bump(stat::SEEN, 1);
        let ihl = ((ip[0] & 0x0f) as u32) * 4;
        if ip[0] >> 4 != 4 || ihl < 20 {
            return Err(Skip::Malformed(3));
        }
        if be16([ip[6], ip[7]]) & 0x1fff != 0 {
            return Err(Skip::Other); // a later fragment: no TCP header here
        }
        let tot_len = be16([ip[2], ip[3]]) as u32;
        meta.family = 4;
        meta.saddr[..4].copy_from_slice(&ip[12..16]);
        meta.daddr[..4].copy_from_slice(&ip[16..20]);
        // BIG TCP (IPv4 GSO > 64 KiB) leaves tot_len 0: the packet length is the truth then.
        let end = if tot_len >= ihl { l3 + tot_len } else { pkt_len };
        (l3 + ihl, end)
    } else if proto == ETH_P_IPV6 {
        let ip = pkt.load::<[u8; 40]>(l3).ok_or(Skip::Malformed(4))?;
        let plen = be16([ip[4], ip[5]]) as u32;
        let mut next = ip[6];
        let mut l4 = l3 + 40;
        for _ in 0..MAX_IPV6_EXT {
            match next {
                0 | 43 | 60 => {
                    let h = pkt.load::<[u8; 2]>(l4).ok_or(Skip::Malformed(5))?;
                    next = h[0];
                    l4 += (h[1] as u32 + 1) * 8;
                }
                44 => {
                    let h = pkt.load::<[u8; 4]>(l4).ok_or(Skip::Malformed(5))?;
                    if be16([h[2], h[3]]) & 0xfff8 != 0 {
                        return Err(Skip::Other); // a later fragment
                    }
                    next = h[0];
                    l4 += 8;
                }
                51 => {
                    let h = pkt.load::<[u8; 2]>(l4).ok_or(Skip::Malformed(5))?;
                    next = h[0];
                    l4 += (h[1] as u32 + 2) * 4;
                }
                _ => break,
            }
        }
        if next != IPPROTO_TCP {
            return Err(Skip::Other);
        }
        bump(stat::SEEN, 1);
        meta.family = 6;
        meta.saddr.copy_from_slice(&ip[8..24]);
        meta.daddr.copy_from_slice(&ip[24..40]);
        // payload_len 0 means a jumbogram (BIG TCP): the packet length is the truth then.
        let end = if plen != 0 { l3 + 40 + plen } else { pkt_len };
        (l4, end)
    } else {
        return Err(Skip::Other);
    };

    let tcp = pkt.load::<[u8; 20]>(l4).ok_or(Skip::Malformed(6))?;
    meta.sport = be16([tcp[0], tcp[1]]);
    meta.dport = be16([tcp[2], tcp[3]]);
    // SAFETY: the value is only tested for presence.
    let wanted = unsafe { PORTS.get(&meta.sport).is_some() || PORTS.get(&meta.dport).is_some() };
    if !wanted {
        return Err(Skip::Other);
    }
    let doff = ((tcp[12] >> 4) as u32) * 4;
    let payload_off = l4 + doff;
    if doff < 20 || end > pkt_len || payload_off > end {
        return Err(Skip::Malformed(7));
    }
    meta.seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    meta.ack = u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]);
    meta.flags = tcp[13];
    meta.payload_off = payload_off;
    meta.payload_len = end - payload_off;
    Ok(())
}

/// Sends one record of `N` data bytes holding `n ≤ N` payload bytes from `off`.
/// Returns false when the ring is full or the copy failed (the rest of the segment is dropped).
#[inline(always)]
fn emit<P: Packet, const N: usize>(
    pkt: &P,
    hdr: &RecordHeader,
    payload_off: u32,
    off: u32,
    n: u32,
    index: u32,
    last: bool,
) -> bool {
    let Some(mut entry) = EVENTS.reserve::<Record<N>>(0) else {
        bump(stat::RING_FULL, 1);
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
    if n > 0 {
        // The verifier needs 1 ≤ len ≤ N on its own terms: N is a power of two and n ≤ N here.
        let len = ((n - 1) & (N as u32 - 1)) + 1;
        // SAFETY: the data area is N bytes and len ≤ N.
        let rc = unsafe { pkt.load_raw(payload_off + off, (*rec).data.as_mut_ptr(), len) };
        if rc < 0 {
            entry.discard(0);
            bump(stat::LOAD_FAILED, 1);
            return false;
        }
    }
    entry.submit(0);
    bump(stat::RECORDS, 1);
    true
}

/// Parses the packet and, when kept, sends its segment as chained ring records.
#[inline(always)]
fn capture<P: Packet>(pkt: &P, hook: u8) -> Result<(), Skip> {
    let Some(meta) = SCRATCH.get_ptr_mut(0) else {
        return Err(Skip::Other);
    };
    // SAFETY: a per-CPU map value; nothing else runs on this CPU meanwhile.
    let meta = unsafe { &mut *meta };
    meta.saddr = [0; 16];
    meta.daddr = [0; 16];
    parse(pkt, meta)?;

    // SAFETY: reads of the map value just written (volatile so they are real loads).
    let (wire, payload_off) = unsafe {
        (core::ptr::read_volatile(&meta.payload_len), core::ptr::read_volatile(&meta.payload_off))
    };
    let cap = if wire > MAX_CAPTURE { MAX_CAPTURE } else { wire };
    let seg_id = match STATS.get_ptr(stat::KEPT) {
        // SAFETY: per-CPU slot read.
        Some(p) => (unsafe { *p }) as u32,
        None => 0,
    };
    let mut hdr = RecordHeader {
        // SAFETY: helpers without arguments.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        saddr: meta.saddr,
        daddr: meta.daddr,
        seq: meta.seq,
        ack: meta.ack,
        wire_len: wire,
        captured_len: cap,
        chunk_offset: 0,
        seg_id,
        sport: meta.sport,
        dport: meta.dport,
        chunk_len: 0,
        // SAFETY: as above.
        cpu: unsafe { bpf_get_smp_processor_id() } as u16,
        family: meta.family,
        hook,
        tcp_flags: meta.flags,
        rec_flags: 0,
        chunk_index: 0,
        _pad: [0; 3],
    };
    if wire > MAX_CAPTURE {
        hdr.rec_flags = rec_flags::TRUNCATED;
        bump(stat::TRUNCATED, 1);
    }

    let mut off: u32 = 0;
    let mut sent: u32 = 0;
    for i in 0..MAX_CHUNKS {
        let remaining = cap - off;
        let ok = if remaining <= SMALL_CHUNK as u32 {
            emit::<P, SMALL_CHUNK>(pkt, &hdr, payload_off, off, remaining, i, true)
        } else {
            let n = if remaining > BIG_CHUNK as u32 { BIG_CHUNK as u32 } else { remaining };
            let last = n == remaining;
            emit::<P, BIG_CHUNK>(pkt, &hdr, payload_off, off, n, i, last)
        };
        if !ok {
            break;
        }
        if i == 0 {
            bump(stat::KEPT, 1);
        }
        let n = if remaining > BIG_CHUNK as u32 { BIG_CHUNK as u32 } else { remaining };
        off += n;
        sent += n;
        if off >= cap {
            break;
        }
    }
    bump(stat::BYTES_KEPT, sent as u64);
    Ok(())
}

#[inline(always)]
fn note_skip(skip: Skip) -> u8 {
    match skip {
        Skip::Other => 0,
        Skip::Malformed(stage) => {
            bump(stat::PARSE_FAILED, 1);
            stage
        }
    }
}

/// TC ingress: packets received by the interface.
#[classifier]
pub fn zk_tc_ingress(ctx: TcContext) -> i32 {
    if let Err(skip) = capture(&Skb(&ctx), hook::TC_INGRESS) {
        let stage = note_skip(skip);
        if stage != 0 {
            debug!(&ctx, "zktraffic tc ingress: malformed packet, stage {}", stage);
        }
    }
    TC_ACT_UNSPEC // a passive tap: let the next program / the default action decide
}

/// TC egress: packets sent by the interface.
#[classifier]
pub fn zk_tc_egress(ctx: TcContext) -> i32 {
    if let Err(skip) = capture(&Skb(&ctx), hook::TC_EGRESS) {
        let stage = note_skip(skip);
        if stage != 0 {
            debug!(&ctx, "zktraffic tc egress: malformed packet, stage {}", stage);
        }
    }
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

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// GPL: the ring-buffer and load-bytes helpers are GPL-only.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
