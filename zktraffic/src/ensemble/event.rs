//! The derived events, and the derivation's counters.

use std::net::SocketAddr;

use serde::Serialize;

/// A follower's acknowledgement of a proposal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AckLatency {
    /// The follower's sid, when its FOLLOWERINFO was seen.
    pub learner: Option<i64>,
    /// Its end of the quorum connection.
    pub learner_addr: SocketAddr,
    /// PROPOSAL to this follower → its ACK.
    pub latency_us: f64,
}

/// Something the ensemble did, derived from several packets.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum EnsembleEvent {
    /// The first vote of a new election round.
    ElectionStarted {
        /// The round.
        election_epoch: i64,
    },
    /// A quorum of servers voted for the same leader in the round.
    ElectionFinished {
        /// The round.
        election_epoch: i64,
        /// The elected leader's sid.
        leader: i64,
        /// From the round's first vote to the vote that made the quorum.
        duration_ms: f64,
        /// The servers whose votes made it (sids, or addresses when unknown).
        voters: Vec<String>,
    },
    /// A leader began a new epoch (LEADERINFO).
    LeaderChanged {
        /// The new epoch.
        epoch: i64,
        /// The leader's quorum address.
        leader_addr: SocketAddr,
        /// Its sid, when the election that chose it was seen.
        #[serde(skip_serializing_if = "Option::is_none")]
        leader: Option<i64>,
    },
    /// A learner finished syncing with the leader (UPTODATE).
    LearnerSync {
        /// The learner's sid.
        #[serde(skip_serializing_if = "Option::is_none")]
        learner: Option<i64>,
        /// Its end of the quorum connection.
        learner_addr: SocketAddr,
        /// `DIFF`, `TRUNC` or `SNAP` (none when the capture missed it).
        #[serde(skip_serializing_if = "Option::is_none")]
        mode: Option<&'static str>,
        /// The zxid of the DIFF, TRUNC or SNAP.
        #[serde(skip_serializing_if = "Option::is_none")]
        zxid: Option<i64>,
        /// FOLLOWERINFO → UPTODATE (none when the capture missed FOLLOWERINFO).
        #[serde(skip_serializing_if = "Option::is_none")]
        duration_ms: Option<f64>,
    },
    /// A transaction was committed.
    Committed {
        /// Its zxid.
        zxid: i64,
        /// Its type, in ZooKeeper's names.
        txn_type: &'static str,
        /// The znode it changed.
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// The first PROPOSAL of the zxid → the first COMMIT.
        commit_latency_us: f64,
        /// Each follower's ACK, as far as they came within a second of the commit.
        acks: Vec<AckLatency>,
    },
}

impl EnsembleEvent {
    /// The event's type name.
    pub fn name(&self) -> &'static str {
        match self {
            EnsembleEvent::ElectionStarted { .. } => "ElectionStarted",
            EnsembleEvent::ElectionFinished { .. } => "ElectionFinished",
            EnsembleEvent::LeaderChanged { .. } => "LeaderChanged",
            EnsembleEvent::LearnerSync { .. } => "LearnerSync",
            EnsembleEvent::Committed { .. } => "Committed",
        }
    }
}

/// Counters of the derivation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EnsembleStats {
    /// Proposals forgotten before their commit (the outstanding cap was reached).
    pub proposals_evicted: u64,
    /// COMMITs whose PROPOSAL the capture did not hold.
    pub commits_unmatched: u64,
    /// ACKs of no outstanding proposal (before the capture began, or after the commit was
    /// reported).
    pub acks_unmatched: u64,
}
