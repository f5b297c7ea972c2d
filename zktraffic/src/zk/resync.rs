//! Resynchronisation heuristics: whether bytes in the middle of a stream look like the start of
//! a real frame of a direction (a consistent header, an xid that fits its opcode, a record that
//! decodes to the last byte), for the [`Framer`](super::framing::Framer)'s search and its
//! probation of the frames after a resync. The session's state machine asks; nothing here keeps
//! state.

use crate::tcp::Direction;

use super::cursor::Cursor;
use super::error::ErrorCode;
use super::framing::{Candidate, PREFIX, frame_len};
use super::opcode::{OpCode, xid};
use super::pairing::PendingRequests;
use super::records::{self, REPLY_HEADER, REQUEST_HEADER};

/// Judges a possible frame start of direction `dir` while resynchronising (frames of at most
/// `max` bytes after the prefix).
pub(super) fn candidate(
    dir: Direction,
    bytes: &[u8],
    max: usize,
    pending: &PendingRequests,
) -> Candidate {
    match dir {
        Direction::ToServer => request_candidate(bytes, max),
        Direction::ToClient => reply_candidate(bytes, max, pending),
    }
}

/// Whether a complete frame looks like what direction `dir` carries (the strict checks of
/// resynchronisation, short of looking at the next frame).
pub(super) fn plausible(
    dir: Direction,
    frame: &[u8],
    max: usize,
    pending: &PendingRequests,
) -> bool {
    match dir {
        Direction::ToServer => request_candidate(frame, max) == Candidate::Frame,
        Direction::ToClient => match complete_frame(frame, REPLY_HEADER, max, reply_header_ok) {
            Ok(body) => reply_plausibility(body, pending) != Plausibility::No,
            Err(_) => false,
        },
    }
}

/// A handshake outside the stream's first frame: only after a resync, when a frame has the
/// handshake's size and its first field (the protocol version, where a request has its xid) is 0.
pub(super) fn looks_like_handshake(body: &[u8]) -> bool {
    records::CONNECT_REQUEST_LENS.contains(&body.len()) && body.get(..4) == Some(&[0, 0, 0, 0])
}

/// The frame body in `bytes`, once complete: `Err` with the verdict while it is not. A frame
/// is only worth waiting for when its header (the first `header` bytes after the prefix)
/// passes `header_ok`; otherwise a plausible-looking length inside noise would hold the search
/// until that many bytes arrived.
fn complete_frame(
    bytes: &[u8],
    min: usize,
    max: usize,
    header_ok: impl Fn(&[u8]) -> bool,
) -> Result<&[u8], Candidate> {
    let n = match frame_len(bytes) {
        Some(n) if n >= min && n <= max => n,
        None if bytes.len() < PREFIX => return Err(Candidate::NeedMore(PREFIX)),
        _ => return Err(Candidate::No),
    };
    match bytes.get(PREFIX..PREFIX + min) {
        None => Err(Candidate::NeedMore(PREFIX + min)),
        Some(header) if !header_ok(header) => Err(Candidate::No),
        Some(_) => bytes.get(PREFIX..PREFIX + n).ok_or(Candidate::NeedMore(PREFIX + n)),
    }
}

/// A RequestHeader that could start a real request: a known client opcode with an xid
/// consistent with it, or the handshake's leading zero protocol version.
fn request_header_ok(header: &[u8]) -> bool {
    let mut c = Cursor::new(header);
    let (Ok(xid), Ok(op)) = (c.i32(), c.i32()) else { return false };
    let op = OpCode::from_wire(op);
    (op.is_client_request() && xid_fits(op, xid)) || xid == 0
}

/// Whether a client would send `op` with `xid`: pings and auth have their fixed xids, the C
/// client's setWatches may use [`xid::SET_WATCHES`], everything else a positive xid.
fn xid_fits(op: OpCode, xid: i32) -> bool {
    match op {
        OpCode::Ping => xid == xid::PING,
        OpCode::Auth => xid == xid::AUTH,
        OpCode::SetWatches => xid == xid::SET_WATCHES || xid > 0,
        _ => xid > 0,
    }
}

/// A ReplyHeader that could start a real reply.
fn reply_header_ok(header: &[u8]) -> bool {
    let mut c = Cursor::new(header);
    let (Ok(xid), Ok(zxid), Ok(err)) = (c.i32(), c.i64(), c.i32()) else { return false };
    (xid > 0
        || matches!(xid, xid::NOTIFICATION | xid::PING | xid::AUTH | xid::SET_WATCHES)
        || xid == 0)
        && zxid >= -1
        && ErrorCode(err).is_known()
}

fn verdict(ok: bool) -> Candidate {
    if ok { Candidate::Frame } else { Candidate::No }
}

/// Judges a possible request frame start while resynchronising: a known client opcode, an xid
/// consistent with it, and a record that decodes to the last byte.
fn request_candidate(bytes: &[u8], max: usize) -> Candidate {
    let body = match complete_frame(bytes, REQUEST_HEADER, max, request_header_ok) {
        Ok(body) => body,
        Err(v) => return v,
    };
    if looks_like_handshake(body) {
        return verdict(records::connect_request(body).is_ok_and(|c| c.protocol_version == 0));
    }
    let mut c = Cursor::new(body);
    let (Ok(xid), Ok(op)) = (c.i32(), c.i32()) else { return Candidate::No };
    let op = OpCode::from_wire(op);
    verdict(
        op.is_client_request()
            && xid_fits(op, xid)
            && records::request(op, &mut c).is_ok()
            && c.finish().is_ok(),
    )
}

/// How much a reply frame's content supports it being a real reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plausibility {
    /// Decoded strictly against what it answers (or a special xid's fixed shape).
    Strong,
    /// A consistent header for a request not seen: the body cannot be checked.
    Weak,
    No,
}

/// Judges a reply frame body (after the length prefix).
fn reply_plausibility(body: &[u8], pending: &PendingRequests) -> Plausibility {
    use Plausibility::{No, Strong, Weak};
    let strong = |ok: bool| if ok { Strong } else { No };
    if pending.front_op() == Some(OpCode::Connect)
        && records::CONNECT_RESPONSE_LENS.contains(&body.len())
    {
        return strong(records::connect_response(body).is_ok_and(|r| r.protocol_version == 0));
    }
    let mut c = Cursor::new(body);
    let (Ok(xid), Ok(zxid), Ok(err)) = (c.i32(), c.i64(), c.i32()) else { return No };
    let err = ErrorCode(err);
    let header_only = body.len() == REPLY_HEADER;
    if !err.is_known() || zxid < -1 {
        return No;
    }
    match xid {
        xid::NOTIFICATION => strong(
            err.is_ok()
                && records::watch_event(zxid, &mut c).is_ok_and(|e| {
                    matches!(e.event_type, -1 | 1..=7) && e.state_name() != "UnknownState"
                })
                && c.finish().is_ok(),
        ),
        xid::PING | xid::SET_WATCHES => strong(header_only && err.is_ok()),
        xid::AUTH => strong(header_only && matches!(err.0, 0 | -115)),
        x if x > 0 => match pending.peek_op(x) {
            Some(_) if !err.is_ok() => strong(header_only),
            Some(op) => strong(records::reply(op, &mut c).is_ok() && c.finish().is_ok()),
            None if !err.is_ok() && !header_only => No,
            None => Weak,
        },
        _ => No,
    }
}

/// Judges a possible reply frame start while resynchronising. A reply whose body cannot be
/// checked (its request was not seen) also needs the next frame to look right.
fn reply_candidate(bytes: &[u8], max: usize, pending: &PendingRequests) -> Candidate {
    let body = match complete_frame(bytes, REPLY_HEADER, max, reply_header_ok) {
        Ok(body) => body,
        Err(v) => return v,
    };
    match reply_plausibility(body, pending) {
        Plausibility::Strong => Candidate::Frame,
        Plausibility::No => Candidate::No,
        Plausibility::Weak => {
            // Nothing to check the body against: the next frame must be complete and look
            // right too (a length alone is too easy for noise to fake).
            let next = &bytes[PREFIX + body.len()..];
            match complete_frame(next, REPLY_HEADER, max, reply_header_ok) {
                Ok(body) if reply_plausibility(body, pending) != Plausibility::No => {
                    Candidate::Frame
                }
                Err(Candidate::NeedMore(need)) => Candidate::NeedMore(PREFIX + body.len() + need),
                _ => Candidate::No,
            }
        }
    }
}
