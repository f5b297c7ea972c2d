//! Elections from votes: a round starts with its first vote; it is finished once a quorum of
//! servers' latest votes in the round name the same leader and that stands (a second with no
//! vote changing it, a decided server's FOLLOWING/LEADING vote for it, or the new leader's
//! LEADERINFO). Servers that decide together send only LOOKING votes; a late one gets
//! FOLLOWING/LEADING answers: both count. The election ends when its quorum formed.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::event::EnsembleEvent;
use crate::Timestamp;
use crate::election::{ElectionBody, ElectionMessage, Notification};

/// Most servers remembered (votes, config entries): an ensemble has a handful.
const MAX_SERVERS: usize = 256;

/// Who sent a vote: its sid, or its address when that is all that is known.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Voter {
    Sid(i64),
    Addr(SocketAddr),
}

impl Voter {
    fn name(&self) -> String {
        match self {
            Voter::Sid(s) => s.to_string(),
            Voter::Addr(a) => a.to_string(),
        }
    }
}

/// The rounds seen and the latest vote of every server.
#[derive(Debug, Default)]
pub struct Elections {
    /// The latest round, when it began, and whether it finished.
    round: Option<(i64, Timestamp, bool)>,
    votes: BTreeMap<Voter, (i64, i64)>,
    /// Election address → sid, from config text.
    sids: BTreeMap<SocketAddr, i64>,
    /// Participants in the latest config (the quorum is a majority of them).
    participants: usize,
    last_leader: Option<i64>,
    /// A quorum of the round's votes for one leader: the leader, when it formed, the voters.
    pending: Option<(i64, Timestamp, Vec<String>)>,
}

/// How long a quorum of votes must stand before it is taken as the election's outcome (FLE
/// waits 200 ms for a better vote before deciding).
const SETTLE_NS: u64 = 1_000_000_000;

impl Elections {
    /// The leader of the latest finished election.
    pub fn last_leader(&self) -> Option<i64> {
        self.last_leader
    }

    fn learn_config(&mut self, n: &Notification<'_>) {
        if n.config.is_none() {
            return;
        }
        let mut participants = 0;
        for s in n.servers() {
            participants += usize::from(s.role == "participant");
            let ip = s.host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = ip.parse()
                && self.sids.len() < MAX_SERVERS
            {
                self.sids.insert(SocketAddr::new(ip, s.election_port), s.sid);
            }
        }
        self.participants = participants;
    }

    /// A vote's sender: the sid of its initial message, or of its listening address by the
    /// config, or its address.
    fn voter(&self, msg: &ElectionMessage<'_>) -> Voter {
        match msg.sid.or_else(|| self.sids.get(&msg.from).copied()) {
            Some(sid) => Voter::Sid(sid),
            None => Voter::Addr(msg.from),
        }
    }

    /// One election message.
    pub fn message(
        &mut self,
        msg: &ElectionMessage<'_>,
        out: &mut Vec<(Timestamp, EnsembleEvent)>,
    ) {
        self.settle(msg.ts, out);
        let ElectionBody::Notification(n) = msg.body else { return };
        self.learn_config(&n);
        let voter = self.voter(msg);
        let epoch = n.election_epoch;
        if self.round.is_none_or(|(e, _, _)| epoch > e) {
            self.round = Some((epoch, msg.ts, false));
            self.pending = None;
            out.push((msg.ts, EnsembleEvent::ElectionStarted { election_epoch: epoch }));
        }
        if self.votes.len() < MAX_SERVERS || self.votes.contains_key(&voter) {
            self.votes.insert(voter, (epoch, n.leader));
        }
        let Some((round, _, false)) = self.round else { return };
        if epoch != round {
            return;
        }
        // A quorum for one leader, as the votes stand now (votes change while servers learn of
        // better candidates, so it may not last).
        let quorum = if self.participants > 0 { self.participants / 2 + 1 } else { 2 };
        let mut tally: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for (who, &(e, leader)) in &self.votes {
            if e == round {
                tally.entry(leader).or_default().push(who.name());
            }
        }
        let winner = tally.into_iter().find(|(_, voters)| voters.len() >= quorum);
        self.pending = match (winner, self.pending.take()) {
            // Still the same quorum: it formed when it first did.
            (Some((leader, voters)), Some((l, at, _))) if l == leader => Some((leader, at, voters)),
            (Some((leader, voters)), _) => Some((leader, msg.ts, voters)),
            (None, _) => None,
        };
        // A decided server's vote settles it at once.
        if n.state != 0 && self.pending.as_ref().is_some_and(|p| p.0 == n.leader) {
            self.finish(out);
        }
    }

    /// Reports the pending election once nothing contradicted it for [`SETTLE_NS`] (servers
    /// decide after their own short wait), or at once when `now` is `None` (the new leader
    /// began its epoch, or the input ended).
    pub fn settle(&mut self, now: Timestamp, out: &mut Vec<(Timestamp, EnsembleEvent)>) {
        if self.pending.as_ref().is_some_and(|p| p.1.0.saturating_add(SETTLE_NS) < now.0) {
            self.finish(out);
        }
    }

    /// Reports the pending election now.
    pub fn finish(&mut self, out: &mut Vec<(Timestamp, EnsembleEvent)>) {
        let (Some((leader, at, voters)), Some((round, started, false))) =
            (self.pending.take(), self.round)
        else {
            return;
        };
        self.round = Some((round, started, true));
        self.last_leader = Some(leader);
        let duration_ms = at.0.saturating_sub(started.0) as f64 / 1e6;
        out.push((
            at,
            EnsembleEvent::ElectionFinished { election_epoch: round, leader, duration_ms, voters },
        ));
    }
}
