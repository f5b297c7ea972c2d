//! Other tools' view: tcpdump reads what we write, and we read the conformance captures as
//! tcpdump does.

use super::*;

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
