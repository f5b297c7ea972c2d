//! The table of live connections.
//!
//! [`FlowTable`] owns every connection's reassembly state and the handler's per-connection
//! state `S`, opens connections on their first SYN or payload, closes them on FIN, RST, port
//! reuse, idleness or end of capture, and keeps everything within [`TcpLimits`].

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use super::reassembly::{Ctx, HalfStream, SegmentView};
use super::reorder::BufferBudget;
use super::{CloseReason, ConnKey, Direction, StreamEvent, StreamHandler};
use crate::Timestamp;
use crate::capture::Segment;

/// How often (in packet time) [`FlowTable::push`] looks for idle connections: often enough for
/// timely closes, rarely enough that the O(connections) scan costs nothing per packet.
const IDLE_SCAN_INTERVAL_NS: u64 = 1_000_000_000;

/// Caps on reassembly state. Every cap has a counter in [`TcpStats`] that counts when it bites.
#[derive(Clone, Debug, Serialize)]
pub struct TcpLimits {
    /// Most connections tracked at once. Beyond it a new connection takes the place of the
    /// oldest one the server has not answered (a SYN flood's, spoofed data's), and is refused
    /// when every tracked connection has been answered.
    pub max_connections: usize,
    /// Most out-of-order bytes buffered per direction of a connection.
    pub max_buffered_bytes: usize,
    /// Most out-of-order segments buffered per direction of a connection.
    pub max_buffered_segments: usize,
    /// Most out-of-order bytes buffered by all connections together (plus a small per-segment
    /// overhead), so that memory stays bounded even with every connection at its own cap.
    pub max_total_buffered_bytes: usize,
    /// A connection without segments for longer than this (packet time, ns) is closed.
    pub idle_timeout_ns: u64,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 100_000,
            max_buffered_bytes: 4 << 20,
            max_buffered_segments: 4096,
            max_total_buffered_bytes: 256 << 20,
            idle_timeout_ns: 300 * 1_000_000_000,
        }
    }
}

/// Reassembly counters, monotonic over the table's life.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TcpStats {
    /// Segments pushed.
    pub segments: u64,
    /// Stream bytes delivered as `Data`.
    pub payload_bytes: u64,
    /// Connections created.
    pub connections_opened: u64,
    /// Connections closed with [`CloseReason::Fin`] (both FINs, port reuse, or one FIN at the
    /// end of the capture).
    pub closed_fin: u64,
    /// Connections closed by a RST.
    pub closed_reset: u64,
    /// Connections closed for idleness.
    pub closed_idle: u64,
    /// Connections still open at the end of the capture.
    pub closed_end_of_capture: u64,
    /// Connections closed because a new SYN reused their ports (also counted in `closed_fin`).
    pub port_reuses: u64,
    /// Segments of new connections refused because the table was full of answered ones.
    pub connection_cap_hits: u64,
    /// Connections the server had sent nothing on (half-open, or spoofed data), closed to make
    /// room for a new one when the table was full.
    pub unanswered_evicted: u64,
    /// Bytes received again after being delivered or skipped (retransmissions, overlaps), or
    /// lying before the point where the capture joined the stream; dropped.
    pub duplicate_bytes: u64,
    /// Segments buffered because they arrived ahead of a hole.
    pub out_of_order_segments: u64,
    /// `Gap` events delivered.
    pub gaps: u64,
    /// Stream bytes reported lost in `Gap` events.
    pub lost_bytes: u64,
    /// Times a buffer cap forced skipping a hole.
    pub buffer_cap_hits: u64,
    /// Segments whose capture kept fewer payload bytes than the wire carried.
    pub truncated_segments: u64,
    /// Segments ignored: no payload, SYN or state to act on (e.g. ACKs, RSTs of unknown
    /// connections).
    pub ignored_segments: u64,
    /// Bytes dropped because they lie past their direction's FIN.
    pub bytes_beyond_fin: u64,
}

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
mod tests {
    use Direction::{ToClient, ToServer};

    use super::*;
    use crate::tcp::test_support::{Harness, Part, Rec, Seg, key_n, seg};

    const SEC: u64 = 1_000_000_000;
    const CISN: u32 = 1000;
    const SISN: u32 = 5000;

    fn harness() -> Harness {
        Harness::new(TcpLimits::default())
    }

    /// Client SYN, server SYN-ACK, client ACK: both streams start at offset 0.
    fn handshake(h: &mut Harness, cisn: u32, sisn: u32) {
        h.push(&seg(ToServer, cisn, b"").syn());
        h.push(&seg(ToClient, sisn, b"").syn().ack(cisn.wrapping_add(1)));
        h.push(&seg(ToServer, cisn.wrapping_add(1), b"").ack(sisn.wrapping_add(1)));
    }

    /// A harness whose connection has completed its handshake (initial sequence numbers CISN and
    /// SISN).
    fn connected() -> Harness {
        connected_with(TcpLimits::default())
    }

    /// [`connected`] with other limits.
    fn connected_with(limits: TcpLimits) -> Harness {
        let mut h = Harness::new(limits);
        handshake(&mut h, CISN, SISN);
        h
    }

    /// `stream` cut at `cuts` into segments of `dir` whose first byte has sequence `first`.
    fn split(dir: Direction, first: u32, stream: &[u8], cuts: &[usize]) -> Vec<Seg> {
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(stream.len());
        bounds
            .windows(2)
            .map(|w| seg(dir, first.wrapping_add(w[0] as u32), &stream[w[0]..w[1]]))
            .collect()
    }

    fn stream_of(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn bytes(b: &[u8]) -> Part {
        Part::Bytes(b.to_vec())
    }

    #[test]
    fn frame_split_across_many_segments_arrives_whole() {
        let mut h = connected();
        let frame = stream_of(300);
        let cuts: Vec<usize> = (1..100).map(|i| i * 3).collect();
        h.push_all(&split(ToServer, CISN + 1, &frame, &cuts));
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(&frame)]);
        let events = h.rec.events(0);
        assert_eq!(events[0], Rec::Start { dir: ToServer, from_syn: true });
        assert_eq!(events[1], Rec::Start { dir: ToClient, from_syn: true });
        assert_eq!(h.table.stats().payload_bytes, 300);
    }

    #[test]
    fn many_frames_in_one_segment_pass_through_without_copy() {
        let mut h = connected();
        let frames: Vec<u8> = [&[0, 0, 0, 2, 7, 7][..], &[0, 0, 0, 1, 9], &[0, 0, 0, 0]].concat();
        let segment = seg(ToServer, CISN + 1, &frames);
        h.push(&segment);
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(&frames)]);
        assert_eq!(h.rec.data_ptrs, vec![segment.payload.as_ptr()], "in-order data is not copied");
    }

    #[test]
    fn reordered_segments_are_delivered_in_order() {
        let mut h = connected();
        let stream = stream_of(50);
        let segs = split(ToServer, CISN + 1, &stream, &[10, 20, 30, 40]);
        for i in [3, 1, 4, 0, 2] {
            h.push(&segs[i]);
        }
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(&stream)]);
        let stats = h.table.stats();
        assert_eq!((stats.out_of_order_segments, stats.gaps), (3, 0));
        assert_eq!(h.table.buffered_bytes(), 0);
    }

    #[test]
    fn duplicated_segments_are_delivered_once() {
        let mut h = connected();
        let stream = stream_of(40);
        let segs = split(ToServer, CISN + 1, &stream, &[10, 20, 30]);
        // Duplicates both after delivery and while buffered.
        for i in [0, 0, 2, 2, 1, 1, 3, 0, 3] {
            h.push(&segs[i]);
        }
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(&stream)]);
        assert_eq!(h.table.stats().duplicate_bytes, 50);
    }

    #[test]
    fn overlapping_retransmissions_with_new_boundaries_deliver_each_byte_once() {
        let mut h = connected();
        let stream = stream_of(60);
        let part =
            |from: usize, to: usize| seg(ToServer, CISN + 1 + from as u32, &stream[from..to]);
        // Buffered out of order, overlapping each other and the later in-order data.
        h.push(&part(30, 40));
        h.push(&part(25, 45));
        h.push(&part(35, 50));
        h.push(&part(0, 10));
        // A retransmission straddling delivered and missing bytes.
        h.push(&part(5, 28));
        h.push(&part(45, 60));
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(&stream)]);
        assert_eq!(h.table.stats().payload_bytes, 60);
    }

    #[test]
    fn overlapping_buffered_copies_keep_the_first() {
        let mut h = connected();
        h.push(&seg(ToServer, CISN + 5, b"AAAA"));
        h.push(&seg(ToServer, CISN + 3, b"bbbbbbbb"));
        h.push(&seg(ToServer, CISN + 1, b"cc"));
        assert_eq!(h.rec.bytes(0, ToServer), b"ccbbAAAAbb");
    }

    #[test]
    fn lost_segment_becomes_a_gap_of_its_size_then_delivery_resumes() {
        let mut h = connected();
        let stream = stream_of(40);
        let segs = split(ToServer, CISN + 1, &stream, &[10, 17, 30]);
        h.push_all(&[segs[0].clone(), segs[2].clone(), segs[3].clone()]);
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(&stream[..10])], "waits for the hole");
        h.finish();
        let expected = vec![bytes(&stream[..10]), Part::Lost(7), bytes(&stream[17..])];
        assert_eq!(h.rec.parts(0, ToServer), expected);
        assert_eq!((h.table.stats().gaps, h.table.stats().lost_bytes), (1, 7));
        assert_eq!(h.rec.closes(), vec![(0, CloseReason::EndOfCapture)]);
    }

    #[test]
    fn peer_ack_past_a_hole_declares_the_gap_at_once() {
        let mut h = connected();
        let stream = stream_of(30);
        let segs = split(ToServer, CISN + 1, &stream, &[10, 20]);
        h.push(&segs[0]);
        h.push(&segs[2]);
        // The server acknowledges all 30 bytes and replies: bytes 10..20 were lost by the capture.
        h.push(&seg(ToClient, SISN + 1, b"reply").ack(CISN + 31));
        let expected = vec![bytes(&stream[..10]), Part::Lost(10), bytes(&stream[20..])];
        assert_eq!(h.rec.parts(0, ToServer), expected);
        let events = h.rec.events(0);
        let gap = events.iter().position(|e| matches!(e, Rec::Gap { .. })).unwrap();
        let reply =
            events.iter().position(|e| matches!(e, Rec::Data { dir: ToClient, .. })).unwrap();
        assert!(gap < reply, "the request's gap comes before the reply");
        assert_eq!(h.table.stats().buffer_cap_hits, 0);
        assert_eq!(h.table.buffered_bytes(), 0);
        // An ACK past everything seen (tail segment lost) also settles at once.
        h.push(&seg(ToClient, SISN + 6, b"").ack(CISN + 36));
        assert_eq!(h.rec.parts(0, ToServer).last(), Some(&Part::Lost(5)));
    }

    #[test]
    fn ack_of_data_seen_or_of_the_fin_declares_nothing() {
        let mut h = connected();
        h.push(&seg(ToServer, CISN + 1, b"hello").fin());
        h.push(&seg(ToClient, SISN + 1, b"").ack(CISN + 7));
        h.push(&seg(ToClient, SISN + 1, b"").ack(CISN + 3));
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(b"hello")]);
        assert_eq!(h.table.stats().gaps, 0);
    }

    #[test]
    fn sequence_numbers_wrap_around_2_pow_32() {
        let mut h = harness();
        let cisn = u32::MAX - 7;
        handshake(&mut h, cisn, u32::MAX);
        let stream = stream_of(40);
        let segs = split(ToServer, cisn.wrapping_add(1), &stream, &[5, 10, 15, 20, 30]);
        for i in [0, 2, 1, 4, 3, 5] {
            h.push(&segs[i]);
        }
        h.push(&seg(ToClient, 0, b"wrapped").ack(cisn.wrapping_add(41)));
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(&stream)]);
        assert_eq!(h.rec.parts(0, ToClient), vec![bytes(b"wrapped")]);
        assert_eq!(h.table.stats().gaps, 0);
    }

    #[test]
    fn fins_from_both_sides_close_the_connection() {
        let mut h = connected();
        h.push(&seg(ToServer, CISN + 1, b"req").ack(SISN + 1));
        h.push(&seg(ToClient, SISN + 1, b"rep").ack(CISN + 4));
        h.push(&seg(ToServer, CISN + 4, b"").fin().ack(SISN + 4));
        assert_eq!(h.table.len(), 1, "half-closed stays open");
        h.push(&seg(ToClient, SISN + 4, b"").fin().ack(CISN + 5));
        assert!(h.table.is_empty());
        assert_eq!(h.rec.closes(), vec![(0, CloseReason::Fin)]);
        // The last ACK finds no connection and creates none.
        h.push(&seg(ToServer, CISN + 5, b"").ack(SISN + 5));
        assert!(h.table.is_empty());
        assert_eq!(h.table.stats().ignored_segments, 1);
        assert_eq!((h.table.stats().connections_opened, h.table.stats().closed_fin), (1, 1));
    }

    #[test]
    fn fin_before_its_last_data_waits_for_it() {
        let mut h = connected();
        h.push(&seg(ToServer, CISN + 1, b"abc"));
        h.push(&seg(ToServer, CISN + 7, b"").fin());
        h.push(&seg(ToServer, CISN + 4, b"def"));
        h.push(&seg(ToClient, SISN + 1, b"").fin());
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(b"abcdef")]);
        assert_eq!(h.rec.closes(), vec![(0, CloseReason::Fin)]);
    }

    #[test]
    fn fins_with_a_hole_pending_close_with_a_gap() {
        let mut h = connected();
        h.push(&seg(ToServer, CISN + 1, b"abc"));
        h.push(&seg(ToServer, CISN + 7, b"ghi").fin());
        h.push(&seg(ToClient, SISN + 1, b"").fin());
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(b"abc"), Part::Lost(3), bytes(b"ghi")]);
        assert_eq!(h.rec.closes(), vec![(0, CloseReason::Fin)]);
        // Data past the FIN is not part of the stream.
        assert_eq!(h.table.stats().payload_bytes, 6);
    }

    #[test]
    fn rst_flushes_buffered_data_and_closes() {
        let mut h = connected();
        h.push(&seg(ToServer, CISN + 1, b"ab"));
        h.push(&seg(ToServer, CISN + 5, b"ef"));
        h.push(&seg(ToClient, SISN + 1, b"").rst());
        let expected = vec![
            Rec::Start { dir: ToServer, from_syn: true },
            Rec::Start { dir: ToClient, from_syn: true },
            Rec::Data { dir: ToServer, bytes: b"ab".to_vec() },
            Rec::Gap { dir: ToServer, lost: 2 },
            Rec::Data { dir: ToServer, bytes: b"ef".to_vec() },
            Rec::Closed(CloseReason::Reset),
        ];
        assert_eq!(h.rec.events(0), expected);
        assert!(h.table.is_empty());
        assert_eq!(h.table.buffered_bytes(), 0);
        // A RST for a connection that no longer exists is ignored.
        h.push(&seg(ToServer, CISN + 7, b"").rst());
        assert!(h.table.is_empty());
        assert_eq!(h.table.stats().closed_reset, 1);
    }

    #[test]
    fn new_syn_on_used_ports_closes_the_old_connection() {
        let mut h = connected();
        h.push(&seg(ToServer, CISN + 1, b"old"));
        handshake(&mut h, 77_000, 88_000);
        h.push(&seg(ToServer, 77_001, b"new"));
        assert_eq!(h.rec.closes(), vec![(0, CloseReason::Fin)]);
        assert_eq!(h.rec.bytes(0, ToServer), b"old");
        assert_eq!(h.rec.events(1)[0], Rec::Start { dir: ToServer, from_syn: true });
        assert_eq!(h.rec.bytes(1, ToServer), b"new");
        assert_eq!((h.table.stats().port_reuses, h.table.len()), (1, 1));
    }

    #[test]
    fn retransmitted_syn_is_not_a_new_connection() {
        let mut h = harness();
        h.push(&seg(ToServer, CISN, b"").syn());
        h.push(&seg(ToServer, CISN, b"").syn());
        h.push(&seg(ToClient, SISN, b"").syn().ack(CISN + 1));
        h.push(&seg(ToServer, CISN, b"").syn());
        h.push(&seg(ToServer, CISN + 1, b"data"));
        assert_eq!(h.rec.instances(), 1);
        assert_eq!(h.rec.bytes(0, ToServer), b"data");
        assert_eq!(h.table.stats().port_reuses, 0);
    }

    #[test]
    fn capture_joining_mid_stream_starts_at_the_first_segment() {
        let mut h = harness();
        h.push(&seg(ToClient, 9_000, b"").ack(70_000));
        assert!(h.table.is_empty(), "a pure ACK creates no state");
        h.push(&seg(ToServer, 70_000, b"abc").ack(9_000));
        h.push(&seg(ToServer, 69_990, b"0123456789"));
        h.push(&seg(ToServer, 70_003, b"def"));
        h.push(&seg(ToClient, 9_000, b"xyz").ack(70_006));
        let events = h.rec.events(0);
        assert_eq!(events[0], Rec::Start { dir: ToServer, from_syn: false });
        assert_eq!(h.rec.bytes(0, ToServer), b"abcdef");
        assert_eq!(h.rec.bytes(0, ToClient), b"xyz");
        assert_eq!(h.table.stats().duplicate_bytes, 10);
        assert_eq!(h.table.stats().gaps, 0);
    }

    #[test]
    fn truncated_segment_delivers_captured_bytes_then_a_gap() {
        let mut h = connected();
        h.push(&seg(ToServer, CISN + 1, b"abcd").wire(10));
        h.push(&seg(ToServer, CISN + 11, b"klm"));
        // A full retransmission of the truncated segment must not deliver anything twice.
        h.push(&seg(ToServer, CISN + 1, b"abcdefghij"));
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(b"abcd"), Part::Lost(6), bytes(b"klm")]);
        assert_eq!(h.table.stats().truncated_segments, 1);
    }

    #[test]
    fn truncated_tail_is_filled_from_a_buffered_copy() {
        let mut h = connected();
        h.push(&seg(ToServer, CISN + 7, b"ghijkl"));
        h.push(&seg(ToServer, CISN + 1, b"abcd").wire(10));
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(b"abcd"), Part::Lost(2), bytes(b"ghijkl")]);
    }

    #[test]
    fn truncated_segment_out_of_order_keeps_its_tail_as_lost() {
        let mut h = connected();
        h.push(&seg(ToServer, CISN + 4, b"de").wire(5));
        h.push(&seg(ToServer, CISN + 9, b"ij"));
        h.push(&seg(ToServer, CISN + 1, b"abc"));
        let expected = vec![bytes(b"abcde"), Part::Lost(3), bytes(b"ij")];
        assert_eq!(h.rec.parts(0, ToServer), expected);
    }

    #[test]
    fn idle_connections_close_from_a_later_push() {
        let mut h = harness();
        h.push_on(key_n(1), &seg(ToServer, 1, b"a").at(SEC));
        h.push_on(key_n(2), &seg(ToServer, 1, b"b").at(200 * SEC));
        h.push_on(key_n(3), &seg(ToServer, 1, b"c").at(302 * SEC));
        assert_eq!(h.rec.closes(), vec![(0, CloseReason::Idle)]);
        assert_eq!(h.table.len(), 2);
        // Explicit expiry closes the rest once they are idle too.
        h.table.expire_idle(Timestamp(1_000 * SEC), &mut h.rec);
        assert!(h.table.is_empty());
        let idle = CloseReason::Idle;
        assert_eq!(h.rec.closes(), vec![(0, idle), (1, idle), (2, idle)]);
        assert_eq!(h.table.stats().closed_idle, 3);
    }

    #[test]
    fn idle_scan_runs_at_most_once_per_second_of_packet_time() {
        let limits = TcpLimits { idle_timeout_ns: SEC / 2, ..TcpLimits::default() };
        let mut h = Harness::new(limits);
        h.push_on(key_n(1), &seg(ToServer, 1, b"a").at(10 * SEC));
        h.push_on(key_n(2), &seg(ToServer, 1, b"b").at(10 * SEC + 900_000_000));
        assert_eq!(h.table.len(), 2, "no scan within the same second");
        h.push_on(key_n(2), &seg(ToServer, 2, b"b").at(11 * SEC));
        assert_eq!(h.rec.closes(), vec![(0, CloseReason::Idle)]);
    }

    #[test]
    fn full_table_refuses_new_connections_until_one_goes_idle() {
        let limits = TcpLimits { max_connections: 2, ..TcpLimits::default() };
        let mut h = Harness::new(limits);
        // Both answered by the server: sessions, protected from eviction.
        for k in [1, 2] {
            h.push_on(key_n(k), &seg(ToServer, 1, b"a").at(SEC));
            h.push_on(key_n(k), &seg(ToClient, 1, b"r").at(SEC));
        }
        h.push_on(key_n(3), &seg(ToServer, 1, b"c").syn().at(2 * SEC));
        h.push_on(key_n(3), &seg(ToServer, 2, b"c").at(2 * SEC));
        assert_eq!(h.table.len(), 2);
        assert_eq!(h.table.stats().connection_cap_hits, 2);
        assert_eq!(h.rec.instances(), 2, "the refused connection produced no events");
        // Keep key 2 alive; key 1 goes idle and makes room.
        h.push_on(key_n(2), &seg(ToServer, 2, b"b").at(300 * SEC));
        h.push_on(key_n(3), &seg(ToServer, 3, b"c").at(302 * SEC));
        assert_eq!(h.rec.closes(), vec![(0, CloseReason::Idle)]);
        assert_eq!(h.rec.bytes(2, ToServer), b"c");
        assert_eq!(h.table.len(), 2);
    }

    #[test]
    fn byte_cap_skips_to_the_earliest_buffered_data() {
        let limits = TcpLimits { max_buffered_bytes: 20, ..TcpLimits::default() };
        let mut h = connected_with(limits);
        let stream = stream_of(60);
        let segs = split(ToServer, CISN + 1, &stream, &[10, 20, 30, 40, 50]);
        h.push_all(&[segs[0].clone(), segs[2].clone(), segs[3].clone()]);
        assert_eq!(h.table.stats().buffer_cap_hits, 0);
        h.push(&segs[5]);
        let expected = vec![bytes(&stream[..10]), Part::Lost(10), bytes(&stream[20..40])];
        assert_eq!(h.rec.parts(0, ToServer), expected);
        assert_eq!(h.table.stats().buffer_cap_hits, 1);
        assert_eq!(h.table.max_pending(), (10, 1));
        h.push(&segs[4]);
        assert_eq!(h.rec.bytes(0, ToServer), [&stream[..10], &stream[20..]].concat());
    }

    #[test]
    fn segment_cap_skips_and_an_unbufferable_segment_is_delivered_after_a_gap() {
        let limits =
            TcpLimits { max_buffered_segments: 1, max_buffered_bytes: 4, ..TcpLimits::default() };
        let mut h = connected_with(limits);
        h.push(&seg(ToServer, CISN + 11, b"kl"));
        h.push(&seg(ToServer, CISN + 21, b"uv"));
        assert_eq!(h.rec.parts(0, ToServer), vec![Part::Lost(10), bytes(b"kl")]);
        // Too big to buffer even alone: skip up to it.
        h.push(&seg(ToServer, CISN + 31, b"EFGHIJ"));
        let expected = vec![
            Part::Lost(10),
            bytes(b"kl"),
            Part::Lost(8),
            bytes(b"uv"),
            Part::Lost(8),
            bytes(b"EFGHIJ"),
        ];
        assert_eq!(h.rec.parts(0, ToServer), expected);
        // One skip to free the buffer for "EFGHIJ", one more because it cannot fit at all.
        assert_eq!(h.table.stats().buffer_cap_hits, 3);
    }

    #[test]
    fn global_budget_caps_buffering_across_connections() {
        let limits = TcpLimits {
            max_total_buffered_bytes: 2 * (100 + reorder_overhead()),
            ..TcpLimits::default()
        };
        let mut h = Harness::new(limits);
        let chunk = stream_of(100);
        for n in 0..3 {
            h.push_on(key_n(n), &seg(ToServer, 1, b"x"));
            h.push_on(key_n(n), &seg(ToServer, 1_000, &chunk));
        }
        assert!(h.table.buffered_bytes() <= 2 * (100 + reorder_overhead()));
        assert_eq!(h.table.stats().buffer_cap_hits, 1);
        assert_eq!(h.rec.parts(2, ToServer), vec![bytes(b"x"), Part::Lost(998), bytes(&chunk)]);
        h.finish();
        assert_eq!(h.table.buffered_bytes(), 0);
    }

    fn reorder_overhead() -> usize {
        crate::tcp::reorder::CHUNK_OVERHEAD
    }

    #[test]
    fn unknown_connection_acks_and_resets_create_no_state() {
        let mut h = harness();
        h.push(&seg(ToServer, 1, b"").ack(5));
        h.push(&seg(ToClient, 1, b"").rst());
        h.push(&seg(ToClient, 1, b"").fin().ack(5));
        assert!(h.table.is_empty());
        assert!(h.rec.log.is_empty());
        assert_eq!(h.table.stats().ignored_segments, 3);
    }

    #[test]
    fn finish_flushes_and_closes_every_connection_in_activity_order() {
        let mut h = harness();
        h.push_on(key_n(2), &seg(ToServer, 1, b"ab").at(2 * SEC));
        h.push_on(key_n(2), &seg(ToServer, 5, b"ef").at(2 * SEC));
        h.push_on(key_n(1), &seg(ToServer, 1, b"xy").fin().at(3 * SEC));
        h.finish();
        assert!(h.table.is_empty());
        assert_eq!(h.rec.closes(), vec![(0, CloseReason::EndOfCapture), (1, CloseReason::Fin)]);
        assert_eq!(h.rec.parts(0, ToServer), vec![bytes(b"ab"), Part::Lost(2), bytes(b"ef")]);
        let stats = h.table.stats();
        assert_eq!((stats.closed_end_of_capture, stats.closed_fin), (1, 1));
    }

    #[test]
    fn one_gib_sequence_jump_stays_bounded() {
        let mut h = connected();
        let jump = 1u32 << 30;
        h.push(&seg(ToServer, CISN + 1 + jump, b"far"));
        h.push(&seg(ToServer, CISN + 1, b"near"));
        assert!(h.table.buffered_bytes() < 1_000);
        h.finish();
        let expected = vec![bytes(b"near"), Part::Lost(u64::from(jump) - 4), bytes(b"far")];
        assert_eq!(h.rec.parts(0, ToServer), expected);
        assert_eq!(h.table.buffered_bytes(), 0);
    }

    #[test]
    fn a_flood_of_distinct_flows_stays_within_the_connection_cap() {
        let limits = TcpLimits { max_connections: 1_000, ..TcpLimits::default() };
        let mut h = Harness::new(limits);
        for n in 0..50_000u32 {
            let key = ConnKey {
                client: std::net::SocketAddr::from((
                    [10, 1, (n >> 16) as u8, (n >> 8) as u8],
                    n as u16,
                )),
                server: key_n(0).server,
            };
            h.push_on(key, &seg(ToServer, n, b"x").syn().at(u64::from(n) * 1_000));
        }
        assert_eq!(h.table.len(), 1_000);
        // Nothing was answered: each new flow took the oldest one's place.
        assert_eq!(h.table.stats().unanswered_evicted, 49_000);
        assert_eq!(h.table.stats().connection_cap_hits, 0);
    }

    /// A SYN flood (spoofed, never answered) fills the table; established sessions keep their
    /// place, and a real session opened during the flood still decodes.
    #[test]
    fn a_syn_flood_cannot_lock_out_sessions() {
        let limits = TcpLimits { max_connections: 100, ..TcpLimits::default() };
        let mut h = Harness::new(limits);
        let session = |h: &mut Harness, key: ConnKey, at: u64| {
            h.push_on(key, &seg(ToServer, CISN, b"").syn().at(at));
            h.push_on(key, &seg(ToClient, SISN, b"").syn().ack(CISN + 1).at(at));
            h.push_on(key, &seg(ToServer, CISN + 1, b"hello").ack(SISN + 1).at(at));
            h.push_on(key, &seg(ToClient, SISN + 1, b"welcome").ack(CISN + 6).at(at));
        };
        let flood = |n: u32| ConnKey {
            client: std::net::SocketAddr::from(([10, 9, (n >> 8) as u8, n as u8], 1024)),
            server: key_n(0).server,
        };
        for k in 0..10 {
            session(&mut h, key_n(k), SEC);
        }
        for n in 0..50_000 {
            // The server answers a spoofed SYN with a SYN-ACK that is never acknowledged.
            h.push_on(flood(n), &seg(ToServer, n, b"").syn().at(2 * SEC));
            h.push_on(flood(n), &seg(ToClient, 7, b"").syn().ack(n + 1).at(2 * SEC));
        }
        session(&mut h, key_n(10), 3 * SEC);
        for n in 50_000..50_200 {
            h.push_on(flood(n), &seg(ToServer, n, b"").syn().at(4 * SEC));
        }
        h.finish();
        let stats = h.table.stats();
        assert_eq!(stats.connection_cap_hits, 0);
        assert_eq!(stats.unanswered_evicted, 50_200 - 89);
        for k in 0..11 {
            let instance = if k < 10 { k } else { 10 + 50_000 };
            assert_eq!(h.rec.bytes(instance, ToServer), b"hello", "session {k}");
            assert_eq!(h.rec.bytes(instance, ToClient), b"welcome", "session {k}");
        }
        let evicted = h.rec.closes().iter().filter(|(_, r)| *r == CloseReason::Evicted).count();
        assert_eq!(evicted as u64, stats.unanswered_evicted);
        assert!(
            h.rec
                .closes()
                .iter()
                .all(|&(i, r)| r != CloseReason::Evicted || !(i < 10 || i == 50_010)),
            "no session was evicted"
        );
    }

    #[test]
    fn endless_out_of_order_junk_stays_within_the_buffer_caps() {
        let limits = TcpLimits::default();
        let (max_bytes, max_segments) = (limits.max_buffered_bytes, limits.max_buffered_segments);
        let mut h = connected_with(limits);
        let junk = stream_of(1_000);
        let mut seq = CISN.wrapping_add(2);
        for _ in 0..20_000 {
            // Always ahead, never contiguous: every segment must be buffered or skipped.
            seq = seq.wrapping_add(1_001);
            h.push(&seg(ToServer, seq, &junk));
            let (bytes, chunks) = h.table.max_pending();
            assert!(bytes <= max_bytes && chunks <= max_segments);
        }
        assert!(h.table.stats().buffer_cap_hits > 0);
        assert!(h.table.buffered_bytes() <= max_bytes + max_segments * reorder_overhead());
    }

    #[test]
    fn state_is_created_per_connection_and_dropped_after_close() {
        let mut h = harness();
        h.push(&seg(ToServer, 1, b"a"));
        h.push(&seg(ToServer, 2, b"").rst());
        h.push(&seg(ToServer, 2, b"b"));
        assert_eq!(h.rec.instances(), 2);
        assert_eq!(h.rec.events(1)[0], Rec::Start { dir: ToServer, from_syn: false });
        assert_eq!(h.rec.bytes(1, ToServer), b"b");
    }
}
