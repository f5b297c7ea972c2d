//! The kernel programs run on hand-built frames with `BPF_PROG_TEST_RUN` (no interface needed):
//! what lands in the ring buffer, and the counters. Needs root (CAP_BPF); skips loudly without.
#![cfg(feature = "ebpf")]

mod ebpf_support;

use ebpf_support::{Ip, Tcp, frame, privileged};
use zktraffic::ebpf::{Hook, KernelStats, LiveCapture, LiveCaptureConfig};
use zktraffic_common::tcp_flags::{ACK, FIN, PSH, RST, SYN};

const V4: Ip = Ip::V4([10, 0, 0, 1], [10, 0, 0, 2]);
const TC_CONTINUE: u32 = u32::MAX; // TC_ACT_UNSPEC (-1)
const XDP_PASS: u32 = 2;

/// One delivered segment, owned.
#[derive(Debug, Clone, PartialEq)]
struct Got {
    hook: Hook,
    src: String,
    dst: String,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
    wire_len: u32,
}

fn load() -> LiveCapture {
    let cfg = LiveCaptureConfig { ports: vec![2181, 2888], ..Default::default() };
    match LiveCapture::load_unattached(&cfg) {
        Ok(c) => c,
        Err(e) => panic!("loading the kernel programs: {e}"),
    }
}

fn run(cap: &mut LiveCapture, hook: Hook, frame: &[u8]) -> Vec<Got> {
    let out = cap.test_run(hook, frame).expect("test_run");
    let want = if hook == Hook::Xdp { XDP_PASS } else { TC_CONTINUE };
    assert_eq!(out.return_value, want, "the program must let the packet pass");
    let mut got = Vec::new();
    cap.drain(|s, h| {
        got.push(Got {
            hook: h,
            src: s.src.to_string(),
            dst: s.dst.to_string(),
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            payload: s.payload.to_vec(),
            wire_len: s.wire_len,
        })
    });
    got
}

fn tcp(payload: &[u8]) -> Tcp<'_> {
    Tcp { sport: 40000, dport: 2181, seq: 1000, ack: 2000, flags: ACK | PSH, options: &[], payload }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn ipv4_on_every_hook() {
    if !privileged("ipv4_on_every_hook") {
        return;
    }
    let mut cap = load();
    let f = frame(
        &[],
        V4,
        &Tcp { options: &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], ..tcp(b"\0\0\0\x08hello zk") },
    );
    for hook in [Hook::TcIngress, Hook::TcEgress, Hook::Xdp] {
        let got = run(&mut cap, hook, &f);
        assert_eq!(
            got,
            vec![Got {
                hook,
                src: "10.0.0.1:40000".into(),
                dst: "10.0.0.2:2181".into(),
                seq: 1000,
                ack: 2000,
                flags: ACK | PSH,
                payload: b"\0\0\0\x08hello zk".to_vec(),
                wire_len: 12,
            }]
        );
    }
    let s = cap.kernel_stats();
    assert_eq!((s.packets_seen, s.segments_kept, s.bytes_kept, s.records), (3, 3, 36, 3));
    assert_eq!((s.ring_full_drops, s.truncated, s.parse_failures, s.load_failures), (0, 0, 0, 0));
}

#[test]
fn ipv6_with_extension_headers() {
    if !privileged("ipv6_with_extension_headers") {
        return;
    }
    let mut cap = load();
    let mut src = [0u8; 16];
    src[..2].copy_from_slice(&[0xfd, 0x00]);
    src[15] = 1;
    let mut dst = src;
    dst[15] = 2;
    for ext in [false, true] {
        let f = frame(
            &[],
            Ip::V6 { src, dst, ext },
            &Tcp { sport: 2181, dport: 50000, ..tcp(b"reply") },
        );
        for hook in [Hook::TcIngress, Hook::Xdp] {
            let got = run(&mut cap, hook, &f);
            assert_eq!(got.len(), 1, "ext={ext} hook={hook:?}");
            assert_eq!(got[0].src, "[fd00::1]:2181");
            assert_eq!(got[0].dst, "[fd00::2]:50000");
            assert_eq!(got[0].payload, b"reply");
        }
    }
}

#[test]
fn one_and_two_vlan_tags() {
    if !privileged("one_and_two_vlan_tags") {
        return;
    }
    let mut cap = load();
    for vlans in [&[0x8100u16][..], &[0x88a8, 0x8100], &[0x8100, 0x8100]] {
        let f = frame(vlans, V4, &tcp(b"tagged"));
        for hook in [Hook::TcEgress, Hook::Xdp] {
            let got = run(&mut cap, hook, &f);
            assert_eq!(got.len(), 1, "vlans={vlans:x?} hook={hook:?}");
            assert_eq!((got[0].seq, got[0].payload.as_slice()), (1000, &b"tagged"[..]));
        }
    }
}

#[test]
fn other_ports_and_protocols_are_not_kept() {
    if !privileged("other_ports_and_protocols_are_not_kept") {
        return;
    }
    let mut cap = load();
    let f = frame(&[], V4, &Tcp { sport: 40000, dport: 80, ..tcp(b"GET /") });
    let mut udp = frame(&[], V4, &tcp(b"x"));
    udp[14 + 9] = 17; // IP protocol: UDP
    let mut arp = frame(&[], V4, &tcp(b"x"));
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    for hook in [Hook::TcIngress, Hook::Xdp] {
        assert!(run(&mut cap, hook, &f).is_empty());
        assert!(run(&mut cap, hook, &udp).is_empty());
        assert!(run(&mut cap, hook, &arp).is_empty());
    }
    // The quorum port is in the filter too.
    assert_eq!(
        run(&mut cap, Hook::Xdp, &frame(&[], V4, &Tcp { dport: 2888, ..tcp(b"zab") })).len(),
        1
    );
    let s = cap.kernel_stats();
    assert_eq!((s.packets_seen, s.segments_kept, s.parse_failures), (3, 1, 0));
}

#[test]
fn syn_padding_and_malformed_headers() {
    if !privileged("syn_padding_and_malformed_headers") {
        return;
    }
    let mut cap = load();
    // A SYN: no payload, still delivered (reassembly needs it).
    let got = run(&mut cap, Hook::TcIngress, &frame(&[], V4, &Tcp { flags: SYN, ..tcp(b"") }));
    assert_eq!((got.len(), got[0].flags, got[0].payload.len(), got[0].wire_len), (1, SYN, 0, 0));
    assert_eq!((got[0].seq, got[0].ack), (1000, 2000));
    // Ethernet padding after a 2-byte payload is not payload: IP's total length says so.
    let mut padded = frame(&[], V4, &tcp(b"ok"));
    padded.resize(60, 0xee);
    let got = run(&mut cap, Hook::Xdp, &padded);
    assert_eq!(got[0].payload, b"ok");
    // IHL below 5 and a TCP data offset past the packet are parse failures, not kept.
    let mut bad_ihl = frame(&[], V4, &tcp(b"x"));
    bad_ihl[14] = 0x43;
    assert!(run(&mut cap, Hook::TcIngress, &bad_ihl).is_empty());
    let mut bad_doff = frame(&[], V4, &tcp(b"x"));
    bad_doff[14 + 20 + 12] = 0xf0;
    assert!(run(&mut cap, Hook::Xdp, &bad_doff).is_empty());
    let s = cap.kernel_stats();
    assert_eq!((s.parse_failures, s.segments_kept, s.bytes_kept), (2, 2, 2));
}

/// Pure ACKs (no payload, no SYN, FIN or RST) carry nothing the decoder needs: not sent, and
/// counted, unless asked for (`--keep-pure-acks`, `--write-pcap`). A FIN or RST without
/// payload, and an ACK with payload, are always sent.
#[test]
fn pure_acks_are_skipped_unless_kept() {
    if !privileged("pure_acks_are_skipped_unless_kept") {
        return;
    }
    let pure = frame(&[], V4, &Tcp { flags: ACK, ..tcp(b"") });
    let mut cap = load();
    for hook in [Hook::TcIngress, Hook::TcEgress, Hook::Xdp] {
        assert!(run(&mut cap, hook, &pure).is_empty(), "{hook:?}");
    }
    for flags in [ACK | FIN, ACK | RST, RST] {
        let got = run(&mut cap, Hook::TcIngress, &frame(&[], V4, &Tcp { flags, ..tcp(b"") }));
        assert_eq!((got.len(), got[0].flags, got[0].wire_len), (1, flags, 0), "{flags:#x}");
    }
    let got = run(&mut cap, Hook::Xdp, &frame(&[], V4, &tcp(b"data")));
    assert_eq!(got[0].payload, b"data");
    let s = cap.kernel_stats();
    assert_eq!((s.pure_acks_skipped, s.segments_kept, s.records), (3, 4, 4));

    let cfg = LiveCaptureConfig { ports: vec![2181], keep_pure_acks: true, ..Default::default() };
    let mut keep = LiveCapture::load_unattached(&cfg).expect("loading the kernel programs");
    let got = run(&mut keep, Hook::Xdp, &pure);
    assert_eq!((got.len(), got[0].flags, got[0].payload.len(), got[0].ack), (1, ACK, 0, 2000));
    assert_eq!(keep.kernel_stats().pure_acks_skipped, 0);
}

#[test]
fn payload_larger_than_one_record_arrives_complete() {
    if !privileged("payload_larger_than_one_record_arrives_complete") {
        return;
    }
    let mut cap = load();
    // TC: BPF_PROG_TEST_RUN takes at most about one page of skb data, so ~3.5 KB.
    let p = pattern(3500);
    let got = run(&mut cap, Hook::TcEgress, &frame(&[], V4, &tcp(&p)));
    assert_eq!((got.len(), got[0].payload == p, got[0].wire_len), (1, true, 3500));
    // XDP multi-buffer (frags): the test run builds a fragmented frame, so several records.
    for n in [4096, 4097, 10_000, 65_536 - 54] {
        let p = pattern(n);
        let got = run(&mut cap, Hook::Xdp, &frame(&[], V4, &tcp(&p)));
        assert_eq!(got.len(), 1, "n={n}");
        assert_eq!(got[0].wire_len as usize, n);
        assert!(got[0].payload == p, "payload of {n} bytes differs");
    }
    let s = cap.kernel_stats();
    assert_eq!((s.truncated, s.ring_full_drops, s.load_failures), (0, 0, 0));
    assert_eq!(cap.reader_stats().incomplete_segments, 0);
}

#[test]
fn payload_over_64k_on_xdp_is_truncated_and_marked() {
    if !privileged("payload_over_64k_on_xdp_is_truncated_and_marked") {
        return;
    }
    // bpf_xdp_load_bytes refuses offsets above 0xffff, so XDP copies at most 64 KiB (TC copies
    // up to MAX_CAPTURE; BPF_PROG_TEST_RUN cannot build such an skb, the live test on lo can).
    let mut cap = load();
    let p = pattern(66_000);
    let got = run(&mut cap, Hook::Xdp, &frame(&[], V4, &tcp(&p)));
    assert_eq!(got.len(), 1, "{:?} {:?}", cap.kernel_stats(), cap.reader_stats());
    assert_eq!(got[0].wire_len, 66_000);
    assert_eq!(got[0].payload.len(), 65_536);
    assert!(got[0].payload == p[..65_536]);
    let s: KernelStats = cap.kernel_stats();
    // Four 16 KiB records.
    assert_eq!((s.truncated, s.segments_kept, s.bytes_kept, s.records), (1, 1, 65_536, 4));
    assert_eq!(s.load_failures, 0);
}

#[test]
fn payload_over_the_limit_is_truncated_and_marked() {
    if !privileged("payload_over_the_limit_is_truncated_and_marked") {
        return;
    }
    // A capture limit below MAX_CAPTURE (BPF_PROG_TEST_RUN frames stay below it).
    let cfg = LiveCaptureConfig { ports: vec![2181], capture_limit: 3000, ..Default::default() };
    let mut cap = LiveCapture::load_unattached(&cfg).expect("load");
    let p = pattern(3500);
    let got = run(&mut cap, Hook::TcIngress, &frame(&[], V4, &tcp(&p)));
    assert_eq!((got.len(), got[0].wire_len), (1, 3500));
    assert!(got[0].payload == p[..3000]);
    let s: KernelStats = cap.kernel_stats();
    assert_eq!((s.truncated, s.bytes_kept, s.records), (1, 3000, 1));
    let p = pattern(40_000);
    let got = run(&mut cap, Hook::Xdp, &frame(&[], V4, &tcp(&p)));
    assert_eq!((got.len(), got[0].wire_len), (1, 40_000));
    assert!(got[0].payload == p[..3000]);
    // Out-of-range limits are refused.
    for bad in [0, zktraffic_common::record::MAX_CAPTURE + 1] {
        let cfg = LiveCaptureConfig { capture_limit: bad, ..Default::default() };
        assert!(LiveCapture::load_unattached(&cfg).is_err(), "limit {bad}");
    }
}

#[test]
fn full_ring_drops_are_counted() {
    if !privileged("full_ring_drops_are_counted") {
        return;
    }
    // The smallest ring accepted (one full-size record) holds a few hundred small records;
    // nobody reads while we fill it.
    let ring_bytes = zktraffic::ebpf::min_ring_bytes();
    let cfg = LiveCaptureConfig { ring_bytes, ..Default::default() };
    let mut cap = LiveCapture::load_unattached(&cfg).expect("load");
    let f = frame(&[], V4, &tcp(b"fill"));
    let runs = 2 * ring_bytes as u64 / 64; // more small records than fit
    for _ in 0..runs {
        cap.test_run(Hook::TcIngress, &f).expect("test_run");
    }
    let s = cap.kernel_stats();
    assert!(s.ring_full_drops > 0, "{s:?}");
    assert_eq!(s.segments_kept + s.ring_full_drops, runs);
    let mut n = 0;
    cap.drain(|_, _| n += 1);
    assert_eq!(n as u64, s.segments_kept);
}
