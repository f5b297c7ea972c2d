//! Writes from the leader's side: a zxid's PROPOSALs (one per follower), each follower's ACK,
//! and the COMMIT. A commit is reported once every follower it was proposed to has
//! acknowledged, or a second (capture time) after the commit, whichever comes first: the
//! leader commits on a quorum, so the slowest follower's ACK often comes after it.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashSet;
use std::net::SocketAddr;

use super::event::{AckLatency, EnsembleEvent, EnsembleStats};
use crate::Timestamp;
use crate::quorum::{Side, ZabBody, ZabMessage, ZabType};

/// Proposals waiting for their commit at most (the oldest go first).
const MAX_OUTSTANDING: usize = 10_000;
/// Followers a proposal is followed to.
const MAX_FOLLOWERS: usize = 64;
/// How long after its commit a zxid waits for the ACKs still missing.
const LATE_ACKS_NS: u64 = 1_000_000_000;
/// Committed zxids remembered, so that the COMMITs to the other followers are not unmatched.
const RECENT: usize = 1024;

#[derive(Debug)]
struct Pending {
    first: Timestamp,
    txn_type: &'static str,
    path: Option<String>,
    /// Each follower it was proposed to, and when.
    sent: Vec<(SocketAddr, Timestamp)>,
    acks: Vec<AckLatency>,
    committed: Option<Timestamp>,
}

/// Outstanding proposals by zxid.
#[derive(Debug, Default)]
pub struct Commits {
    pending: BTreeMap<i64, Pending>,
    /// Committed zxids not reported yet, in commit order.
    committed: VecDeque<(Timestamp, i64)>,
    /// Zxids reported (or committed unseen), oldest first, and as a set for lookups.
    recent: VecDeque<i64>,
    recent_set: FxHashSet<i64>,
}

impl Commits {
    /// One ZAB packet; `sid` names a learner by its address.
    pub fn zab(
        &mut self,
        msg: &ZabMessage<'_>,
        sid: impl Fn(SocketAddr) -> Option<i64>,
        stats: &mut EnsembleStats,
        out: &mut Vec<(Timestamp, EnsembleEvent)>,
    ) {
        let learner = msg.conn.client;
        match (msg.kind, msg.from, msg.body) {
            (ZabType::Proposal, Side::Leader, ZabBody::Txn(t)) => {
                let p = self.pending.entry(msg.zxid).or_insert_with(|| Pending {
                    first: msg.ts,
                    txn_type: t.type_name(),
                    path: t.path.map(str::to_owned),
                    sent: Vec::new(),
                    acks: Vec::new(),
                    committed: None,
                });
                if p.sent.len() < MAX_FOLLOWERS && !p.sent.iter().any(|(a, _)| *a == learner) {
                    p.sent.push((learner, msg.ts));
                }
                while self.pending.len() > MAX_OUTSTANDING {
                    self.pending.pop_first();
                    stats.proposals_evicted += 1;
                }
            }
            (ZabType::Ack, Side::Learner, _) => {
                let Some(p) = self.pending.get_mut(&msg.zxid) else {
                    // The ACKs of NEWLEADER and UPTODATE carry an epoch's first zxid.
                    if msg.zxid & 0xffff_ffff != 0 && !self.recent_set.contains(&msg.zxid) {
                        stats.acks_unmatched += 1;
                    }
                    return;
                };
                let sent = p.sent.iter().find(|(a, _)| *a == learner).map(|(_, t)| *t);
                if let Some(sent) = sent
                    && !p.acks.iter().any(|a| a.learner_addr == learner)
                {
                    let latency_us = msg.ts.0.saturating_sub(sent.0) as f64 / 1e3;
                    p.acks.push(AckLatency {
                        learner: sid(learner),
                        learner_addr: learner,
                        latency_us,
                    });
                }
                if p.committed.is_some() && p.acks.len() >= p.sent.len() {
                    self.report(msg.zxid, out);
                }
            }
            (ZabType::Commit | ZabType::CommitAndActivate, Side::Leader, _) => {
                match self.pending.get_mut(&msg.zxid) {
                    Some(p) => {
                        if p.committed.is_none() {
                            p.committed = Some(msg.ts);
                            self.committed.push_back((msg.ts, msg.zxid));
                        }
                        if p.acks.len() >= p.sent.len() {
                            self.report(msg.zxid, out);
                        }
                    }
                    None if self.recent_set.contains(&msg.zxid) => {}
                    None => {
                        stats.commits_unmatched += 1;
                        self.remember(msg.zxid);
                    }
                }
            }
            _ => {}
        }
    }

    /// Proposals waiting for their commit.
    pub fn outstanding(&self) -> usize {
        self.pending.iter().filter(|(_, p)| p.committed.is_none()).count()
    }

    fn remember(&mut self, zxid: i64) {
        if !self.recent_set.insert(zxid) {
            return;
        }
        if self.recent.len() == RECENT
            && let Some(old) = self.recent.pop_front()
        {
            self.recent_set.remove(&old);
        }
        self.recent.push_back(zxid);
    }

    /// Reports `zxid`'s commit (it must be committed).
    fn report(&mut self, zxid: i64, out: &mut Vec<(Timestamp, EnsembleEvent)>) {
        let Some(mut p) = self.pending.remove(&zxid) else { return };
        let Some(at) = p.committed else { return };
        self.remember(zxid);
        p.acks.sort_by(|a, b| a.learner.cmp(&b.learner).then(a.learner_addr.cmp(&b.learner_addr)));
        out.push((
            at,
            EnsembleEvent::Committed {
                zxid,
                txn_type: p.txn_type,
                path: p.path,
                commit_latency_us: at.0.saturating_sub(p.first.0) as f64 / 1e3,
                acks: p.acks,
            },
        ));
    }

    /// Reports the commits older than a second before `now` whose last ACKs never came.
    pub fn flush_older_than(&mut self, now: Timestamp, out: &mut Vec<(Timestamp, EnsembleEvent)>) {
        while let Some(&(at, zxid)) = self.committed.front() {
            if at.0.saturating_add(LATE_ACKS_NS) >= now.0 {
                break;
            }
            self.committed.pop_front();
            self.report(zxid, out);
        }
    }

    /// End of input: every commit seen is reported.
    pub fn flush_all(&mut self, out: &mut Vec<(Timestamp, EnsembleEvent)>) {
        while let Some((_, zxid)) = self.committed.pop_front() {
            self.report(zxid, out);
        }
    }
}
