//! What is known of each client connection across windows: identity, session, last activity.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::identity::NOAUTH;
use super::tally::ConnIds;
use crate::Timestamp;
use crate::tcp::ConnKey;

/// One connection's state.
#[derive(Clone, Debug)]
pub struct ConnState {
    /// `noauth`, `digest:<user>`, `sasl`, … (never a secret).
    pub identity: Arc<str>,
    /// The session id, from the handshake reply (or the reconnect request).
    pub session_id: Option<i64>,
    /// The negotiated session timeout.
    pub timeout_ms: Option<i32>,
    pub last_seen: Timestamp,
    /// This connection's ids in the tally of the given generation (a per-connection cache).
    pub ids: Option<(u64, ConnIds)>,
}

/// Connections by key, at most `cap`, forgotten after `idle_ns` without a message.
#[derive(Clone, Debug)]
pub struct ConnTable {
    conns: FxHashMap<ConnKey, ConnState>,
    noauth: Arc<str>,
    cap: usize,
    idle_ns: u64,
    /// Connections not tracked because the table was full (they show as `noauth`).
    pub overflowed: u64,
    /// Connections forgotten after being idle.
    pub expired: u64,
}

impl ConnTable {
    /// An empty table.
    pub fn new(cap: usize, idle_ns: u64) -> Self {
        ConnTable {
            conns: FxHashMap::default(),
            noauth: Arc::from(NOAUTH),
            cap,
            idle_ns,
            overflowed: 0,
            expired: 0,
        }
    }

    /// The state of `conn`, created if there is room; `None` when the table is full.
    pub fn touch(&mut self, conn: ConnKey, now: Timestamp) -> Option<&mut ConnState> {
        let len = self.conns.len();
        let noauth = &self.noauth;
        let state = match self.conns.entry(conn) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) if len < self.cap => e.insert(ConnState {
                identity: noauth.clone(),
                session_id: None,
                timeout_ms: None,
                last_seen: now,
                ids: None,
            }),
            std::collections::hash_map::Entry::Vacant(_) => {
                self.overflowed += 1;
                return None;
            }
        };
        state.last_seen = state.last_seen.max(now);
        Some(state)
    }

    /// Forgets connections idle since before `now − idle`.
    pub fn expire(&mut self, now: Timestamp) {
        let horizon = now.0.saturating_sub(self.idle_ns);
        let before = self.conns.len();
        self.conns.retain(|_, s| s.last_seen.0 >= horizon);
        self.expired += (before - self.conns.len()) as u64;
    }

    /// Every tracked connection.
    pub fn iter(&self) -> impl Iterator<Item = (&ConnKey, &ConnState)> {
        self.conns.iter()
    }

    /// The state of `conn`.
    pub fn get(&self, conn: &ConnKey) -> Option<&ConnState> {
        self.conns.get(conn)
    }

    /// Tracked connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True when no connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Tracked connections with a known session.
    pub fn sessions(&self) -> usize {
        self.conns.values().filter(|s| s.session_id.is_some_and(|id| id != 0)).count()
    }
}
