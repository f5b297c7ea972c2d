//! Tests of the capture reader, on files written by [`crate::capture::pcap_write`] and on
//! hand-made blocks.

use std::io::Cursor;
use std::net::SocketAddr;

use proptest::prelude::*;
use zktraffic_common::tcp_flags::{ACK, FIN, PSH, RST, SYN};

use super::input::INITIAL_BUFFER_LEN;
use super::*;
use crate::capture::pcap_write::{FrameBuilder, NgInterface, PcapFormat, PcapNgWriter, PcapWriter};

/// An owned copy of a delivered segment.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seg {
    ts: Timestamp,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
    wire_len: u32,
}

impl From<&Segment<'_>> for Seg {
    fn from(s: &Segment<'_>) -> Self {
        Seg {
            ts: s.ts,
            src: s.src,
            dst: s.dst,
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            payload: s.payload.to_vec(),
            wire_len: s.wire_len,
        }
    }
}

/// Hands out at most `chunk` bytes per read, like a pipe.
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
}

impl Read for Chunked {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = out.len().min(self.chunk).min(self.data.len() - self.pos);
        out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

struct Outcome {
    segments: Vec<Seg>,
    stats: CaptureStats,
    warnings: Vec<String>,
    result: Result<(), CaptureError>,
}

fn read_chunked(name: &str, bytes: &[u8], chunk: usize) -> Result<Outcome, CaptureError> {
    let input = Chunked { data: bytes.to_vec(), pos: 0, chunk };
    let mut reader = CaptureReader::from_reader(name.to_string(), Box::new(input))?;
    let mut segments = Vec::new();
    let result = reader.for_each_segment(|s| segments.push(Seg::from(s)));
    // Reading again after the end (or an error) delivers nothing more.
    reader.for_each_segment(|_| panic!("segment after the end")).unwrap();
    Ok(Outcome {
        segments,
        stats: reader.stats().clone(),
        warnings: reader.warnings().to_vec(),
        result,
    })
}

fn read(name: &str, bytes: &[u8]) -> Outcome {
    read_chunked(name, bytes, usize::MAX).unwrap()
}

fn open_error(name: &str, bytes: &[u8]) -> String {
    match CaptureReader::from_reader(name.to_string(), Box::new(Cursor::new(bytes.to_vec()))) {
        Ok(_) => panic!("{name} was accepted"),
        Err(e) => e.to_string(),
    }
}

/// A frame to write and the segment it must read back as (timestamp at full precision).
struct Sent {
    frame: Vec<u8>,
    seg: Seg,
}

fn traffic(count: usize, big: bool) -> Vec<Sent> {
    let client4: SocketAddr = "192.168.7.1:51234".parse().unwrap();
    let server4: SocketAddr = "192.168.7.2:2181".parse().unwrap();
    let client6: SocketAddr = "[fd00::17]:51235".parse().unwrap();
    let server6: SocketAddr = "[fd00::2181]:2181".parse().unwrap();
    let sizes: &[usize] = if big { &[0, 1, 12, 100, 1460, 9000] } else { &[0, 1, 12, 40] };
    let all_flags = [SYN, SYN | ACK, ACK, PSH | ACK, FIN | ACK, RST];
    (0..count)
        .map(|i| {
            let (src, dst) = match i % 4 {
                0 => (client4, server4),
                1 => (server4, client4),
                2 => (client6, server6),
                _ => (server6, client6),
            };
            let vlans: &[u16] = [&[][..], &[7], &[7, 8]][i % 3];
            let payload: Vec<u8> =
                (0..sizes[i % sizes.len()]).map(|b| (b * 31 + i) as u8).collect();
            let seq = 1000u32.wrapping_add(i as u32 * 7919);
            let ack = u32::MAX - i as u32;
            let flags = all_flags[i % all_flags.len()];
            let frame = FrameBuilder::new(src, dst)
                .seq(seq)
                .ack(ack)
                .flags(flags)
                .payload(&payload)
                .vlans(vlans)
                .ethernet()
                .unwrap();
            let ts = Timestamp(1_700_000_000_000_000_000 + i as u64 * 1_234_567_891);
            let wire_len = payload.len() as u32;
            Sent { frame, seg: Seg { ts, src, dst, seq, ack, flags, payload, wire_len } }
        })
        .collect()
}

fn write_pcap(format: PcapFormat, traffic: &[Sent]) -> Vec<u8> {
    let mut w = PcapWriter::with_format(Vec::new(), format).unwrap();
    for sent in traffic {
        w.write_packet(sent.seg.ts, &sent.frame).unwrap();
    }
    w.into_inner()
}

fn write_pcapng(big_endian: bool, tsresol: u8, traffic: &[Sent]) -> Vec<u8> {
    let mut w = PcapNgWriter::empty(Vec::new(), big_endian).unwrap();
    let interface = NgInterface { tsresol, ..NgInterface::default() };
    let id = w.add_interface(interface).unwrap();
    for sent in traffic {
        w.write_packet(id, sent.seg.ts, &sent.frame).unwrap();
    }
    w.into_inner()
}

/// The segments expected back from a file whose timestamps have `granularity` ns.
fn expected(traffic: &[Sent], granularity: u64) -> Vec<Seg> {
    traffic
        .iter()
        .map(|sent| Seg {
            ts: Timestamp(sent.seg.ts.0 / granularity * granularity),
            ..sent.seg.clone()
        })
        .collect()
}

/// A raw pcapng block.
fn ng_block(big_endian: bool, block_type: u32, body: &[u8]) -> Vec<u8> {
    let u32b = |v: u32| {
        if big_endian { v.to_be_bytes() } else { v.to_le_bytes() }
    };
    let padded = body.len().div_ceil(4) * 4;
    let len = (12 + padded) as u32;
    let mut out = u32b(block_type).to_vec();
    out.extend_from_slice(&u32b(len));
    out.extend_from_slice(body);
    out.resize(8 + padded, 0);
    out.extend_from_slice(&u32b(len));
    out
}

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

/// Start offsets of every packet record, and the file length.
fn record_starts(bytes: &[u8]) -> Vec<u64> {
    let mut reader =
        CaptureReader::from_reader("x".into(), Box::new(Cursor::new(bytes.to_vec()))).unwrap();
    let mut starts = Vec::new();
    reader
        .try_for_each_frame(|frame| {
            starts.push(frame.offset);
            ControlFlow::Continue(())
        })
        .unwrap();
    starts.push(bytes.len() as u64);
    starts
}

#[test]
fn truncated_last_record_is_a_warning_after_everything_before_it() {
    let traffic = traffic(5, false);
    // Files, and where their records before the first packet end: the pcap file header;
    // pcapng's section header (28 bytes) and interface description.
    for (name, bytes, header_ends) in [
        ("cut.pcap", write_pcap(PcapFormat::default(), &traffic), vec![24]),
        ("cut.pcapng", write_pcapng(false, 9, &traffic), vec![0, 28]),
    ] {
        let full = read(name, &bytes).segments;
        assert_eq!(full.len(), 5);
        let packet_starts = record_starts(&bytes);
        let boundaries: Vec<u64> = header_ends.iter().chain(&packet_starts).copied().collect();
        for cut in header_ends[0].max(12) as usize..bytes.len() {
            let out = read(name, &bytes[..cut]);
            out.result.unwrap();
            let complete = packet_starts[1..].iter().filter(|&&end| end <= cut as u64).count();
            assert_eq!(out.segments, full[..complete], "{name} cut at {cut}");
            if boundaries.contains(&(cut as u64)) {
                assert!(out.warnings.is_empty(), "{name} cut at {cut}: {:?}", out.warnings);
                assert_eq!(out.stats.truncated_records, 0);
            } else {
                assert_eq!(out.stats.truncated_records, 1, "{name} cut at {cut}");
                assert_eq!(out.stats.warnings, 1);
                let start = boundaries.iter().rev().find(|&&b| b < cut as u64).unwrap();
                let warning = &out.warnings[0];
                assert!(
                    warning.starts_with(&format!(
                        "{name}: the last record (offset {start}) is truncated"
                    )),
                    "cut at {cut}: {warning}"
                );
            }
        }
    }
}

#[test]
fn garbage_is_rejected_naming_file_and_offset() {
    assert_eq!(
        open_error("notes.txt", b"<?xml version=\"1.0\"?>\n<capture/>"),
        "notes.txt: not a pcap or pcapng file (offset 0: unknown magic 0x3c3f786d); \
         zktraffic reads captures written by tcpdump -w, dumpcap or Wireshark"
    );
    assert!(
        open_error("empty.pcap", b"")
            .contains("empty.pcap: not a pcap or pcapng file (offset 0: the input is empty)")
    );
    assert!(open_error("two.pcap", b"\xd4\xc3").contains("offset 0: only 2 bytes"));
    assert!(open_error("c.pcap.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00").contains("gzip"));
    assert!(
        open_error("short.pcap", b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00")
            .contains("header cut off after 8 bytes")
    );
    let mut bad_bom = ng_block(false, SHB_MAGIC, &[0; 16]);
    bad_bom[8..12].copy_from_slice(b"ABCD");
    let message = open_error("bom.pcapng", &bad_bom);
    assert!(message.contains("bom.pcapng: not a pcap or pcapng file (offset 8: pcapng section header with unknown byte-order magic 0x44434241)"), "{message}");
}

#[test]
fn missing_file_error_names_it() {
    let path = Path::new("/nonexistent/zktraffic/capture.pcap");
    let Err(e) = CaptureReader::open(path) else {
        panic!("opened a missing file");
    };
    assert!(e.to_string().starts_with("/nonexistent/zktraffic/capture.pcap: cannot open: "), "{e}");
}

#[test]
fn reads_a_real_file_by_path() {
    let traffic = traffic(3, false);
    let path = std::env::temp_dir().join(format!("zktraffic-capture-{}.pcap", std::process::id()));
    std::fs::write(&path, write_pcap(PcapFormat::default(), &traffic)).unwrap();
    let mut reader = CaptureReader::open(&path).unwrap();
    let mut count = 0;
    reader.for_each_segment(|_| count += 1).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(count, 3);
    assert_eq!(reader.name(), path.display().to_string());
}

/// Reads until the error, returning the segments delivered and the error text.
fn read_to_error(name: &str, bytes: &[u8]) -> (usize, String) {
    let out = read(name, bytes);
    let error = out.result.expect_err("corruption was not reported").to_string();
    (out.segments.len(), error)
}

#[test]
fn corruption_mid_file_is_an_error_after_earlier_records() {
    let traffic = traffic(3, false);
    let ng = write_pcapng(false, 9, &traffic);
    let starts = record_starts(&ng);
    let second = starts[1] as usize;

    for (what, len, detail) in [
        ("zero length", 0u32, "has length 0"),
        ("short length", 8, "has length 8"),
        ("unaligned length", 61, "has length 61"),
        ("huge length", 0x7fff_fff0, "more than the 16777216-byte limit"),
    ] {
        let mut bad = ng.clone();
        bad[second + 4..second + 8].copy_from_slice(&len.to_le_bytes());
        let (delivered, error) = read_to_error("bad.pcapng", &bad);
        assert_eq!(delivered, 1, "{what}");
        assert!(
            error.starts_with(&format!("bad.pcapng: corrupt capture at offset {second}: ")),
            "{what}: {error}"
        );
        assert!(error.contains(detail), "{what}: {error}");
    }

    // Trailing length disagreeing with the leading one.
    let mut bad = ng.clone();
    let third = starts[2] as usize;
    bad[third - 4] ^= 0x10;
    let (delivered, error) = read_to_error("bad.pcapng", &bad);
    assert_eq!(delivered, 1);
    assert!(
        error.contains(&format!("offset {second}: ")) && error.contains("at its end"),
        "{error}"
    );

    // An enhanced packet block whose captured length runs past the block.
    let mut bad = ng.clone();
    bad[second + 20..second + 24].copy_from_slice(&5000u32.to_le_bytes());
    let (delivered, error) = read_to_error("bad.pcapng", &bad);
    assert_eq!(delivered, 1);
    assert!(error.contains(&format!("offset {second}: bad enhanced packet block")), "{error}");

    // A second section whose byte-order magic is unknown, or whose version is.
    for (what, patch, detail) in [
        ("byte order", 8, "unknown byte-order magic 0x1a2b3c1b"),
        ("version", 12, "pcapng version 2.0 is not supported"),
    ] {
        let mut bad = ng.clone();
        let mut section = write_pcapng(false, 9, &traffic);
        match patch {
            8 => section[8] = 0x1b,
            _ => section[12] = 2,
        }
        bad.extend(section);
        let (delivered, error) = read_to_error("two.pcapng", &bad);
        assert_eq!(delivered, 3, "{what}");
        let at = ng.len();
        assert!(
            error.contains(&format!("offset {at}: ")) && error.contains(detail),
            "{what}: {error}"
        );
    }

    // A classic record claiming more than any snap length.
    let pcap = write_pcap(PcapFormat::default(), &traffic);
    let starts = record_starts(&pcap);
    let second = starts[1] as usize;
    let mut bad = pcap.clone();
    bad[second + 8..second + 12].copy_from_slice(&0x00ff_0000u32.to_le_bytes());
    let (delivered, error) = read_to_error("bad.pcap", &bad);
    assert_eq!(delivered, 1);
    assert!(
        error.starts_with(&format!(
            "bad.pcap: corrupt capture at offset {second}: record claims 16711680 captured bytes"
        )),
        "{error}"
    );
}

#[test]
fn large_record_grows_the_buffer_and_stays_under_the_cap() {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let big = vec![0xaa; 3 << 20];
    w.write_packet(0, Timestamp(1), &big).unwrap();
    let traffic = traffic(2, false);
    for sent in &traffic {
        w.write_packet(0, sent.seg.ts, &sent.frame).unwrap();
    }
    let bytes = w.into_inner();
    let mut reader = CaptureReader::from_reader(
        "big.pcapng".into(),
        Box::new(Chunked { data: bytes, pos: 0, chunk: 1 << 16 }),
    )
    .unwrap();
    let mut sizes = Vec::new();
    reader
        .try_for_each_frame(|frame| {
            sizes.push(frame.data.len());
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(sizes, vec![3 << 20, traffic[0].frame.len(), traffic[1].frame.len()]);
    assert!(reader.input.buf.len() >= 3 << 20 && reader.input.buf.len() <= MAX_RECORD_LEN);
}

/// An endless-looking classic pcap stream, generated as it is read.
struct Generated {
    record: Vec<u8>,
    remaining_records: usize,
    pending: Vec<u8>,
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() && self.remaining_records > 0 {
            self.remaining_records -= 1;
            self.pending = self.record.clone();
        }
        let n = out.len().min(self.pending.len());
        out[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[test]
fn long_streams_are_read_in_bounded_memory() {
    let sent = &traffic(5, true)[4]; // 1460-byte payload
    let mut record = PcapWriter::new(Vec::new()).unwrap();
    record.write_packet(sent.seg.ts, &sent.frame).unwrap();
    let record = record.into_inner();
    let (header, record) = record.split_at(24);
    let records = (64 << 20) / record.len();
    let input =
        Generated { record: record.to_vec(), remaining_records: records, pending: header.to_vec() };
    let mut reader = CaptureReader::from_reader("stream".into(), Box::new(input)).unwrap();
    let mut bytes = 0u64;
    reader.for_each_segment(|s| bytes += s.payload.len() as u64).unwrap();
    assert_eq!(reader.stats().tcp_segments, records as u64);
    assert_eq!(bytes, records as u64 * 1460);
    assert_eq!(reader.input.buf.len(), INITIAL_BUFFER_LEN);
}

#[test]
fn early_stop_resumes_where_it_stopped() {
    let traffic = traffic(6, false);
    let bytes = write_pcapng(false, 9, &traffic);
    let mut reader = CaptureReader::from_reader("x".into(), Box::new(Cursor::new(bytes))).unwrap();
    let mut seqs = Vec::new();
    reader
        .try_for_each_segment(|s| {
            seqs.push(s.seq);
            if seqs.len() == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
    assert_eq!(seqs.len(), 2);
    reader.for_each_segment(|s| seqs.push(s.seq)).unwrap();
    let want: Vec<u32> = traffic.iter().map(|s| s.seg.seq).collect();
    assert_eq!(seqs, want);
}

#[test]
fn written_files_are_readable_by_tcpdump() {
    let Ok(status) = std::process::Command::new("tcpdump").arg("--version").output() else {
        eprintln!("SKIPPED: tcpdump is not installed; writer output not cross-checked");
        return;
    };
    assert!(status.status.success());
    let traffic = traffic(6, true);
    let dir = std::env::temp_dir();
    for (name, bytes) in [
        ("us.pcap", write_pcap(PcapFormat::default(), &traffic)),
        (
            "be.pcap",
            write_pcap(
                PcapFormat { nanos: true, big_endian: true, ..PcapFormat::default() },
                &traffic,
            ),
        ),
        ("ns.pcapng", write_pcapng(false, 9, &traffic)),
        ("be.pcapng", write_pcapng(true, 6, &traffic)),
    ] {
        let path = dir.join(format!("zktraffic-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let output = std::process::Command::new("tcpdump")
            .args(["-n", "-tt", "-S", "-e", "-r"])
            .arg(&path)
            .output()
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        let text = String::from_utf8(output.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{name}: {text}");
        // First: SYN, IPv4, no VLAN, at 1700000000.000000.
        assert!(lines[0].starts_with("1700000000.000000"), "{name}: {}", lines[0]);
        assert!(
            lines[0].contains(
                "192.168.7.1.51234 > 192.168.7.2.2181: Flags [S], seq 1000, win 65535, length 0"
            ),
            "{name}: {}",
            lines[0]
        );
        // Fourth: PSH|ACK from the IPv6 server with 100 bytes, no VLAN.
        assert!(
            lines[3].contains(
                "fd00::2181.2181 > fd00::17.51235: Flags [P.], seq 24757:24857, ack 4294967292"
            ),
            "{name}: {}",
            lines[3]
        );
        assert!(lines[3].contains("length 100"), "{name}: {}", lines[3]);
        // Second and third frames are VLAN-tagged.
        assert!(lines[1].contains("vlan 7"), "{name}: {}", lines[1]);
        assert!(
            lines[2].contains(
                "ethertype 802.1Q-QinQ (0x88a8), length 94: vlan 7, p 0, \
                 ethertype 802.1Q (0x8100), vlan 8, p 0, ethertype IPv6"
            ),
            "{name}: {}",
            lines[2]
        );
    }
}

const CONFORMANCE: &str = "/work/shared/conformance";

#[test]
fn conformance_captures() {
    let dir = Path::new(CONFORMANCE);
    if !dir.is_dir() {
        eprintln!("SKIPPED: {CONFORMANCE} is absent; conformance captures not read");
        return;
    }
    // (file, frames, TCP segments with payload, payload bytes), counted with tcpdump.
    let expected = [
        ("auth.pcap", 3, 2, 61),
        ("connect_replies.pcap", 30, 6, 270),
        ("connects.pcap", 21, 6, 183),
        ("create-pyzookeeper.pcap", 9, 4, 182),
        ("dump.pcap", 40, 27, 1025),
        ("get_children_with_four_letter.pcap", 37, 12, 927),
        ("getdata_watches.pcap", 10, 5, 137),
        ("multi.pcap", 6, 4, 255),
        ("reconfig.pcap", 6, 4, 137),
        ("set_data.pcap", 74, 36, 14301),
        ("setwatches.pcap", 18, 7, 236),
        ("zab_commitandactivate.pcap", 84, 54, 2271),
        ("zab_followerinfo.pcap", 43, 24, 868),
        ("zab_request.pcap", 118, 78, 2172),
        ("zab_revalidate.pcap", 59, 38, 805),
    ];
    for (file, frames, with_payload, payload_bytes) in expected {
        let mut reader = CaptureReader::open(&dir.join(file)).unwrap();
        let mut segments = Vec::new();
        reader.for_each_segment(|s| segments.push(Seg::from(s))).unwrap();
        let stats = reader.stats();
        assert_eq!(stats.frames, frames, "{file}");
        assert_eq!(stats.tcp_segments, frames, "{file}");
        assert_eq!(
            segments.iter().filter(|s| !s.payload.is_empty()).count(),
            with_payload,
            "{file}"
        );
        assert_eq!(stats.tcp_payload_bytes, payload_bytes, "{file}");
        assert_eq!(stats.truncated_payloads, 0, "{file}");
        assert!(reader.warnings().is_empty(), "{file}: {:?}", reader.warnings());
    }

    // tcpdump -tt -S -x: the first frame of dump.pcap.
    let mut reader = CaptureReader::open(&dir.join("dump.pcap")).unwrap();
    let mut first = None;
    reader
        .try_for_each_segment(|s| {
            first = Some(Seg::from(s));
            ControlFlow::Break(())
        })
        .unwrap();
    let first = first.unwrap();
    assert_eq!(
        first,
        Seg {
            ts: Timestamp(1_435_271_474_316_883_000),
            src: "127.0.0.1:60446".parse().unwrap(),
            dst: "127.0.0.1:2181".parse().unwrap(),
            seq: 1_581_698_232,
            ack: 4_174_604_369,
            flags: PSH | ACK,
            payload: vec![0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0x0b],
            wire_len: 12,
        }
    );
}

fn valid_files() -> Vec<Vec<u8>> {
    let traffic = traffic(4, false);
    vec![
        write_pcap(PcapFormat::default(), &traffic),
        write_pcap(PcapFormat { nanos: true, big_endian: true, ..PcapFormat::default() }, &traffic),
        write_pcapng(false, 9, &traffic),
        write_pcapng(true, 6, &traffic),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(
        magic in prop_oneof![
            Just(vec![0xd4, 0xc3, 0xb2, 0xa1]),
            Just(vec![0xa1, 0xb2, 0x3c, 0x4d]),
            Just(vec![0x34, 0xcd, 0xb2, 0xa1]),
            Just(vec![0x0a, 0x0d, 0x0d, 0x0a]),
            Just(vec![]),
        ],
        rest in proptest::collection::vec(any::<u8>(), 0..600),
        chunk in 1usize..64,
    ) {
        let bytes = [magic, rest].concat();
        if let Ok(out) = read_chunked("fuzz", &bytes, chunk) {
            prop_assert!(out.stats.tcp_segments <= out.stats.frames);
        }
    }

    #[test]
    fn damaged_valid_captures_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        keep in any::<prop::sample::Index>(),
    ) {
        let files = valid_files();
        let original = &files[which];
        let full = read("fuzz", original).segments;
        let mut bytes = original.clone();
        for (at, value) in &edits {
            let at = at.index(bytes.len());
            bytes[at] = *value;
        }
        let keep = keep.index(bytes.len() + 1);
        bytes.truncate(keep);
        let outcome = read_chunked("fuzz", &bytes, 7);
        // Only truncated: a prefix of the original segments, and no error.
        if let Ok(out) = outcome
            && edits.is_empty()
        {
            prop_assert!(out.result.is_ok());
            prop_assert_eq!(&out.segments[..], &full[..out.segments.len()]);
        }
    }
}
