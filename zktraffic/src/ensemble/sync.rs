//! Each learner's sync with the leader, on its quorum connection: FOLLOWERINFO (or
//! OBSERVERINFO) → LEADERINFO → ACKEPOCH → DIFF | TRUNC | SNAP → … → UPTODATE; and the
//! leader's epochs from LEADERINFO.

use rustc_hash::FxHashMap;
use std::net::SocketAddr;

use super::event::EnsembleEvent;
use crate::Timestamp;
use crate::quorum::{Side, ZabBody, ZabMessage, ZabType};

/// Most learner connections followed at once.
const MAX_LEARNERS: usize = 4096;

/// One learner connection's sync so far.
#[derive(Clone, Copy, Debug, Default)]
struct Learner {
    sid: Option<i64>,
    info_at: Option<Timestamp>,
    mode: Option<(&'static str, i64)>,
}

/// Learner connections by their learner address, and the leader's epoch.
#[derive(Debug, Default)]
pub struct Syncs {
    learners: FxHashMap<SocketAddr, Learner>,
    epoch: Option<(i64, SocketAddr)>,
}

impl Syncs {
    /// The sid a learner announced on the connection from `addr`.
    pub fn sid_of(&self, addr: SocketAddr) -> Option<i64> {
        self.learners.get(&addr).and_then(|l| l.sid)
    }

    /// One ZAB packet; `leader` is the sid the last election chose.
    pub fn zab(
        &mut self,
        msg: &ZabMessage<'_>,
        leader: Option<i64>,
        out: &mut Vec<(Timestamp, EnsembleEvent)>,
    ) {
        // The bulk of the traffic (PROPOSAL, ACK, COMMIT, PING) says nothing of a sync.
        if !matches!(
            msg.kind,
            ZabType::FollowerInfo
                | ZabType::ObserverInfo
                | ZabType::LeaderInfo
                | ZabType::Diff
                | ZabType::Trunc
                | ZabType::Snap
                | ZabType::UpToDate
        ) {
            return;
        }
        let addr = msg.conn.client;
        let room = self.learners.len() < MAX_LEARNERS;
        let learner = match self.learners.get_mut(&addr) {
            Some(l) => l,
            None if room => self.learners.entry(addr).or_default(),
            None => return,
        };
        match (msg.kind, msg.from, msg.body) {
            (
                ZabType::FollowerInfo | ZabType::ObserverInfo,
                _,
                ZabBody::LearnerInfo { sid, .. },
            ) => {
                *learner = Learner { sid: Some(sid), info_at: Some(msg.ts), mode: None };
            }
            (ZabType::LeaderInfo, Side::Leader, _) => {
                let epoch = msg.zxid >> 32;
                if self.epoch.is_none_or(|(e, a)| epoch > e || (epoch == e && a != msg.conn.server))
                {
                    self.epoch = Some((epoch, msg.conn.server));
                    let event = EnsembleEvent::LeaderChanged {
                        epoch,
                        leader_addr: msg.conn.server,
                        leader,
                    };
                    out.push((msg.ts, event));
                }
            }
            (ZabType::Diff, Side::Leader, _) => learner.mode = Some(("DIFF", msg.zxid)),
            (ZabType::Trunc, Side::Leader, _) => learner.mode = Some(("TRUNC", msg.zxid)),
            (ZabType::Snap, Side::Leader, _) => learner.mode = Some(("SNAP", msg.zxid)),
            (ZabType::UpToDate, Side::Leader, _) => {
                let l = *learner;
                learner.info_at = None;
                let duration_ms = l.info_at.map(|t| msg.ts.0.saturating_sub(t.0) as f64 / 1e6);
                out.push((
                    msg.ts,
                    EnsembleEvent::LearnerSync {
                        learner: l.sid,
                        learner_addr: addr,
                        mode: l.mode.map(|m| m.0),
                        zxid: l.mode.map(|m| m.1),
                        duration_ms,
                    },
                ));
            }
            _ => {}
        }
    }
}
