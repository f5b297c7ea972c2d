//! `--summary`: counts per message type, errors by name, latency percentiles per request type,
//! and quorum packets per type and sender.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use rustc_hash::FxHashMap;

use super::filter::Filter;
use crate::election::ElectionMessage;
use crate::ensemble::EnsembleStats;
use crate::ensemble::state::{QuorumState, QuorumView};
use crate::quorum::{ZabMessage, ZabType};
use crate::sink::MessageSink;
use crate::stats::latency::{Latency, LatencySummary};
use crate::stats::name::Name;
use crate::zk::{Body, ErrorCode, Message};

/// Significant digits of the latency percentiles.
const LATENCY_SIGFIG: u8 = 3;

/// Counts of one message type.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct TypeCount {
    pub requests: u64,
    pub replies: u64,
    pub events: u64,
    pub four_letter_words: u64,
}

/// Aggregates the messages a filter accepts. Keys are the decoder's static names, hashed with
/// FxHash: this runs once per message.
#[derive(Debug)]
pub struct Summary {
    filter: Filter,
    types: FxHashMap<Name, TypeCount>,
    /// Four-letter words, by command.
    commands: BTreeMap<String, u64>,
    /// (request type, error) → count, for replies with an error.
    errors: FxHashMap<(Name, ErrorCode), u64>,
    latency: FxHashMap<Name, Latency>,
    /// The quorum protocols' packets and what they mean together.
    quorum: Box<QuorumState>,
}

/// What `--summary` says of the ensemble's derived events (latencies in µs).
#[derive(Clone, Debug, Serialize)]
pub struct EnsembleSummary {
    pub elections: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub election_duration: Option<LatencySummary>,
    pub leader_changes: u64,
    /// Learner syncs by mode (`DIFF`, `TRUNC`, `SNAP`, `unknown`).
    pub learner_syncs: BTreeMap<&'static str, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learner_sync_duration: Option<LatencySummary>,
    pub commits: u64,
    /// PROPOSAL → COMMIT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_latency: Option<LatencySummary>,
    /// PROPOSAL → each follower's ACK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follower_ack_latency: Option<LatencySummary>,
    pub counters: EnsembleStats,
}

/// The ensemble section of `view`.
fn ensemble_summary(view: &QuorumView, counters: &EnsembleStats) -> EnsembleSummary {
    let s = |l: &Latency| (l.count > 0).then(|| l.summary());
    EnsembleSummary {
        elections: view.elections_total,
        election_duration: s(&view.election_duration),
        leader_changes: view.leader_changes,
        learner_syncs: view.syncs.clone(),
        learner_sync_duration: s(&view.sync_duration),
        commits: view.commits,
        commit_latency: s(&view.commit_latency),
        follower_ack_latency: s(&view.ack_latency),
        counters: counters.clone(),
    }
}

/// Quorum packets of one type, by sender.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct QuorumCount {
    pub from_leader: u64,
    pub from_learner: u64,
}

/// The finished report (what `--summary --format json` prints, plus the caller's counters).
#[derive(Clone, Debug, Serialize)]
pub struct SummaryReport {
    pub requests: u64,
    pub replies: u64,
    pub events: u64,
    pub four_letter_words: u64,
    pub types: BTreeMap<String, TypeCount>,
    /// `request type → error name → count`.
    pub errors: BTreeMap<String, BTreeMap<String, u64>>,
    pub latency: BTreeMap<String, LatencySummary>,
    /// ZAB packets by type (when quorum ports are decoded).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub quorum: BTreeMap<&'static str, QuorumCount>,
    /// Election messages by type, notifications by the sender's state.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub election: BTreeMap<String, u64>,
    /// What the quorum protocols' packets mean together (when they are decoded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<EnsembleSummary>,
}

impl Summary {
    /// An empty summary of what `filter` accepts.
    pub fn new(filter: Filter) -> Self {
        Summary {
            filter,
            types: FxHashMap::default(),
            commands: BTreeMap::new(),
            errors: FxHashMap::default(),
            latency: FxHashMap::default(),
            quorum: Box::default(),
        }
    }

    /// End of input: the commits still waiting for late ACKs are counted.
    pub fn finish(&mut self) {
        self.quorum.finish();
    }

    fn count(&mut self, name: &'static str) -> &mut TypeCount {
        self.types.entry(Name(name)).or_default()
    }

    /// The report so far.
    pub fn report(&self) -> SummaryReport {
        let mut types: BTreeMap<String, TypeCount> = BTreeMap::new();
        for (k, v) in &self.types {
            let t = types.entry(k.0.to_owned()).or_default();
            t.requests += v.requests;
            t.replies += v.replies;
            t.events += v.events;
        }
        for (command, n) in &self.commands {
            types.entry(command.clone()).or_default().four_letter_words += n;
        }
        let total = |f: fn(&TypeCount) -> u64| types.values().map(f).sum();
        let mut errors: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((req, err), n) in &self.errors {
            *errors.entry(req.0.to_owned()).or_default().entry(err.to_string()).or_default() += n;
        }
        // Names are compared by address: equal texts from two literals merge here.
        let mut merged: BTreeMap<&str, Latency> = BTreeMap::new();
        for (name, l) in &self.latency {
            merged.entry(name.0).or_insert_with(|| Latency::new(Some(LATENCY_SIGFIG))).merge(l);
        }
        let latency = merged.iter().map(|(name, l)| ((*name).to_owned(), l.summary())).collect();
        let view = self.quorum.view().unwrap_or_default();
        let quorum = ZabType::ALL
            .iter()
            .zip(view.packets.iter())
            .filter(|(_, n)| n[0] + n[1] > 0)
            .map(|(t, n)| (t.name(), QuorumCount { from_leader: n[0], from_learner: n[1] }))
            .collect();
        // Votes by the sender's state, as `Notification <STATE>`.
        let election = view
            .election_messages
            .iter()
            .map(|(&k, &n)| match k {
                "Initial" | "Sasl" => (k.to_owned(), n),
                state => (format!("Notification {state}"), n),
            })
            .collect();
        SummaryReport {
            requests: total(|t| t.requests),
            replies: total(|t| t.replies),
            events: total(|t| t.events),
            four_letter_words: total(|t| t.four_letter_words),
            types,
            errors,
            latency,
            quorum,
            election,
            ensemble: self.quorum.view().map(|v| ensemble_summary(&v, self.quorum.stats())),
        }
    }
}

impl MessageSink for Summary {
    fn message(&mut self, msg: &Message<'_>) {
        if !self.filter.accepts(msg) {
            return;
        }
        match &msg.body {
            Body::Request(r) => self.count(r.name()).requests += 1,
            Body::Reply(r) => {
                self.count(r.name()).replies += 1;
                let req = r.request.map_or(r.name(), |p| p.name);
                if !r.err.is_ok() {
                    *self.errors.entry((Name(req), r.err)).or_default() += 1;
                }
                if let (Some(p), Some(ns)) = (r.request, r.latency_ns(msg.ts)) {
                    let l = self.latency.entry(Name(p.name));
                    l.or_insert_with(|| Latency::new(Some(LATENCY_SIGFIG))).record(ns);
                }
            }
            Body::Event(e) => self.count(e.type_name()).events += 1,
            Body::FourLetter(f) => {
                *self.commands.entry(f.command_str().to_owned()).or_default() += 1
            }
        }
    }

    fn zab(&mut self, msg: &ZabMessage<'_>) {
        self.quorum.zab(msg);
    }

    fn election(&mut self, msg: &ElectionMessage<'_>) {
        self.quorum.election(msg);
    }
}

impl SummaryReport {
    /// Prints the report as aligned text tables, followed by `counters` (name → value).
    pub fn write_text(&self, out: &mut impl Write, counters: &[(String, u64)]) -> io::Result<()> {
        writeln!(
            out,
            "messages: {} requests, {} replies, {} events, {} four-letter words",
            self.requests, self.replies, self.events, self.four_letter_words
        )?;
        writeln!(out, "\n{:<32} {:>10} {:>10} {:>10}", "type", "requests", "replies", "events")?;
        for (name, c) in &self.types {
            let events = c.events + c.four_letter_words;
            writeln!(out, "{name:<32} {:>10} {:>10} {events:>10}", c.requests, c.replies)?;
        }
        if !self.errors.is_empty() {
            writeln!(out, "\n{:<32} {:<28} {:>8}", "errors by request", "error", "count")?;
            for (req, errs) in &self.errors {
                for (err, n) in errs {
                    writeln!(out, "{req:<32} {err:<28} {n:>8}")?;
                }
            }
        }
        if !self.latency.is_empty() {
            writeln!(
                out,
                "\n{:<32} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
                "latency (µs)", "count", "avg", "p50", "p95", "p99", "max"
            )?;
            for (name, l) in &self.latency {
                let p = |q: Option<f64>| q.unwrap_or_default();
                writeln!(
                    out,
                    "{name:<32} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
                    l.count,
                    l.avg_us,
                    p(l.p50_us),
                    p(l.p95_us),
                    p(l.p99_us),
                    l.max_us
                )?;
            }
        }
        if !self.quorum.is_empty() {
            writeln!(
                out,
                "\n{:<32} {:>12} {:>12}",
                "quorum packets", "from leader", "from learner"
            )?;
            for (name, c) in &self.quorum {
                writeln!(out, "{name:<32} {:>12} {:>12}", c.from_leader, c.from_learner)?;
            }
        }
        if !self.election.is_empty() {
            writeln!(out, "\n{:<32} {:>12}", "election messages", "count")?;
            for (name, n) in &self.election {
                writeln!(out, "{name:<32} {n:>12}")?;
            }
        }
        if let Some(e) = &self.ensemble {
            writeln!(out, "\nensemble")?;
            writeln!(out, "  {:<38} {}", "elections", e.elections)?;
            writeln!(out, "  {:<38} {}", "leader changes", e.leader_changes)?;
            for (mode, n) in &e.learner_syncs {
                writeln!(out, "  {:<38} {n}", format!("learner syncs {mode}"))?;
            }
            writeln!(out, "  {:<38} {}", "commits", e.commits)?;
            let lines = [
                ("election duration", &e.election_duration),
                ("learner sync duration", &e.learner_sync_duration),
                ("commit latency (proposal → commit)", &e.commit_latency),
                ("follower ack latency", &e.follower_ack_latency),
            ];
            for (name, l) in lines {
                if let Some(l) = l {
                    let p = |q: Option<f64>| q.unwrap_or_default();
                    writeln!(
                        out,
                        "  {name:<38} n={} avg={:.1}µs p50={:.1}µs p99={:.1}µs max={:.1}µs",
                        l.count,
                        l.avg_us,
                        p(l.p50_us),
                        p(l.p99_us),
                        l.max_us
                    )?;
                }
            }
        }
        writeln!(out, "\ncounters")?;
        for (name, v) in counters {
            writeln!(out, "  {name:<40} {v}")?;
        }
        Ok(())
    }
}
