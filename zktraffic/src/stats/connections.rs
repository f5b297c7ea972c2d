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
    /// When the connection ended (FIN, RST, or its TCP state was evicted). A closed connection
    /// is no longer open (not a session) but is kept until the window it closed in has been
    /// published, for that window's `/json/clients` rows and `/json/auths-dump`.
    pub closed: Option<Timestamp>,
}

impl ConnState {
    fn new(identity: Arc<str>, now: Timestamp) -> Self {
        ConnState {
            identity,
            session_id: None,
            timeout_ms: None,
            last_seen: now,
            ids: None,
            closed: None,
        }
    }

    /// Still open.
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }
}

/// Connections by key, at most `cap`, forgotten after `idle_ns` without a message or once
/// closed (see [`ConnState::closed`]).
///
/// States live in a vector indexed through a map, so that the last connection seen is found
/// again without hashing: messages come in runs per connection (a segment carries several).
#[derive(Clone, Debug)]
pub struct ConnTable {
    index: FxHashMap<ConnKey, usize>,
    states: Vec<(ConnKey, ConnState)>,
    /// The slot of the last connection touched.
    last: Option<usize>,
    noauth: Arc<str>,
    cap: usize,
    idle_ns: u64,
    /// Connections not tracked because the table was full (they show as `noauth`).
    pub overflowed: u64,
    /// Connections forgotten after being idle or closed.
    pub expired: u64,
    /// Connections that ended (FIN, RST, TCP state evicted).
    pub closed: u64,
}

impl ConnTable {
    /// An empty table.
    pub fn new(cap: usize, idle_ns: u64) -> Self {
        ConnTable {
            index: FxHashMap::default(),
            states: Vec::new(),
            last: None,
            noauth: Arc::from(NOAUTH),
            cap,
            idle_ns,
            overflowed: 0,
            expired: 0,
            closed: 0,
        }
    }

    /// The state of `conn`, created if there is room; `None` when the table is full.
    pub fn touch(&mut self, conn: ConnKey, now: Timestamp) -> Option<&mut ConnState> {
        let slot = match self.last {
            Some(i) if self.states.get(i).is_some_and(|(k, _)| *k == conn) => i,
            _ => match self.index.get(&conn) {
                Some(&i) => i,
                None if self.states.len() < self.cap => {
                    let i = self.states.len();
                    self.states.push((conn, ConnState::new(self.noauth.clone(), now)));
                    self.index.insert(conn, i);
                    i
                }
                None => {
                    self.overflowed += 1;
                    return None;
                }
            },
        };
        self.last = Some(slot);
        let state = &mut self.states[slot].1;
        if state.closed.is_some() {
            // The same addresses and ports again: a new connection.
            *state = ConnState::new(self.noauth.clone(), now);
        }
        state.last_seen = state.last_seen.max(now);
        Some(state)
    }

    /// `conn` ended at `now`.
    pub fn close(&mut self, conn: &ConnKey, now: Timestamp) {
        if let Some(&i) = self.index.get(conn)
            && let Some((_, s)) = self.states.get_mut(i)
            && s.closed.is_none()
        {
            s.closed = Some(now);
            self.closed += 1;
        }
    }

    /// Forgets connections idle since before `now − idle`, and those closed before
    /// `closed_before`.
    pub fn expire(&mut self, now: Timestamp, closed_before: Timestamp) {
        let horizon = now.0.saturating_sub(self.idle_ns);
        let before = self.states.len();
        self.states.retain(|(_, s)| {
            s.last_seen.0 >= horizon && s.closed.is_none_or(|at| at >= closed_before)
        });
        if self.states.len() != before {
            self.expired += (before - self.states.len()) as u64;
            self.index = self.states.iter().enumerate().map(|(i, (k, _))| (*k, i)).collect();
            self.last = None;
        }
    }

    /// Every tracked connection (closed ones until they are forgotten).
    pub fn iter(&self) -> impl Iterator<Item = (&ConnKey, &ConnState)> {
        self.states.iter().map(|(k, s)| (k, s))
    }

    /// The state of `conn`.
    pub fn get(&self, conn: &ConnKey) -> Option<&ConnState> {
        self.index.get(conn).and_then(|&i| self.states.get(i)).map(|(_, s)| s)
    }

    /// Tracked connections.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// True when no connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Tracked connections still open.
    pub fn open(&self) -> usize {
        self.iter().filter(|(_, s)| s.is_open()).count()
    }

    /// Open connections with a known session.
    pub fn sessions(&self) -> usize {
        self.iter().filter(|(_, s)| s.is_open() && s.session_id.is_some_and(|id| id != 0)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16) -> ConnKey {
        ConnKey { client: ([10, 0, 0, 1], port).into(), server: ([10, 0, 0, 2], 2181).into() }
    }

    #[test]
    fn caps_expires_and_finds_again() {
        let mut t = ConnTable::new(2, 100);
        if let Some(s) = t.touch(key(1), Timestamp(10)) {
            s.session_id = Some(1);
        }
        assert!(t.touch(key(2), Timestamp(20)).is_some());
        assert!(t.touch(key(3), Timestamp(20)).is_none());
        assert_eq!(t.overflowed, 1);
        assert_eq!(t.touch(key(1), Timestamp(30)).and_then(|s| s.session_id), Some(1));
        t.expire(Timestamp(125), Timestamp(0));
        assert_eq!((t.len(), t.expired), (1, 1));
        assert_eq!(t.get(&key(1)).and_then(|s| s.session_id), Some(1));
        assert!(t.touch(key(3), Timestamp(130)).is_some());
        assert_eq!(t.get(&key(3)).map(|s| s.last_seen), Some(Timestamp(130)));
    }

    #[test]
    fn closed_connections_stop_being_live_then_go() {
        let mut t = ConnTable::new(10, 1000);
        for port in [1, 2] {
            if let Some(s) = t.touch(key(port), Timestamp(10)) {
                s.session_id = Some(i64::from(port));
            }
        }
        t.close(&key(1), Timestamp(20));
        t.close(&key(1), Timestamp(21));
        assert_eq!((t.len(), t.open(), t.sessions(), t.closed), (2, 1, 1, 1));
        // Still there for the rows of the window it closed in…
        assert_eq!(t.get(&key(1)).and_then(|s| s.session_id), Some(1));
        t.expire(Timestamp(30), Timestamp(20));
        assert!(t.get(&key(1)).is_some());
        // …and gone once that window is over.
        t.expire(Timestamp(40), Timestamp(21));
        assert!(t.get(&key(1)).is_none());
        assert_eq!(t.expired, 1);
        // The same addresses again are a new connection.
        t.touch(key(2), Timestamp(50));
        t.close(&key(2), Timestamp(55));
        let s = t.touch(key(2), Timestamp(60)).expect("room");
        assert_eq!((s.session_id, s.closed), (None, None));
    }
}
