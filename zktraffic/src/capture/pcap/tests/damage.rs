//! Damaged input: truncated files, garbage, corrupt records and arbitrary bytes.

use super::*;

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
