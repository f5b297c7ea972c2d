//! The table of live connections.
//!
//! [`FlowTable`] owns every connection's reassembly state and the handler's per-connection
//! state `S`, opens connections on their first SYN or payload, closes them on FIN, RST, port
//! reuse, idleness or end of capture, and keeps everything within [`TcpLimits`].

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use super::limits::{TcpLimits, TcpStats};
use super::reassembly::{Ctx, HalfStream, SegmentView};
use super::reorder::BufferBudget;
use super::{CloseReason, ConnKey, Direction, StreamEvent, StreamHandler};
use crate::Timestamp;
use crate::capture::Segment;

/// How often (in packet time) [`FlowTable::push`] looks for idle connections: often enough for
/// timely closes, rarely enough that the O(connections) scan costs nothing per packet.
const IDLE_SCAN_INTERVAL_NS: u64 = 1_000_000_000;

/// Every live connection and its reassembly state.
pub struct FlowTable<S> {
    limits: TcpLimits,
    conns: HashMap<ConnKey, Conn<S>>,
    stats: TcpStats,
    budget: BufferBudget,
    /// Packet time of the last idle scan (none yet: the first push scans).
    last_idle_scan: Option<Timestamp>,
    /// Connections in the order they opened, with their serial, as candidates for eviction
    /// when the table is full; entries of closed or answered ones are dropped lazily.
    unanswered: VecDeque<(ConnKey, u64)>,
}

/// One connection: both directions and the handler's state.
struct Conn<S> {
    /// Indexed by [`Direction::index`].
    halves: [HalfStream; 2],
    state: S,
    /// Latest packet time of any of its segments.
    last_seen: Timestamp,
    /// Its place in the order connections opened (tells a reopened key from the old entry).
    serial: u64,
}

impl<S: Default> FlowTable<S> {
    /// An empty table with the given caps.
    pub fn new(limits: TcpLimits) -> Self {
        let budget = BufferBudget { used: 0, limit: limits.max_total_buffered_bytes };
        FlowTable {
            limits,
            conns: HashMap::new(),
            stats: TcpStats::default(),
            budget,
            last_idle_scan: None,
            unanswered: VecDeque::new(),
        }
    }

    /// Feeds one segment. The caller has already decided the connection key (client→server
    /// orientation) and the segment's direction.
    pub fn push<H>(&mut self, seg: &Segment<'_>, key: ConnKey, dir: Direction, handler: &mut H)
    where
        H: StreamHandler<State = S>,
    {
        let ts = seg.ts;
        self.stats.segments = self.stats.segments.saturating_add(1);
        self.maybe_expire_idle(ts, handler);
        let view = SegmentView::new(seg);
        if view.is_truncated() {
            self.stats.truncated_segments = self.stats.truncated_segments.saturating_add(1);
        }
        if view.syn && !view.has_ack {
            self.close_if_port_reused(key, dir, view.seq, ts, handler);
        }
        if self.conns.len() >= self.limits.max_connections
            && can_open(&view)
            && !self.conns.contains_key(&key)
        {
            self.evict_unanswered(ts, handler);
        }
        if self.unanswered.len() > 2 * self.conns.len().max(64) {
            // Entries of closed and answered connections pile up while nothing is evicted:
            // drop them once they outnumber the table (amortised O(1) per connection).
            compact(&mut self.unanswered, &self.conns);
        }
        let Some(conn) = open_or_get(
            &mut self.conns,
            &mut self.unanswered,
            &mut self.stats,
            &self.limits,
            key,
            &view,
            ts,
        ) else {
            return;
        };
        let cx = Ctx {
            ts,
            limits: &self.limits,
            stats: &mut self.stats,
            budget: &mut self.budget,
            emit: (),
        };
        let closing = conn.on_segment(&key, dir, &view, cx, handler);
        if let Some(reason) = closing {
            self.close(key, reason, ts, handler);
        }
    }

    /// Closes connections idle for longer than the timeout at packet time `now` (also done
    /// automatically, at most once per second of packet time, from [`Self::push`]).
    pub fn expire_idle<H>(&mut self, now: Timestamp, handler: &mut H)
    where
        H: StreamHandler<State = S>,
    {
        self.last_idle_scan = Some(self.last_idle_scan.map_or(now, |last| last.max(now)));
        let timeout = self.limits.idle_timeout_ns;
        let idle: Vec<(Timestamp, ConnKey)> = self
            .conns
            .iter()
            .filter(|(_, conn)| now.saturating_nanos_since(conn.last_seen) > timeout)
            .map(|(key, conn)| (conn.last_seen, *key))
            .collect();
        for key in in_close_order(idle) {
            self.close(key, CloseReason::Idle, now, handler);
        }
    }

    /// End of capture: flushes what can be flushed (buffered data after holes becomes `Gap` +
    /// `Data`), then closes every connection: [`CloseReason::Fin`] when one side had sent its
    /// FIN, [`CloseReason::EndOfCapture`] otherwise. Connections close in order of last
    /// activity, so output is deterministic.
    pub fn finish<H>(&mut self, handler: &mut H)
    where
        H: StreamHandler<State = S>,
    {
        let all: Vec<(Timestamp, ConnKey)> =
            self.conns.iter().map(|(key, conn)| (conn.last_seen, *key)).collect();
        for key in in_close_order(all) {
            let Some(conn) = self.conns.get(&key) else {
                continue;
            };
            let reason = if conn.halves.iter().any(HalfStream::fin_seen) {
                CloseReason::Fin
            } else {
                CloseReason::EndOfCapture
            };
            let ts = conn.last_seen;
            self.close(key, reason, ts, handler);
        }
    }

    /// The counters.
    pub fn stats(&self) -> &TcpStats {
        &self.stats
    }

    /// Bytes currently buffered out of order by all connections (including per-segment
    /// overhead), at most [`TcpLimits::max_total_buffered_bytes`].
    #[cfg(test)]
    pub fn buffered_bytes(&self) -> usize {
        self.budget.used
    }

    /// The caps in force.
    pub fn limits(&self) -> &TcpLimits {
        &self.limits
    }

    /// The handler's state of a live connection.
    pub fn state_mut(&mut self, key: &ConnKey) -> Option<&mut S> {
        self.conns.get_mut(key).map(|conn| &mut conn.state)
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True when no connection is live.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// The largest (bytes, chunks) any one direction holds out of order.
    #[cfg(test)]
    pub(super) fn max_pending(&self) -> (usize, usize) {
        let usage =
            self.conns.values().flat_map(|conn| conn.halves.iter().map(HalfStream::pending_usage));
        usage.fold((0, 0), |(bytes, chunks), (b, c)| (bytes.max(b), chunks.max(c)))
    }

    /// Runs the idle scan when a second of packet time has passed since the last one.
    fn maybe_expire_idle<H>(&mut self, now: Timestamp, handler: &mut H)
    where
        H: StreamHandler<State = S>,
    {
        let due = self
            .last_idle_scan
            .is_none_or(|last| now.saturating_nanos_since(last) >= IDLE_SCAN_INTERVAL_NS);
        if due {
            self.expire_idle(now, handler);
        }
    }

    /// Closes the oldest connection the server has not answered, if there is one.
    fn evict_unanswered<H>(&mut self, ts: Timestamp, handler: &mut H)
    where
        H: StreamHandler<State = S>,
    {
        while let Some((key, serial)) = self.unanswered.pop_front() {
            if is_candidate(&self.conns, &key, serial) {
                self.close(key, CloseReason::Evicted, ts, handler);
                return;
            }
        }
    }

    /// A SYN without ACK on a connection that already moved on opens a new connection on the
    /// same ports: close the old one first.
    fn close_if_port_reused<H>(
        &mut self,
        key: ConnKey,
        dir: Direction,
        syn_seq: u32,
        ts: Timestamp,
        handler: &mut H,
    ) where
        H: StreamHandler<State = S>,
    {
        let reused = self.conns.get(&key).is_some_and(|conn| conn.is_reused_by_syn(dir, syn_seq));
        if reused {
            self.stats.port_reuses = self.stats.port_reuses.saturating_add(1);
            self.close(key, CloseReason::Fin, ts, handler);
        }
    }

    /// Removes a connection: flushes both directions, then delivers `Closed` and drops its state.
    fn close<H>(&mut self, key: ConnKey, reason: CloseReason, ts: Timestamp, handler: &mut H)
    where
        H: StreamHandler<State = S>,
    {
        let Some(mut conn) = self.conns.remove(&key) else {
            return;
        };
        let Conn { halves, state, .. } = &mut conn;
        let cx = Ctx {
            ts,
            limits: &self.limits,
            stats: &mut self.stats,
            budget: &mut self.budget,
            emit: (),
        };
        let mut cx = cx.with_emit(|event: StreamEvent<'_>| handler.on_event(&key, state, event));
        for half in halves.iter_mut() {
            half.flush(&mut cx);
        }
        (cx.emit)(StreamEvent::Closed { ts, reason });
        let counter = match reason {
            CloseReason::Fin => &mut self.stats.closed_fin,
            CloseReason::Reset => &mut self.stats.closed_reset,
            CloseReason::Idle => &mut self.stats.closed_idle,
            CloseReason::EndOfCapture => &mut self.stats.closed_end_of_capture,
            CloseReason::Evicted => &mut self.stats.unanswered_evicted,
        };
        *counter = counter.saturating_add(1);
    }
}

impl<S: Default> Conn<S> {
    fn new(ts: Timestamp, serial: u64) -> Self {
        Conn {
            halves: [HalfStream::new(Direction::ToServer), HalfStream::new(Direction::ToClient)],
            state: S::default(),
            last_seen: ts,
            serial,
        }
    }
}

impl<S> Conn<S> {
    /// True once the server sent payload: a session, not a half-open or spoofed flow.
    fn is_answered(&self) -> bool {
        self.halves[Direction::ToClient.index()].delivered_any()
    }

    /// True when a SYN (without ACK) at `syn_seq` travelling in `dir` starts a new connection
    /// rather than repeating this one's SYN or completing its handshake.
    fn is_reused_by_syn(&self, dir: Direction, syn_seq: u32) -> bool {
        let Some(half) = self.halves.get(dir.index()) else {
            return false;
        };
        if half.is_syn_retransmission(syn_seq) {
            return false;
        }
        half.is_started() || self.halves.iter().any(HalfStream::has_progressed)
    }

    /// Processes one segment of this connection; returns why it must close, if it must.
    fn on_segment<H>(
        &mut self,
        key: &ConnKey,
        dir: Direction,
        view: &SegmentView<'_>,
        cx: Ctx<'_, ()>,
        handler: &mut H,
    ) -> Option<CloseReason>
    where
        H: StreamHandler<State = S>,
    {
        self.last_seen = self.last_seen.max(cx.ts);
        if view.rst {
            // Data riding on a RST is a diagnostic, not stream bytes.
            return Some(CloseReason::Reset);
        }
        let Conn { halves, state, .. } = self;
        let [to_server, to_client] = halves;
        let (this, peer) = match dir {
            Direction::ToServer => (to_server, to_client),
            Direction::ToClient => (to_client, to_server),
        };
        let mut cx = cx.with_emit(|event: StreamEvent<'_>| handler.on_event(key, state, event));
        // The peer received these bytes before sending this segment: settle them first.
        if view.has_ack {
            peer.on_peer_ack(view.ack, &mut cx);
        }
        this.on_segment(view, &mut cx);
        (this.fin_seen() && peer.fin_seen()).then_some(CloseReason::Fin)
    }
}

/// True when the segment can start a connection: without payload or SYN there is nothing to
/// anchor a stream on.
fn can_open(view: &SegmentView<'_>) -> bool {
    !view.rst && (view.syn || view.has_payload())
}

/// The connection's entry, created when the segment can start one and there is room.
fn open_or_get<'a, S: Default>(
    conns: &'a mut HashMap<ConnKey, Conn<S>>,
    unanswered: &mut VecDeque<(ConnKey, u64)>,
    stats: &mut TcpStats,
    limits: &TcpLimits,
    key: ConnKey,
    view: &SegmentView<'_>,
    ts: Timestamp,
) -> Option<&'a mut Conn<S>> {
    let full = conns.len() >= limits.max_connections;
    match conns.entry(key) {
        Entry::Occupied(entry) => Some(entry.into_mut()),
        Entry::Vacant(entry) => {
            if !can_open(view) {
                stats.ignored_segments = stats.ignored_segments.saturating_add(1);
                return None;
            }
            if full {
                stats.connection_cap_hits = stats.connection_cap_hits.saturating_add(1);
                return None;
            }
            stats.connections_opened = stats.connections_opened.saturating_add(1);
            let serial = stats.connections_opened;
            unanswered.push_back((key, serial));
            Some(entry.insert(Conn::new(ts, serial)))
        }
    }
}

/// Keeps only the eviction candidates still live and unanswered, in order.
fn compact<S>(unanswered: &mut VecDeque<(ConnKey, u64)>, conns: &HashMap<ConnKey, Conn<S>>) {
    unanswered.retain(|(key, serial)| is_candidate(conns, key, *serial));
}

/// True when the eviction candidate `(key, serial)` is still the live connection of that key,
/// and still unanswered.
fn is_candidate<S>(conns: &HashMap<ConnKey, Conn<S>>, key: &ConnKey, serial: u64) -> bool {
    conns.get(key).is_some_and(|c| c.serial == serial && !c.is_answered())
}

/// Keys ordered by last activity, then by key: a deterministic close order.
fn in_close_order(mut conns: Vec<(Timestamp, ConnKey)>) -> impl Iterator<Item = ConnKey> {
    conns.sort_unstable();
    conns.into_iter().map(|(_, key)| key)
}

#[cfg(test)]
mod tests;
