//! The sink of the stats daemon: turns messages into window and cumulative tallies.

use std::sync::Arc;

use super::connections::ConnTable;
use super::identity;
use super::name::Name;
use super::path::PathRules;
use super::tally::{ReplyFact, RequestFact, Tally, TallyLimits};
use super::window::{Advance, WindowClock};
use crate::Timestamp;
use crate::zk::message::{ReplyRecord, RequestRecord};
use crate::zk::{Body, Message, MessageSink, OpCode, Reply, Request};

/// Everything the aggregator needs to know.
#[derive(Clone, Copy, Debug)]
pub struct StatsConfig {
    /// Window length (`--window`).
    pub window_ns: u64,
    pub rules: PathRules,
    pub limits: TallyLimits,
    /// Connections whose identity and session are remembered.
    pub max_connections: usize,
    /// A connection silent this long (capture time) is forgotten.
    pub idle_ns: u64,
}

/// Name of the request type of a reply whose request was not captured.
const UNKNOWN_REQUEST: &str = "UnknownRequest";

/// Aggregates messages into the current window; at each window boundary (capture time) the
/// window is closed, added to the cumulative totals and kept for publication.
#[derive(Debug)]
pub struct Aggregator {
    config: StatsConfig,
    clock: WindowClock,
    current: Tally,
    /// Every closed window, added up.
    cumulative: Tally,
    /// The latest closed window not yet taken by the publisher.
    completed: Option<Tally>,
    /// Windows closed so far (including empty ones).
    pub windows_completed: u64,
    conns: ConnTable,
    last_ts: Timestamp,
    sasl: Arc<str>,
}

impl Aggregator {
    /// An aggregator with nothing counted.
    pub fn new(config: StatsConfig) -> Self {
        Aggregator {
            config,
            clock: WindowClock::new(config.window_ns),
            current: Tally::new(config.limits),
            cumulative: Tally::new(config.limits),
            completed: None,
            windows_completed: 0,
            conns: ConnTable::new(config.max_connections, config.idle_ns),
            last_ts: Timestamp::default(),
            sasl: Arc::from(identity::SASL),
        }
    }

    /// Moves the window clock to `now` (a message's capture time, or for live capture a
    /// wall-clock tick when traffic stops), closing windows that ended.
    pub fn advance_to(&mut self, now: Timestamp) {
        match self.clock.observe(now) {
            Advance::Same => {}
            Advance::Rolled { ended_at, skipped } => {
                let limits = self.config.limits;
                let mut done = std::mem::replace(&mut self.current, Tally::new(limits));
                done.end = ended_at;
                self.cumulative.merge(&done);
                self.windows_completed += 1 + skipped;
                self.completed = Some(if skipped == 0 {
                    done
                } else {
                    // The last closed window saw no traffic at all.
                    let len = self.clock.len_ns();
                    let end = ended_at.0.saturating_add(skipped.saturating_mul(len));
                    Tally::empty_between(limits, Timestamp(end - len), Timestamp(end))
                });
                self.conns.expire(now);
            }
        }
        if self.current.start == Timestamp::default() {
            self.current.start = self.clock.start().unwrap_or(now);
            self.current.end = self.current.start;
        }
    }

    /// End of input (a replayed capture): closes the current, partial window so that it is
    /// what the window scope shows.
    pub fn finish(&mut self) {
        let mut done = std::mem::replace(&mut self.current, Tally::new(self.config.limits));
        done.end = done.end.max(self.last_ts);
        self.cumulative.merge(&done);
        self.windows_completed += 1;
        self.completed = Some(done);
    }

    /// The latest closed window, if one closed since the last call.
    pub fn take_completed(&mut self) -> Option<Tally> {
        self.completed.take()
    }

    /// Totals since start: closed windows plus the current one.
    pub fn cumulative(&self) -> Tally {
        let mut c = self.cumulative.clone();
        c.merge(&self.current);
        c
    }

    /// The connections known now.
    pub fn connections(&self) -> &ConnTable {
        &self.conns
    }

    /// Capture time of the last message.
    pub fn last_ts(&self) -> Timestamp {
        self.last_ts
    }

    /// Start of the current window.
    pub fn window_start(&self) -> Option<Timestamp> {
        self.clock.start()
    }

    fn request(&mut self, msg: &Message<'_>, r: &Request<'_>) {
        if r.op == OpCode::Ping {
            // Excluded from every count, as in the original; still a sign of life.
            self.current.counts.pings += 1;
            self.conns.touch(*msg.conn, msg.ts);
            return;
        }
        let state = self.conns.touch(*msg.conn, msg.ts);
        let mut auth_path = None;
        let tally = &mut self.current;
        let ids = match state {
            None => tally.conn_ids(*msg.conn, identity::NOAUTH),
            Some(state) => {
                match &r.record {
                    RequestRecord::Connect(c) if c.session_id != 0 => {
                        state.session_id = Some(c.session_id);
                    }
                    RequestRecord::Auth { scheme, credential, .. } => {
                        let id = identity::from_auth(scheme, credential);
                        // The original keys an auth request by its credential; the identity
                        // stands in for it, and the request itself has no identity yet.
                        auth_path = Some(format!("/{id}"));
                        state.identity = Arc::from(id);
                        state.ids = None;
                    }
                    RequestRecord::Sasl { .. } => {
                        state.identity = self.sasl.clone();
                        state.ids = None;
                    }
                    _ => {}
                }
                match state.ids {
                    _ if auth_path.is_some() => tally.conn_ids(*msg.conn, ""),
                    Some((generation, ids)) if generation == tally.generation => ids,
                    _ => {
                        let ids = tally.conn_ids(*msg.conn, &state.identity);
                        state.ids = Some((tally.generation, ids));
                        ids
                    }
                }
            }
        };
        let raw = auth_path.as_deref().or_else(|| r.path()).unwrap_or("");
        let path = self.config.rules.key(raw);
        // SetWatches re-registers watches: the original counts it as a watch-setting read.
        let watch = r.watch().unwrap_or(false)
            || matches!(r.op, OpCode::SetWatches | OpCode::SetWatches2 | OpCode::AddWatch);
        self.current.record_request(&RequestFact {
            name: Name(r.name()),
            write: r.op.is_write(),
            size: msg.size,
            watch,
            path: &path,
            ids,
        });
    }

    fn reply(&mut self, msg: &Message<'_>, r: &Reply<'_>) {
        if r.op() == Some(OpCode::Ping) {
            self.current.counts.pings += 1;
            self.conns.touch(*msg.conn, msg.ts);
            return;
        }
        let tally = &mut self.current;
        let client = match self.conns.touch(*msg.conn, msg.ts) {
            None => tally.conn_ids(*msg.conn, identity::NOAUTH).client,
            Some(state) => {
                if let ReplyRecord::Connect(c) = &r.record {
                    state.session_id = Some(c.session_id);
                    state.timeout_ms = Some(c.timeout_ms);
                }
                match state.ids {
                    Some((generation, ids)) if generation == tally.generation => ids.client,
                    _ => {
                        let ids = tally.conn_ids(*msg.conn, &state.identity);
                        state.ids = Some((tally.generation, ids));
                        ids.client
                    }
                }
            }
        };
        let (name, raw) = match &r.request {
            Some(p) => (p.name, p.path),
            None => {
                self.current.counts.unpaired_replies += 1;
                (r.op().map_or(UNKNOWN_REQUEST, OpCode::request_name), None)
            }
        };
        let path = self.config.rules.key(raw.unwrap_or(""));
        self.current.record_reply(&ReplyFact {
            request: Name(name),
            err: r.err,
            path: &path,
            latency_ns: r.latency_ns(msg.ts),
            client,
        });
    }
}

impl MessageSink for Aggregator {
    fn message(&mut self, msg: &Message<'_>) {
        self.advance_to(msg.ts);
        self.last_ts = self.last_ts.max(msg.ts);
        self.current.end = self.current.end.max(msg.ts);
        match &msg.body {
            Body::Request(r) => self.request(msg, r),
            Body::Reply(r) => self.reply(msg, r),
            Body::Event(e) => {
                self.conns.touch(*msg.conn, msg.ts);
                let path = self.config.rules.key(e.path);
                self.current.record_event(Name(e.type_name()), &path);
            }
            Body::FourLetter(_) => self.current.counts.four_letter_words += 1,
        }
    }
}
