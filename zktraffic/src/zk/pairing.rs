//! Replies paired with their requests, by xid, per connection (§A3, §A4).
//!
//! A reply does not carry its opcode: the decoder remembers each request's xid, opcode, time and
//! path until the reply arrives. The server answers a session's requests in order, except auth
//! and SASL, which it answers out of band; so a reply for an ordinary request also settles every
//! ordinary request queued before it (their replies were lost, or never sent).

use std::collections::VecDeque;

use crate::Timestamp;

use super::opcode::OpCode;

/// Paths longer than this are not remembered for pairing (the reply is still paired).
pub const MAX_REMEMBERED_PATH: usize = 4096;

/// A request waiting for its reply.
#[derive(Debug)]
pub struct Pending {
    pub xid: i32,
    pub op: OpCode,
    /// The request's user-facing name (e.g. `CreateEphemeralRequest`).
    pub name: &'static str,
    pub ts: Timestamp,
    path: String,
    has_path: bool,
}

impl Pending {
    /// The request's path, when it had one (and it was short enough to remember).
    pub fn path(&self) -> Option<&str> {
        self.has_path.then_some(self.path.as_str())
    }

    fn answered_out_of_band(&self) -> bool {
        matches!(self.op, OpCode::Auth | OpCode::Sasl)
    }
}

/// What taking a reply's request found.
#[derive(Debug)]
pub struct Taken {
    /// The request the reply answers, if it was seen.
    pub request: Option<Pending>,
    /// Ordinary requests queued before it, now known to have gone unanswered.
    pub unanswered: u64,
}

/// The requests of one connection still waiting for a reply, oldest first.
#[derive(Debug, Default)]
pub struct PendingRequests {
    queue: VecDeque<Pending>,
    /// Path buffers of answered requests, reused so the steady state does not allocate.
    spare: Vec<String>,
}

impl PendingRequests {
    /// Number of requests waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Remembers a request; `false` (not remembered) when `cap` requests are already waiting.
    pub fn push(
        &mut self,
        xid: i32,
        op: OpCode,
        name: &'static str,
        ts: Timestamp,
        path: Option<&str>,
        cap: usize,
    ) -> bool {
        if self.queue.len() >= cap {
            return false;
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        let has_path = match path {
            Some(p) if p.len() <= MAX_REMEMBERED_PATH => {
                buf.push_str(p);
                true
            }
            _ => false,
        };
        self.queue.push_back(Pending { xid, op, name, ts, path: buf, has_path });
        true
    }

    /// The opcode of the oldest request waiting with `xid`, if any.
    pub fn peek_op(&self, xid: i32) -> Option<OpCode> {
        self.queue.iter().find(|p| p.xid == xid).map(|p| p.op)
    }

    /// The opcode of the oldest request waiting.
    pub fn front_op(&self) -> Option<OpCode> {
        self.queue.front().map(|p| p.op)
    }

    /// Takes the request a reply with `xid` answers.
    pub fn take(&mut self, xid: i32) -> Taken {
        let Some(k) = self.queue.iter().position(|p| p.xid == xid) else {
            return Taken { request: None, unanswered: 0 };
        };
        let request = self.queue.remove(k);
        let mut unanswered = 0;
        if request.as_ref().is_some_and(|r| !r.answered_out_of_band()) && k > 0 {
            // In-order replies: every ordinary request before this one is settled.
            let mut i = 0;
            for _ in 0..k {
                if self.queue[i].answered_out_of_band() {
                    i += 1;
                } else if let Some(p) = self.queue.remove(i) {
                    unanswered += 1;
                    self.recycle(p);
                }
            }
        }
        Taken { request, unanswered }
    }

    /// Returns an answered request's path buffer for reuse.
    pub fn recycle(&mut self, p: Pending) {
        if self.spare.len() < 64 {
            self.spare.push(p.path);
        }
    }

    /// Forgets everything (connection closed); returns how many requests went unanswered.
    pub fn clear(&mut self) -> u64 {
        let n = self.queue.len() as u64;
        self.queue.clear();
        self.spare.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(n: u64) -> Timestamp {
        Timestamp(n)
    }

    #[test]
    fn pairs_in_order_and_settles_skipped_requests() {
        let mut p = PendingRequests::default();
        for xid in 1..=3 {
            assert!(p.push(xid, OpCode::Exists, "ExistsRequest", ts(xid as u64), Some("/a"), 10));
        }
        let t = p.take(1);
        assert_eq!((t.request.as_ref().map(|r| r.ts), t.unanswered), (Some(ts(1)), 0));
        assert_eq!(t.request.as_ref().and_then(Pending::path), Some("/a"));
        // The reply to 2 was lost: taking 3 settles it.
        let t = p.take(3);
        assert_eq!((t.request.map(|r| r.xid), t.unanswered), (Some(3), 1));
        assert!(p.is_empty());
        assert!(p.take(9).request.is_none());
    }

    #[test]
    fn auth_is_answered_out_of_band() {
        let mut p = PendingRequests::default();
        p.push(5, OpCode::GetData, "GetDataRequest", ts(1), Some("/x"), 10);
        p.push(-4, OpCode::Auth, "SetAuthRequest", ts(2), None, 10);
        p.push(6, OpCode::GetData, "GetDataRequest", ts(3), Some("/y"), 10);
        // The auth reply overtakes the GetData reply without settling it.
        let t = p.take(-4);
        assert_eq!((t.request.map(|r| r.op), t.unanswered), (Some(OpCode::Auth), 0));
        assert_eq!(p.take(5).request.map(|r| r.xid), Some(5));
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn pings_pair_oldest_first_and_cap_holds() {
        let mut p = PendingRequests::default();
        assert!(p.push(-2, OpCode::Ping, "PingRequest", ts(1), None, 2));
        assert!(p.push(-2, OpCode::Ping, "PingRequest", ts(2), None, 2));
        assert!(!p.push(-2, OpCode::Ping, "PingRequest", ts(3), None, 2), "cap");
        assert_eq!(p.take(-2).request.map(|r| r.ts), Some(ts(1)));
        assert_eq!(p.peek_op(-2), Some(OpCode::Ping));
        assert_eq!(p.clear(), 1);
    }

    #[test]
    fn long_paths_are_not_remembered() {
        let mut p = PendingRequests::default();
        let long = "/".repeat(MAX_REMEMBERED_PATH + 1);
        p.push(1, OpCode::Sync, "SyncRequest", ts(1), Some(&long), 10);
        assert_eq!(p.take(1).request.and_then(|r| r.path().map(str::len)), None);
    }
}
