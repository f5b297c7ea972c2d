//! The ensemble's running figures: packet counts, the current leader and epoch, each learner
//! with its last sync and its ACK latency, recent elections, the proposal → commit latency.
//! The daemon feeds it on the capture thread and copies its [`QuorumView`] into each
//! publication (`/json/quorum`, the quorum metrics); `dump --summary` reports it at the end.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use serde_json::{Value, json};

use super::{EnsembleEvent, Tracker};
use crate::Timestamp;
use crate::election::{ElectionBody, ElectionMessage, state_name};
use crate::quorum::{Side, ZabMessage, ZabType};
use crate::stats::latency::Latency;

/// Elections kept for `/json/quorum`.
const RECENT_ELECTIONS: usize = 16;
/// Learners reported at most.
const MAX_LEARNERS: usize = 256;
/// Significant digits of the ensemble-wide latency percentiles (per learner: 2).
const SIGFIG: u8 = 3;

/// One learner's figures.
#[derive(Clone, Debug)]
pub struct LearnerView {
    /// Its sid, from its FOLLOWERINFO/OBSERVERINFO.
    pub sid: Option<i64>,
    /// The mode and duration of its last sync.
    pub last_sync: Option<(Option<&'static str>, Option<f64>)>,
    /// PROPOSAL → its ACK.
    pub ack: Latency,
}

/// A finished election.
#[derive(Clone, Debug)]
pub struct ElectionView {
    pub ts: Timestamp,
    pub election_epoch: i64,
    pub leader: i64,
    pub duration_ms: f64,
    pub voters: Vec<String>,
}

/// What the daemon publishes of the ensemble.
#[derive(Clone, Debug)]
pub struct QuorumView {
    /// ZAB packets by type (wire number − 1) and sender (leader, learner).
    pub packets: [[u64; 2]; ZabType::ALL.len()],
    /// Election messages: initial, SASL, and notifications by the sender's state.
    pub election_messages: BTreeMap<&'static str, u64>,
    /// The leader: its quorum address, epoch and (when the election was seen) sid.
    pub leader: Option<(SocketAddr, i64, Option<i64>)>,
    pub learners: BTreeMap<SocketAddr, LearnerView>,
    pub elections: VecDeque<ElectionView>,
    pub elections_total: u64,
    pub election_duration: Latency,
    pub leader_changes: u64,
    /// Learner syncs by mode (`unknown` when the capture missed it), and their durations.
    pub syncs: BTreeMap<&'static str, u64>,
    pub sync_duration: Latency,
    pub commits: u64,
    pub commit_latency: Latency,
    /// Every follower's ACKs together.
    pub ack_latency: Latency,
    pub outstanding_proposals: usize,
}

impl Default for QuorumView {
    fn default() -> Self {
        QuorumView {
            packets: [[0; 2]; ZabType::ALL.len()],
            election_messages: BTreeMap::new(),
            leader: None,
            learners: BTreeMap::new(),
            elections: VecDeque::new(),
            elections_total: 0,
            election_duration: Latency::new(Some(SIGFIG)),
            leader_changes: 0,
            syncs: BTreeMap::new(),
            sync_duration: Latency::new(Some(SIGFIG)),
            commits: 0,
            commit_latency: Latency::new(Some(SIGFIG)),
            ack_latency: Latency::new(Some(SIGFIG)),
            outstanding_proposals: 0,
        }
    }
}

/// The tracker and the figures it feeds.
#[derive(Debug, Default)]
pub struct QuorumState {
    tracker: Tracker,
    view: QuorumView,
    /// Anything was seen on a quorum or election port.
    seen: bool,
}

impl QuorumState {
    /// One ZAB packet.
    pub fn zab(&mut self, msg: &ZabMessage<'_>) {
        self.seen = true;
        let from = usize::from(msg.from == Side::Learner);
        self.view.packets[msg.kind as usize - 1][from] += 1;
        let events = self.tracker.on_zab(msg);
        self.apply(events);
    }

    /// One election message.
    pub fn election(&mut self, msg: &ElectionMessage<'_>) {
        self.seen = true;
        let key = match &msg.body {
            ElectionBody::Initial { .. } => "Initial",
            ElectionBody::Sasl { .. } => "Sasl",
            ElectionBody::Notification(n) => state_name(n.state),
        };
        *self.view.election_messages.entry(key).or_default() += 1;
        let events = self.tracker.on_election(msg);
        self.apply(events);
    }

    fn learner(&mut self, addr: SocketAddr) -> Option<&mut LearnerView> {
        let room = self.view.learners.len() < MAX_LEARNERS;
        if !room && !self.view.learners.contains_key(&addr) {
            return None;
        }
        Some(self.view.learners.entry(addr).or_insert_with(|| LearnerView {
            sid: None,
            last_sync: None,
            ack: Latency::new(Some(2)),
        }))
    }

    fn apply(&mut self, events: Vec<(Timestamp, EnsembleEvent)>) {
        for (ts, e) in events {
            match e {
                EnsembleEvent::ElectionStarted { .. } => {}
                EnsembleEvent::ElectionFinished { election_epoch, leader, duration_ms, voters } => {
                    let v = &mut self.view;
                    v.elections_total += 1;
                    v.election_duration.record((duration_ms * 1e6) as u64);
                    if v.elections.len() == RECENT_ELECTIONS {
                        v.elections.pop_front();
                    }
                    v.elections.push_back(ElectionView {
                        ts,
                        election_epoch,
                        leader,
                        duration_ms,
                        voters,
                    });
                }
                EnsembleEvent::LeaderChanged { epoch, leader_addr, leader } => {
                    self.view.leader_changes += 1;
                    self.view.leader = Some((leader_addr, epoch, leader));
                }
                EnsembleEvent::LearnerSync { learner, learner_addr, mode, duration_ms, .. } => {
                    *self.view.syncs.entry(mode.unwrap_or("unknown")).or_default() += 1;
                    if let Some(d) = duration_ms {
                        self.view.sync_duration.record((d * 1e6) as u64);
                    }
                    if let Some(l) = self.learner(learner_addr) {
                        l.sid = learner.or(l.sid);
                        l.last_sync = Some((mode, duration_ms));
                    }
                }
                EnsembleEvent::Committed { commit_latency_us, acks, .. } => {
                    self.view.commits += 1;
                    self.view.commit_latency.record((commit_latency_us * 1e3) as u64);
                    for a in acks {
                        self.view.ack_latency.record((a.latency_us * 1e3) as u64);
                        if let Some(l) = self.learner(a.learner_addr) {
                            l.sid = a.learner.or(l.sid);
                            l.ack.record((a.latency_us * 1e3) as u64);
                        }
                    }
                }
            }
        }
    }

    /// End of input: the commits still waiting for late ACKs, and a pending election, count.
    pub fn finish(&mut self) {
        let events = self.tracker.on_finish();
        self.apply(events);
    }

    /// What the derivation gave up.
    pub fn stats(&self) -> &super::EnsembleStats {
        &self.tracker.stats
    }

    /// The figures now (none before any quorum traffic).
    pub fn view(&self) -> Option<QuorumView> {
        self.seen.then(|| QuorumView {
            outstanding_proposals: self.tracker.outstanding(),
            ..self.view.clone()
        })
    }
}

impl QuorumView {
    /// The observed server's role, from what its capture sees: the leader's side of several
    /// learners' connections, or one learner's connection.
    pub fn role(&self) -> &'static str {
        match self.learners.len() {
            0 => "unknown",
            1 => "learner",
            _ => "leader",
        }
    }

    /// `/json/quorum`.
    pub fn to_json(&self) -> Value {
        let latency = |l: &Latency| serde_json::to_value(l.summary()).unwrap_or_default();
        let packets: serde_json::Map<String, Value> = ZabType::ALL
            .iter()
            .zip(&self.packets)
            .filter(|(_, n)| n[0] + n[1] > 0)
            .map(|(t, n)| (t.name().to_owned(), json!({"from_leader": n[0], "from_learner": n[1]})))
            .collect();
        let learners: Vec<Value> = self
            .learners
            .iter()
            .map(|(addr, l)| {
                json!({
                    "addr": addr.to_string(),
                    "sid": l.sid,
                    "last_sync_mode": l.last_sync.and_then(|s| s.0),
                    "last_sync_ms": l.last_sync.and_then(|s| s.1),
                    "ack_latency": latency(&l.ack),
                })
            })
            .collect();
        let elections: Vec<Value> = self
            .elections
            .iter()
            .map(|e| {
                json!({
                    "finished_at": e.ts.to_string(),
                    "election_epoch": e.election_epoch,
                    "leader": e.leader,
                    "duration_ms": e.duration_ms,
                    "voters": e.voters,
                })
            })
            .collect();
        json!({
            "role": self.role(),
            "leader": self.leader.map(|(addr, epoch, sid)| json!({
                "addr": addr.to_string(), "epoch": epoch, "sid": sid,
            })),
            "learners": learners,
            "elections": {
                "total": self.elections_total,
                "duration": latency(&self.election_duration),
                "recent": elections,
            },
            "learner_syncs": self.syncs,
            "commits": self.commits,
            "proposal_commit_latency": latency(&self.commit_latency),
            "outstanding_proposals": self.outstanding_proposals,
            "zab_packets": packets,
            "election_messages": self.election_messages,
        })
    }
}
