//! The sink of the stats daemon: turns messages into window and cumulative tallies.

use std::sync::Arc;

use super::connections::{ConnState, ConnTable};
use super::fact::{AuthChange, FactBatch, FactKind, FactRef};
use super::identity;
use super::path::PathRules;
use super::raw_paths::RawPathIds;
use super::tally::{ConnIds, OVERFLOW, PathId, ReplyFact, RequestFact, Tally, TallyLimits};
use super::window::{Advance, WindowClock};
use crate::Timestamp;
use crate::sink::MessageSink;
use crate::tcp::{CloseReason, ConnKey};
use crate::zk::Message;

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

/// Aggregates messages into the current window; at each window boundary (capture time) the
/// window is closed, added to the cumulative totals and kept for publication.
#[derive(Debug)]
pub struct Aggregator {
    config: StatsConfig,
    clock: WindowClock,
    current: Tally,
    /// Every closed window, added up.
    cumulative: Tally,
    /// Windows closed and not yet taken by the publisher, oldest first (the last of a run of
    /// empty windows stands for all of them).
    completed: Vec<Tally>,
    /// Windows closed so far (including empty ones).
    pub windows_completed: u64,
    conns: ConnTable,
    last_ts: Timestamp,
    sasl: Arc<str>,
    /// One message's fact, when fed messages directly ([`MessageSink`]).
    scratch: FactBatch,
    /// Raw path → id in `current`.
    raw_paths: RawPathIds,
    /// Settings that take effect when the current window closes ([`Aggregator::reconfigure`]).
    next: Option<StatsConfig>,
}

impl Aggregator {
    /// An aggregator with nothing counted.
    pub fn new(config: StatsConfig) -> Self {
        Aggregator {
            config,
            clock: WindowClock::new(config.window_ns),
            current: Tally::new(config.limits),
            cumulative: Tally::new(config.limits),
            completed: Vec::new(),
            windows_completed: 0,
            conns: ConnTable::new(config.max_connections, config.idle_ns),
            last_ts: Timestamp::default(),
            sasl: Arc::from(identity::SASL),
            scratch: FactBatch::default(),
            raw_paths: RawPathIds::default(),
            next: None,
        }
    }

    /// From the next window on: its length, path rules and caps (the connection table's
    /// size and idle timeout stay; the cumulative totals keep the caps they started with).
    pub fn reconfigure(&mut self, config: StatsConfig) {
        self.next = Some(config);
    }

    /// The settings in force.
    pub fn config(&self) -> &StatsConfig {
        &self.config
    }

    /// Moves the window clock to `now` (a message's capture time, or for live capture a
    /// wall-clock tick when traffic stops), closing windows that ended.
    pub fn advance_to(&mut self, now: Timestamp) {
        match self.clock.observe(now) {
            Advance::Same => {}
            Advance::Rolled { ended_at, skipped } => {
                if let Some(next) = self.next.take() {
                    let keep = (self.config.max_connections, self.config.idle_ns);
                    self.config = StatsConfig { max_connections: keep.0, idle_ns: keep.1, ..next };
                    // The window that has just begun gets the new length.
                    self.clock.set_len(next.window_ns);
                }
                let limits = self.config.limits;
                let mut done = std::mem::replace(&mut self.current, Tally::new(limits));
                done.end = ended_at;
                self.cumulative.merge(&done);
                self.windows_completed += 1 + skipped;
                self.completed.push(done);
                if skipped > 0 {
                    // The last closed window saw no traffic at all.
                    let len = self.clock.len_ns();
                    let end = ended_at.0.saturating_add(skipped.saturating_mul(len));
                    self.completed.push(Tally::empty_between(
                        limits,
                        Timestamp(end - len),
                        Timestamp(end),
                    ));
                }
                // Connections closed in the window just completed stay for its rows.
                let shown_from = self.completed.last().map_or(now, |t| t.start);
                self.conns.expire(now, shown_from);
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
        self.completed.push(done);
    }

    /// Every window closed since the last call, oldest first.
    pub fn take_all_completed(&mut self) -> Vec<Tally> {
        std::mem::take(&mut self.completed)
    }

    /// Forgets every count (the current window, closed ones, the totals) and starts again
    /// from the next message; what is known of the connections (identity, session) stays.
    pub fn reset(&mut self) {
        let limits = self.config.limits;
        self.current = Tally::new(limits);
        self.cumulative = Tally::new(limits);
        self.completed.clear();
        self.windows_completed = 0;
        self.clock = WindowClock::new(self.config.window_ns);
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

    /// The id in the current tally of a raw path's key.
    fn path_id(&mut self, raw: &str) -> PathId {
        let (tally, rules) = (&mut self.current, &self.config.rules);
        let mut resolved = false;
        let id = self.raw_paths.id(raw, tally.generation, |raw| {
            resolved = true;
            tally.path_id(&rules.key(raw))
        });
        if id == OVERFLOW && !resolved {
            tally.counts.folded_paths += 1;
        }
        id
    }

    /// Counts one fact.
    pub fn apply(&mut self, f: FactRef<'_>) {
        let FactRef { fact, path, identity: established, .. } = f;
        self.advance_to(fact.ts);
        self.last_ts = self.last_ts.max(fact.ts);
        self.current.end = self.current.end.max(fact.ts);
        let conn = *f.conn;
        match fact.kind {
            FactKind::Ping => {
                // Excluded from every count, as in the original; still a sign of life.
                self.current.counts.pings += 1;
                self.conns.touch(conn, fact.ts);
            }
            FactKind::Request { name, write, watch, session, auth } => {
                let path = self.path_id(path);
                let state = self.conns.touch(conn, fact.ts);
                let tally = &mut self.current;
                let (ids, session) = match state {
                    None => (tally.conn_ids(conn, identity::NOAUTH), session),
                    Some(state) => {
                        if session.is_some() {
                            state.session_id = session;
                        }
                        let ids = match auth {
                            AuthChange::None => cached_ids(tally, conn, state),
                            AuthChange::Auth { .. } => {
                                state.identity = Arc::from(established);
                                state.ids = None;
                                // The auth request itself has no identity yet.
                                tally.conn_ids(conn, "")
                            }
                            AuthChange::Sasl => {
                                state.identity = self.sasl.clone();
                                state.ids = None;
                                cached_ids(tally, conn, state)
                            }
                        };
                        (ids, state.session_id)
                    }
                };
                tally.record_request(&RequestFact {
                    name,
                    write,
                    size: fact.size,
                    watch,
                    path,
                    ids,
                    session,
                    ts: fact.ts,
                });
            }
            FactKind::Reply { request, unpaired, err, latency_ns, connect } => {
                let path = self.path_id(path);
                let tally = &mut self.current;
                let (client, session) = match self.conns.touch(conn, fact.ts) {
                    None => {
                        let client = tally.conn_ids(conn, identity::NOAUTH).client;
                        (client, connect.map(|(session, _)| session))
                    }
                    Some(state) => {
                        if let Some((session, timeout_ms)) = connect {
                            state.session_id = Some(session);
                            state.timeout_ms = Some(timeout_ms);
                        }
                        (cached_ids(tally, conn, state).client, state.session_id)
                    }
                };
                if unpaired {
                    tally.counts.unpaired_replies += 1;
                }
                let ts = fact.ts;
                let reply = ReplyFact { request, err, path, latency_ns, client, session, ts };
                tally.record_reply(&reply);
            }
            FactKind::Event { name } => {
                let path = self.path_id(path);
                let tally = &mut self.current;
                let client = match self.conns.touch(conn, fact.ts) {
                    None => tally.conn_ids(conn, identity::NOAUTH).client,
                    Some(state) => cached_ids(tally, conn, state).client,
                };
                tally.record_event(name, path, client);
            }
            FactKind::FourLetter => self.current.counts.four_letter_words += 1,
            FactKind::Closed => self.conns.close(&conn, fact.ts),
        }
    }
}

/// The ids of `conn` in `tally`, from the connection's cache when it is for this tally.
fn cached_ids(tally: &mut Tally, conn: ConnKey, state: &mut ConnState) -> ConnIds {
    match state.ids {
        Some((generation, ids)) if generation == tally.generation => ids,
        _ => {
            let ids = tally.conn_ids(conn, &state.identity);
            state.ids = Some((tally.generation, ids));
            ids
        }
    }
}

impl Aggregator {
    /// Applies the facts `fill` puts in the scratch batch (the [`MessageSink`] path).
    fn apply_one(&mut self, fill: impl FnOnce(&mut FactBatch)) {
        let mut batch = std::mem::take(&mut self.scratch);
        batch.clear();
        fill(&mut batch);
        for f in batch.iter() {
            self.apply(f);
        }
        self.scratch = batch;
    }
}

impl MessageSink for Aggregator {
    fn message(&mut self, msg: &Message<'_>) {
        self.apply_one(|b| b.push(msg));
    }

    fn closed(&mut self, conn: &ConnKey, ts: Timestamp, reason: CloseReason) {
        self.apply_one(|b| b.push_closed(conn, ts, reason));
    }
}
