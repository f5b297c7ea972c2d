//! Per-direction stream reassembly.
//!
//! A [`HalfStream`] maps 32-bit sequence numbers to 64-bit stream offsets and turns segments
//! into `Data`/`Gap` events in stream order, each byte delivered at most once:
//! - in-order data goes straight from the segment's payload to the handler (no copy);
//! - data ahead of the next expected offset is copied into a bounded [`ReorderBuffer`];
//! - holes that can no longer be filled (buffer caps, peer ACK, truncated capture, close)
//!   become `Gap`s, and delivery resumes after them.

use zktraffic_common::tcp_flags;

use super::limits::{TcpLimits, TcpStats};
use super::reorder::{BufferBudget, Chunk, ReorderBuffer, Span};
use super::{Direction, StreamEvent};
use crate::Timestamp;
use crate::capture::Segment;

/// A segment's flags and payload, with the payload checked against the wire length.
#[derive(Clone, Copy, Debug)]
pub(super) struct SegmentView<'a> {
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub has_ack: bool,
    pub fin: bool,
    pub rst: bool,
    /// Captured payload bytes, never longer than `wire_len` (bytes past the wire length are
    /// not stream bytes).
    pub captured: &'a [u8],
    /// Payload length on the wire: the sequence space the payload covers.
    pub wire_len: u64,
}

impl<'a> SegmentView<'a> {
    pub fn new(seg: &Segment<'a>) -> Self {
        let wire = usize::try_from(seg.wire_len).unwrap_or(usize::MAX);
        SegmentView {
            seq: seg.seq,
            ack: seg.ack,
            syn: seg.has_flag(tcp_flags::SYN),
            has_ack: seg.has_flag(tcp_flags::ACK),
            fin: seg.has_flag(tcp_flags::FIN),
            rst: seg.has_flag(tcp_flags::RST),
            captured: seg.payload.get(..wire).unwrap_or(seg.payload),
            wire_len: u64::from(seg.wire_len),
        }
    }

    /// True when the capture kept fewer payload bytes than the wire carried.
    pub fn is_truncated(&self) -> bool {
        (self.captured.len() as u64) < self.wire_len
    }

    /// True when the segment carries stream bytes (captured or not).
    pub fn has_payload(&self) -> bool {
        self.wire_len > 0
    }
}

/// What a half-stream needs from its surroundings while it processes one event.
pub(super) struct Ctx<'a, F> {
    /// Time stamped on every event produced.
    pub ts: Timestamp,
    pub limits: &'a TcpLimits,
    pub stats: &'a mut TcpStats,
    /// Buffer memory shared by all connections.
    pub budget: &'a mut BufferBudget,
    /// Delivers an event to the handler, with the connection and its state.
    pub emit: F,
}

impl<'a> Ctx<'a, ()> {
    /// The same context, delivering events through `emit`.
    pub fn with_emit<F>(self, emit: F) -> Ctx<'a, F> {
        Ctx { ts: self.ts, limits: self.limits, stats: self.stats, budget: self.budget, emit }
    }
}

/// Stream bytes of a segment not yet placed: `len` stream bytes from offset `start`, of which
/// the first `captured.len()` were captured.
#[derive(Clone, Copy)]
struct Piece<'a> {
    start: u64,
    captured: &'a [u8],
    len: u64,
}

impl Piece<'_> {
    fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }

    fn captured_end(&self) -> u64 {
        self.start.saturating_add(self.captured.len() as u64)
    }
}

/// One direction of a connection.
#[derive(Debug)]
pub(super) struct HalfStream {
    dir: Direction,
    /// False until the direction's first SYN, payload or FIN: no offsets exist before that.
    started: bool,
    /// Sequence number of the SYN that started the stream, to recognise its retransmissions.
    syn_seq: Option<u32>,
    /// Sequence number of the next byte to deliver.
    next_seq: u32,
    /// Stream offset of the next byte to deliver (0 is the first byte after the SYN, or the
    /// first byte seen when the capture joined mid-stream).
    next_off: u64,
    /// Stream offset of the FIN, once seen: the stream has no bytes at or past it. Never
    /// below `next_off` when set.
    fin_off: Option<u64>,
    /// Data that arrived ahead of `next_off`. Invariant between calls: every chunk starts
    /// after `next_off` (contiguous data is delivered at once).
    pending: ReorderBuffer,
}

impl HalfStream {
    pub fn new(dir: Direction) -> Self {
        HalfStream {
            dir,
            started: false,
            syn_seq: None,
            next_seq: 0,
            next_off: 0,
            fin_off: None,
            pending: ReorderBuffer::default(),
        }
    }

    pub fn is_started(&self) -> bool {
        self.started
    }

    pub fn fin_seen(&self) -> bool {
        self.fin_off.is_some()
    }

    /// True when a SYN at `seq` repeats the SYN that started this direction.
    pub fn is_syn_retransmission(&self, seq: u32) -> bool {
        self.syn_seq == Some(seq)
    }

    /// True once bytes were delivered or skipped, data waits or a FIN was seen: a fresh SYN
    /// after that belongs to a new connection on the same ports.
    pub fn has_progressed(&self) -> bool {
        self.next_off > 0 || self.fin_off.is_some() || !self.pending.is_empty()
    }

    /// True once some byte of this direction was delivered.
    pub fn delivered_any(&self) -> bool {
        self.next_off > 0
    }

    /// Captured bytes and chunks held out of order.
    #[cfg(test)]
    pub fn pending_usage(&self) -> (usize, usize) {
        (self.pending.bytes(), self.pending.chunk_count())
    }

    /// Processes the SYN, payload and FIN of a segment travelling in this direction.
    pub fn on_segment<F>(&mut self, seg: &SegmentView<'_>, cx: &mut Ctx<'_, F>)
    where
        F: FnMut(StreamEvent<'_>),
    {
        // SYN takes one sequence number before the data.
        let data_seq = if seg.syn { seg.seq.wrapping_add(1) } else { seg.seq };
        if !self.started {
            if seg.syn {
                self.start(data_seq, Some(seg.seq), cx);
            } else if seg.has_payload() || seg.fin {
                self.start(data_seq, None, cx);
            } else {
                // A pure ACK anchors nothing: wait for a segment that carries the stream.
                return;
            }
        }
        // Offsets are taken before any delivery moves `next_seq` (see `offset_of`).
        let data_start = self.offset_of(data_seq);
        let fin_at = seg.fin.then(|| {
            // The FIN's sequence number follows the data; `wire_len` fits in 32 bits. A FIN
            // behind what was already delivered or skipped ends the stream where it stands.
            let fin_seq = data_seq.wrapping_add(seg.wire_len as u32);
            self.offset_of(fin_seq).unwrap_or(0).max(self.next_off)
        });
        if seg.has_payload() {
            self.on_data(data_start, seg.captured, seg.wire_len, cx);
        }
        if let Some(fin_off) = fin_at {
            // The first FIN fixes the end of the stream; later ones are retransmissions.
            self.fin_off.get_or_insert(fin_off);
        }
    }

    /// The peer acknowledged everything before `ack` in this direction: any hole below it was
    /// lost by the capture (the peer did receive those bytes), so declare it a gap now rather
    /// than wait for a retransmission that will never come.
    pub fn on_peer_ack<F>(&mut self, ack: u32, cx: &mut Ctx<'_, F>)
    where
        F: FnMut(StreamEvent<'_>),
    {
        if !self.started {
            return;
        }
        let Ok(acked) = self.offset_of(ack) else {
            return;
        };
        let limit = acked.min(self.stream_end());
        if limit > self.next_off {
            self.skip_to(limit, cx);
            self.deliver_ready(cx);
        }
    }

    /// The connection is closing: deliver what is buffered, with gaps for the holes (up to
    /// the FIN when it is known), and drop the rest.
    pub fn flush<F>(&mut self, cx: &mut Ctx<'_, F>)
    where
        F: FnMut(StreamEvent<'_>),
    {
        if !self.started {
            return;
        }
        let limit = match self.fin_off {
            Some(fin_off) => fin_off,
            None => self.pending.end().unwrap_or(self.next_off),
        };
        self.skip_to(limit, cx);
        // Whatever remains lies past the FIN.
        let dropped = self.pending.clear(cx.budget);
        cx.stats.bytes_beyond_fin = cx.stats.bytes_beyond_fin.saturating_add(dropped);
    }

    fn start<F>(&mut self, next_seq: u32, syn_seq: Option<u32>, cx: &mut Ctx<'_, F>)
    where
        F: FnMut(StreamEvent<'_>),
    {
        self.started = true;
        self.syn_seq = syn_seq;
        self.next_seq = next_seq;
        self.next_off = 0;
        (cx.emit)(StreamEvent::Start { dir: self.dir, from_syn: syn_seq.is_some() });
    }

    /// Stream offset of `seq`, taken as the nearest to the next expected byte (within 2^31
    /// either way, which is what makes 32-bit wraparound work). `Err(n)` when it falls `n`
    /// bytes before offset 0.
    fn offset_of(&self, seq: u32) -> Result<u64, u64> {
        let delta = i64::from(seq.wrapping_sub(self.next_seq) as i32);
        self.next_off
            .checked_add_signed(delta)
            .ok_or_else(|| delta.unsigned_abs().saturating_sub(self.next_off))
    }

    /// Offset past the last byte the stream can have.
    fn stream_end(&self) -> u64 {
        self.fin_off.unwrap_or(u64::MAX)
    }

    /// Places `len` stream bytes starting at offset `start` (`Err(n)`: `n` bytes before 0).
    fn on_data<F>(
        &mut self,
        start: Result<u64, u64>,
        captured: &[u8],
        len: u64,
        cx: &mut Ctx<'_, F>,
    ) where
        F: FnMut(StreamEvent<'_>),
    {
        let piece = match start {
            Ok(start) => Piece { start, captured, len },
            Err(before) => {
                // Bytes before offset 0 precede the stream as we know it: only the rest counts.
                cx.stats.duplicate_bytes = cx.stats.duplicate_bytes.saturating_add(before.min(len));
                if before >= len {
                    return;
                }
                let captured = sub_slice(captured, before, u64::MAX);
                Piece { start: 0, captured, len: len - before }
            }
        };
        loop {
            if piece.start <= self.next_off {
                self.deliver_in_order(piece, cx);
                return;
            }
            if self.try_buffer(piece, cx) {
                return;
            }
            cx.stats.buffer_cap_hits = cx.stats.buffer_cap_hits.saturating_add(1);
            self.make_room(piece.start, cx);
        }
    }

    /// The buffer caps would be exceeded: skip to the earliest data we hold (the earliest
    /// buffered chunk or this segment) and deliver from there, freeing buffer space.
    fn make_room<F>(&mut self, seg_start: u64, cx: &mut Ctx<'_, F>)
    where
        F: FnMut(StreamEvent<'_>),
    {
        let target = self.pending.first_start().map_or(seg_start, |first| first.min(seg_start));
        self.skip_to(target, cx);
        self.deliver_ready(cx);
    }

    /// Delivers a segment's piece that starts at or before the next expected offset, then
    /// whatever buffered data it made contiguous.
    fn deliver_in_order<F>(&mut self, piece: Piece<'_>, cx: &mut Ctx<'_, F>)
    where
        F: FnMut(StreamEvent<'_>),
    {
        let end = self.deliver_captured(piece, cx);
        // A truncated capture leaves the tail: take it from buffered copies or declare it lost.
        self.skip_to(end, cx);
        self.deliver_ready(cx);
    }

    /// Delivers the captured, not yet delivered bytes of a piece starting at or before the
    /// next expected offset. Returns where the piece ends (clipped to the FIN): the caller
    /// decides what fills a truncated tail.
    fn deliver_captured<F>(&mut self, piece: Piece<'_>, cx: &mut Ctx<'_, F>) -> u64
    where
        F: FnMut(StreamEvent<'_>),
    {
        let end = self.clip_to_fin(piece.start, piece.end(), cx);
        let already = self.next_off.saturating_sub(piece.start);
        let duplicate = already.min(end.saturating_sub(piece.start));
        cx.stats.duplicate_bytes = cx.stats.duplicate_bytes.saturating_add(duplicate);
        let captured_end = piece.captured_end().min(end);
        if captured_end > self.next_off {
            self.deliver(sub_slice(piece.captured, already, captured_end - piece.start), cx);
        }
        end
    }

    /// Copies the parts of `piece` not already buffered into the reorder buffer. False when
    /// that would exceed a cap (nothing is stored then).
    fn try_buffer<F>(&mut self, piece: Piece<'_>, cx: &mut Ctx<'_, F>) -> bool {
        let end = piece.end().min(self.stream_end());
        if end <= piece.start {
            self.count_beyond_fin(piece.start, piece.end(), cx);
            return true;
        }
        let holes = self.pending.uncovered(Span { start: piece.start, end });
        let captured_end = piece.captured_end().min(end);
        let new_bytes: u64 =
            holes.iter().map(|hole| hole.end.min(captured_end).saturating_sub(hole.start)).sum();
        let new_len: u64 = holes.iter().map(|hole| hole.len()).sum();
        let new_bytes = usize::try_from(new_bytes).unwrap_or(usize::MAX);
        if !holes.is_empty() && !self.has_room(new_bytes, holes.len(), cx) {
            return false;
        }
        // Counted only now: a refused piece comes back after `make_room`.
        self.count_beyond_fin(piece.start, piece.end(), cx);
        let overlap = (end - piece.start).saturating_sub(new_len);
        cx.stats.duplicate_bytes = cx.stats.duplicate_bytes.saturating_add(overlap);
        if holes.is_empty() {
            return true;
        }
        for hole in holes {
            let data = sub_slice(
                piece.captured,
                hole.start - piece.start,
                hole.end.min(captured_end).saturating_sub(piece.start),
            );
            let chunk = Chunk { data: data.into(), seq_len: hole.len() };
            self.pending.insert(hole.start, chunk, cx.budget);
        }
        cx.stats.out_of_order_segments = cx.stats.out_of_order_segments.saturating_add(1);
        true
    }

    fn has_room<F>(&self, bytes: usize, chunks: usize, cx: &Ctx<'_, F>) -> bool {
        self.pending.bytes().saturating_add(bytes) <= cx.limits.max_buffered_bytes
            && self.pending.chunk_count().saturating_add(chunks) <= cx.limits.max_buffered_segments
            && cx.budget.has_room(bytes, chunks)
    }

    /// The end of the range `[start, end)` limited to the FIN, counting the bytes cut off.
    fn clip_to_fin<F>(&self, start: u64, end: u64, cx: &mut Ctx<'_, F>) -> u64 {
        self.count_beyond_fin(start, end, cx);
        end.min(self.stream_end())
    }

    /// Counts the bytes of `[start, end)` that lie past the FIN.
    fn count_beyond_fin<F>(&self, start: u64, end: u64, cx: &mut Ctx<'_, F>) {
        let beyond = end.saturating_sub(self.stream_end().max(start));
        cx.stats.bytes_beyond_fin = cx.stats.bytes_beyond_fin.saturating_add(beyond);
    }

    /// Moves the next expected offset up to `limit`: buffered chunks are delivered where they
    /// are, the holes between them become gaps.
    fn skip_to<F>(&mut self, limit: u64, cx: &mut Ctx<'_, F>)
    where
        F: FnMut(StreamEvent<'_>),
    {
        while self.next_off < limit {
            match self.pending.first_start() {
                Some(first) if first <= self.next_off => self.deliver_first_chunk(cx),
                first => {
                    let hole_end = first.map_or(limit, |first| first.min(limit));
                    self.gap(hole_end - self.next_off, cx);
                }
            }
        }
    }

    /// Delivers buffered chunks for as long as they continue the stream.
    fn deliver_ready<F>(&mut self, cx: &mut Ctx<'_, F>)
    where
        F: FnMut(StreamEvent<'_>),
    {
        while self.pending.first_start().is_some_and(|first| first <= self.next_off) {
            self.deliver_first_chunk(cx);
        }
    }

    /// Delivers the earliest buffered chunk, minus what was already delivered, plus a gap for
    /// its lost tail when its capture was truncated.
    fn deliver_first_chunk<F>(&mut self, cx: &mut Ctx<'_, F>)
    where
        F: FnMut(StreamEvent<'_>),
    {
        let Some((start, chunk)) = self.pending.pop_first(cx.budget) else {
            return;
        };
        if start > self.next_off {
            // Not reached by callers; keep offsets right regardless.
            self.gap(start - self.next_off, cx);
        }
        let piece = Piece { start, captured: &chunk.data, len: chunk.seq_len };
        let end = self.deliver_captured(piece, cx);
        // Chunks never overlap, so nothing buffered can fill a truncated tail.
        if end > self.next_off {
            self.gap(end - self.next_off, cx);
        }
    }

    fn deliver<F>(&mut self, bytes: &[u8], cx: &mut Ctx<'_, F>)
    where
        F: FnMut(StreamEvent<'_>),
    {
        if bytes.is_empty() {
            return;
        }
        let len = bytes.len() as u64;
        self.advance(len);
        cx.stats.payload_bytes = cx.stats.payload_bytes.saturating_add(len);
        (cx.emit)(StreamEvent::Data { dir: self.dir, ts: cx.ts, bytes });
    }

    fn gap<F>(&mut self, lost: u64, cx: &mut Ctx<'_, F>)
    where
        F: FnMut(StreamEvent<'_>),
    {
        if lost == 0 {
            return;
        }
        self.advance(lost);
        cx.stats.gaps = cx.stats.gaps.saturating_add(1);
        cx.stats.lost_bytes = cx.stats.lost_bytes.saturating_add(lost);
        (cx.emit)(StreamEvent::Gap { dir: self.dir, lost });
    }

    fn advance(&mut self, len: u64) {
        self.next_off = self.next_off.saturating_add(len);
        // Sequence numbers are offsets modulo 2^32: truncation is the wraparound.
        self.next_seq = self.next_seq.wrapping_add(len as u32);
    }
}

/// `bytes[from..to]`, empty when the range does not fit.
fn sub_slice(bytes: &[u8], from: u64, to: u64) -> &[u8] {
    let to = usize::try_from(to).unwrap_or(usize::MAX).min(bytes.len());
    let from = usize::try_from(from).unwrap_or(usize::MAX);
    bytes.get(from..to).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::test_support::{key, seg};

    /// A half-stream started mid-stream at `seq`, advanced by `delivered` bytes.
    fn half_at(seq: u32, delivered: &[u8]) -> HalfStream {
        let (limits, mut stats) = (TcpLimits::default(), TcpStats::default());
        let mut budget = BufferBudget { used: 0, limit: usize::MAX };
        let mut cx = Ctx {
            ts: Timestamp(0),
            limits: &limits,
            stats: &mut stats,
            budget: &mut budget,
            emit: |_: StreamEvent<'_>| {},
        };
        let mut half = HalfStream::new(Direction::ToServer);
        let segment = seg(Direction::ToServer, seq, delivered);
        half.on_segment(&SegmentView::new(&segment.segment(&key())), &mut cx);
        half
    }

    #[test]
    fn offsets_are_64_bit_and_wrap_with_sequence_numbers() {
        let half = half_at(u32::MAX - 1, b"abcd");
        assert_eq!((half.next_off, half.next_seq), (4, 2));
        assert_eq!(half.offset_of(2), Ok(4));
        assert_eq!(half.offset_of(u32::MAX), Ok(1));
        assert_eq!(half.offset_of(102), Ok(104));
        assert_eq!(half.offset_of(u32::MAX - 1), Ok(0));
        assert_eq!(half.offset_of(u32::MAX - 3), Err(2), "two bytes before the first one seen");
        assert_eq!(half.offset_of(2u32.wrapping_add(1 << 31)), Err((1 << 31) - 4));
    }

    #[test]
    fn payload_past_the_wire_length_is_not_stream_data() {
        let mut segment = seg(Direction::ToServer, 7, b"data\0\0");
        segment.wire_len = Some(4);
        let view_of = |segment: &crate::tcp::test_support::Seg| {
            let view = SegmentView::new(&segment.segment(&key()));
            (view.captured.to_vec(), view.wire_len, view.is_truncated())
        };
        assert_eq!(view_of(&segment), (b"data".to_vec(), 4, false));
        segment.wire_len = Some(9);
        assert_eq!(view_of(&segment), (b"data\0\0".to_vec(), 9, true));
    }
}
