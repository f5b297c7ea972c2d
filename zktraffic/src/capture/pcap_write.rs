//! Writing pcap and pcapng files, and building synthetic TCP frames.
//!
//! Used by tests, by the benchmark generator and by `dump --write-pcap`.
//!
//! Why hand-written: pcap-parser (already our reader) can serialize only behind its `serialize`
//! feature, which pulls in cookie-factory, allocates a `Vec` per block and makes the caller fill
//! in block lengths; pcap-file 2 writes well but would be a second pcap parser in the tree. Both
//! formats are a few fixed little headers, so ~150 lines here cost less than either, allocate
//! nothing per packet and are checked against tcpdump in the tests.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use etherparse::{PacketBuilder, TcpHeader};
use pcap_parser::pcapng::{BOM_MAGIC, EPB_MAGIC, IDB_MAGIC, OptionCode, SHB_MAGIC, SPB_MAGIC};
use zktraffic_common::tcp_flags;

use crate::Timestamp;

/// pcap link type of Ethernet frames.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Default snap length: the largest libpcap uses, so nothing is cut.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// Layout choices of a classic pcap file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapFormat {
    /// Link type of every frame (see [`super::link::LinkType::code`]).
    pub link_type: u32,
    /// Frames longer than this are cut to it (their original length is kept in the record).
    pub snaplen: u32,
    /// Nanosecond timestamps (magic `a1b23c4d`) instead of microseconds.
    pub nanos: bool,
    /// Write big-endian (as a big-endian host would) instead of little-endian.
    pub big_endian: bool,
}

impl Default for PcapFormat {
    fn default() -> Self {
        PcapFormat {
            link_type: LINKTYPE_ETHERNET,
            snaplen: DEFAULT_SNAPLEN,
            nanos: false,
            big_endian: false,
        }
    }
}

/// Writes a classic pcap file (by default: Ethernet, microsecond timestamps, little-endian).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    format: PcapFormat,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header for the default format (Ethernet, µs, little-endian).
    pub fn new(out: W) -> io::Result<Self> {
        Self::with_format(out, PcapFormat::default())
    }

    /// Writes the file header for `format`.
    pub fn with_format(mut out: W, format: PcapFormat) -> io::Result<Self> {
        let e = Endian(format.big_endian);
        let magic: u32 = if format.nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&e.u32(magic));
        header[4..6].copy_from_slice(&e.u16(2));
        header[6..8].copy_from_slice(&e.u16(4));
        // 8..16: thiszone and sigfigs, always 0.
        header[16..20].copy_from_slice(&e.u32(format.snaplen));
        header[20..24].copy_from_slice(&e.u32(format.link_type));
        out.write_all(&header)?;
        Ok(PcapWriter { out, format })
    }

    /// Writes one frame captured at `ts`, cut to the snap length.
    pub fn write_packet(&mut self, ts: Timestamp, frame: &[u8]) -> io::Result<()> {
        let orig_len = len_u32(frame.len())?;
        let captured = &frame[..frame.len().min(self.format.snaplen as usize)];
        self.write_record(ts, captured, orig_len)
    }

    /// Writes one record as is: `captured` bytes of a frame that was `orig_len` bytes long.
    pub fn write_record(
        &mut self,
        ts: Timestamp,
        captured: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let e = Endian(self.format.big_endian);
        let secs = u32::try_from(ts.secs()).map_err(|_| {
            invalid("timestamp after 2106 does not fit a classic pcap record; use pcapng")
        })?;
        let frac = if self.format.nanos { ts.subsec_nanos() } else { ts.subsec_nanos() / 1000 };
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&e.u32(secs));
        header[4..8].copy_from_slice(&e.u32(frac));
        header[8..12].copy_from_slice(&e.u32(len_u32(captured.len())?));
        header[12..16].copy_from_slice(&e.u32(orig_len));
        self.out.write_all(&header)?;
        self.out.write_all(captured)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer (e.g. to append hand-made records in tests).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Returns the underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One pcapng interface (Interface Description Block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NgInterface {
    /// Link type of the interface's frames.
    pub link_type: u16,
    /// Frames longer than this are cut to it; 0 means no limit.
    pub snaplen: u32,
    /// `if_tsresol`: a power of ten (e.g. 9 = ns) or, with the top bit set, a power of two.
    pub tsresol: u8,
    /// `if_tsoffset`: seconds added to every timestamp of the interface.
    pub tsoffset: i64,
}

impl Default for NgInterface {
    /// Ethernet, no snap length, nanosecond timestamps, no offset.
    fn default() -> Self {
        NgInterface { link_type: LINKTYPE_ETHERNET as u16, snaplen: 0, tsresol: 9, tsoffset: 0 }
    }
}

/// Writes a pcapng file: Section Header Blocks, Interface Description Blocks and Enhanced (or
/// Simple) Packet Blocks.
#[derive(Debug)]
pub struct PcapNgWriter<W: Write> {
    out: W,
    big_endian: bool,
    interfaces: Vec<NgInterface>,
}

impl<W: Write> PcapNgWriter<W> {
    /// Writes a little-endian section with one Ethernet interface (id 0) with nanosecond
    /// timestamps.
    pub fn new(out: W) -> io::Result<Self> {
        let mut writer = Self::empty(out, false)?;
        writer.add_interface(NgInterface::default())?;
        Ok(writer)
    }

    /// Writes a section header only; add interfaces before writing packets.
    pub fn empty(out: W, big_endian: bool) -> io::Result<Self> {
        let mut writer = PcapNgWriter { out, big_endian, interfaces: Vec::new() };
        writer.start_section()?;
        Ok(writer)
    }

    /// Starts a new section (in this writer's byte order); interface ids start again at 0.
    pub fn start_section(&mut self) -> io::Result<()> {
        let e = Endian(self.big_endian);
        let mut body = [0u8; 16];
        body[0..4].copy_from_slice(&e.u32(BOM_MAGIC));
        body[4..6].copy_from_slice(&e.u16(1));
        body[6..8].copy_from_slice(&e.u16(0));
        // Section length unknown (-1): we stream.
        body[8..16].copy_from_slice(&e.i64(-1));
        self.interfaces.clear();
        self.write_block(SHB_MAGIC, &[&body])
    }

    /// Describes a new interface in the current section and returns its id.
    pub fn add_interface(&mut self, interface: NgInterface) -> io::Result<u32> {
        units_per_sec(interface.tsresol).ok_or_else(|| invalid("if_tsresol out of range"))?;
        let e = Endian(self.big_endian);
        let mut body = [0u8; 8 + 8 + 12 + 4];
        body[0..2].copy_from_slice(&e.u16(interface.link_type));
        // 2..4 reserved.
        body[4..8].copy_from_slice(&e.u32(interface.snaplen));
        body[8..10].copy_from_slice(&e.u16(OptionCode::IfTsresol.0));
        body[10..12].copy_from_slice(&e.u16(1));
        body[12] = interface.tsresol;
        // 13..16 padding.
        body[16..18].copy_from_slice(&e.u16(OptionCode::IfTsoffset.0));
        body[18..20].copy_from_slice(&e.u16(8));
        body[20..28].copy_from_slice(&e.i64(interface.tsoffset));
        body[28..30].copy_from_slice(&e.u16(OptionCode::EndOfOpt.0));
        // 30..32: end-of-options length 0.
        self.write_block(IDB_MAGIC, &[&body])?;
        self.interfaces.push(interface);
        len_u32(self.interfaces.len() - 1)
    }

    /// Writes one frame captured at `ts` on interface `if_id`, cut to its snap length.
    pub fn write_packet(&mut self, if_id: u32, ts: Timestamp, frame: &[u8]) -> io::Result<()> {
        self.write_record(if_id, ts, frame, frame.len())
    }

    /// Writes a frame of which only `captured` was kept, `orig_len` bytes long on the wire.
    pub fn write_record(
        &mut self,
        if_id: u32,
        ts: Timestamp,
        frame: &[u8],
        orig_len: usize,
    ) -> io::Result<()> {
        let interface = *self
            .interfaces
            .get(if_id as usize)
            .ok_or_else(|| invalid("packet for an interface not described in this section"))?;
        let captured = cut(frame, interface.snaplen);
        // Units since the epoch minus the interface's offset; u128 so no product overflows.
        let units_per_sec = u128::from(units_per_sec(interface.tsresol).unwrap_or(1_000_000));
        let since_offset = i128::from(ts.0) - i128::from(interface.tsoffset) * 1_000_000_000;
        let since_offset = u128::try_from(since_offset)
            .map_err(|_| invalid("timestamp before the interface's if_tsoffset"))?;
        let units = u64::try_from(since_offset * units_per_sec / 1_000_000_000)
            .map_err(|_| invalid("timestamp does not fit 64 bits at this resolution"))?;
        let e = Endian(self.big_endian);
        let mut header = [0u8; 20];
        header[0..4].copy_from_slice(&e.u32(if_id));
        header[4..8].copy_from_slice(&e.u32((units >> 32) as u32));
        header[8..12].copy_from_slice(&e.u32(units as u32));
        header[12..16].copy_from_slice(&e.u32(len_u32(captured.len())?));
        header[16..20].copy_from_slice(&e.u32(len_u32(orig_len.max(frame.len()))?));
        self.write_block(EPB_MAGIC, &[&header, captured])
    }

    /// Writes one frame as a Simple Packet Block (interface 0, no timestamp).
    pub fn write_simple_packet(&mut self, frame: &[u8]) -> io::Result<()> {
        let interface = *self
            .interfaces
            .first()
            .ok_or_else(|| invalid("simple packet block before any interface"))?;
        let captured = cut(frame, interface.snaplen);
        let e = Endian(self.big_endian);
        self.write_block(SPB_MAGIC, &[&e.u32(len_u32(frame.len())?), captured])
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer (e.g. to append hand-made records in tests).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Returns the underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Block = type, total length, body padded to 4 bytes, total length again.
    fn write_block(&mut self, block_type: u32, body: &[&[u8]]) -> io::Result<()> {
        let body_len: usize = body.iter().map(|part| part.len()).sum();
        let padding = (4 - body_len % 4) % 4;
        let total = len_u32(12 + body_len + padding)?;
        let e = Endian(self.big_endian);
        self.out.write_all(&e.u32(block_type))?;
        self.out.write_all(&e.u32(total))?;
        for part in body {
            self.out.write_all(part)?;
        }
        self.out.write_all(&[0u8; 3][..padding])?;
        self.out.write_all(&e.u32(total))
    }
}

/// Units per second for an `if_tsresol` value, `None` when out of range.
pub(crate) fn units_per_sec(tsresol: u8) -> Option<u64> {
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(u32::from(tsresol))
    } else {
        1u64.checked_shl(u32::from(tsresol & 0x7f))
    }
}

fn cut(frame: &[u8], snaplen: u32) -> &[u8] {
    if snaplen == 0 { frame } else { &frame[..frame.len().min(snaplen as usize)] }
}

fn len_u32(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| invalid("frame longer than 4 GiB"))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

/// Byte order of the file being written.
#[derive(Clone, Copy)]
struct Endian(bool);

impl Endian {
    fn u16(self, v: u16) -> [u8; 2] {
        if self.0 { v.to_be_bytes() } else { v.to_le_bytes() }
    }
    fn u32(self, v: u32) -> [u8; 4] {
        if self.0 { v.to_be_bytes() } else { v.to_le_bytes() }
    }
    fn i64(self, v: i64) -> [u8; 8] {
        if self.0 { v.to_be_bytes() } else { v.to_le_bytes() }
    }
}

/// Why [`FrameBuilder`] could not build a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameBuildError {
    /// Source and destination must both be IPv4 or both IPv6.
    #[error("source {src} and destination {dst} are not of the same IP version")]
    MixedFamilies {
        /// The source address.
        src: SocketAddr,
        /// The destination address.
        dst: SocketAddr,
    },
    /// etherparse refused the packet (payload too long for the IP length field, …).
    #[error("cannot build the frame: {0}")]
    Build(String),
}

/// Builds realistic Ethernet (optionally VLAN-tagged) / IPv4-or-IPv6 / TCP frames with correct
/// lengths and checksums, for tests and benchmarks.
///
/// ```
/// use zktraffic::FrameBuilder;
/// let frame = FrameBuilder::new("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:2181".parse().unwrap())
///     .seq(1000).ack(7).flags(0x18).payload(b"hello").ethernet().unwrap();
/// assert_eq!(frame.len(), 14 + 20 + 20 + 5);
/// ```
#[derive(Clone, Debug)]
pub struct FrameBuilder<'a> {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &'a [u8],
    vlans: Vec<u16>,
}

impl<'a> FrameBuilder<'a> {
    /// A segment from `src` to `dst`: seq 0, ack 0, flags PSH|ACK, no payload, no VLAN tag.
    pub fn new(src: SocketAddr, dst: SocketAddr) -> Self {
        FrameBuilder {
            src,
            dst,
            seq: 0,
            ack: 0,
            flags: tcp_flags::PSH | tcp_flags::ACK,
            payload: &[],
            vlans: Vec::new(),
        }
    }

    /// Sets the sequence number.
    pub fn seq(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }

    /// Sets the acknowledgement number (written even when the ACK flag is clear).
    pub fn ack(mut self, ack: u32) -> Self {
        self.ack = ack;
        self
    }

    /// Sets the flags byte (see [`zktraffic_common::tcp_flags`]).
    pub fn flags(mut self, flags: u8) -> Self {
        self.flags = flags;
        self
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: &'a [u8]) -> Self {
        self.payload = payload;
        self
    }

    /// VLAN ids to tag the Ethernet frame with, outermost first (with two or more, the outer
    /// tag is 802.1ad, the others 802.1Q).
    pub fn vlans(mut self, vlans: &[u16]) -> Self {
        self.vlans = vlans.to_vec();
        self
    }

    /// The IP packet alone (for raw-IP, SLL or loopback link types).
    pub fn ip_packet(&self) -> Result<Vec<u8>, FrameBuildError> {
        let mut out = Vec::new();
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64)
                .tcp_header(self.tcp_header())
                .write(&mut out, self.payload),
            (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64)
                .tcp_header(self.tcp_header())
                .write(&mut out, self.payload),
            _ => return Err(self.mixed()),
        }
        .map_err(|e| FrameBuildError::Build(e.to_string()))?;
        Ok(out)
    }

    /// The whole Ethernet frame (locally administered MACs 02:00:00:00:00:01 → …:02).
    pub fn ethernet(&self) -> Result<Vec<u8>, FrameBuildError> {
        let ip = self.ip_packet()?;
        let ethertype: u16 = if self.src.is_ipv4() { 0x0800 } else { 0x86dd };
        let mut out = Vec::with_capacity(14 + 4 * self.vlans.len() + ip.len());
        out.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        for (i, vid) in self.vlans.iter().enumerate() {
            // Outer tag of a double-tagged frame is 802.1ad, as switches write it.
            let tpid: u16 = if i == 0 && self.vlans.len() > 1 { 0x88a8 } else { 0x8100 };
            out.extend_from_slice(&tpid.to_be_bytes());
            out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
        }
        out.extend_from_slice(&ethertype.to_be_bytes());
        out.extend_from_slice(&ip);
        Ok(out)
    }

    fn tcp_header(&self) -> TcpHeader {
        let mut tcp = TcpHeader::new(self.src.port(), self.dst.port(), self.seq, 65_535);
        tcp.acknowledgment_number = self.ack;
        tcp.fin = self.flags & tcp_flags::FIN != 0;
        tcp.syn = self.flags & tcp_flags::SYN != 0;
        tcp.rst = self.flags & tcp_flags::RST != 0;
        tcp.psh = self.flags & tcp_flags::PSH != 0;
        tcp.ack = self.flags & tcp_flags::ACK != 0;
        tcp
    }

    fn mixed(&self) -> FrameBuildError {
        FrameBuildError::MixedFamilies { src: self.src, dst: self.dst }
    }
}

/// Saves captured segments as pcapng (`dump --write-pcap`). Live capture hands over TCP
/// segments, not link frames, so each is written as an Ethernet frame rebuilt from its
/// addresses, ports, sequence numbers, flags and payload; a segment whose payload was cut short
/// is written cut short too (captured length < original length), so reading the file back
/// shows the same gap.
pub struct SegmentRecorder<W: Write> {
    ng: PcapNgWriter<W>,
    /// Payload padded to its wire length, reused between segments.
    buf: Vec<u8>,
}

impl<W: Write> SegmentRecorder<W> {
    /// Starts a pcapng file with one Ethernet interface (nanosecond timestamps).
    pub fn new(out: W) -> io::Result<Self> {
        Ok(SegmentRecorder { ng: PcapNgWriter::new(out)?, buf: Vec::new() })
    }

    /// Appends one segment.
    ///
    /// Segments too long for the IP length field (GSO/BIG TCP on loopback hands TC up to
    /// 256 KiB) are written as Linux captures them under segmentation offload: IPv4 total
    /// length 0, IPv6 payload length 0, the true length in the record's original length (which
    /// our reader, tcpdump and Wireshark fall back to); their TCP checksum is not recomputed.
    pub fn record(&mut self, seg: &crate::capture::Segment<'_>) -> io::Result<()> {
        let wire_len = (seg.wire_len as usize).max(seg.payload.len());
        let builder =
            FrameBuilder::new(seg.src, seg.dst).seq(seg.seq).ack(seg.ack).flags(seg.flags);
        // IPv4's total length counts its own header, IPv6's payload length does not.
        let length_field_overhead = if seg.src.is_ipv4() { 20 + 20 } else { 20 };
        if wire_len + length_field_overhead > usize::from(u16::MAX) {
            let mut frame = builder.ethernet().map_err(io::Error::other)?;
            let headers = frame.len();
            zero_ip_length(&mut frame[ETHERNET_HEADER..]);
            frame.extend_from_slice(seg.payload);
            return self.ng.write_record(0, seg.ts, &frame, headers + wire_len);
        }
        self.buf.clear();
        self.buf.extend_from_slice(seg.payload);
        // Build the frame with its real length so the IP header says how long it was.
        self.buf.resize(wire_len, 0);
        let frame = builder.payload(&self.buf).ethernet().map_err(io::Error::other)?;
        let captured = frame.len() - (wire_len - seg.payload.len());
        self.ng.write_record(0, seg.ts, &frame[..captured], frame.len())
    }

    /// Flushes the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.ng.flush()
    }
}

/// Length of the untagged Ethernet header [`FrameBuilder::ethernet`] writes.
const ETHERNET_HEADER: usize = 14;

/// Sets the length field of the IP header at the start of `ip` to 0 (IPv4: and fixes the
/// header checksum), the offload convention for "longer than the field can say".
fn zero_ip_length(ip: &mut [u8]) {
    if ip[0] >> 4 == 4 {
        ip[2..4].fill(0);
        ip[10..12].fill(0);
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let sum = ip[..ihl]
            .chunks_exact(2)
            .fold(0u32, |acc, w| acc + u32::from(u16::from_be_bytes([w[0], w[1]])));
        let folded = (sum & 0xffff) + (sum >> 16);
        let folded = (folded & 0xffff) + (folded >> 16);
        ip[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
    } else {
        ip[4..6].fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use crate::capture::Segment;
    use crate::capture::pcap::CaptureReader;

    fn segment(
        src: &str,
        dst: &str,
        payload: &'static [u8],
        wire_len: u32,
        seq: u32,
    ) -> Segment<'static> {
        Segment {
            ts: Timestamp::from_parts(1_700_000_000, 123_456_789),
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq,
            ack: 77,
            flags: 0x18,
            payload,
            wire_len,
        }
    }

    fn round_trip(written: &[Segment<'_>]) {
        let mut rec = SegmentRecorder::new(Vec::new()).unwrap();
        for s in written {
            rec.record(s).unwrap();
        }
        rec.flush().unwrap();
        let bytes = rec.ng.into_inner();
        let mut reader =
            CaptureReader::from_reader("rec".into(), Box::new(io::Cursor::new(bytes))).unwrap();
        let mut read = Vec::new();
        reader
            .for_each_segment(|s| {
                read.push((
                    s.ts,
                    s.src,
                    s.dst,
                    s.seq,
                    s.ack,
                    s.flags,
                    s.payload.to_vec(),
                    s.wire_len,
                ))
            })
            .unwrap();
        let expected: Vec<_> = written
            .iter()
            .map(|s| (s.ts, s.src, s.dst, s.seq, s.ack, s.flags, s.payload.to_vec(), s.wire_len))
            .collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn recorded_segments_read_back_identically_including_truncation() {
        let (c, s) = ("[2001:db8::2]:40000", "[2001:db8::1]:2181");
        round_trip(&[segment(c, s, b"hello", 5, 1), segment(c, s, b"cut", 1000, 6)]);
    }

    #[test]
    fn segments_longer_than_the_ip_length_field_are_recorded_with_their_true_length() {
        static BIG: [u8; 70_000] = [7; 70_000];
        for (c, s) in
            [("10.0.0.2:40000", "10.0.0.1:2181"), ("[2001:db8::2]:40000", "[2001:db8::1]:2181")]
        {
            round_trip(&[
                // Whole, just over each family's limit, and cut short by the capture.
                segment(c, s, &BIG[..65_496], 65_496, 1),
                segment(c, s, &BIG[..65_516], 65_516, 70_000),
                segment(c, s, &BIG, 262_144, 200_000),
                // Just under: the normal path, IP length exact.
                segment(c, s, &BIG[..1000], 65_495, 500_000),
            ]);
        }
    }
}
