//! One ZAB `QuorumPacket` (quorum reference §1): `int type | long zxid | buffer data |
//! vector<Id> authinfo`, written back to back with no length prefix, so a packet's end is found
//! only by reading every field; and what its data holds, by type.

use super::txn::Txn;
use crate::zk::OpCode;
use crate::zk::cursor::{Cursor, DecodeError};

/// The smallest packet: type, zxid, a null buffer and a null vector.
pub const MIN_PACKET: usize = 20;
/// Bytes of a packet's type, zxid and data length.
const HEADER: usize = 16;
/// Most authinfo entries a plausible packet carries (a session's `addauth`s).
const MAX_AUTH: usize = 64;
/// Longest authinfo scheme or id a plausible packet carries.
const MAX_AUTH_FIELD: usize = 4096;

/// The packet types, 1–19.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZabType {
    /// 1: a client request a learner forwards to the leader.
    Request = 1,
    /// 2: a transaction proposed to the followers.
    Proposal,
    /// 3: a follower acknowledges a proposal (or NEWLEADER, UPTODATE).
    Ack,
    /// 4: the leader commits a zxid.
    Commit,
    /// 5: keep-alive; a learner's carries its sessions.
    Ping,
    /// 6: a session's revalidation, asked and answered.
    Revalidate,
    /// 7: the answer to a client's sync.
    Sync,
    /// 8: a committed transaction sent to observers.
    Inform,
    /// 9: commit of a reconfig, with the designated leader.
    CommitAndActivate,
    /// 10: the new epoch begins (with the quorum verifier from protocol 0x10000).
    NewLeader,
    /// 11: a follower introduces itself.
    FollowerInfo,
    /// 12: the learner's sync is complete.
    UpToDate,
    /// 13: sync by the proposals that follow.
    Diff,
    /// 14: sync by truncating the learner's log.
    Trunc,
    /// 15: sync by a full snapshot (raw bytes follow).
    Snap,
    /// 16: an observer introduces itself.
    ObserverInfo,
    /// 17: the leader's new epoch and protocol version.
    LeaderInfo,
    /// 18: the learner acknowledges the new epoch.
    AckEpoch,
    /// 19: a committed reconfig sent to observers.
    InformAndActivate,
}

impl ZabType {
    /// Every type, by wire number (1 first).
    pub const ALL: [ZabType; 19] = [
        ZabType::Request,
        ZabType::Proposal,
        ZabType::Ack,
        ZabType::Commit,
        ZabType::Ping,
        ZabType::Revalidate,
        ZabType::Sync,
        ZabType::Inform,
        ZabType::CommitAndActivate,
        ZabType::NewLeader,
        ZabType::FollowerInfo,
        ZabType::UpToDate,
        ZabType::Diff,
        ZabType::Trunc,
        ZabType::Snap,
        ZabType::ObserverInfo,
        ZabType::LeaderInfo,
        ZabType::AckEpoch,
        ZabType::InformAndActivate,
    ];

    /// The type of wire number `t`.
    pub fn from_wire(t: i32) -> Option<ZabType> {
        usize::try_from(t)
            .ok()
            .and_then(|t| t.checked_sub(1))
            .and_then(|i| Self::ALL.get(i))
            .copied()
    }

    /// Its name in output (`Proposal`, `NewLeader`…).
    pub fn name(self) -> &'static str {
        match self {
            ZabType::Request => "Request",
            ZabType::Proposal => "Proposal",
            ZabType::Ack => "Ack",
            ZabType::Commit => "Commit",
            ZabType::Ping => "Ping",
            ZabType::Revalidate => "Revalidate",
            ZabType::Sync => "Sync",
            ZabType::Inform => "Inform",
            ZabType::CommitAndActivate => "CommitAndActivate",
            ZabType::NewLeader => "NewLeader",
            ZabType::FollowerInfo => "FollowerInfo",
            ZabType::UpToDate => "UpToDate",
            ZabType::Diff => "Diff",
            ZabType::Trunc => "Trunc",
            ZabType::Snap => "Snap",
            ZabType::ObserverInfo => "ObserverInfo",
            ZabType::LeaderInfo => "LeaderInfo",
            ZabType::AckEpoch => "AckEpoch",
            ZabType::InformAndActivate => "InformAndActivate",
        }
    }
}

/// A packet as framed: its fields, the data undecoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawPacket<'a> {
    /// The type.
    pub kind: ZabType,
    /// The zxid field.
    pub zxid: i64,
    /// The data (none when null).
    pub data: Option<&'a [u8]>,
    /// Authinfo entries (a REQUEST's session credentials: counted, never shown).
    pub auth: usize,
}

/// What the bytes at the start of a buffer are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framed<'a> {
    /// A whole packet, and the bytes it took.
    Packet(RawPacket<'a>, usize),
    /// A plausible start: more bytes are needed, this many in all (from the buffer's start)
    /// before the answer can change.
    Incomplete(usize),
    /// Not a packet (bad type, a length out of bounds).
    Invalid,
}

/// The longest packet [`frame`] accepts with data of at most `max_data` bytes: its header,
/// data and the largest authinfo vector.
pub fn max_packet(max_data: usize) -> usize {
    MIN_PACKET + max_data + MAX_AUTH * 2 * (4 + MAX_AUTH_FIELD)
}

/// Reads the packet at the start of `buf`; data longer than `max_data` is invalid.
pub fn frame(buf: &[u8], max_data: usize) -> Framed<'_> {
    let mut c = Cursor::new(buf);
    let (Ok(t), Ok(zxid), Ok(len)) = (c.i32(), c.i64(), c.i32()) else {
        return Framed::Incomplete(HEADER);
    };
    let Some(kind) = ZabType::from_wire(t) else { return Framed::Invalid };
    let incomplete = |e: DecodeError| Framed::Incomplete(e.needed_in_all().max(buf.len() + 1));
    let data = match usize::try_from(len) {
        _ if len == -1 => None,
        Ok(n) if n <= max_data => match c.bytes(n) {
            Ok(d) => Some(d),
            Err(e) => return incomplete(e),
        },
        _ => return Framed::Invalid,
    };
    let auth = match c.i32() {
        Err(e) => return incomplete(e),
        Ok(-1) => 0,
        Ok(n) if (0..=MAX_AUTH as i32).contains(&n) => n as usize,
        Ok(_) => return Framed::Invalid,
    };
    for _ in 0..auth * 2 {
        match c.i32() {
            Err(e) => return incomplete(e),
            Ok(-1) => {}
            Ok(n) if (0..=MAX_AUTH_FIELD as i32).contains(&n) => {
                if let Err(e) = c.bytes(n as usize) {
                    return incomplete(e);
                }
            }
            Ok(_) => return Framed::Invalid,
        }
    }
    let used = buf.len() - c.remaining();
    Framed::Packet(RawPacket { kind, zxid, data, auth }, used)
}

/// Encodes a packet as the Java side writes it (tests and the synthetic captures).
#[cfg(any(test, feature = "test-helpers"))]
pub fn encode(t: i32, zxid: i64, data: Option<&[u8]>, auth: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(MIN_PACKET + data.map_or(0, <[u8]>::len));
    b.extend_from_slice(&t.to_be_bytes());
    b.extend_from_slice(&zxid.to_be_bytes());
    match data {
        None => b.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(d) => {
            b.extend_from_slice(&(d.len() as i32).to_be_bytes());
            b.extend_from_slice(d);
        }
    }
    b.extend_from_slice(&(auth.len() as i32).to_be_bytes());
    for (scheme, id) in auth {
        for s in [scheme, id] {
            b.extend_from_slice(&(s.len() as i32).to_be_bytes());
            b.extend_from_slice(s.as_bytes());
        }
    }
    b
}

/// Which end sent a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The leader (the quorum port's side).
    Leader,
    /// A follower or observer.
    Learner,
}

impl Side {
    /// `leader` or `learner`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Leader => "leader",
            Side::Learner => "learner",
        }
    }
}

/// What a packet's data holds, by type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZabBody<'a> {
    /// No data (ACK, COMMIT, UPTODATE, DIFF, TRUNC, SNAP, SYNC, a leader's PING).
    None,
    /// A client request a learner forwards.
    Request {
        /// The client's session.
        session: i64,
        /// The client's request id.
        cxid: i32,
        /// The request's opcode.
        op: OpCode,
        /// Its path, when it has one.
        path: Option<&'a str>,
    },
    /// PROPOSAL, INFORM.
    Txn(Txn<'a>),
    /// INFORMANDACTIVATE: the designated leader and the transaction.
    InformAndActivate {
        /// The designated leader's sid.
        leader: i64,
        /// The transaction.
        txn: Txn<'a>,
    },
    /// COMMITANDACTIVATE: the designated leader.
    CommitAndActivate {
        /// The designated leader's sid.
        leader: i64,
    },
    /// FOLLOWERINFO, OBSERVERINFO (`LearnerInfo`; older servers send fewer fields).
    LearnerInfo {
        /// The learner's server id.
        sid: i64,
        /// Its protocol version (0x10000 from 3.4.6).
        protocol_version: Option<i32>,
        /// The version of its config (3.5+).
        config_version: Option<i64>,
    },
    /// LEADERINFO.
    LeaderInfo {
        /// The leader's protocol version.
        protocol_version: i32,
    },
    /// ACKEPOCH: the learner's current epoch.
    AckEpoch {
        /// The learner's current epoch.
        epoch: i32,
    },
    /// NEWLEADER from protocol 0x10000: the quorum verifier (config text).
    NewLeader {
        /// The config text.
        config: &'a str,
    },
    /// A learner's PING: its sessions and their timeouts.
    PingSessions {
        /// Sessions listed.
        sessions: usize,
    },
    /// A learner's REVALIDATE.
    RevalidateAsk {
        /// The session.
        session: i64,
        /// Its timeout.
        timeout_ms: i32,
    },
    /// The leader's answer to REVALIDATE.
    RevalidateAnswer {
        /// The session.
        session: i64,
        /// Still valid.
        valid: bool,
    },
    /// Data this type should not carry, or that did not decode (counted).
    Undecoded,
}

impl<'a> ZabBody<'a> {
    /// Decodes the data of `p`, sent by `from`.
    pub fn of(p: &RawPacket<'a>, from: Side) -> ZabBody<'a> {
        Self::decode(p, from).unwrap_or(ZabBody::Undecoded)
    }

    fn decode(p: &RawPacket<'a>, from: Side) -> Result<ZabBody<'a>, DecodeError> {
        let Some(data) = p.data.filter(|d| !d.is_empty()) else { return Ok(ZabBody::None) };
        let mut c = Cursor::new(data);
        Ok(match (p.kind, from) {
            (ZabType::Request, _) => {
                let (session, cxid, op) = (c.i64()?, c.i32()?, OpCode::from_wire(c.i32()?));
                // The record after the header is a client request's; its path is the point.
                let path = crate::zk::records::request(op, &mut c).ok().and_then(|r| r.path());
                ZabBody::Request { session, cxid, op, path }
            }
            (ZabType::Proposal | ZabType::Inform, _) => ZabBody::Txn(Txn::parse(data)?),
            (ZabType::InformAndActivate, _) => {
                let leader = c.i64()?;
                ZabBody::InformAndActivate { leader, txn: Txn::parse(c.bytes(c.remaining())?)? }
            }
            (ZabType::CommitAndActivate, _) => ZabBody::CommitAndActivate { leader: c.i64()? },
            (ZabType::FollowerInfo | ZabType::ObserverInfo, _) => {
                let sid = c.i64()?;
                let protocol_version = c.i32().ok();
                let config_version = c.i64().ok();
                ZabBody::LearnerInfo { sid, protocol_version, config_version }
            }
            (ZabType::LeaderInfo, _) => ZabBody::LeaderInfo { protocol_version: c.i32()? },
            (ZabType::AckEpoch, _) => ZabBody::AckEpoch { epoch: c.i32()? },
            (ZabType::NewLeader, _) => ZabBody::NewLeader {
                config: std::str::from_utf8(data)
                    .map_err(|_| DecodeError::NotUtf8 { offset: 0 })?,
            },
            (ZabType::Ping, Side::Learner) => ZabBody::PingSessions { sessions: data.len() / 12 },
            (ZabType::Revalidate, Side::Learner) => {
                ZabBody::RevalidateAsk { session: c.i64()?, timeout_ms: c.i32()? }
            }
            (ZabType::Revalidate, Side::Leader) => {
                ZabBody::RevalidateAnswer { session: c.i64()?, valid: c.bool()? }
            }
            _ => ZabBody::Undecoded,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::encode as packet;

    #[test]
    fn packets_frame_by_their_fields() {
        let ack = packet(3, 0x1_0000_0001, None, &[]);
        assert_eq!(ack.len(), MIN_PACKET);
        let Framed::Packet(p, used) = frame(&ack, 1 << 20) else { panic!() };
        assert_eq!((p.kind, p.zxid, used), (ZabType::Ack, 0x1_0000_0001, 20));
        let req = packet(1, -1, Some(&[0; 16]), &[("digest", "bob:secret")]);
        let Framed::Packet(p, used) = frame(&req, 1 << 20) else { panic!() };
        assert_eq!((p.kind, p.auth, used), (ZabType::Request, 1, req.len()));
        for cut in 0..req.len() {
            assert!(
                matches!(frame(&req[..cut], 1 << 20), Framed::Incomplete(n) if n > cut),
                "cut at {cut}"
            );
        }
        assert_eq!(frame(&packet(20, 0, None, &[]), 1 << 20), Framed::Invalid);
        assert_eq!(frame(&packet(0, 0, None, &[]), 1 << 20), Framed::Invalid);
        assert_eq!(frame(&packet(2, 0, Some(&[0; 64]), &[]), 63), Framed::Invalid);
        let mut bad_auth = packet(3, 0, None, &[]);
        bad_auth[16..20].copy_from_slice(&1000i32.to_be_bytes());
        assert_eq!(frame(&bad_auth, 1 << 20), Framed::Invalid);
    }

    #[test]
    fn bodies_by_type_and_side() {
        let info =
            [&2i64.to_be_bytes()[..], &0x10000i32.to_be_bytes(), &0i64.to_be_bytes()].concat();
        let p =
            RawPacket { kind: ZabType::FollowerInfo, zxid: 1 << 32, data: Some(&info), auth: 0 };
        assert_eq!(
            ZabBody::of(&p, Side::Learner),
            ZabBody::LearnerInfo {
                sid: 2,
                protocol_version: Some(0x10000),
                config_version: Some(0)
            }
        );
        let answer = [&7i64.to_be_bytes()[..], &[1]].concat();
        let p = RawPacket { kind: ZabType::Revalidate, zxid: 0, data: Some(&answer), auth: 0 };
        assert_eq!(
            ZabBody::of(&p, Side::Leader),
            ZabBody::RevalidateAnswer { session: 7, valid: true }
        );
        let p = RawPacket { kind: ZabType::LeaderInfo, zxid: 0, data: Some(&[1]), auth: 0 };
        assert_eq!(ZabBody::of(&p, Side::Leader), ZabBody::Undecoded);
        let pings = [0u8; 24];
        let p = RawPacket { kind: ZabType::Ping, zxid: 0, data: Some(&pings), auth: 0 };
        assert_eq!(ZabBody::of(&p, Side::Learner), ZabBody::PingSessions { sessions: 2 });
        assert_eq!(ZabBody::of(&p, Side::Leader), ZabBody::Undecoded);
    }
}
