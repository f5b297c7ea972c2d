//! Splitting one direction's byte stream into length-prefixed frames (§A1).
//!
//! The framer knows nothing of ZooKeeper records: it asks a [`FrameHandler`] what the first bytes
//! of a stream are, to judge candidate frame starts while resynchronising, and hands it every
//! complete frame. In the common case (whole frames inside one delivery) frames are handed out
//! straight from the delivered bytes; only a frame split across deliveries is copied.

use crate::Timestamp;

/// Bytes of the length prefix.
pub const PREFIX: usize = 4;
/// Above this a length prefix is not a frame at all but noise (ClickHouse Keeper's limit, 256 MiB).
pub const MAX_PLAUSIBLE_FRAME: usize = 1 << 28;

/// How a stream is carried, decided from its first four bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// Length-prefixed ZooKeeper frames.
    Framed,
    /// Not framed (four-letter word text, TLS): bytes are only counted.
    Opaque,
}

/// A judgement of a possible frame start, while resynchronising.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Candidate {
    /// A complete, valid frame starts here.
    Frame,
    /// Plausible so far; more bytes are needed to decide.
    NeedMore,
    /// No frame starts here.
    No,
}

/// What the framer asks of the protocol layer.
pub trait FrameHandler {
    /// Decides how a stream whose start was seen is carried, from its first four bytes.
    fn stream_start(&mut self, first: [u8; 4]) -> StreamKind;
    /// A complete frame, length prefix included, completed by the delivery at `ts`; the answer
    /// says whether the rest of the stream is still framed.
    fn frame(&mut self, frame: &[u8], ts: Timestamp) -> StreamKind;
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
    buf: Vec<u8>,
    max_frame: usize,
    min_frame: usize,
}

impl Framer {
    /// A framer for a stream seen from its first byte; frames of `min_frame..=max_frame` bytes
    /// (after the prefix) are decoded.
    pub fn at_start(min_frame: usize, max_frame: usize) -> Self {
        Framer { state: State::Start, buf: Vec::new(), max_frame, min_frame }
    }

    /// A framer for a stream joined mid-way: frame boundaries must be found first.
    pub fn mid_stream(min_frame: usize, max_frame: usize) -> Self {
        Framer { state: State::Searching, ..Framer::at_start(min_frame, max_frame) }
    }

    /// True while frame boundaries are unknown.
    pub fn is_searching(&self) -> bool {
        self.state == State::Searching
    }

    /// Makes the stream opaque from now on (its connection turned out not to be ZooKeeper).
    pub fn make_opaque(&mut self) {
        self.state = State::Opaque;
        self.buf = Vec::new();
    }

    /// Bytes held for an incomplete frame or a search.
    pub fn buffered(&self) -> usize {
        self.buf.len()
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

    /// `lost` bytes of the stream will never arrive.
    pub fn gap(&mut self, lost: u64, stats: &mut FramingStats) {
        self.state = match self.state {
            State::Opaque => State::Opaque,
            State::Skipping(n) => Self::after_skip(n, lost),
            State::Synced if self.buf.len() >= PREFIX => {
                // The frame in progress is lost, but its length says where the next one starts.
                stats.frames_lost_to_gaps += 1;
                let total = PREFIX + frame_len(&self.buf).unwrap_or(0);
                Self::after_skip(total.saturating_sub(self.buf.len()) as u64, lost)
            }
            State::Synced | State::Start | State::Searching => {
                if !self.buf.is_empty() {
                    stats.frames_lost_to_gaps += 1;
                }
                State::Searching
            }
        };
        self.buf.clear();
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
        let take = (PREFIX - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        if self.buf.len() < PREFIX {
            return &[];
        }
        let first = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
        match h.stream_start(first) {
            StreamKind::Framed => {
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

    /// Classifies a length prefix: the frame's total size, or why it is no frame.
    fn check(&self, len: Option<usize>) -> Length {
        match len {
            Some(n) if n >= self.min_frame && n <= self.max_frame => Length::Frame(PREFIX + n),
            Some(n) if n > self.max_frame && n <= MAX_PLAUSIBLE_FRAME => {
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
        if !self.buf.is_empty() {
            // Complete the frame in progress first.
            if self.buf.len() < PREFIX {
                let take = (PREFIX - self.buf.len()).min(data.len());
                self.buf.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.buf.len() < PREFIX {
                    return &[];
                }
            }
            match self.check(frame_len(&self.buf)) {
                Length::Frame(total) => {
                    let take = (total - self.buf.len()).min(data.len());
                    self.buf.extend_from_slice(&data[..take]);
                    if self.buf.len() == total {
                        let kind = h.frame(&self.buf, ts);
                        self.buf.clear();
                        if kind == StreamKind::Opaque {
                            self.make_opaque();
                        }
                    }
                    return &data[take..];
                }
                Length::Oversized(total) => {
                    stats.oversized_frames += 1;
                    self.state = State::Skipping((total - self.buf.len()) as u64);
                    self.buf.clear();
                    return data;
                }
                Length::Bad => {
                    stats.bad_lengths += 1;
                    self.state = State::Searching;
                    // Search from the byte after the bad prefix's first byte.
                    self.buf.remove(0);
                    stats.resync_skipped_bytes += 1;
                    return data;
                }
            }
        }
        // Hot path: whole frames straight from the delivered bytes.
        while data.len() >= PREFIX {
            match self.check(frame_len(data)) {
                Length::Frame(total) if data.len() >= total => {
                    if h.frame(&data[..total], ts) == StreamKind::Opaque {
                        self.make_opaque();
                        return &data[total..];
                    }
                    data = &data[total..];
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
        self.buf.extend_from_slice(data);
        &[]
    }

    /// Looks for a frame boundary; returns the bytes from it on when one is found.
    fn search<H: FrameHandler>(
        &mut self,
        data: &[u8],
        h: &mut H,
        stats: &mut FramingStats,
    ) -> Option<Vec<u8>> {
        // Bound the search window: a plausible frame is at most `max_frame` long, so older
        // bytes can never be part of the frame we are waiting for.
        let window = self.max_frame + PREFIX;
        let excess = (self.buf.len() + data.len()).saturating_sub(window);
        if excess > 0 {
            let from_buf = excess.min(self.buf.len());
            self.buf.drain(..from_buf);
            stats.resync_skipped_bytes += excess as u64;
            self.buf.extend_from_slice(&data[excess - from_buf..]);
        } else {
            self.buf.extend_from_slice(data);
        }
        let mut i = 0;
        while self.buf.len() - i >= PREFIX {
            let rest = &self.buf[i..];
            let complete =
                matches!(self.check(frame_len(rest)), Length::Frame(t) if t <= rest.len());
            match h.candidate(rest) {
                Candidate::Frame if complete => {
                    stats.resyncs += 1;
                    stats.resync_skipped_bytes += i as u64;
                    self.state = State::Synced;
                    let mut held = std::mem::take(&mut self.buf);
                    held.drain(..i);
                    return Some(held);
                }
                Candidate::NeedMore => break,
                Candidate::Frame | Candidate::No => i += 1,
            }
        }
        stats.resync_skipped_bytes += i as u64;
        self.buf.drain(..i);
        None
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
