use std::net::{Ipv4Addr, SocketAddr};

use zktraffic_common::tcp_flags::{ACK, SYN};

use super::*;
use crate::Timestamp;
use crate::capture::OwnedSegment;
use crate::zk::encode::{FrameWriter, connect_request};
use crate::zk::{Body, Message, OpCode};

const CISN: u32 = 1000;
const SISN: u32 = 5000;

fn addr(port: u16) -> SocketAddr {
    (Ipv4Addr::LOCALHOST, port).into()
}

/// Pushes one segment of connection `c` (client port 40000 + c).
fn push<K: MessageSink>(
    p: &mut Pipeline<K>,
    c: u16,
    to_server: bool,
    seq: u32,
    flags: u8,
    data: &[u8],
) {
    let (client, server) = (addr(40_000 + c), addr(2181));
    let (src, dst) = if to_server { (client, server) } else { (server, client) };
    let ack = if to_server { SISN + 1 } else { CISN + 1 };
    p.push(&Segment {
        ts: Timestamp(1_000_000_000),
        src,
        dst,
        seq,
        ack,
        flags,
        payload: data,
        wire_len: data.len() as u32,
    });
}

/// Many connections each holding half of a large frame: the total stays within
/// `--max-partial-bytes` (the largest holders shed, counted with their bytes), and the frames
/// after a shed one still decode.
#[test]
fn partial_frames_share_one_budget() {
    const CONNS: u16 = 10;
    const HALF: usize = 100 << 10;
    let mut config = PipelineConfig::default();
    config.decoder.max_partial_bytes = 512 << 10;
    let mut paths: HashMap<String, u64> = HashMap::new();
    let sink = |m: &Message<'_>| {
        if let Body::Request(r) = &m.body {
            *paths.entry(r.path().unwrap_or("-").to_owned()).or_default() += 1;
        }
    };
    let mut p = Pipeline::new(config, sink);
    let set_data = FrameWriter::new()
        .request_header(2, OpCode::SetData.to_wire())
        .string("/big")
        .buffer(Some(&vec![7; 2 * HALF]))
        .i32(-1)
        .finish();
    let exists = FrameWriter::new()
        .request_header(3, OpCode::Exists.to_wire())
        .string("/after")
        .bool(false)
        .finish();
    let hello = connect_request(0, 0, 30_000);
    let first = CISN + 1 + hello.len() as u32;
    for c in 0..CONNS {
        push(&mut p, c, true, CISN, SYN, b"");
        push(&mut p, c, false, SISN, SYN | ACK, b"");
        push(&mut p, c, true, CISN + 1, ACK, &hello);
        push(&mut p, c, true, first, ACK, &set_data[..HALF]);
        let held = p.decoder.stats.framing.partial_bytes;
        assert!(held <= (512 << 10) + HALF as u64, "held {held}");
    }
    let stats = p.stats().decode.framing;
    assert!(stats.partial_bytes <= 512 << 10, "{stats:?}");
    assert_eq!(stats.partial_frames_shed, u64::from(CONNS) - 5, "{stats:?}");
    assert_eq!(stats.partial_bytes_shed, (u64::from(CONNS) - 5) * HALF as u64, "{stats:?}");
    for c in 0..CONNS {
        let mut rest = set_data[HALF..].to_vec();
        rest.extend_from_slice(&exists);
        push(&mut p, c, true, first + HALF as u32, ACK, &rest);
    }
    // One connection ends with half a frame: lost, and counted as such.
    push(
        &mut p,
        0,
        true,
        first + set_data.len() as u32 + exists.len() as u32,
        ACK,
        &set_data[..10],
    );
    p.finish();
    let stats = p.stats().decode.framing;
    assert_eq!(stats.partial_bytes, 0);
    // The shed frames' bytes still to come were skipped, their ends found by their lengths.
    let rest = (set_data.len() - HALF) as u64;
    assert_eq!(stats.skipped_frame_bytes, (u64::from(CONNS) - 5) * rest);
    assert_eq!((stats.partial_frames_at_close, stats.partial_bytes_at_close), (1, 10));
    drop(p);
    assert_eq!(paths.get("/after"), Some(&u64::from(CONNS)));
    assert_eq!(paths.get("/big"), Some(&5));
}

/// The same budget on the quorum port: learners each sending half of a large PROPOSAL stay
/// within `--max-partial-bytes` together; a shed stream searches again and resumes at the
/// packets after the lost one.
#[test]
fn quorum_streams_share_one_budget_too() {
    const CONNS: u16 = 10;
    const HALF: usize = 100 << 10;
    let mut config = PipelineConfig { zab_ports: vec![2888], ..PipelineConfig::default() };
    config.decoder.max_partial_bytes = 512 << 10;
    let mut kinds: HashMap<&'static str, u64> = HashMap::new();
    struct Kinds<'a>(&'a mut HashMap<&'static str, u64>);
    impl MessageSink for Kinds<'_> {
        fn message(&mut self, _: &Message<'_>) {}
        fn zab(&mut self, m: &crate::quorum::ZabMessage<'_>) {
            *self.0.entry(m.kind.name()).or_default() += 1;
        }
        fn election(&mut self, _: &crate::election::ElectionMessage<'_>) {}
    }
    let mut p = Pipeline::new(config, Kinds(&mut kinds));
    let proposal = crate::quorum::packet::encode(2, 7, Some(&vec![7; 2 * HALF]), &[]);
    let mut after = crate::quorum::packet::encode(4, 7, None, &[]); // COMMIT
    after.extend(crate::quorum::packet::encode(5, 0, None, &[])); // PING
    let seg = |c: u16, seq: u32, flags: u8, payload: &[u8]| {
        let segment = Segment {
            ts: Timestamp(1_000_000_000),
            src: addr(40_000 + c),
            dst: addr(2888),
            seq,
            ack: SISN + 1,
            flags,
            payload,
            wire_len: payload.len() as u32,
        };
        OwnedSegment::from(&segment)
    };
    for c in 0..CONNS {
        p.push(&seg(c, CISN, SYN, &[]).segment());
        p.push(&seg(c, CISN + 1, ACK, &proposal[..HALF]).segment());
        let held = p.zab.as_ref().map_or(0, |z| z.decoder.partial_bytes());
        assert!(held <= 512 << 10, "held {held}");
    }
    let shed = p.zab.as_ref().map(|z| z.decoder.stats.partial_bytes_shed);
    assert_eq!(shed, Some((u64::from(CONNS) - 5) * HALF as u64));
    for c in 0..CONNS {
        let mut rest = proposal[HALF..].to_vec();
        rest.extend_from_slice(&after);
        p.push(&seg(c, CISN + 1 + HALF as u32, ACK, &rest).segment());
    }
    p.finish();
    assert_eq!(p.zab.as_ref().map(|z| z.decoder.partial_bytes()), Some(0));
    drop(p);
    let n = |k: &str| kinds.get(k).copied().unwrap_or(0);
    assert_eq!((n("Proposal"), n("Commit"), n("Ping")), (5, u64::from(CONNS), u64::from(CONNS)));
}

/// With `learn_ports`, an election notification's config text adds the client and quorum
/// ports it names: connections to them are decoded from then on.
#[test]
fn ports_named_by_election_config_are_learned() {
    let config = PipelineConfig {
        ports: vec![],
        election_ports: vec![3888],
        learn_ports: true,
        ..PipelineConfig::default()
    };
    let mut seen = Vec::new();
    struct Seen<'a>(&'a mut Vec<String>);
    impl MessageSink for Seen<'_> {
        fn message(&mut self, m: &Message<'_>) {
            self.0.push(format!("client {}", m.conn.server.port()));
        }
        fn zab(&mut self, m: &crate::quorum::ZabMessage<'_>) {
            self.0.push(format!("zab {} {}", m.kind.name(), m.conn.server.port()));
        }
        fn election(&mut self, _: &crate::election::ElectionMessage<'_>) {
            self.0.push("election".to_owned());
        }
    }
    let mut p = Pipeline::new(config, Seen(&mut seen));
    let seg = |sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]| {
        let segment = Segment {
            ts: Timestamp(1_000_000_000),
            src: addr(sport),
            dst: addr(dport),
            seq,
            ack: 1,
            flags,
            payload,
            wire_len: payload.len() as u32,
        };
        OwnedSegment::from(&segment)
    };
    let feed = |p: &mut Pipeline<Seen<'_>>, s: OwnedSegment| p.push(&s.segment());
    // Before: a connection to 12181 is no ZooKeeper traffic.
    let connect = connect_request(0, 0, 30_000);
    feed(&mut p, seg(40_001, 12181, CISN, SYN, &[]));
    feed(&mut p, seg(40_001, 12181, CISN + 1, ACK, &connect));
    // A notification on the default election port, from the accepting side.
    let config_text = "server.1=127.0.0.1:12888:3888:participant;127.0.0.1:12181\nversion=0";
    let mut vote = Vec::new();
    vote.extend_from_slice(&0i32.to_be_bytes());
    vote.extend_from_slice(&1i64.to_be_bytes());
    vote.extend_from_slice(&0i64.to_be_bytes());
    vote.extend_from_slice(&1i64.to_be_bytes());
    vote.extend_from_slice(&0i64.to_be_bytes());
    vote.extend_from_slice(&2i32.to_be_bytes());
    vote.extend_from_slice(&(config_text.len() as i32).to_be_bytes());
    vote.extend_from_slice(config_text.as_bytes());
    let mut framed = (vote.len() as i32).to_be_bytes().to_vec();
    framed.extend(vote);
    feed(&mut p, seg(3888, 40_002, SISN, SYN | ACK, &[]));
    feed(&mut p, seg(3888, 40_002, SISN + 1, ACK, &framed));
    // After: the client port and the quorum port decode.
    feed(&mut p, seg(40_003, 12181, CISN, SYN, &[]));
    feed(&mut p, seg(40_003, 12181, CISN + 1, ACK, &connect));
    let mut ack = 3i32.to_be_bytes().to_vec();
    ack.extend_from_slice(&0x1_0000_0001i64.to_be_bytes());
    ack.extend_from_slice(&(-1i32).to_be_bytes());
    ack.extend_from_slice(&(-1i32).to_be_bytes());
    feed(&mut p, seg(40_004, 12888, CISN, SYN, &[]));
    feed(&mut p, seg(40_004, 12888, CISN + 1, ACK, &ack));
    p.finish();
    let stats = p.stats();
    drop(p);
    assert_eq!(seen, ["election", "client 12181", "zab Ack 12888"]);
    assert_eq!(stats.election.map(|e| e.ports_learned), Some(1));
}
