//! One direction of an election connection as a state machine: the connecting side's initial
//! message, then length-prefixed notifications (their 4-byte lengths may come alone), quorum
//! SASL packets, TLS recognised and left alone, and a search for a notification that the
//! next one confirms after joining mid-stream or a gap (in linear time:
//! [`crate::resync_search`]).

use serde::Serialize;

use super::message::{
    ElectionBody, MAX_ADDRESS, MAX_NOTIFICATION, Notification, PROTOCOL_V1, PROTOCOL_V2, SASL_MAGIC,
};
use crate::resync_search::{Held, Verdict};
use crate::zk::cursor::Cursor;

/// The shortest notification (the oldest form, without peer epoch).
const MIN_NOTIFICATION: usize = 28;

/// Counters of the election decoder.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ElectionStats {
    /// Initial messages, notifications and SASL packets decoded.
    pub messages: u64,
    /// Notifications whose payload did not decode (skipped by their length).
    pub malformed: u64,
    /// Directions that began with a TLS handshake (quorum TLS): counted, not decoded.
    pub tls_streams: u64,
    /// Searches for a message start, and the bytes they skipped.
    pub resyncs: u64,
    pub bytes_skipped: u64,
    /// Bytes lost to capture gaps.
    pub gap_bytes: u64,
    /// Candidate notification starts given up unjudged while searching noise dense with
    /// plausible lengths (more than [`crate::resync_search::MAX_WAITING`] at once).
    pub candidates_shed: u64,
    /// Bytes of incomplete messages and searches dropped to keep all election connections
    /// under `--max-partial-bytes` (each drop is a resync).
    pub partial_bytes_shed: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    /// The connecting side's first bytes: the initial message.
    Initial,
    /// At a message boundary.
    #[default]
    Messages,
    /// Looking for a notification start.
    Searching,
    /// TLS: nothing more is decoded.
    Opaque,
}

/// What is at the start of a buffer.
enum Read<'a> {
    Message(ElectionBody<'a>, usize),
    /// A length-prefixed payload that is not a notification: skipped by its length.
    Malformed(usize),
    /// More bytes are needed: this many in all, from the buffer's start.
    Incomplete(usize),
    Invalid,
}

/// The shortest message of the message phase (a SASL packet with an empty token is 16 bytes,
/// a notification at least 32): fewer bytes never decide anything.
const MIN_MESSAGE: usize = 8;
/// The longest search window: a notification at its largest and the start of the next.
const SEARCH_WINDOW: usize = 2 * (4 + MAX_NOTIFICATION);

/// One direction's unread bytes and where the stream is.
#[derive(Debug, Default)]
pub struct ElectionStream {
    held: Held,
    mode: Mode,
    /// No byte of this direction decoded yet (TLS is recognised there).
    fresh: bool,
}

impl ElectionStream {
    /// The stream begins: at its first byte (`from_syn`) or somewhere inside it. The
    /// connecting side (`initiator`) opens with its initial message.
    pub fn start(&mut self, from_syn: bool, initiator: bool, stats: &mut ElectionStats) {
        self.held.release();
        self.fresh = from_syn;
        self.mode = match (from_syn, initiator) {
            (true, true) => Mode::Initial,
            (true, false) => Mode::Messages,
            (false, _) => {
                stats.resyncs += 1;
                Mode::Searching
            }
        };
    }

    /// `lost` bytes never come: a search begins after them.
    pub fn gap(&mut self, lost: u64, stats: &mut ElectionStats) {
        stats.gap_bytes += lost;
        stats.bytes_skipped += self.buffered() as u64;
        self.held.release();
        if !matches!(self.mode, Mode::Searching | Mode::Opaque) {
            stats.resyncs += 1;
            self.mode = Mode::Searching;
        }
    }

    /// Bytes held for an incomplete message or a search.
    pub fn buffered(&self) -> usize {
        self.held.buffered()
    }

    /// Memory held (what the budget counts).
    pub fn held(&self) -> usize {
        self.held.memory()
    }

    /// Gives back what is held, under the budget: as a gap of nothing (a search follows).
    pub fn shed(&mut self, stats: &mut ElectionStats) {
        if self.held() > 0 {
            stats.partial_bytes_shed += self.buffered() as u64;
            self.gap(0, stats);
        }
    }

    /// The next bytes: each whole message goes to `emit` with its size.
    pub fn data(
        &mut self,
        bytes: &[u8],
        stats: &mut ElectionStats,
        emit: &mut dyn FnMut(&ElectionBody<'_>, usize),
    ) {
        // A search that ends hands back the bytes from the message found on; replaying them
        // is a loop, and each round consumes at least that message.
        let mut replay = self.push(bytes, stats, emit);
        while let Some(bytes) = replay {
            replay = self.push(&bytes, stats, emit);
        }
    }

    fn push(
        &mut self,
        bytes: &[u8],
        stats: &mut ElectionStats,
        emit: &mut dyn FnMut(&ElectionBody<'_>, usize),
    ) -> Option<Vec<u8>> {
        match self.mode {
            Mode::Opaque => return None,
            Mode::Searching => {
                let min = 4 + MIN_NOTIFICATION;
                let pushed = self.held.search(bytes, SEARCH_WINDOW, min, judge);
                stats.bytes_skipped += pushed.skipped;
                stats.candidates_shed += pushed.shed;
                // Still searching: nothing more to do until more bytes come.
                pushed.found?;
                self.mode = Mode::Messages;
            }
            Mode::Initial | Mode::Messages => self.held.buf.extend_from_slice(bytes),
        }
        if std::mem::take(&mut self.fresh) && is_tls(&self.held.buf) {
            stats.tls_streams += 1;
            self.mode = Mode::Opaque;
            self.held.release();
            return None;
        }
        let mut pos = 0;
        loop {
            let rest = &self.held.buf[pos..];
            let read = match self.mode {
                Mode::Initial => initial(rest),
                Mode::Messages => message(rest),
                // Not reached: a search returns above, before decoding starts.
                Mode::Searching | Mode::Opaque => break,
            };
            match read {
                Read::Message(body, used) => {
                    stats.messages += 1;
                    emit(&body, used);
                    pos += used;
                    self.mode = Mode::Messages;
                }
                Read::Malformed(used) => {
                    stats.malformed += 1;
                    pos += used;
                }
                Read::Incomplete(_) => break,
                Read::Invalid => {
                    stats.resyncs += 1;
                    self.mode = Mode::Searching;
                    let rest = self.held.buf.split_off(pos);
                    self.held.buf.clear();
                    return Some(rest);
                }
            }
        }
        self.held.buf.drain(..pos);
        None
    }
}

/// A TLS record header: handshake (22), version 3.x.
fn is_tls(buf: &[u8]) -> bool {
    matches!(buf, [0x16, 0x03, 0x00..=0x04, ..])
}

/// The initial message at the start of `buf`.
fn initial(buf: &[u8]) -> Read<'_> {
    let mut c = Cursor::new(buf);
    let Ok(first) = c.i64() else { return Read::Incomplete(8) };
    if first != PROTOCOL_V1 && first != PROTOCOL_V2 {
        // 3.4: the sid alone.
        return Read::Message(
            ElectionBody::Initial { sid: first, protocol: None, addresses: None },
            8,
        );
    }
    let (Ok(sid), Ok(len)) = (c.i64(), c.i32()) else { return Read::Incomplete(20) };
    let len = match usize::try_from(len) {
        Ok(n) if (1..=MAX_ADDRESS).contains(&n) => n,
        _ => return Read::Invalid,
    };
    let Ok(text) = c.bytes(len) else { return Read::Incomplete(20 + len) };
    let addresses = std::str::from_utf8(text).ok();
    Read::Message(ElectionBody::Initial { sid, protocol: Some(first), addresses }, 20 + len)
}

/// The SASL packet or length-prefixed notification at the start of `buf`.
fn message(buf: &[u8]) -> Read<'_> {
    if buf.len() < MIN_MESSAGE {
        return Read::Incomplete(MIN_MESSAGE);
    }
    let mut c = Cursor::new(buf);
    if c.i64().ok() == Some(SASL_MAGIC) {
        let (Ok(status), Ok(len)) = (c.i32(), c.i32()) else { return Read::Incomplete(16) };
        let token = match usize::try_from(len) {
            _ if len == -1 => 0,
            Ok(n) if n <= MAX_NOTIFICATION => n,
            _ => return Read::Invalid,
        };
        if c.bytes(token).is_err() {
            return Read::Incomplete(16 + token);
        }
        return Read::Message(ElectionBody::Sasl { status, token_bytes: token }, 16 + token);
    }
    let mut c = Cursor::new(buf);
    let Ok(len) = c.i32() else { return Read::Incomplete(4) };
    let len = match usize::try_from(len) {
        Ok(n) if (MIN_NOTIFICATION..=MAX_NOTIFICATION).contains(&n) => n,
        _ => return Read::Invalid,
    };
    let Ok(payload) = c.bytes(len) else { return Read::Incomplete(4 + len) };
    match Notification::parse(payload) {
        Ok(n) => Read::Message(ElectionBody::Notification(n), 4 + len),
        Err(_) => Read::Malformed(4 + len),
    }
}

/// Judges a possible notification start while searching: one that decodes, followed by what
/// could be a message (or by the end of the bytes so far).
fn judge(b: &[u8]) -> Verdict {
    match message(b) {
        Read::Message(ElectionBody::Notification(_), used) => {
            let next = &b[used..];
            if next.is_empty() || matches!(message(next), Read::Message(..) | Read::Incomplete(_)) {
                Verdict::Found
            } else {
                Verdict::No
            }
        }
        Read::Incomplete(need) => Verdict::Wait(need.max(b.len() + 1)),
        _ => Verdict::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(state: i32, leader: i64, epoch: i64, config: Option<&str>) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&state.to_be_bytes());
        p.extend_from_slice(&leader.to_be_bytes());
        p.extend_from_slice(&0x1_0000_0002i64.to_be_bytes());
        p.extend_from_slice(&epoch.to_be_bytes());
        p.extend_from_slice(&1i64.to_be_bytes());
        p.extend_from_slice(&2i32.to_be_bytes());
        if let Some(c) = config {
            p.extend_from_slice(&(c.len() as i32).to_be_bytes());
            p.extend_from_slice(c.as_bytes());
        }
        let mut m = (p.len() as i32).to_be_bytes().to_vec();
        m.extend(p);
        m
    }

    fn v1_initial(sid: i64, addr: &str) -> Vec<u8> {
        let mut b = PROTOCOL_V1.to_be_bytes().to_vec();
        b.extend_from_slice(&sid.to_be_bytes());
        b.extend_from_slice(&(addr.len() as i32).to_be_bytes());
        b.extend_from_slice(addr.as_bytes());
        b
    }

    fn run(s: &mut ElectionStream, chunks: &[&[u8]], stats: &mut ElectionStats) -> Vec<String> {
        let mut out = Vec::new();
        for c in chunks {
            s.data(c, stats, &mut |b, _| {
                out.push(match b {
                    ElectionBody::Initial { sid, protocol, .. } => {
                        format!("initial {sid} {protocol:?}")
                    }
                    ElectionBody::Sasl { status, .. } => format!("sasl {status}"),
                    ElectionBody::Notification(n) => {
                        format!("vote {} {} {}", n.state, n.leader, n.election_epoch)
                    }
                })
            });
        }
        out
    }

    #[test]
    fn initial_then_notifications_in_any_split() {
        let config = "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\nversion=0";
        let mut bytes = v1_initial(3, "127.0.0.3:3888");
        bytes.extend(notification(0, 3, 1, Some(config)));
        bytes.extend(notification(2, 3, 1, Some(config)));
        for size in [1, 2, 4, 5, 33, bytes.len()] {
            let (mut s, mut stats) = (ElectionStream::default(), ElectionStats::default());
            s.start(true, true, &mut stats);
            let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
            let got = run(&mut s, &chunks, &mut stats);
            assert_eq!(
                got,
                ["initial 3 Some(-65536)", "vote 0 3 1", "vote 2 3 1"],
                "chunks of {size}"
            );
            assert_eq!((s.buffered(), stats.resyncs), (0, 0));
        }
        // 3.4: the sid alone, then 40-byte notifications.
        let mut old = 2i64.to_be_bytes().to_vec();
        old.extend(notification(1, 3, 4, None));
        let (mut s, mut stats) = (ElectionStream::default(), ElectionStats::default());
        s.start(true, true, &mut stats);
        assert_eq!(run(&mut s, &[&old], &mut stats), ["initial 2 None", "vote 1 3 4"]);
    }

    #[test]
    fn sasl_tls_and_mid_stream() {
        let mut sasl = SASL_MAGIC.to_be_bytes().to_vec();
        sasl.extend_from_slice(&0i32.to_be_bytes());
        sasl.extend_from_slice(&3i32.to_be_bytes());
        sasl.extend_from_slice(b"tok");
        sasl.extend(notification(0, 1, 2, None));
        let (mut s, mut stats) = (ElectionStream::default(), ElectionStats::default());
        s.start(true, false, &mut stats);
        assert_eq!(run(&mut s, &[&sasl], &mut stats), ["sasl 0", "vote 0 1 2"]);

        let (mut s, mut stats) = (ElectionStream::default(), ElectionStats::default());
        s.start(true, true, &mut stats);
        assert!(run(&mut s, &[&[0x16, 0x03, 0x01, 0x02, 0x00, 9, 9]], &mut stats).is_empty());
        assert_eq!(stats.tls_streams, 1);

        let mut votes = notification(0, 1, 2, None);
        votes.extend(notification(0, 2, 2, None));
        votes.extend(notification(1, 2, 2, None));
        let (mut s, mut stats) = (ElectionStream::default(), ElectionStats::default());
        s.start(false, false, &mut stats);
        assert_eq!(run(&mut s, &[&votes[7..]], &mut stats), ["vote 0 2 2", "vote 1 2 2"]);
    }

    /// Lengths that keep candidates waiting (one claiming the largest notification, then one
    /// every 97 bytes), fed a segment at a time: every offset is judged a bounded number of
    /// times, not once per segment.
    #[test]
    fn a_search_through_plausible_noise_stays_linear() {
        let mut bytes = (MAX_NOTIFICATION as i32).to_be_bytes().to_vec();
        bytes.resize(1 << 20, 0x41);
        for at in (64..bytes.len() - 4).step_by(97) {
            bytes[at..at + 4].copy_from_slice(&(64i32 << 10).to_be_bytes());
        }
        let (mut s, mut stats) = (ElectionStream::default(), ElectionStats::default());
        s.start(false, false, &mut stats);
        assert!(run(&mut s, &bytes.chunks(1448).collect::<Vec<_>>(), &mut stats).is_empty());
        let judged = s.held.judged();
        // Once per offset, and once more for each of the few that waited.
        assert!(
            judged <= bytes.len() as u64 * 17 / 16,
            "{judged} judgements for {} bytes",
            bytes.len()
        );
        assert!(s.buffered() <= SEARCH_WINDOW);
    }

    /// Shed under the budget, a stream gives back its incomplete notification (counted) and
    /// finds the next ones by searching.
    #[test]
    fn a_shed_stream_counts_what_it_gave_back_and_searches_on() {
        let first = notification(0, 1, 2, None);
        let mut rest = first[10..].to_vec();
        rest.extend(notification(0, 2, 2, None));
        rest.extend(notification(1, 2, 2, None));
        let (mut s, mut stats) = (ElectionStream::default(), ElectionStats::default());
        s.start(true, false, &mut stats);
        assert!(run(&mut s, &[&first[..10]], &mut stats).is_empty());
        assert_eq!(s.held(), 10);
        s.shed(&mut stats);
        assert_eq!((s.held(), stats.partial_bytes_shed, stats.resyncs), (0, 10, 1));
        assert_eq!(run(&mut s, &[&rest], &mut stats), ["vote 0 2 2", "vote 1 2 2"]);
    }
}
