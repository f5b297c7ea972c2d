//! Link, network and transport header decoding of captured frames.
//!
//! [`decode`] turns one captured frame into a [`Segment`] or says why it was skipped. The link
//! layer is decoded here by hand (a handful of fixed layouts); IP and TCP are sliced zero-copy by
//! etherparse's *lax* parsers, because they accept frames cut short by the snap length and still
//! report the lengths the headers declare, which is what `wire_len` needs.

use std::fmt;
use std::net::SocketAddr;

use etherparse::err::ip::LaxHeaderSliceError;
use etherparse::err::ipv6_exts::HeaderSliceError as ExtHeaderSliceError;
use etherparse::err::tcp::HeaderSliceError as TcpHeaderSliceError;
use etherparse::{IpNumber, LaxIpSlice, LenSource, TcpSlice};
use zktraffic_common::tcp_flags;

use super::Segment;
use crate::Timestamp;

/// The link-layer framing of captured frames, from a pcap/pcapng link-type number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// Ethernet II (LINKTYPE_ETHERNET, 1), with up to two VLAN tags.
    Ethernet,
    /// Linux "cooked" capture v1 (LINKTYPE_LINUX_SLL, 113), e.g. `tcpdump -i any`.
    LinuxSll,
    /// Linux "cooked" capture v2 (LINKTYPE_LINUX_SLL2, 276).
    LinuxSll2,
    /// Raw IPv4 or IPv6, version taken from the packet (DLT_RAW 12/14, LINKTYPE_RAW 101).
    RawIp,
    /// Raw IPv4 only (LINKTYPE_IPV4, 228).
    Ipv4,
    /// Raw IPv6 only (LINKTYPE_IPV6, 229).
    Ipv6,
    /// BSD loopback (LINKTYPE_NULL, 0): 4-byte address family in the capturing host's byte order.
    Null,
    /// OpenBSD loopback (LINKTYPE_LOOP, 108): 4-byte address family in network byte order.
    Loop,
    /// Any other link type; its frames are skipped as [`SkipReason::UnsupportedLink`].
    Unsupported(u32),
}

impl LinkType {
    /// Maps a pcap/pcapng link-type number.
    pub const fn from_code(code: u32) -> Self {
        match code {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            12 | 14 | 101 => LinkType::RawIp,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            other => LinkType::Unsupported(other),
        }
    }

    /// The canonical pcap link-type number (raw IP maps to LINKTYPE_RAW, 101).
    pub const fn code(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::RawIp => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::Null => 0,
            LinkType::Loop => 108,
            LinkType::Unsupported(code) => code,
        }
    }
}

/// Why a frame did not yield a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Not IPv4 or IPv6 (ARP, LLDP, 802.3 frames, other address families, …).
    NotIp,
    /// IP, but not TCP (UDP, ICMP, …).
    NotTcp,
    /// An IP fragment (more-fragments set or a non-zero offset): TCP headers cannot be trusted
    /// without IP reassembly, which zktraffic does not do.
    Fragment,
    /// The frame's link type is not one `decode` understands.
    UnsupportedLink,
    /// The captured bytes end inside the headers (snap length shorter than the headers).
    TruncatedHeaders,
    /// Headers with impossible values (bad IHL, TCP data offset, IP version, …).
    Malformed,
}

impl SkipReason {
    /// A short, stable, lower-case name (used in counters and messages).
    pub const fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotIp => "not_ip",
            SkipReason::NotTcp => "not_tcp",
            SkipReason::Fragment => "ip_fragment",
            SkipReason::UnsupportedLink => "unsupported_link",
            SkipReason::TruncatedHeaders => "truncated_headers",
            SkipReason::Malformed => "malformed",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q, 802.1ad and the pre-standard QinQ tag.
const ETHERTYPE_VLANS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
/// Tags stripped at most; a third tag is treated as a non-IP ethertype.
const MAX_VLAN_TAGS: usize = 2;

/// Decodes one captured frame of link type `link` into a TCP [`Segment`].
///
/// `orig_len` is the frame's length on the wire as the capture record states it; it is only
/// consulted when the IP header cannot tell the packet's length (IPv4 total length 0 from TCP
/// segmentation offload, IPv6 jumbograms). `Err` is a classification, not a failure: the frame
/// is simply not a TCP segment we can use. Never panics, whatever the bytes.
pub fn decode(
    link: LinkType,
    frame: &[u8],
    orig_len: u32,
    ts: Timestamp,
) -> Result<Segment<'_>, SkipReason> {
    // Bytes the capture record says were on the wire but not captured.
    let record_missing = (orig_len as usize).saturating_sub(frame.len());
    let (l3, version) = match link {
        LinkType::Ethernet => {
            let ethertype = be16(frame, 12).ok_or(SkipReason::TruncatedHeaders)?;
            ether_payload(ethertype, frame.get(14..).unwrap_or_default())?
        }
        LinkType::LinuxSll => {
            let protocol = be16(frame, 14).ok_or(SkipReason::TruncatedHeaders)?;
            ether_payload(protocol, frame.get(16..).unwrap_or_default())?
        }
        LinkType::LinuxSll2 => {
            if frame.len() < 20 {
                return Err(SkipReason::TruncatedHeaders);
            }
            let protocol = be16(frame, 0).ok_or(SkipReason::TruncatedHeaders)?;
            ether_payload(protocol, &frame[20..])?
        }
        LinkType::RawIp => (frame, None),
        LinkType::Ipv4 => (frame, Some(4)),
        LinkType::Ipv6 => (frame, Some(6)),
        LinkType::Null => {
            let bytes = frame.get(..4).ok_or(SkipReason::TruncatedHeaders)?;
            let bytes: [u8; 4] = bytes.try_into().map_err(|_| SkipReason::TruncatedHeaders)?;
            // Host byte order of an unknown host: the families are small numbers, so at most
            // one of the two readings is a known one.
            let version = family_version(u32::from_le_bytes(bytes))
                .or_else(|| family_version(u32::from_be_bytes(bytes)))
                .ok_or(SkipReason::NotIp)?;
            (&frame[4..], Some(version))
        }
        LinkType::Loop => {
            let bytes = frame.get(..4).ok_or(SkipReason::TruncatedHeaders)?;
            let bytes: [u8; 4] = bytes.try_into().map_err(|_| SkipReason::TruncatedHeaders)?;
            let version = family_version(u32::from_be_bytes(bytes)).ok_or(SkipReason::NotIp)?;
            (&frame[4..], Some(version))
        }
        LinkType::Unsupported(_) => return Err(SkipReason::UnsupportedLink),
    };
    decode_ip(l3, version, record_missing, ts)
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// BSD address families for IP: AF_INET is 2 everywhere; AF_INET6 differs per OS (24 on
/// NetBSD/OpenBSD, 28 on FreeBSD, 30 on macOS).
fn family_version(family: u32) -> Option<u8> {
    match family {
        2 => Some(4),
        24 | 28 | 30 => Some(6),
        _ => None,
    }
}

/// Strips up to [`MAX_VLAN_TAGS`] VLAN tags and returns the IP packet and its expected version.
fn ether_payload(mut ethertype: u16, mut rest: &[u8]) -> Result<(&[u8], Option<u8>), SkipReason> {
    for _ in 0..MAX_VLAN_TAGS {
        if !ETHERTYPE_VLANS.contains(&ethertype) {
            break;
        }
        // Tag: 2 bytes TCI, then the next ethertype.
        ethertype = be16(rest, 2).ok_or(SkipReason::TruncatedHeaders)?;
        rest = &rest[4..];
    }
    match ethertype {
        ETHERTYPE_IPV4 => Ok((rest, Some(4))),
        ETHERTYPE_IPV6 => Ok((rest, Some(6))),
        _ => Err(SkipReason::NotIp),
    }
}

fn decode_ip(
    l3: &[u8],
    version: Option<u8>,
    record_missing: usize,
    ts: Timestamp,
) -> Result<Segment<'_>, SkipReason> {
    let first = *l3.first().ok_or(SkipReason::TruncatedHeaders)?;
    if version.is_some_and(|v| v != first >> 4) {
        return Err(SkipReason::Malformed);
    }
    let (ip, ext_error) = LaxIpSlice::from_slice(l3).map_err(|e| match e {
        LaxHeaderSliceError::Len(_) => SkipReason::TruncatedHeaders,
        LaxHeaderSliceError::Content(_) => SkipReason::Malformed,
    })?;
    if ip.is_fragmenting_payload() {
        return Err(SkipReason::Fragment);
    }
    match ext_error {
        None => {}
        Some((ExtHeaderSliceError::Len(_), _)) => return Err(SkipReason::TruncatedHeaders),
        Some((ExtHeaderSliceError::Content(_), _)) => return Err(SkipReason::Malformed),
    }
    let ip_payload = ip.payload();
    if ip_payload.ip_number != IpNumber::TCP {
        return Err(SkipReason::NotTcp);
    }
    let tcp = TcpSlice::from_slice(ip_payload.payload).map_err(|e| match e {
        TcpHeaderSliceError::Len(_) => SkipReason::TruncatedHeaders,
        TcpHeaderSliceError::Content(_) => SkipReason::Malformed,
    })?;

    // Bytes of this IP packet that were on the wire but not captured: the IP header's length is
    // the truth when usable; when it is not (0 under segmentation offload, jumbograms), fall
    // back to what the capture record says.
    let missing = if ip_payload.incomplete {
        let declared = match &ip {
            LaxIpSlice::Ipv4(v4) => usize::from(v4.header().total_len()),
            LaxIpSlice::Ipv6(v6) => 40 + usize::from(v6.header().payload_length()),
        };
        declared.saturating_sub(l3.len())
    } else if ip_payload.len_source == LenSource::Slice {
        record_missing
    } else {
        0
    };
    let payload = tcp.payload();
    let wire_len = u32::try_from(payload.len().saturating_add(missing)).unwrap_or(u32::MAX);

    let mut flags = 0;
    for (set, bit) in [
        (tcp.fin(), tcp_flags::FIN),
        (tcp.syn(), tcp_flags::SYN),
        (tcp.rst(), tcp_flags::RST),
        (tcp.psh(), tcp_flags::PSH),
        (tcp.ack(), tcp_flags::ACK),
    ] {
        if set {
            flags |= bit;
        }
    }

    Ok(Segment {
        ts,
        src: SocketAddr::new(ip.source_addr(), tcp.source_port()),
        dst: SocketAddr::new(ip.destination_addr(), tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags,
        payload,
        wire_len,
    })
}

#[cfg(test)]
mod tests;
