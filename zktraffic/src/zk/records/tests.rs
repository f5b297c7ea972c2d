//! Every record decoder on hand-built frames.

use super::*;
use crate::zk::encode::{self, FrameWriter};

/// Decodes a request frame built by `w` (header included) and checks nothing is left over.
fn req(op: OpCode, w: FrameWriter) -> RequestRecord<'static> {
    let frame: &'static [u8] = Box::leak(w.finish().into_boxed_slice());
    let mut c = Cursor::new(&frame[4..]);
    c.i32().unwrap();
    assert_eq!(c.i32().unwrap(), op.to_wire());
    let r = request(op, &mut c).expect("decodes");
    c.finish().expect("consumes the whole frame");
    r
}

fn hdr(op: OpCode) -> FrameWriter {
    FrameWriter::new().request_header(7, op.to_wire())
}

fn rep(op: OpCode, w: FrameWriter) -> ReplyRecord<'static> {
    let frame: &'static [u8] = Box::leak(w.finish().into_boxed_slice());
    let mut c = Cursor::new(&frame[4..]);
    let r = reply(op, &mut c).expect("decodes");
    c.finish().expect("consumes the whole frame");
    r
}

fn acl(w: FrameWriter) -> FrameWriter {
    w.i32(1).i32(31).string("world").string("anyone")
}

#[test]
fn handshake_with_and_without_read_only() {
    let f = encode::connect_request(0x1234, 99, 30000);
    assert_eq!(f.len(), 49);
    let c = connect_request(&f[4..]).unwrap();
    assert_eq!(
        c,
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 99,
            timeout_ms: 30000,
            session_id: 0x1234,
            read_only: Some(false)
        }
    );
    assert_eq!(connect_request(&f[4..48]).unwrap().read_only, None, "44-byte 3.4 handshake");
    assert!(connect_request(&f[4..47]).is_err());
    let r = encode::connect_response(0x1001113200f0001, 10000);
    let r = connect_response(&r[4..]).unwrap();
    assert_eq!((r.timeout_ms, r.session_id, r.read_only), (10000, 0x1001113200f0001, Some(false)));
    assert!(!r.is_expired());
    let expired = encode::connect_response(0, 0);
    assert!(connect_response(&expired[4..]).unwrap().is_expired());
}

#[test]
fn creates_of_every_mode() {
    for (op, flags, ttl) in [
        (OpCode::Create, 0, None),
        (OpCode::Create, 1, None),
        (OpCode::Create2, 3, None),
        (OpCode::CreateContainer, 4, None),
        (OpCode::CreateTtl, 5, Some(60_000)),
        (OpCode::CreateTtl, 6, Some(1)),
    ] {
        let mut w = acl(hdr(op).string("/a").buffer(Some(b"xyz"))).i32(flags);
        if let Some(t) = ttl {
            w = w.i64(t);
        }
        let RequestRecord::Create(c) = req(op, w) else { panic!("not a create") };
        assert_eq!((c.path, c.data_len, c.flags, c.ttl_ms), ("/a", 3, flags, ttl));
        assert_eq!(c.acl, vec![Acl { perms: 31, scheme: "world", id: "anyone" }]);
        assert_eq!(c.mode(), CreateMode::from_flags(flags));
    }
    // Flag 9 is rejected by the server (BadArguments) and by strict decoding.
    let w = acl(hdr(OpCode::Create).string("/a").buffer(None)).i32(9);
    let f = w.finish();
    let mut c = Cursor::new(&f[12..]);
    assert!(request(OpCode::Create, &mut c).is_err());
}

#[test]
fn path_records() {
    let r = req(OpCode::Delete, hdr(OpCode::Delete).string("/d").i32(-1));
    assert!(matches!(r, RequestRecord::PathVersion { path: "/d", version: -1 }));
    let r = req(OpCode::Check, hdr(OpCode::Check).string("/c").i32(3));
    assert!(matches!(r, RequestRecord::PathVersion { path: "/c", version: 3 }));
    for op in [OpCode::Exists, OpCode::GetData, OpCode::GetChildren, OpCode::GetChildren2] {
        let r = req(op, hdr(op).string("/w").bool(true));
        assert!(matches!(r, RequestRecord::PathWatch { path: "/w", watch: true }), "{op:?}");
    }
    for op in [OpCode::GetAcl, OpCode::Sync, OpCode::GetEphemerals, OpCode::GetAllChildrenNumber] {
        let r = req(op, hdr(op).string("/p"));
        assert!(matches!(r, RequestRecord::Path { path: "/p" }), "{op:?}");
    }
    let r = req(OpCode::SetData, hdr(OpCode::SetData).string("/s").buffer(Some(&[0; 500])).i32(4));
    assert!(matches!(r, RequestRecord::SetData { path: "/s", data_len: 500, version: 4 }));
    let r = req(OpCode::SetAcl, acl(hdr(OpCode::SetAcl).string("/s")).i32(2));
    assert!(
        matches!(r, RequestRecord::SetAcl { path: "/s", ref acl, version: 2 } if acl.len() == 1)
    );
    for op in [OpCode::CheckWatches, OpCode::RemoveWatches] {
        let r = req(op, hdr(op).string("/x").i32(3));
        assert!(matches!(r, RequestRecord::Watches { path: "/x", watcher_type: 3 }));
    }
    let r = req(OpCode::AddWatch, hdr(OpCode::AddWatch).string("/x").i32(1));
    assert!(matches!(r, RequestRecord::AddWatch { path: "/x", mode: 1 }));
}

#[test]
fn session_level_records() {
    let r = req(OpCode::Auth, hdr(OpCode::Auth).i32(0).string("digest").buffer(Some(b"u:p")));
    assert!(matches!(
        r,
        RequestRecord::Auth { auth_type: 0, scheme: "digest", credential: b"u:p" }
    ));
    let r = req(OpCode::Sasl, hdr(OpCode::Sasl).buffer(Some(&[1; 40])));
    assert!(matches!(r, RequestRecord::Sasl { token_len: 40 }));
    for op in [OpCode::Ping, OpCode::Close, OpCode::WhoAmI] {
        assert!(matches!(req(op, hdr(op)), RequestRecord::Empty));
    }
    let w = hdr(OpCode::SetWatches).i64(1840).strings(&[]).strings(&[]).strings(&["/foo", "/"]);
    let RequestRecord::SetWatches(s) = req(OpCode::SetWatches, w) else { panic!() };
    assert_eq!((s.relative_zxid, s.child, s.persistent.len()), (1840, vec!["/foo", "/"], 0));
    let w = hdr(OpCode::SetWatches2)
        .i64(5)
        .strings(&["/d"])
        .strings(&["/e"])
        .strings(&[])
        .strings(&["/p"])
        .strings(&["/r"]);
    let RequestRecord::SetWatches(s) = req(OpCode::SetWatches2, w) else { panic!() };
    assert_eq!(
        (s.data, s.exist, s.persistent, s.persistent_recursive),
        (vec!["/d"], vec!["/e"], vec!["/p"], vec!["/r"])
    );
    let w = hdr(OpCode::Reconfig)
        .string("server.100=0.0.0.0:56954:37866:observer;0.0.0.0:42969")
        .string("")
        .string("")
        .i64(-1);
    let r = req(OpCode::Reconfig, w);
    assert!(
        matches!(r, RequestRecord::Reconfig { leaving: "", new_members: "", config_id: -1, joining } if joining.starts_with("server.100="))
    );
    let r = req(OpCode::Unknown(503), hdr(OpCode::Unknown(503)).raw(&[1, 2, 3]));
    assert!(matches!(r, RequestRecord::Unknown { body_len: 3 }));
}

/// A multi request as the Java client serialises it (§A6).
fn multi_frame(op: OpCode) -> FrameWriter {
    let w = hdr(op).i32(1).bool(false).i32(-1).string("/foo").buffer(Some(b"x"));
    acl(w)
        .i32(2) // flags: persistent sequential
        .i32(5)
        .bool(false)
        .i32(-1)
        .string("/foo")
        .buffer(Some(b"y"))
        .i32(-1)
        .i32(13)
        .bool(false)
        .i32(-1)
        .string("/foo")
        .i32(1)
        .i32(2)
        .bool(false)
        .i32(-1)
        .string("/bar")
        .i32(0)
        .i32(-1)
        .bool(true)
        .i32(-1)
}

#[test]
fn multi_request_lists_every_sub_operation() {
    let RequestRecord::Multi(ops) = req(OpCode::Multi, multi_frame(OpCode::Multi)) else {
        panic!()
    };
    let seen: Vec<_> = ops.iter().map(|o| (o.op, o.path)).collect();
    assert_eq!(
        seen,
        vec![
            (OpCode::Create, Some("/foo")),
            (OpCode::SetData, Some("/foo")),
            (OpCode::Check, Some("/foo")),
            (OpCode::Delete, Some("/bar")),
        ]
    );
    assert_eq!(ops[0].create_mode, Some(CreateMode::PersistentSequential));
    let w = hdr(OpCode::MultiRead)
        .i32(8)
        .bool(false)
        .i32(-1)
        .string("/a")
        .bool(false)
        .i32(4)
        .bool(false)
        .i32(-1)
        .string("/b")
        .bool(true)
        .i32(-1)
        .bool(true)
        .i32(-1);
    let RequestRecord::Multi(ops) = req(OpCode::MultiRead, w) else { panic!() };
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[1].path, Some("/b"));
    // A sub-operation that may not appear in a multi is an error, as is a missing `done`.
    let f = hdr(OpCode::Multi).i32(11).bool(false).i32(-1).finish();
    assert!(request(OpCode::Multi, &mut Cursor::new(&f[12..])).is_err());
    let f = hdr(OpCode::Multi).i32(2).bool(false).i32(-1).string("/x").i32(0).finish();
    assert!(request(OpCode::Multi, &mut Cursor::new(&f[12..])).is_err());
}

#[test]
fn multi_reply_sub_results_including_failures() {
    let w = FrameWriter::new()
        .i32(1)
        .bool(false)
        .i32(0)
        .string("/foo")
        .i32(15)
        .bool(false)
        .i32(0)
        .string("/foo2")
        .stat(1)
        .i32(5)
        .bool(false)
        .i32(0)
        .stat(2)
        .i32(-1)
        .bool(false)
        .i32(-1)
        .i32(-101)
        .i32(-1)
        .bool(false)
        .i32(-1)
        .i32(-2)
        .i32(4)
        .bool(false)
        .i32(0)
        .buffer(Some(b"d"))
        .stat(3)
        .i32(8)
        .bool(false)
        .i32(0)
        .strings(&["a", "b"])
        .i32(-1)
        .bool(true)
        .i32(-1);
    let ReplyRecord::Multi(r) = rep(OpCode::Multi, w) else { panic!() };
    let seen: Vec<_> = r.iter().map(|x| (x.op, x.err, x.path)).collect();
    assert_eq!(
        seen,
        vec![
            (OpCode::Create, ErrorCode::OK, Some("/foo")),
            (OpCode::Create2, ErrorCode::OK, Some("/foo2")),
            (OpCode::SetData, ErrorCode::OK, None),
            (OpCode::Unknown(-1), ErrorCode::NO_NODE, None),
            (OpCode::Unknown(-1), ErrorCode(-2), None),
            (OpCode::GetData, ErrorCode::OK, None),
            (OpCode::GetChildren, ErrorCode::OK, None),
        ]
    );
}

#[test]
fn reply_records() {
    let f = FrameWriter::new();
    assert!(matches!(
        rep(OpCode::Create, f.clone().string("/a")),
        ReplyRecord::Path { path: "/a", stat: None }
    ));
    for op in [OpCode::Create2, OpCode::CreateContainer, OpCode::CreateTtl] {
        let r = rep(op, f.clone().string("/a-0000000001").stat(9));
        assert!(
            matches!(r, ReplyRecord::Path { path: "/a-0000000001", stat: Some(s) } if s.mzxid() == 9)
        );
    }
    assert!(matches!(
        rep(OpCode::Sync, f.clone().string("/")),
        ReplyRecord::Path { path: "/", .. }
    ));
    for op in [OpCode::Exists, OpCode::SetData, OpCode::SetAcl, OpCode::Check] {
        assert!(matches!(rep(op, f.clone().stat(4)), ReplyRecord::Stat(s) if s.version() == 1));
    }
    for op in [OpCode::GetData, OpCode::Reconfig] {
        let r = rep(op, f.clone().buffer(Some(&[0; 300])).stat(1));
        assert!(matches!(r, ReplyRecord::Data { data_len: 300, .. }));
    }
    let r = rep(OpCode::GetAcl, acl(f.clone()).stat(1));
    assert!(matches!(r, ReplyRecord::Acl { ref acl, .. } if acl.len() == 1));
    for op in [OpCode::GetChildren, OpCode::GetEphemerals] {
        let r = rep(op, f.clone().strings(&["a", "b", "c", "zookeeper"]));
        assert!(matches!(r, ReplyRecord::Children { count: 4, stat: None }));
    }
    let r = rep(OpCode::GetChildren2, f.clone().strings(&["a"]).stat(1));
    assert!(matches!(r, ReplyRecord::Children { count: 1, stat: Some(_) }));
    assert!(matches!(
        rep(OpCode::GetAllChildrenNumber, f.clone().i32(12)),
        ReplyRecord::ChildrenNumber(12)
    ));
    assert!(matches!(
        rep(OpCode::AddWatch, f.clone().i32(0)),
        ReplyRecord::ErrorBody(ErrorCode::OK)
    ));
    assert!(matches!(
        rep(OpCode::Sasl, f.clone().buffer(Some(&[1; 9]))),
        ReplyRecord::Sasl { token_len: 9 }
    ));
    let r = rep(
        OpCode::WhoAmI,
        f.clone().i32(2).string("ip").string("127.0.0.1").string("digest").string("bob"),
    );
    assert!(
        matches!(r, ReplyRecord::WhoAmI(ref ids) if ids == &[("ip", "127.0.0.1"), ("digest", "bob")])
    );
    for op in [
        OpCode::Delete,
        OpCode::Ping,
        OpCode::Auth,
        OpCode::SetWatches,
        OpCode::SetWatches2,
        OpCode::Close,
        OpCode::CheckWatches,
        OpCode::RemoveWatches,
    ] {
        assert!(matches!(rep(op, f.clone()), ReplyRecord::Empty));
    }
}

#[test]
fn watch_events() {
    let f = FrameWriter::new().i32(3).i32(3).string("/dknightly").finish();
    let e = watch_event(-1, &mut Cursor::new(&f[4..])).unwrap();
    assert_eq!(
        (e.type_name(), e.state_name(), e.path, e.zxid),
        ("NodeDataChanged", "SyncConnected", "/dknightly", -1)
    );
}

#[test]
fn hostile_lengths_fail_cleanly() {
    // A path length of 1 GiB in a 20-byte frame: an error, no allocation, no panic.
    let f = hdr(OpCode::GetData).i32(1 << 30).raw(b"/abc").bool(false).finish();
    assert!(request(OpCode::GetData, &mut Cursor::new(&f[12..])).is_err());
    // A vector count of 2^31-1 ACLs.
    let f = hdr(OpCode::SetAcl).string("/a").i32(i32::MAX).finish();
    assert!(request(OpCode::SetAcl, &mut Cursor::new(&f[12..])).is_err());
    // Every prefix of a valid multi fails without panicking.
    let f = multi_frame(OpCode::Multi).finish();
    for end in 12..f.len() {
        assert!(request(OpCode::Multi, &mut Cursor::new(&f[12..end])).is_err(), "prefix {end}");
    }
}

#[test]
fn stat_fields_are_read_at_their_offsets() {
    let f = FrameWriter::new()
        .i64(1)
        .i64(2)
        .i64(3)
        .i64(4)
        .i32(5)
        .i32(6)
        .i32(7)
        .i64(8)
        .i32(9)
        .i32(10)
        .i64(11)
        .finish();
    let s = stat(&mut Cursor::new(&f[4..])).unwrap();
    assert_eq!(
        (s.czxid(), s.mzxid(), s.ctime(), s.mtime(), s.version(), s.cversion(), s.aversion()),
        (1, 2, 3, 4, 5, 6, 7)
    );
    assert_eq!((s.ephemeral_owner(), s.data_length(), s.num_children(), s.pzxid()), (8, 9, 10, 11));
    assert!(stat(&mut Cursor::new(&f[4..70])).is_err());
}
