//! Tests of link-layer decoding, on frames built by `FrameBuilder` and by hand.

use std::net::SocketAddr;

use proptest::prelude::*;
use zktraffic_common::tcp_flags::{ACK, FIN, PSH, RST, SYN};

use super::*;
use crate::capture::pcap_write::FrameBuilder;

const TS: Timestamp = Timestamp(1_700_000_000_123_456_789);

fn v4() -> (SocketAddr, SocketAddr) {
    ("10.1.2.3:40000".parse().unwrap(), "10.9.8.7:2181".parse().unwrap())
}

fn v6() -> (SocketAddr, SocketAddr) {
    ("[2001:db8::1]:40000".parse().unwrap(), "[2001:db8::2]:2181".parse().unwrap())
}

fn builder(addrs: (SocketAddr, SocketAddr), payload: &[u8]) -> FrameBuilder<'_> {
    FrameBuilder::new(addrs.0, addrs.1)
        .seq(0xdead_beef)
        .ack(0x0102_0304)
        .flags(PSH | ACK)
        .payload(payload)
}

fn full(link: LinkType, frame: &[u8]) -> Result<Segment<'_>, SkipReason> {
    decode(link, frame, frame.len() as u32, TS)
}

fn assert_segment(seg: &Segment<'_>, addrs: (SocketAddr, SocketAddr), payload: &[u8]) {
    assert_eq!(seg.ts, TS);
    assert_eq!(seg.src, addrs.0);
    assert_eq!(seg.dst, addrs.1);
    assert_eq!(seg.seq, 0xdead_beef);
    assert_eq!(seg.ack, 0x0102_0304);
    assert_eq!(seg.flags, PSH | ACK);
    assert_eq!(seg.payload, payload);
    assert_eq!(seg.wire_len as usize, payload.len());
}

#[test]
fn ethernet_with_zero_one_two_vlan_tags() {
    for addrs in [v4(), v6()] {
        for vlans in [&[][..], &[100], &[100, 200]] {
            let frame = builder(addrs, b"hello").vlans(vlans).ethernet().unwrap();
            let seg = full(LinkType::Ethernet, &frame).unwrap();
            assert_segment(&seg, addrs, b"hello");
        }
    }
}

#[test]
fn qinq_0x9100_tag_is_stripped_and_a_third_tag_is_not() {
    let frame = builder(v4(), b"x").vlans(&[5, 6]).ethernet().unwrap();
    let mut patched = frame.clone();
    patched[12..14].copy_from_slice(&0x9100u16.to_be_bytes());
    assert_segment(&full(LinkType::Ethernet, &patched).unwrap(), v4(), b"x");

    let three = builder(v4(), b"x").vlans(&[5, 6, 7]).ethernet().unwrap();
    assert_eq!(full(LinkType::Ethernet, &three).unwrap_err(), SkipReason::NotIp);
}

#[test]
fn flags_byte_from_each_flag() {
    for flags in [0, FIN, SYN, RST, PSH, ACK, SYN | ACK, FIN | PSH | ACK, 0x1f] {
        let frame = builder(v4(), b"").flags(flags).ethernet().unwrap();
        assert_eq!(full(LinkType::Ethernet, &frame).unwrap().flags, flags);
    }
}

#[test]
fn linux_sll_and_sll2() {
    for addrs in [v4(), v6()] {
        let ip = builder(addrs, b"cooked").ip_packet().unwrap();
        let ethertype: u16 = if addrs.0.is_ipv4() { 0x0800 } else { 0x86dd };

        // SLL: packet type, ARPHRD, address length, 8 address bytes, protocol.
        let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        sll.extend_from_slice(&ethertype.to_be_bytes());
        sll.extend_from_slice(&ip);
        assert_segment(&full(LinkType::LinuxSll, &sll).unwrap(), addrs, b"cooked");

        // SLL2: protocol, reserved, ifindex, ARPHRD, packet type, address length, address.
        let mut sll2 = ethertype.to_be_bytes().to_vec();
        sll2.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(sll2.len(), 20);
        sll2.extend_from_slice(&ip);
        assert_segment(&full(LinkType::LinuxSll2, &sll2).unwrap(), addrs, b"cooked");
    }
    // A cooked header around ARP.
    let mut arp = vec![0u8; 14];
    arp.extend_from_slice(&0x0806u16.to_be_bytes());
    arp.extend_from_slice(&[0; 28]);
    assert_eq!(full(LinkType::LinuxSll, &arp).unwrap_err(), SkipReason::NotIp);
    assert_eq!(full(LinkType::LinuxSll2, &[0x08, 0]).unwrap_err(), SkipReason::TruncatedHeaders);
}

#[test]
fn raw_ip_link_types() {
    let ip4 = builder(v4(), b"raw").ip_packet().unwrap();
    let ip6 = builder(v6(), b"raw").ip_packet().unwrap();
    for code in [12, 14, 101] {
        let link = LinkType::from_code(code);
        assert_eq!(link, LinkType::RawIp);
        assert_segment(&full(link, &ip4).unwrap(), v4(), b"raw");
        assert_segment(&full(link, &ip6).unwrap(), v6(), b"raw");
    }
    assert_segment(&full(LinkType::from_code(228), &ip4).unwrap(), v4(), b"raw");
    assert_segment(&full(LinkType::from_code(229), &ip6).unwrap(), v6(), b"raw");
    // The link type promises one version; the packet is the other.
    assert_eq!(full(LinkType::Ipv4, &ip6).unwrap_err(), SkipReason::Malformed);
    assert_eq!(full(LinkType::Ipv6, &ip4).unwrap_err(), SkipReason::Malformed);
}

#[test]
fn bsd_null_in_both_byte_orders_and_loop() {
    for (addrs, families) in [(v4(), &[2u32][..]), (v6(), &[24, 28, 30])] {
        let ip = builder(addrs, b"lo").ip_packet().unwrap();
        for &family in families {
            for header in [family.to_le_bytes(), family.to_be_bytes()] {
                let frame = [&header[..], &ip].concat();
                assert_segment(&full(LinkType::Null, &frame).unwrap(), addrs, b"lo");
            }
            let frame = [&family.to_be_bytes()[..], &ip].concat();
            assert_segment(&full(LinkType::Loop, &frame).unwrap(), addrs, b"lo");
        }
    }
    let ip = builder(v4(), b"lo").ip_packet().unwrap();
    // AF_INET in little-endian read as LOOP (network order) is not a known family.
    let frame = [&2u32.to_le_bytes()[..], &ip].concat();
    assert_eq!(full(LinkType::Loop, &frame).unwrap_err(), SkipReason::NotIp);
    let frame = [&17u32.to_le_bytes()[..], &ip].concat();
    assert_eq!(full(LinkType::Null, &frame).unwrap_err(), SkipReason::NotIp);
    assert_eq!(full(LinkType::Null, &[2, 0]).unwrap_err(), SkipReason::TruncatedHeaders);
}

#[test]
fn ipv6_hop_by_hop_header_before_tcp() {
    let ip = builder(v6(), b"ext").ip_packet().unwrap();
    let mut with_ext = ip[..40].to_vec();
    with_ext[6] = 0; // next header: hop-by-hop
    let payload_len = u16::from_be_bytes([ip[4], ip[5]]) + 8;
    with_ext[4..6].copy_from_slice(&payload_len.to_be_bytes());
    // Next header TCP, length 0 (8 bytes), a PadN option filling the rest.
    with_ext.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    with_ext.extend_from_slice(&ip[40..]);
    assert_segment(&full(LinkType::RawIp, &with_ext).unwrap(), v6(), b"ext");
}

#[test]
fn ip_fragments_are_skipped() {
    let ip = builder(v4(), b"frag").ip_packet().unwrap();
    let mut more_fragments = ip.clone();
    more_fragments[6] |= 0x20;
    assert_eq!(full(LinkType::RawIp, &more_fragments).unwrap_err(), SkipReason::Fragment);
    let mut later_fragment = ip.clone();
    later_fragment[7] = 10; // offset 80 bytes
    assert_eq!(full(LinkType::RawIp, &later_fragment).unwrap_err(), SkipReason::Fragment);
    // Don't-fragment alone is not a fragment.
    let mut dont_fragment = ip.clone();
    dont_fragment[6] = 0x40;
    assert!(full(LinkType::RawIp, &dont_fragment).is_ok());

    // IPv6 fragment header (first fragment, more fragments set).
    let ip6 = builder(v6(), b"frag").ip_packet().unwrap();
    let mut frag6 = ip6[..40].to_vec();
    frag6[6] = 44;
    let payload_len = u16::from_be_bytes([ip6[4], ip6[5]]) + 8;
    frag6[4..6].copy_from_slice(&payload_len.to_be_bytes());
    frag6.extend_from_slice(&[6, 0, 0, 1, 0, 0, 0, 42]);
    frag6.extend_from_slice(&ip6[40..]);
    assert_eq!(full(LinkType::RawIp, &frag6).unwrap_err(), SkipReason::Fragment);
}

#[test]
fn non_tcp_and_non_ip_are_classified() {
    let mut udp = builder(v4(), b"u").ip_packet().unwrap();
    udp[9] = 17;
    assert_eq!(full(LinkType::RawIp, &udp).unwrap_err(), SkipReason::NotTcp);
    let mut arp = builder(v4(), b"").ethernet().unwrap();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(full(LinkType::Ethernet, &arp).unwrap_err(), SkipReason::NotIp);
    assert_eq!(full(LinkType::RawIp, &[0x55; 40]).unwrap_err(), SkipReason::Malformed);
    assert_eq!(full(LinkType::from_code(105), &arp).unwrap_err(), SkipReason::UnsupportedLink);
    // IHL below 5.
    let mut bad_ihl = udp.clone();
    bad_ihl[0] = 0x44;
    assert_eq!(full(LinkType::RawIp, &bad_ihl).unwrap_err(), SkipReason::Malformed);
    // TCP data offset below 5.
    let mut bad_offset = builder(v4(), b"x").ip_packet().unwrap();
    bad_offset[20 + 12] = 0x40;
    assert_eq!(full(LinkType::RawIp, &bad_offset).unwrap_err(), SkipReason::Malformed);
}

#[test]
fn snap_length_cut_gives_short_payload_and_true_wire_len() {
    let payload = [7u8; 100];
    for addrs in [v4(), v6()] {
        let frame = builder(addrs, &payload).vlans(&[3]).ethernet().unwrap();
        let headers = frame.len() - payload.len();
        let cut = &frame[..headers + 30];
        let seg = decode(LinkType::Ethernet, cut, frame.len() as u32, TS).unwrap();
        assert_eq!(seg.payload, &payload[..30]);
        assert_eq!(seg.wire_len, 100);
        // Cut inside the TCP header: nothing usable.
        let cut = &frame[..headers - 5];
        let skip = decode(LinkType::Ethernet, cut, frame.len() as u32, TS).unwrap_err();
        assert_eq!(skip, SkipReason::TruncatedHeaders);
    }
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut frame = builder(v4(), b"").ethernet().unwrap();
    frame.resize(60, 0);
    let seg = full(LinkType::Ethernet, &frame).unwrap();
    assert!(seg.payload.is_empty());
    assert_eq!(seg.wire_len, 0);
}

#[test]
fn ipv4_total_length_zero_falls_back_to_record_length() {
    // Segmentation offload: the kernel hands libpcap IPv4 headers with total length 0.
    let payload = [1u8; 50];
    let mut ip = builder(v4(), &payload).ip_packet().unwrap();
    ip[2..4].copy_from_slice(&[0, 0]);
    let seg = decode(LinkType::RawIp, &ip[..ip.len() - 20], ip.len() as u32, TS).unwrap();
    assert_eq!(seg.payload, &payload[..30]);
    assert_eq!(seg.wire_len, 50);
}

proptest! {
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), code in 0u32..300) {
        for link in [LinkType::from_code(code), LinkType::Ethernet, LinkType::RawIp, LinkType::Null] {
            if let Ok(seg) = decode(link, &bytes, bytes.len() as u32 + 7, TS) {
                prop_assert!(seg.payload.len() as u64 <= u64::from(seg.wire_len));
            }
        }
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        vlans in 0usize..3,
        ipv6 in any::<bool>(),
        edits in proptest::collection::vec((0usize..120, any::<u8>()), 0..6),
        cut in 0usize..130,
    ) {
        let addrs = if ipv6 { v6() } else { v4() };
        let mut frame = builder(addrs, b"some payload bytes")
            .vlans(&[10, 20][..vlans])
            .ethernet()
            .unwrap();
        for (at, value) in edits {
            if let Some(byte) = frame.get_mut(at) {
                *byte = value;
            }
        }
        let orig_len = frame.len() as u32;
        frame.truncate(cut);
        if let Ok(seg) = decode(LinkType::Ethernet, &frame, orig_len, TS) {
            prop_assert!(seg.payload.len() as u64 <= u64::from(seg.wire_len));
        }
    }
}
