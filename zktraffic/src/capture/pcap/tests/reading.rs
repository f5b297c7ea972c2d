//! Reading back what the writers wrote: every field, format, byte order, section, interface,
//! link type, timestamp resolution and snap length.

use super::*;

#[test]
fn round_trip_every_field_pcap_and_pcapng_both_byte_orders() {
    let traffic = traffic(12, true);
    let files = [
        ("le-us.pcap", write_pcap(PcapFormat::default(), &traffic), 1000),
        (
            "be-ns.pcap",
            write_pcap(
                PcapFormat { nanos: true, big_endian: true, ..PcapFormat::default() },
                &traffic,
            ),
            1,
        ),
        ("le-ns.pcapng", write_pcapng(false, 9, &traffic), 1),
        ("be-us.pcapng", write_pcapng(true, 6, &traffic), 1000),
    ];
    for (name, bytes, granularity) in files {
        let want = expected(&traffic, granularity);
        for chunk in [1, 3, 4096, usize::MAX] {
            let out = read_chunked(name, &bytes, chunk).unwrap();
            out.result.unwrap();
            assert_eq!(out.segments, want, "{name}, reads of {chunk} bytes");
            let captured: usize = traffic.iter().map(|s| s.frame.len()).sum();
            assert_eq!(
                out.stats,
                CaptureStats {
                    frames: 12,
                    captured_bytes: captured as u64,
                    tcp_segments: 12,
                    tcp_payload_bytes: want.iter().map(|s| s.payload.len() as u64).sum(),
                    sections: u64::from(name.ends_with("ng")),
                    interfaces: u64::from(name.ends_with("ng")),
                    ..CaptureStats::default()
                },
                "{name}"
            );
            assert!(out.warnings.is_empty(), "{name}: {:?}", out.warnings);
        }
    }
}

#[test]
fn pcapng_sections_interfaces_link_types_and_resolutions() {
    let a: SocketAddr = "10.0.0.1:1111".parse().unwrap();
    let b: SocketAddr = "10.0.0.2:2181".parse().unwrap();
    let c: SocketAddr = "[fe80::1]:3333".parse().unwrap();
    let d: SocketAddr = "[fe80::2]:2181".parse().unwrap();
    let seg = |src, dst, seq: u32, payload: &[u8], ts| Seg {
        ts: Timestamp(ts),
        src,
        dst,
        seq,
        ack: 0,
        flags: PSH | ACK,
        payload: payload.to_vec(),
        wire_len: payload.len() as u32,
    };
    fn frame(s: &Seg) -> FrameBuilder<'_> {
        FrameBuilder::new(s.src, s.dst).seq(s.seq).payload(&s.payload)
    }

    // Section 1, little-endian: Ethernet in ns, raw IP in µs with a 1000 s offset.
    let s1 = seg(a, b, 1, b"eth-ns", 1_600_000_000_123_456_789);
    let s2 = seg(b, a, 2, b"raw-us-offset", 1_600_000_001_123_456_000);
    let s3 = seg(a, b, 3, b"simple", s2.ts.0); // SPB: previous packet's time
    let s4 = seg(b, a, 4, b"obsolete", 1_600_000_002_000_001_000);
    let mut w = PcapNgWriter::empty(Vec::new(), false).unwrap();
    let eth = w.add_interface(NgInterface::default()).unwrap();
    let raw_interface = NgInterface { link_type: 101, snaplen: 0, tsresol: 6, tsoffset: 1000 };
    let raw = w.add_interface(raw_interface).unwrap();
    w.write_packet(eth, s1.ts, &frame(&s1).ethernet().unwrap()).unwrap();
    w.write_packet(raw, s2.ts, &frame(&s2).ip_packet().unwrap()).unwrap();
    w.write_simple_packet(&frame(&s3).ethernet().unwrap()).unwrap();
    // Obsolete packet block on the raw interface.
    let ip = frame(&s4).ip_packet().unwrap();
    let units = (s4.ts.0 - 1000 * 1_000_000_000) / 1000;
    let mut body = Vec::new();
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(units as u32).to_le_bytes());
    body.extend_from_slice(&(ip.len() as u32).to_le_bytes());
    body.extend_from_slice(&(ip.len() as u32).to_le_bytes());
    body.extend_from_slice(&ip);
    w.get_mut().extend(ng_block(false, 2, &body));
    // A name resolution block (ignored) and a packet for an interface never described.
    w.get_mut().extend(ng_block(false, 4, &[0, 0, 0, 0]));
    let mut ghost = ng_block(false, 6, &[0; 20]);
    ghost[8] = 9;
    w.get_mut().extend(ghost);
    let mut file = w.into_inner();

    // Section 2, big-endian: Linux SLL in 2^-10 s, BSD loopback in ms with a -100 s offset.
    let s5 = seg(c, d, 5, b"sll-binary", 1_600_000_003_500_000_000);
    let s6 = seg(d, c, 6, b"null-ms", 1_600_000_004_123_000_000);
    let mut w = PcapNgWriter::empty(Vec::new(), true).unwrap();
    let sll_interface = NgInterface { link_type: 113, snaplen: 0, tsresol: 0x80 | 10, tsoffset: 0 };
    let sll = w.add_interface(sll_interface).unwrap();
    let null_interface = NgInterface { link_type: 0, snaplen: 0, tsresol: 3, tsoffset: -100 };
    let null = w.add_interface(null_interface).unwrap();
    let mut sll_frame = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x86, 0xdd];
    sll_frame.extend(frame(&s5).ip_packet().unwrap());
    w.write_packet(sll, s5.ts, &sll_frame).unwrap();
    let mut null_frame = 30u32.to_le_bytes().to_vec();
    null_frame.extend(frame(&s6).ip_packet().unwrap());
    w.write_packet(null, s6.ts, &null_frame).unwrap();
    file.extend(w.into_inner());

    let out = read("two-sections.pcapng", &file);
    out.result.unwrap();
    assert_eq!(out.segments, vec![s1, s2, s3, s4, s5, s6]);
    assert_eq!(out.stats.sections, 2);
    assert_eq!(out.stats.interfaces, 4);
    assert_eq!(out.stats.frames, 6);
    assert_eq!(out.stats.ignored_blocks, 1);
    assert_eq!(out.stats.skipped_unknown_interface, 1);
    assert_eq!(out.warnings.len(), 1);
    assert!(out.warnings[0].contains("two-sections.pcapng"), "{:?}", out.warnings);
    assert!(out.warnings[0].contains("interface 9"), "{:?}", out.warnings);
}

#[test]
fn link_types_of_the_file_header_are_honoured() {
    let s = FrameBuilder::new("1.2.3.4:5".parse().unwrap(), "5.6.7.8:2181".parse().unwrap())
        .payload(b"raw");
    let format = PcapFormat { link_type: 101, ..PcapFormat::default() };
    let mut w = PcapWriter::with_format(Vec::new(), format).unwrap();
    w.write_packet(Timestamp(1_000), &s.ip_packet().unwrap()).unwrap();
    // Same bytes read as Ethernet would not be TCP: the link type matters.
    w.write_packet(Timestamp(2_000), &s.ethernet().unwrap()).unwrap();
    let out = read("raw.pcap", &w.into_inner());
    assert_eq!(out.segments.len(), 1);
    assert_eq!(out.segments[0].payload, b"raw");
    assert_eq!(out.stats.tcp_segments + out.stats.skipped_malformed, 1 + 1);

    let format = PcapFormat {
        link_type: 147, // a user link type
        ..PcapFormat::default()
    };
    let mut w = PcapWriter::with_format(Vec::new(), format).unwrap();
    w.write_packet(Timestamp(1_000), &s.ethernet().unwrap()).unwrap();
    let out = read("user.pcap", &w.into_inner());
    assert_eq!(out.stats.skipped_unsupported_link, 1);
    assert!(out.segments.is_empty());
    assert_eq!(out.warnings.len(), 1);
    assert!(
        out.warnings[0].starts_with("user.pcap: the file has link type 147, which zktraffic"),
        "{:?}",
        out.warnings
    );
}

#[test]
fn snap_length_truncated_frames_keep_their_wire_length() {
    let traffic = traffic(8, true);
    let format = PcapFormat { snaplen: 95, ..PcapFormat::default() };
    let out = read("snap.pcap", &write_pcap(format, &traffic));
    out.result.unwrap();
    assert_eq!(out.segments.len(), 8);
    let mut cut = 0;
    for (got, sent) in out.segments.iter().zip(&traffic) {
        assert_eq!(got.wire_len as usize, sent.seg.payload.len());
        let headers = sent.frame.len() - sent.seg.payload.len();
        let kept = 95usize.saturating_sub(headers).min(sent.seg.payload.len());
        assert_eq!(got.payload, sent.seg.payload[..kept]);
        if kept < sent.seg.payload.len() {
            cut += 1;
            assert!(got.payload.len() < got.wire_len as usize);
        }
    }
    assert!(cut >= 3);
    assert_eq!(out.stats.truncated_payloads, cut);
    assert_eq!(out.stats.truncated_frames, cut);

    // Same in pcapng, through the interface's snap length.
    let mut w = PcapNgWriter::empty(Vec::new(), false).unwrap();
    let interface = NgInterface { snaplen: 95, ..NgInterface::default() };
    w.add_interface(interface).unwrap();
    for sent in &traffic {
        w.write_packet(0, sent.seg.ts, &sent.frame).unwrap();
        w.write_simple_packet(&sent.frame).unwrap();
    }
    let ng = read("snap.pcapng", &w.into_inner());
    ng.result.unwrap();
    assert_eq!(ng.stats.truncated_payloads, 2 * cut);
    let payloads: Vec<_> = ng.segments.iter().map(|s| (&s.payload, s.wire_len)).collect();
    let doubled: Vec<_> = out
        .segments
        .iter()
        .flat_map(|s| [(&s.payload, s.wire_len), (&s.payload, s.wire_len)])
        .collect();
    assert_eq!(payloads, doubled);
}
