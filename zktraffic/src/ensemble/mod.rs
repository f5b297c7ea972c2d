//! What the ensemble's packets mean together: elections with their duration, each learner's
//! sync with the leader, every write from its proposal to its commit with each follower's ACK
//! latency, and leader changes. A [`Tracker`] is fed the decoded ZAB and election messages in
//! capture order and derives [`EnsembleEvent`]s; its state is bounded whatever the input.
//!
//! - `election.rs`: votes → elections started and finished;
//! - `sync.rs`: FOLLOWERINFO … UPTODATE per learner connection;
//! - `commits.rs`: PROPOSAL → ACKs → COMMIT per zxid;
//! - `event.rs`: what they derive;
//! - `state.rs`: the daemon's running figures (`/json/quorum`, the quorum metrics).

mod commits;
mod election;
mod event;
pub mod state;
mod sync;
#[cfg(test)]
mod tests;

use crate::Timestamp;
use crate::election::ElectionMessage;
use crate::quorum::ZabMessage;
pub use event::{EnsembleEvent, EnsembleStats};

/// Derives ensemble events from ZAB and election messages.
#[derive(Debug, Default)]
pub struct Tracker {
    election: election::Elections,
    sync: sync::Syncs,
    commits: commits::Commits,
    /// Counters.
    pub stats: EnsembleStats,
}

impl Tracker {
    /// A ZAB packet; what it completes goes to `out` (stamped with the packet's time).
    pub fn zab(&mut self, msg: &ZabMessage<'_>, out: &mut Vec<(Timestamp, EnsembleEvent)>) {
        self.commits.flush_older_than(msg.ts, out);
        // The new leader's epoch begins: the election that chose it is over.
        if msg.kind == crate::quorum::ZabType::LeaderInfo {
            self.election.finish(out);
        } else {
            self.election.settle(msg.ts, out);
        }
        let leader = self.election.last_leader();
        self.sync.zab(msg, leader, out);
        let sid = |addr| self.sync.sid_of(addr);
        self.commits.zab(msg, sid, &mut self.stats, out);
    }

    /// An election message; what it completes goes to `out`.
    pub fn election(
        &mut self,
        msg: &ElectionMessage<'_>,
        out: &mut Vec<(Timestamp, EnsembleEvent)>,
    ) {
        self.election.message(msg, out);
    }

    /// End of input: what is still waiting (commits whose late ACKs might have come).
    pub fn finish(&mut self, out: &mut Vec<(Timestamp, EnsembleEvent)>) {
        self.election.finish(out);
        self.commits.flush_all(out);
    }

    /// Proposals waiting for their commit.
    pub fn outstanding(&self) -> usize {
        self.commits.outstanding()
    }

    /// [`Tracker::zab`], returning the events (no allocation when there is none, the usual
    /// case).
    pub fn on_zab(&mut self, msg: &ZabMessage<'_>) -> Vec<(Timestamp, EnsembleEvent)> {
        let mut out = Vec::new();
        self.zab(msg, &mut out);
        out
    }

    /// [`Tracker::election`], returning the events.
    pub fn on_election(&mut self, msg: &ElectionMessage<'_>) -> Vec<(Timestamp, EnsembleEvent)> {
        let mut out = Vec::new();
        self.election(msg, &mut out);
        out
    }

    /// [`Tracker::finish`], returning the events.
    pub fn on_finish(&mut self) -> Vec<(Timestamp, EnsembleEvent)> {
        let mut out = Vec::new();
        self.finish(&mut out);
        out
    }
}
