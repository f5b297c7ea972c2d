//! The session against hand-built conversations: handshakes, pairing of every opcode, special
//! xids, four-letter words, TLS, foreign dialects, hostile input.

use std::net::SocketAddr;

use proptest::prelude::*;

use super::*;
use crate::tcp::CloseReason;
use crate::zk::decoder::Decoder;
use crate::zk::encode::{self, FrameWriter};
use crate::zk::message::Body;

/// What a test sees of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    name: String,
    xid: i32,
    path: Option<String>,
    error: Option<String>,
    request: Option<String>,
    latency_ns: Option<u64>,
}

fn seen(m: &Message<'_>) -> Seen {
    let (xid, error, request, latency_ns) = match &m.body {
        Body::Request(r) => (r.xid, None, None, None),
        Body::Reply(r) => (
            r.xid,
            Some(r.err.to_string()),
            r.request.map(|p| p.name.to_owned()),
            r.latency_ns(m.ts),
        ),
        Body::Event(_) => (-1, None, None, None),
        Body::FourLetter(f) => (0, None, None, Some(f.response_len)),
    };
    Seen {
        name: crate::output::type_name(m).into_owned(),
        xid,
        path: crate::output::path(m).map(str::to_owned),
        error,
        request,
        latency_ns,
    }
}

struct Conv {
    decoder: Decoder<Vec<Seen>>,
    session: Session,
    conn: ConnKey,
    ts: u64,
}

impl Conv {
    fn new(from_syn: bool) -> Self {
        let sink: Vec<Seen> = Vec::new();
        let mut c = Conv {
            decoder: Decoder::new(DecoderConfig::default(), sink),
            session: Session::default(),
            conn: ConnKey {
                client: "10.0.0.2:40000".parse::<SocketAddr>().unwrap(),
                server: "10.0.0.1:2181".parse().unwrap(),
            },
            ts: 1_000_000,
        };
        for dir in [Direction::ToServer, Direction::ToClient] {
            c.event(StreamEvent::Start { dir, from_syn });
        }
        c
    }

    fn event(&mut self, e: StreamEvent<'_>) {
        let d = &mut self.decoder;
        self.session.on_event(&self.conn, e, &d.config, &mut d.stats, &mut d.sink);
    }

    fn send(&mut self, dir: Direction, bytes: &[u8]) {
        self.ts += 1_000;
        let ts = Timestamp(self.ts);
        self.event(StreamEvent::Data { dir, ts, bytes });
    }

    fn req(&mut self, bytes: &[u8]) {
        self.send(Direction::ToServer, bytes);
    }

    fn rep(&mut self, bytes: &[u8]) {
        self.send(Direction::ToClient, bytes);
    }

    fn close(&mut self) {
        self.event(StreamEvent::Closed { ts: Timestamp(self.ts), reason: CloseReason::Fin });
    }

    fn names(&self) -> Vec<&str> {
        self.decoder.sink.iter().map(|s| s.name.as_str()).collect()
    }

    fn handshake(&mut self) {
        self.req(&encode::connect_request(0, 0, 30_000));
        self.rep(&encode::connect_response(0x55, 30_000));
    }
}

impl crate::zk::ClientSink for Vec<Seen> {
    fn message(&mut self, msg: &Message<'_>) {
        self.push(seen(msg));
    }
}

fn request(xid: i32, op: OpCode) -> FrameWriter {
    FrameWriter::new().request_header(xid, op.to_wire())
}

fn ok(xid: i32) -> FrameWriter {
    FrameWriter::new().reply_header(xid, 100, 0)
}

#[test]
fn every_opcode_is_paired_with_its_reply() {
    let mut c = Conv::new(true);
    c.handshake();
    let acl = |w: FrameWriter| w.i32(1).i32(31).string("world").string("anyone");
    let cases: Vec<(OpCode, FrameWriter, FrameWriter, &str, &str)> = vec![
        (
            OpCode::Create,
            acl(request(1, OpCode::Create).string("/a").buffer(None)).i32(0),
            ok(1).string("/a"),
            "CreateRequest",
            "CreateReply",
        ),
        (
            OpCode::Create2,
            acl(request(2, OpCode::Create2).string("/e").buffer(None)).i32(1),
            ok(2).string("/e").stat(1),
            "CreateEphemeralRequest",
            "Create2Reply",
        ),
        (
            OpCode::CreateContainer,
            acl(request(3, OpCode::CreateContainer).string("/c").buffer(None)).i32(4),
            ok(3).string("/c").stat(1),
            "CreateContainerRequest",
            "CreateContainerReply",
        ),
        (
            OpCode::CreateTtl,
            acl(request(4, OpCode::CreateTtl).string("/t").buffer(None)).i32(5).i64(9),
            ok(4).string("/t").stat(1),
            "CreateTTLRequest",
            "CreateTTLReply",
        ),
        (
            OpCode::Delete,
            request(5, OpCode::Delete).string("/a").i32(-1),
            ok(5),
            "DeleteRequest",
            "DeleteReply",
        ),
        (
            OpCode::Exists,
            request(6, OpCode::Exists).string("/a").bool(true),
            ok(6).stat(1),
            "ExistsRequest",
            "ExistsReply",
        ),
        (
            OpCode::GetData,
            request(7, OpCode::GetData).string("/a").bool(false),
            ok(7).buffer(Some(b"x")).stat(1),
            "GetDataRequest",
            "GetDataReply",
        ),
        (
            OpCode::SetData,
            request(8, OpCode::SetData).string("/a").buffer(Some(b"y")).i32(0),
            ok(8).stat(1),
            "SetDataRequest",
            "SetDataReply",
        ),
        (
            OpCode::GetAcl,
            request(9, OpCode::GetAcl).string("/a"),
            acl(ok(9)).stat(1),
            "GetAclRequest",
            "GetAclReply",
        ),
        (
            OpCode::SetAcl,
            acl(request(10, OpCode::SetAcl).string("/a")).i32(0),
            ok(10).stat(1),
            "SetAclRequest",
            "SetAclReply",
        ),
        (
            OpCode::GetChildren,
            request(11, OpCode::GetChildren).string("/").bool(false),
            ok(11).strings(&["a"]),
            "GetChildrenRequest",
            "GetChildrenReply",
        ),
        (
            OpCode::Sync,
            request(12, OpCode::Sync).string("/"),
            ok(12).string("/"),
            "SyncRequest",
            "SyncReply",
        ),
        (
            OpCode::GetChildren2,
            request(13, OpCode::GetChildren2).string("/").bool(true),
            ok(13).strings(&[]).stat(1),
            "GetChildren2Request",
            "GetChildren2Reply",
        ),
        (
            OpCode::Check,
            request(14, OpCode::Check).string("/a").i32(1),
            ok(14).stat(1),
            "CheckRequest",
            "CheckReply",
        ),
        (
            OpCode::Reconfig,
            request(15, OpCode::Reconfig).string("").string("3").string("").i64(-1),
            ok(15).buffer(Some(b"cfg")).stat(1),
            "ReconfigRequest",
            "ReconfigReply",
        ),
        (
            OpCode::CheckWatches,
            request(16, OpCode::CheckWatches).string("/a").i32(3),
            ok(16),
            "CheckWatchesRequest",
            "CheckWatchesReply",
        ),
        (
            OpCode::RemoveWatches,
            request(17, OpCode::RemoveWatches).string("/a").i32(1),
            ok(17),
            "RemoveWatchesRequest",
            "RemoveWatchesReply",
        ),
        (
            OpCode::Sasl,
            request(18, OpCode::Sasl).buffer(Some(b"tok")),
            ok(18).buffer(Some(b"srv")),
            "SaslRequest",
            "SaslReply",
        ),
        (
            OpCode::GetEphemerals,
            request(19, OpCode::GetEphemerals).string("/"),
            ok(19).strings(&["/e"]),
            "GetEphemeralsRequest",
            "GetEphemeralsReply",
        ),
        (
            OpCode::GetAllChildrenNumber,
            request(20, OpCode::GetAllChildrenNumber).string("/"),
            ok(20).i32(7),
            "GetAllChildrenNumberRequest",
            "GetAllChildrenNumberReply",
        ),
        (
            OpCode::SetWatches2,
            request(21, OpCode::SetWatches2)
                .i64(1)
                .strings(&[])
                .strings(&[])
                .strings(&[])
                .strings(&["/p"])
                .strings(&[]),
            ok(21),
            "SetWatches2Request",
            "SetWatches2Reply",
        ),
        (
            OpCode::AddWatch,
            request(22, OpCode::AddWatch).string("/a").i32(0),
            ok(22).i32(0),
            "AddWatchRequest",
            "AddWatchReply",
        ),
        (
            OpCode::WhoAmI,
            request(23, OpCode::WhoAmI),
            ok(23).i32(1).string("ip").string("10.0.0.2"),
            "WhoAmIRequest",
            "WhoAmIReply",
        ),
        (
            OpCode::SetWatches,
            request(24, OpCode::SetWatches).i64(1).strings(&["/d"]).strings(&[]).strings(&[]),
            ok(24),
            "SetWatchesRequest",
            "SetWatchesReply",
        ),
        (OpCode::Close, request(25, OpCode::Close), ok(25), "CloseRequest", "CloseReply"),
    ];
    let n = cases.len();
    for (_, req, rep, _, _) in &cases {
        c.req(&req.clone().finish());
        c.rep(&rep.clone().finish());
    }
    assert_eq!(c.decoder.stats.protocol.malformed_records, 0);
    let seen = &c.decoder.sink[2..];
    assert_eq!(seen.len(), 2 * n);
    for (i, (_, _, _, req_name, rep_name)) in cases.iter().enumerate() {
        let (q, r) = (&seen[2 * i], &seen[2 * i + 1]);
        assert_eq!((q.name.as_str(), r.name.as_str()), (*req_name, *rep_name));
        assert_eq!(r.request.as_deref(), Some(*req_name));
        assert_eq!((r.xid, r.error.as_deref(), r.latency_ns), (q.xid, Some("Ok"), Some(1_000)));
        assert_eq!(r.path, q.path, "{rep_name} carries its request's path");
    }
    assert_eq!(c.decoder.stats.protocol.unpaired_replies, 0);
}

#[test]
fn handshake_then_pings_auth_events_and_errors() {
    let mut c = Conv::new(true);
    c.handshake();
    c.req(&request(-2, OpCode::Ping).finish());
    c.req(&request(-4, OpCode::Auth).i32(0).string("digest").buffer(Some(b"bob:secret")).finish());
    c.req(&request(1, OpCode::GetData).string("/missing").bool(true).finish());
    // The auth reply overtakes (out of band), then the ping's, then an error, then an event.
    c.rep(&FrameWriter::new().reply_header(-4, 0, -115).finish());
    c.rep(&FrameWriter::new().reply_header(-2, 7, 0).finish());
    c.rep(&FrameWriter::new().reply_header(1, 7, -101).finish());
    c.rep(&FrameWriter::new().reply_header(-1, -1, 0).i32(1).i32(3).string("/missing").finish());
    assert_eq!(
        c.names(),
        [
            "ConnectRequest",
            "ConnectReply",
            "PingRequest",
            "SetAuthRequest",
            "GetDataRequest",
            "AuthReply",
            "PingReply",
            "GetDataReply",
            "NodeCreated",
        ]
    );
    let s = &c.decoder.sink;
    assert_eq!(s[1].request.as_deref(), Some("ConnectRequest"));
    assert_eq!(s[5].error.as_deref(), Some("AuthFailed"));
    assert_eq!((s[7].error.as_deref(), s[7].path.as_deref()), (Some("NoNode"), Some("/missing")));
    assert_eq!(c.decoder.stats.protocol.unanswered_requests, 0);
}

#[test]
fn reconnect_and_expired_session() {
    let mut c = Conv::new(true);
    c.req(&encode::connect_request(0x1234, 99, 30_000));
    c.rep(&encode::connect_response(0, 0));
    assert_eq!(c.names(), ["ReConnectRequest", "ConnectReply"]);
    assert_eq!(c.decoder.sink[1].error.as_deref(), Some("SessionExpired"));
}

#[test]
fn pipelined_handshake_and_3_4_era_lengths() {
    let mut c = Conv::new(true);
    // A 44-byte ConnectRequest (no readOnly) pipelined with a request; a 36-byte response.
    let mut connect = encode::connect_request(0, 0, 10_000);
    connect.truncate(48);
    connect[..4].copy_from_slice(&44u32.to_be_bytes());
    let mut bytes = connect;
    bytes.extend(request(1, OpCode::Exists).string("/x").bool(false).finish());
    c.req(&bytes);
    let mut resp = encode::connect_response(9, 10_000);
    resp.truncate(40);
    resp[..4].copy_from_slice(&36u32.to_be_bytes());
    c.rep(&resp);
    c.rep(&ok(1).stat(1).finish());
    assert_eq!(c.names(), ["ConnectRequest", "ExistsRequest", "ConnectReply", "ExistsReply"]);
    assert_eq!(c.decoder.sink[3].request.as_deref(), Some("ExistsRequest"));
}

#[test]
fn four_letter_word_is_reported_once_with_its_answer_size() {
    let mut c = Conv::new(true);
    c.req(b"mn");
    c.req(b"tr");
    c.rep(&[b'x'; 700]);
    c.rep(&[b'y'; 300]);
    c.close();
    assert_eq!(c.names(), ["mntr"]);
    assert_eq!(c.decoder.sink[0].latency_ns, Some(1_000), "answer size");
    assert_eq!(c.decoder.stats.protocol.four_letter_words, 1);
    assert_eq!(c.decoder.stats.framing, crate::zk::framing::FramingStats::default());
}

#[test]
fn tls_and_foreign_dialects_are_counted_not_decoded() {
    let mut c = Conv::new(true);
    c.req(&[0x16, 0x03, 0x01, 0x02, 0x00, 1, 2, 3]);
    c.rep(&[0x16, 0x03, 0x03, 0x00, 0x10]);
    c.close();
    assert!(c.names().is_empty());
    assert_eq!(c.decoder.stats.protocol.tls_connections, 1);

    let mut c = Conv::new(true);
    let mut ch = encode::connect_request(0, 0, 10_000);
    ch[4..8].copy_from_slice(&11i32.to_be_bytes()); // ClickHouse: 64-bit xids
    ch.extend_from_slice(&[0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3]);
    c.req(&ch);
    c.rep(&[0, 0, 0, 4, 1, 2, 3, 4]);
    assert!(c.names().is_empty());
    assert_eq!(c.decoder.stats.protocol.foreign_dialect_connections, 1);
}

#[test]
fn unpaired_replies_keep_their_header_and_special_xids_are_inferred() {
    let mut c = Conv::new(false);
    c.rep(&FrameWriter::new().reply_header(-2, 5, 0).finish());
    c.rep(&ok(41).stat(1).finish());
    c.rep(&FrameWriter::new().reply_header(42, 5, -101).finish());
    c.rep(&FrameWriter::new().reply_header(-2, 5, 0).finish());
    let s = &c.decoder.sink;
    assert_eq!(c.names(), ["PingReply", "UnknownReply", "UnknownReply", "PingReply"]);
    assert_eq!(
        (s[2].xid, s[2].error.as_deref(), s[2].request.as_deref()),
        (42, Some("NoNode"), None)
    );
}

#[test]
fn a_gap_settles_nothing_and_decoding_resumes() {
    let mut c = Conv::new(true);
    c.handshake();
    let first = request(1, OpCode::SetData).string("/big").buffer(Some(&[7; 5000])).i32(0).finish();
    c.req(&first[..1000]);
    // The middle of the frame is lost; its length keeps the stream in sync.
    c.event(StreamEvent::Gap { dir: Direction::ToServer, lost: 3000 });
    c.req(&first[4000..]);
    c.req(&request(2, OpCode::Sync).string("/").finish());
    c.rep(&ok(2).string("/").finish());
    assert_eq!(c.names(), ["ConnectRequest", "ConnectReply", "SyncRequest", "SyncReply"]);
    assert_eq!(c.decoder.stats.framing.frames_lost_to_gaps, 1);
    assert_eq!(c.decoder.stats.framing.resyncs, 0);
}

#[test]
fn oversized_frames_are_skipped_and_counted() {
    let mut c = Conv::new(true);
    c.decoder.config.max_frame_bytes = 1000;
    c.event(StreamEvent::Start { dir: Direction::ToServer, from_syn: true });
    c.handshake();
    c.req(&request(1, OpCode::SetData).string("/big").buffer(Some(&[7; 5000])).i32(0).finish());
    c.req(&request(2, OpCode::Sync).string("/").finish());
    assert_eq!(c.names(), ["ConnectRequest", "ConnectReply", "SyncRequest"]);
    assert_eq!(c.decoder.stats.framing.oversized_frames, 1);
}

#[test]
fn the_pending_cap_holds() {
    let mut c = Conv::new(true);
    c.decoder.config.max_pending = 3;
    c.handshake();
    for xid in 1..=10 {
        c.req(&request(xid, OpCode::Sync).string("/").finish());
    }
    assert_eq!(c.session.pending.len(), 3);
    assert_eq!(c.decoder.stats.protocol.pending_cap_hits, 7);
}

/// Issue 9, attack 3a: waiting requests and their paths are charged to one decoder-wide budget.
#[test]
fn the_pending_budget_holds() {
    let one = crate::zk::pairing::ENTRY_BYTES + "/a".len();
    let mut c = Conv::new(true);
    c.decoder.config.max_pending_bytes = 3 * one;
    c.handshake();
    let before = c.decoder.stats.protocol.pending_bytes;
    for xid in 1..=10 {
        c.req(&request(xid, OpCode::Sync).string("/a").finish());
    }
    let stats = &c.decoder.stats.protocol;
    assert!(stats.pending_bytes <= 3 * one as u64);
    assert_eq!(stats.pending_budget_hits + (stats.pending_bytes - before) / one as u64, 10);
    assert!(stats.pending_budget_hits >= 7);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes in either direction, cut anywhere, with gaps: no panic, and state stays
    /// within its caps.
    #[test]
    fn arbitrary_streams_never_panic(
        from_syn in any::<bool>(),
        chunks in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300), 0u64..50), 0..40),
    ) {
        let mut c = Conv::new(from_syn);
        c.decoder.config.max_frame_bytes = 4096;
        c.decoder.config.max_pending = 16;
        for (to_server, bytes, gap) in &chunks {
            let dir = if *to_server { Direction::ToServer } else { Direction::ToClient };
            c.send(dir, bytes);
            if *gap > 40 {
                c.event(StreamEvent::Gap { dir, lost: *gap });
            }
            prop_assert!(c.session.pending.len() <= 16);
            for f in c.session.framers.iter().flatten() {
                prop_assert!(f.buffered() <= 2 * (4096 + 4) + 300);
            }
        }
        c.close();
    }

    /// Valid frames interleaved with noise: every message decoded is one that was sent.
    #[test]
    fn noise_never_becomes_messages_after_a_gap(
        noise in proptest::collection::vec(any::<u8>(), 0..200),
        paths in proptest::collection::vec("/[a-z]{1,12}", 1..20),
    ) {
        let mut c = Conv::new(false);
        let mut bytes = noise.clone();
        for (i, p) in paths.iter().enumerate() {
            bytes.extend(request(i as i32 + 1, OpCode::GetData).string(p).bool(false).finish());
        }
        c.req(&bytes);
        for s in &c.decoder.sink {
            prop_assert_eq!(s.name.as_str(), "GetDataRequest");
            prop_assert!(paths.contains(s.path.as_ref().unwrap()));
        }
        // Everything after the noise is found, except at most the first frame (the noise can
        // end with bytes that look like the start of a frame that swallows the first one).
        prop_assert!(c.decoder.sink.len() + 1 >= paths.len(), "{} of {}", c.decoder.sink.len(), paths.len());
    }
}

#[test]
fn unknown_opcodes_are_reported_with_their_number() {
    let mut c = Conv::new(true);
    c.handshake();
    c.req(&request(3, OpCode::Unknown(503)).raw(&[1, 2, 3]).finish());
    c.rep(&ok(3).raw(&[9; 5]).finish());
    assert_eq!(c.names(), ["ConnectRequest", "ConnectReply", "Unknown(503)", "UnknownReply"]);
    assert_eq!(c.decoder.sink[3].request.as_deref(), Some("UnknownRequest"));
}

/// Replies stamped before their request, or absurdly long after it: latency 0 and none, each
/// counted, so a clock step cannot pass unnoticed or skew every percentile.
#[test]
fn latencies_from_bad_timestamps_are_counted() {
    let mut c = Conv::new(true);
    c.handshake();
    let exists = |xid| request(xid, OpCode::Exists).string("/a").bool(false).finish();
    c.req(&exists(1));
    c.ts -= 5_000;
    c.rep(&ok(1).stat(1).finish());
    c.req(&exists(2));
    c.ts += 3_601 * 1_000_000_000;
    c.rep(&ok(2).stat(1).finish());
    c.req(&exists(3));
    c.rep(&ok(3).stat(1).finish());
    let latencies: Vec<Option<u64>> =
        c.decoder.sink[2..].iter().skip(1).step_by(2).map(|s| s.latency_ns).collect();
    assert_eq!(latencies, [Some(0), None, Some(1_000)]);
    let p = &c.decoder.stats.protocol;
    assert_eq!((p.replies_before_request, p.latencies_out_of_range), (1, 1));
    assert_eq!(p.unpaired_replies, 0);
}
