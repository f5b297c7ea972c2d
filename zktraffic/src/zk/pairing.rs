//! Replies paired with their requests, by xid, per connection (§A3, §A4).
//!
//! A reply does not carry its opcode: the decoder remembers each request's xid, opcode, time and
//! path until the reply arrives. The server answers a session's requests in order, except auth
//! and SASL, which it answers out of band; so a reply for an ordinary request also settles every
//! ordinary request queued before it (their replies were lost, or never sent).
//!
//! Pairing costs O(1) whatever the input: ordinary requests leave their queue only from the
//! front (a match settles everything before it), so a request's position is its sequence number
//! minus the front's; once more than [`SCAN_LIMIT`] are waiting, an index from xid to the
//! oldest such request finds it without a scan (a reply with an unknown xid, or a flood of them,
//! costs one lookup instead of a walk over 10 000 requests). Short queues, the common case, are
//! scanned and never hashed.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::Timestamp;

use super::opcode::OpCode;

/// Paths longer than this are not remembered for pairing (the reply is still paired).
pub const MAX_REMEMBERED_PATH: usize = 4096;

/// Ordinary requests waiting up to this many are found by a scan; beyond it, by the index.
pub const SCAN_LIMIT: usize = 16;

/// No next request with the same xid.
const NONE: u64 = u64::MAX;

/// A request waiting for its reply.
#[derive(Debug)]
pub struct Pending {
    /// The request's xid.
    pub xid: i32,
    /// The request's opcode.
    pub op: OpCode,
    /// The request's user-facing name (e.g. `CreateEphemeralRequest`).
    pub name: &'static str,
    /// When the request was captured.
    pub ts: Timestamp,
    path: String,
    has_path: bool,
    /// Ordinary requests: the sequence number. Out-of-band ones: the sequence number the next
    /// ordinary request would have had (it is younger than every ordinary request before that).
    seq: u64,
    /// Ordinary requests, while the index is kept: the next one waiting with the same xid.
    next_same: u64,
}

impl Pending {
    /// The request's path, when it had one (and it was short enough to remember).
    pub fn path(&self) -> Option<&str> {
        self.has_path.then_some(self.path.as_str())
    }

    fn answered_out_of_band(op: OpCode) -> bool {
        matches!(op, OpCode::Auth | OpCode::Sasl)
    }
}

/// What pushing a request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Remembered for pairing.
    Remembered,
    /// Not remembered: the connection's cap of waiting requests was reached.
    CapHit,
    /// Not remembered: the decoder's budget of pending-request bytes was spent.
    BudgetHit,
}

/// What taking a reply's request found.
#[derive(Debug)]
pub struct Taken {
    /// The request the reply answers, if it was seen.
    pub request: Option<Pending>,
    /// Ordinary requests queued before it, now known to have gone unanswered.
    pub unanswered: u64,
}

/// The oldest and newest ordinary requests waiting with one xid.
#[derive(Clone, Copy, Debug)]
struct SameXid {
    oldest: u64,
    newest: u64,
}

/// The requests of one connection still waiting for a reply.
#[derive(Debug, Default)]
pub struct PendingRequests {
    /// Ordinary requests, oldest first, with consecutive sequence numbers from `front_seq`.
    queue: VecDeque<Pending>,
    /// The sequence number of `queue`'s front (of the next request pushed, when empty).
    front_seq: u64,
    /// Auth and SASL requests, oldest first: answered out of band, they settle nothing.
    out_of_band: VecDeque<Pending>,
    /// While `indexed`: every xid waiting in `queue`, to its oldest and newest request.
    index: FxHashMap<i32, SameXid>,
    indexed: bool,
    /// Path buffers of answered requests, reused so the steady state does not allocate.
    spare: Vec<String>,
    /// Bytes charged to the decoder's pending budget: [`ENTRY_BYTES`] and the path per request.
    bytes: usize,
}

/// What one waiting request costs, besides its path.
pub const ENTRY_BYTES: usize = std::mem::size_of::<Pending>();

fn cost(p: &Pending) -> usize {
    ENTRY_BYTES + p.path.len()
}

impl PendingRequests {
    /// Number of requests waiting.
    pub fn len(&self) -> usize {
        self.queue.len() + self.out_of_band.len()
    }

    /// True when nothing is waiting.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.out_of_band.is_empty()
    }

    /// Bytes charged to the pending budget.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Remembers a request, unless `cap` requests are already waiting or it would cost more
    /// than `budget_left` bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        xid: i32,
        op: OpCode,
        name: &'static str,
        ts: Timestamp,
        path: Option<&str>,
        cap: usize,
        budget_left: usize,
    ) -> Pushed {
        if self.len() >= cap {
            return Pushed::CapHit;
        }
        let path = path.filter(|p| p.len() <= MAX_REMEMBERED_PATH);
        if ENTRY_BYTES + path.map_or(0, str::len) > budget_left {
            return Pushed::BudgetHit;
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        let has_path = match path {
            Some(p) => {
                buf.push_str(p);
                true
            }
            None => false,
        };
        let seq = self.front_seq + self.queue.len() as u64;
        let p = Pending { xid, op, name, ts, path: buf, has_path, seq, next_same: NONE };
        self.bytes += cost(&p);
        if Pending::answered_out_of_band(op) {
            self.out_of_band.push_back(p);
            return Pushed::Remembered;
        }
        self.queue.push_back(p);
        if self.indexed {
            self.index_newest();
        } else if self.queue.len() > SCAN_LIMIT {
            self.indexed = true;
            self.index.clear();
            for k in 0..self.queue.len() {
                self.queue[k].next_same = NONE;
                self.index_at(k);
            }
        }
        Pushed::Remembered
    }

    /// Adds the newest ordinary request to the index.
    fn index_newest(&mut self) {
        self.index_at(self.queue.len() - 1);
    }

    /// Adds the ordinary request at `k` (younger than every one indexed) to the index.
    fn index_at(&mut self, k: usize) {
        let (xid, seq) = (self.queue[k].xid, self.queue[k].seq);
        match self.index.get_mut(&xid) {
            Some(same) => {
                let newest = (same.newest - self.front_seq) as usize;
                same.newest = seq;
                if let Some(p) = self.queue.get_mut(newest) {
                    p.next_same = seq;
                }
            }
            None => {
                self.index.insert(xid, SameXid { oldest: seq, newest: seq });
            }
        }
    }

    /// Where the oldest ordinary request waiting with `xid` is in `queue`.
    fn position(&self, xid: i32) -> Option<usize> {
        if self.indexed {
            self.index.get(&xid).map(|same| (same.oldest - self.front_seq) as usize)
        } else {
            self.queue.iter().position(|p| p.xid == xid)
        }
    }

    /// The oldest out-of-band request with `xid`, if it is older than the ordinary request at
    /// `ordinary` (when there is one).
    fn out_of_band_first(&self, xid: i32, ordinary: Option<usize>) -> Option<usize> {
        let before = ordinary.and_then(|k| self.queue.get(k)).map_or(u64::MAX, |p| p.seq);
        // Out-of-band requests are few (auth at start-up, SASL): a scan, stopped at the first
        // one younger than the ordinary match.
        self.out_of_band.iter().take_while(|p| p.seq <= before).position(|p| p.xid == xid)
    }

    /// The opcode of the oldest request waiting with `xid`, if any.
    pub fn peek_op(&self, xid: i32) -> Option<OpCode> {
        let ordinary = self.position(xid);
        match self.out_of_band_first(xid, ordinary) {
            Some(k) => Some(self.out_of_band[k].op),
            None => ordinary.and_then(|k| self.queue.get(k)).map(|p| p.op),
        }
    }

    /// The opcode of the oldest request waiting.
    pub fn front_op(&self) -> Option<OpCode> {
        match (self.queue.front(), self.out_of_band.front()) {
            (Some(o), Some(b)) if b.seq <= o.seq => Some(b.op),
            (Some(o), _) => Some(o.op),
            (None, b) => b.map(|b| b.op),
        }
    }

    /// Takes the request a reply with `xid` answers.
    pub fn take(&mut self, xid: i32) -> Taken {
        let ordinary = self.position(xid);
        if let Some(k) = self.out_of_band_first(xid, ordinary) {
            let request = self.out_of_band.remove(k);
            self.bytes -= request.as_ref().map_or(0, cost);
            return Taken { request, unanswered: 0 };
        }
        let Some(k) = ordinary else {
            return Taken { request: None, unanswered: 0 };
        };
        // In-order replies: every ordinary request before this one is settled.
        for _ in 0..k {
            if let Some(p) = self.pop_front() {
                self.recycle(p);
            }
        }
        Taken { request: self.pop_front(), unanswered: k as u64 }
    }

    /// Removes the oldest ordinary request.
    fn pop_front(&mut self) -> Option<Pending> {
        let p = self.queue.pop_front()?;
        self.front_seq += 1;
        self.bytes -= cost(&p);
        if self.indexed {
            if p.next_same == NONE {
                self.index.remove(&p.xid);
            } else if let Some(same) = self.index.get_mut(&p.xid) {
                same.oldest = p.next_same;
            }
            if self.queue.is_empty() {
                // Back to scanning; the map keeps its allocation for the next burst.
                self.indexed = false;
                self.index.clear();
            }
        }
        Some(p)
    }

    /// Returns an answered request's path buffer for reuse.
    pub fn recycle(&mut self, p: Pending) {
        if self.spare.len() < 64 {
            self.spare.push(p.path);
        }
    }

    /// Forgets everything (connection closed); returns how many requests went unanswered.
    pub fn clear(&mut self) -> u64 {
        let n = self.len() as u64;
        self.front_seq += self.queue.len() as u64;
        self.queue.clear();
        self.out_of_band.clear();
        self.index.clear();
        self.indexed = false;
        self.spare.clear();
        self.bytes = 0;
        n
    }
}

#[cfg(test)]
mod tests;
