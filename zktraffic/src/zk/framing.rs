//! Splitting one direction's byte stream into length-prefixed frames (§A1).
//!
//! The framer knows nothing of ZooKeeper records: it asks a [`FrameHandler`] what the first bytes
//! of a stream are, to judge candidate frame starts while resynchronising, and hands it every
//! complete frame. In the common case (whole frames inside one delivery) frames are handed out
//! straight from the delivered bytes; only a frame split across deliveries is copied.

use crate::Timestamp;
use crate::resync_search::{Held, Verdict};

/// Bytes of the length prefix.
pub const PREFIX: usize = 4;
/// Above this a length prefix is not a frame at all but noise (ClickHouse Keeper's limit, 256 MiB).
pub const MAX_PLAUSIBLE_FRAME: usize = 1 << 28;

/// How a stream is carried, decided from its first four bytes or from a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// Length-prefixed ZooKeeper frames.
    Framed,
    /// Not framed (four-letter word text, TLS): bytes are only counted.
    Opaque,
    /// (From a frame on probation only) the frame does not look right: the boundary found by
    /// the last resync was probably false, search again.
    Suspect,
}

/// Frames after a resync that must look right before the boundary is trusted: until then a
/// frame that looks wrong, or a length too large to buffer, means the resync was mistaken.
pub const PROBATION_FRAMES: u32 = 4;
/// A buffer that held a large frame is given back once the frame is done, rather than kept
/// (cleared) for the connection's life: idle connections must not pin megabytes each.
const KEEP_CAPACITY: usize = 64 << 10;

/// Largest frame believed while on probation: a false boundary reads a "length" out of the
/// middle of some record, and waiting for megabytes that never form a frame would stall the
/// stream. A real large frame right after a resync is lost instead (and counted).
pub const PROBATION_MAX_FRAME: usize = 64 << 10;

/// A judgement of a possible frame start, while resynchronising.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Candidate {
    /// A complete, valid frame starts here.
    Frame,
    /// Plausible so far; the answer cannot change before this many bytes (from the candidate's
    /// first byte) are here.
    NeedMore(usize),
    /// No frame starts here.
    No,
}

/// What the framer asks of the protocol layer.
pub trait FrameHandler {
    /// Decides how a stream whose start was seen is carried, from its first four bytes.
    fn stream_start(&mut self, first: [u8; 4]) -> StreamKind;
    /// A complete frame, length prefix included, completed by the delivery at `ts`; the answer
    /// says whether the rest of the stream is still framed. While `on_probation` (shortly after
    /// a resync) the handler answers [`StreamKind::Suspect`], and emits nothing, for a frame
    /// that does not look right.
    fn frame(&mut self, frame: &[u8], ts: Timestamp, on_probation: bool) -> StreamKind;
    /// Judges whether a frame starts at `bytes[0]` (strictly: noise must not pass).
    fn candidate(&self, bytes: &[u8]) -> Candidate;
    /// `n` bytes of an opaque stream went by at `ts`.
    fn opaque(&mut self, n: u64, ts: Timestamp);
}

/// Framing counters of one direction, added into the decoder's totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FramingStats {
    /// Length prefixes that cannot be a frame (negative, too small, beyond 256 MiB): desyncs.
    pub bad_lengths: u64,
    /// Times frame boundaries were found again after being lost.
    pub resyncs: u64,
    /// Bytes discarded while looking for a frame boundary.
    pub resync_skipped_bytes: u64,
    /// Frames larger than `--max-frame-bytes`, skipped undecoded.
    pub oversized_frames: u64,
    /// Frames partly lost to a capture gap (dropped undecoded).
    pub frames_lost_to_gaps: u64,
    /// Resyncs found false by the frames that followed (the search went on).
    pub false_resyncs: u64,
    /// Candidate frame starts given up unjudged: more than
    /// [`MAX_WAITING`](crate::resync_search::MAX_WAITING) were in question.
    pub resync_candidates_shed: u64,
    /// Bytes passed over undecoded inside frames that were skipped: oversized, partly lost to a
    /// gap, or shed for the partial-frame budget.
    pub skipped_frame_bytes: u64,
    /// Incomplete frames (and searches) dropped to keep all connections within
    /// `--max-partial-bytes`, the largest holder first.
    pub partial_frames_shed: u64,
    /// Stream bytes those held when they were dropped.
    pub partial_bytes_shed: u64,
    /// Incomplete frames (and searches) held when their stream ended: never decoded.
    pub partial_frames_at_close: u64,
    /// Stream bytes those held.
    pub partial_bytes_at_close: u64,
    /// Memory held for incomplete frames and searches now, over all connections (a gauge):
    /// their bytes and the searches' bookkeeping.
    pub partial_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The stream's first bytes (SYN seen), not yet classified.
    Start,
    /// At a frame boundary, or inside a frame whose first bytes are in `buf`.
    Synced,
    /// Inside a frame not worth buffering (too large, or partly lost): skip this many bytes.
    Skipping(u64),
    /// Frame boundaries unknown: `buf` holds the bytes being searched.
    Searching,
    /// Not framed: count bytes only.
    Opaque,
}

/// One direction's framing state.
#[derive(Debug)]
pub struct Framer {
    state: State,
    /// An incomplete frame, or what a search looks through.
    held: Held,
    max_frame: usize,
    min_frame: usize,
    /// Frames that looked right since the last resync (saturating at the probation length).
    trusted: u32,
}

impl Framer {
    /// A framer for a stream seen from its first byte; frames of `min_frame..=max_frame` bytes
    /// (after the prefix) are decoded.
    pub fn at_start(min_frame: usize, max_frame: usize) -> Self {
        Framer {
            state: State::Start,
            held: Held::default(),
            max_frame,
            min_frame,
            trusted: PROBATION_FRAMES,
        }
    }

    /// A framer for a stream joined mid-way: frame boundaries must be found first.
    pub fn mid_stream(min_frame: usize, max_frame: usize) -> Self {
        Framer { state: State::Searching, trusted: 0, ..Framer::at_start(min_frame, max_frame) }
    }

    /// Makes the stream opaque from now on (its connection turned out not to be ZooKeeper).
    pub fn make_opaque(&mut self) {
        self.state = State::Opaque;
        self.release();
    }

    /// Bytes held for an incomplete frame or a search.
    pub fn buffered(&self) -> usize {
        self.held.buffered()
    }

    /// Memory held for an incomplete frame or a search: [`Self::buffered`] and the search's
    /// bookkeeping (what the partial-frame budget counts).
    pub fn held_bytes(&self) -> usize {
        self.held.memory()
    }

    /// Consumes the next delivered bytes of the stream.
    pub fn push<H: FrameHandler>(
        &mut self,
        data: &[u8],
        ts: Timestamp,
        h: &mut H,
        stats: &mut FramingStats,
    ) {
        // A resync hands back the bytes from the new frame boundary on; replaying them is a
        // loop, not recursion, and each round consumes at least the frame that was found.
        let mut replay = self.push_slice(data, ts, h, stats);
        while let Some(bytes) = replay {
            replay = self.push_slice(&bytes, ts, h, stats);
        }
    }

    fn push_slice<H: FrameHandler>(
        &mut self,
        mut data: &[u8],
        ts: Timestamp,
        h: &mut H,
        stats: &mut FramingStats,
    ) -> Option<Vec<u8>> {
        while !data.is_empty() {
            data = match self.state {
                State::Opaque => {
                    h.opaque(data.len() as u64, ts);
                    &[]
                }
                State::Skipping(n) => {
                    let k = n.min(data.len() as u64);
                    stats.skipped_frame_bytes += k;
                    self.state = if k == n { State::Synced } else { State::Skipping(n - k) };
                    &data[k as usize..]
                }
                State::Start => self.start(data, ts, h),
                State::Synced => self.synced(data, ts, h, stats),
                State::Searching => return self.search(data, h, stats),
            };
        }
        None
    }

    /// Drops what is held (an incomplete frame, or the bytes of a search) to give memory back;
    /// counted as a lost frame with its bytes. A frame whose length is known is skipped to its
    /// end, so the frames after it still decode; a search starts over with what comes next.
    pub fn shed(&mut self, stats: &mut FramingStats) {
        let held = self.held_bytes();
        // A stream's first bytes, or a frame's first bytes short of its length, are kept: they
        // are a few bytes, and dropping them would lose the frame boundaries.
        if held == 0 || self.state == State::Start || self.held.buf.len() < PREFIX {
            return;
        }
        stats.partial_frames_shed += 1;
        stats.partial_bytes_shed += self.buffered() as u64;
        if self.state == State::Synced
            && let Length::Frame(total) = self.check(frame_len(&self.held.buf))
        {
            self.state = State::Skipping((total - self.held.buf.len()) as u64);
        } else if self.state == State::Synced && self.held.buf.len() >= PREFIX {
            self.state = State::Searching;
        }
        self.release();
    }

    /// The stream ended: what is held can never become a frame; counted.
    pub fn close(&mut self, stats: &mut FramingStats) {
        let held = self.held_bytes();
        if held > 0 && self.state != State::Opaque {
            stats.partial_frames_at_close += 1;
            stats.partial_bytes_at_close += self.buffered() as u64;
        }
        self.release();
    }

    /// Empties the buffer and the search, giving their memory back.
    fn release(&mut self) {
        self.held.release();
    }

    /// Empties the buffer after a frame, keeping a small allocation for the next one.
    fn clear_buf(&mut self) {
        if self.held.buf.capacity() > KEEP_CAPACITY {
            self.held.buf = Vec::new();
        } else {
            self.held.buf.clear();
        }
    }

    /// `lost` bytes of the stream will never arrive.
    pub fn gap(&mut self, lost: u64, stats: &mut FramingStats) {
        self.state = match self.state {
            State::Opaque => State::Opaque,
            State::Skipping(n) => Self::after_skip(n, lost),
            State::Synced if self.held.buf.len() >= PREFIX => {
                // The frame in progress is lost, but its length says where the next one starts.
                stats.frames_lost_to_gaps += 1;
                stats.skipped_frame_bytes += self.held.buf.len() as u64;
                let total = PREFIX + frame_len(&self.held.buf).unwrap_or(0);
                Self::after_skip(total.saturating_sub(self.held.buf.len()) as u64, lost)
            }
            State::Synced | State::Start | State::Searching => {
                let held = self.buffered() as u64;
                if held > 0 {
                    stats.frames_lost_to_gaps += 1;
                }
                if self.state == State::Searching {
                    stats.resync_skipped_bytes += held;
                } else {
                    stats.skipped_frame_bytes += held;
                }
                State::Searching
            }
        };
        self.clear_buf();
        self.held.end_search();
    }

    /// The state after losing `lost` bytes while `remaining` bytes of a frame were still due.
    fn after_skip(remaining: u64, lost: u64) -> State {
        match lost.cmp(&remaining) {
            std::cmp::Ordering::Less => State::Skipping(remaining - lost),
            std::cmp::Ordering::Equal => State::Synced,
            std::cmp::Ordering::Greater => State::Searching,
        }
    }

    fn start<'d, H: FrameHandler>(&mut self, data: &'d [u8], ts: Timestamp, h: &mut H) -> &'d [u8] {
        let take = (PREFIX - self.held.buf.len()).min(data.len());
        self.held.buf.extend_from_slice(&data[..take]);
        if self.held.buf.len() < PREFIX {
            return &[];
        }
        let first = [self.held.buf[0], self.held.buf[1], self.held.buf[2], self.held.buf[3]];
        match h.stream_start(first) {
            // A stream start is never on probation: `Suspect` cannot come back here.
            StreamKind::Framed | StreamKind::Suspect => {
                // The four bytes stay in `buf` as the first frame's prefix.
                self.state = State::Synced;
                &data[take..]
            }
            StreamKind::Opaque => {
                h.opaque(PREFIX as u64, ts);
                self.make_opaque();
                &data[take..]
            }
        }
    }

    fn on_probation(&self) -> bool {
        self.trusted < PROBATION_FRAMES
    }

    /// Records the handler's verdict on a frame; true when the stream is still framed.
    fn judged(&mut self, kind: StreamKind, stats: &mut FramingStats) -> bool {
        match kind {
            StreamKind::Framed => {
                self.trusted = self.trusted.saturating_add(1).min(PROBATION_FRAMES);
                true
            }
            StreamKind::Opaque => {
                self.make_opaque();
                false
            }
            StreamKind::Suspect => {
                stats.false_resyncs += 1;
                self.state = State::Searching;
                false
            }
        }
    }

    /// Classifies a length prefix: the frame's total size, or why it is no frame.
    fn check(&self, len: Option<usize>) -> Length {
        let max = if self.on_probation() {
            self.max_frame.min(PROBATION_MAX_FRAME)
        } else {
            self.max_frame
        };
        match len {
            Some(n) if n >= self.min_frame && n <= max => Length::Frame(PREFIX + n),
            // Skipping a large frame is a bet on the boundary; only a trusted one takes it.
            Some(n) if n > self.max_frame && n <= MAX_PLAUSIBLE_FRAME && !self.on_probation() => {
                Length::Oversized(PREFIX + n)
            }
            _ => Length::Bad,
        }
    }

    fn synced<'d, H: FrameHandler>(
        &mut self,
        mut data: &'d [u8],
        ts: Timestamp,
        h: &mut H,
        stats: &mut FramingStats,
    ) -> &'d [u8] {
        if !self.held.buf.is_empty() {
            // Complete the frame in progress first.
            if self.held.buf.len() < PREFIX {
                let take = (PREFIX - self.held.buf.len()).min(data.len());
                self.held.buf.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.held.buf.len() < PREFIX {
                    return &[];
                }
            }
            match self.check(frame_len(&self.held.buf)) {
                Length::Frame(total) => {
                    let take = (total - self.held.buf.len()).min(data.len());
                    self.held.buf.extend_from_slice(&data[..take]);
                    if self.held.buf.len() < total
                        && self.on_probation()
                        && h.candidate(&self.held.buf) == Candidate::No
                    {
                        // The frame's header already shows the boundary was false.
                        stats.false_resyncs += 1;
                        stats.resync_skipped_bytes += 1;
                        self.state = State::Searching;
                        self.held.buf.remove(0);
                        return &data[take..];
                    }
                    if self.held.buf.len() == total {
                        let kind = h.frame(&self.held.buf, ts, self.on_probation());
                        if kind == StreamKind::Suspect {
                            // Search again from the byte after the false boundary.
                            self.held.buf.remove(0);
                            stats.resync_skipped_bytes += 1;
                        } else {
                            self.clear_buf();
                        }
                        self.judged(kind, stats);
                    }
                    return &data[take..];
                }
                Length::Oversized(total) => {
                    stats.oversized_frames += 1;
                    stats.skipped_frame_bytes += self.held.buf.len() as u64;
                    self.state = State::Skipping((total - self.held.buf.len()) as u64);
                    self.clear_buf();
                    return data;
                }
                Length::Bad => {
                    stats.bad_lengths += 1;
                    self.state = State::Searching;
                    // Search from the byte after the bad prefix's first byte.
                    self.held.buf.remove(0);
                    stats.resync_skipped_bytes += 1;
                    return data;
                }
            }
        }
        // Hot path: whole frames straight from the delivered bytes.
        while data.len() >= PREFIX {
            match self.check(frame_len(data)) {
                Length::Frame(total) if data.len() >= total => {
                    let kind = h.frame(&data[..total], ts, self.on_probation());
                    if !self.judged(kind, stats) {
                        if kind == StreamKind::Suspect {
                            stats.resync_skipped_bytes += 1;
                            return &data[1..];
                        }
                        return &data[total..];
                    }
                    data = &data[total..];
                }
                Length::Frame(_) if self.on_probation() && h.candidate(data) == Candidate::No => {
                    stats.false_resyncs += 1;
                    stats.resync_skipped_bytes += 1;
                    self.state = State::Searching;
                    return &data[1..];
                }
                Length::Frame(_) => break,
                Length::Oversized(total) => {
                    stats.oversized_frames += 1;
                    self.state = State::Skipping(total as u64);
                    return data;
                }
                Length::Bad => {
                    stats.bad_lengths += 1;
                    stats.resync_skipped_bytes += 1;
                    self.state = State::Searching;
                    return &data[1..];
                }
            }
        }
        self.held.buf.extend_from_slice(data);
        &[]
    }

    /// Looks for a frame boundary (see [`crate::resync_search`]); returns the bytes from it
    /// on when one is found.
    fn search<H: FrameHandler>(
        &mut self,
        data: &[u8],
        h: &mut H,
        stats: &mut FramingStats,
    ) -> Option<Vec<u8>> {
        // Bound the search window: a plausible frame is at most `max_frame` long, so older
        // bytes can never be part of the frame we are waiting for.
        let window = self.max_frame + PREFIX;
        // Out of `self` while the judge borrows it.
        let mut held = std::mem::take(&mut self.held);
        let pushed = held.search(data, window, PREFIX, |rest| self.judge(rest, h));
        stats.resync_skipped_bytes += pushed.skipped;
        stats.resync_candidates_shed += pushed.shed;
        let found = pushed.found.map(|_| std::mem::take(&mut held.buf));
        self.held = held;
        if found.is_some() {
            stats.resyncs += 1;
            self.state = State::Synced;
            self.trusted = 0;
        }
        found
    }

    /// Judges a possible frame start while searching.
    fn judge<H: FrameHandler>(&self, rest: &[u8], h: &H) -> Verdict {
        if rest.len() < PREFIX {
            return Verdict::Wait(PREFIX);
        }
        // A length this framer would not take now can never become a frame here.
        let Length::Frame(total) = self.check(frame_len(rest)) else { return Verdict::No };
        match h.candidate(rest) {
            Candidate::Frame if total <= rest.len() => Verdict::Found,
            Candidate::Frame => Verdict::Wait(total),
            // Asking again before more bytes are here would only repeat the answer.
            Candidate::NeedMore(need) => Verdict::Wait(need.max(rest.len() + 1)),
            Candidate::No => Verdict::No,
        }
    }
}

enum Length {
    Frame(usize),
    Oversized(usize),
    Bad,
}

/// The frame length in a 4-byte prefix, `None` when negative.
pub fn frame_len(bytes: &[u8]) -> Option<usize> {
    let prefix: [u8; PREFIX] = bytes.get(..PREFIX)?.try_into().ok()?;
    usize::try_from(i32::from_be_bytes(prefix)).ok()
}

#[cfg(test)]
mod tests;
