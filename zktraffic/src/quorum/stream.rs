//! One direction of a quorum connection as a state machine: packets framed back to back, the
//! raw snapshot after a SNAP skipped, and — after joining mid-stream or a gap — a search for a
//! packet start that the packet after it confirms (in linear time: [`crate::resync_search`]).

use memchr::memmem;
use serde::Serialize;

use super::packet::{Framed, MIN_PACKET, RawPacket, ZabType, frame, max_packet};
use crate::resync_search::{Held, Verdict};

/// What ends the raw snapshot after a SNAP: the jute string "BenWasHere".
const SIGNATURE: &[u8] = b"\x00\x00\x00\x0aBenWasHere";

/// Counters of the quorum decoder.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ZabStats {
    /// Packets decoded.
    pub packets: u64,
    /// Packets whose data did not decode as their type's (shown as such, counted here).
    pub undecoded_bodies: u64,
    /// Snapshots skipped after SNAP, and their bytes.
    pub snapshots: u64,
    pub snapshot_bytes: u64,
    /// Searches for a packet start (joined mid-stream, after a gap, or after bytes that did
    /// not frame), and the bytes skipped by them.
    pub resyncs: u64,
    pub bytes_skipped: u64,
    /// Bytes lost to capture gaps.
    pub gap_bytes: u64,
    /// Packets with data past the frame cap (the stream is searched again after them).
    pub oversized: u64,
    /// Candidate packet starts given up unjudged while searching noise dense with plausible
    /// headers (more than [`crate::resync_search::MAX_WAITING`] at once).
    pub candidates_shed: u64,
    /// Bytes of incomplete packets and searches dropped to keep all quorum connections under
    /// `--max-partial-bytes` (each drop is a resync).
    pub partial_bytes_shed: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    /// At a packet boundary.
    #[default]
    Framing,
    /// Looking for a packet start.
    Searching,
    /// Inside the raw snapshot that follows a SNAP.
    Snapshot,
}

/// One direction's bytes not yet framed, and where the stream is.
#[derive(Debug, Default)]
pub struct ZabStream {
    held: Held,
    mode: Mode,
}

impl ZabStream {
    /// The stream begins: at its first byte (`from_syn`), or somewhere inside it.
    pub fn start(&mut self, from_syn: bool, stats: &mut ZabStats) {
        self.held.release();
        self.mode = if from_syn { Mode::Framing } else { Mode::Searching };
        stats.resyncs += u64::from(!from_syn);
    }

    /// `lost` bytes will never come: what was buffered is dropped and a search begins.
    pub fn gap(&mut self, lost: u64, stats: &mut ZabStats) {
        stats.gap_bytes += lost;
        stats.bytes_skipped += self.buffered() as u64;
        self.held.release();
        if self.mode != Mode::Searching {
            stats.resyncs += 1;
        }
        self.mode = Mode::Searching;
    }

    /// Bytes held for an incomplete packet or a search.
    pub fn buffered(&self) -> usize {
        self.held.buffered()
    }

    /// Memory held (what the budget counts).
    pub fn held(&self) -> usize {
        self.held.memory()
    }

    /// Gives back what is held, under the budget: as a gap of nothing (a search follows).
    pub fn shed(&mut self, stats: &mut ZabStats) {
        if self.held() > 0 {
            stats.partial_bytes_shed += self.buffered() as u64;
            self.gap(0, stats);
        }
    }

    /// The next bytes: every whole packet goes to `emit` with its size.
    pub fn data(
        &mut self,
        bytes: &[u8],
        max_data: usize,
        stats: &mut ZabStats,
        emit: &mut dyn FnMut(&RawPacket<'_>, usize),
    ) {
        // A search that ends hands back the bytes from the packet found on; replaying them is
        // a loop, and each round consumes at least that packet.
        let mut replay = self.push(bytes, max_data, stats, emit);
        while let Some(bytes) = replay {
            replay = self.push(&bytes, max_data, stats, emit);
        }
    }

    fn push(
        &mut self,
        bytes: &[u8],
        max_data: usize,
        stats: &mut ZabStats,
        emit: &mut dyn FnMut(&RawPacket<'_>, usize),
    ) -> Option<Vec<u8>> {
        if self.mode == Mode::Searching {
            // A candidate and the packet that confirms it: at most two packets' worth.
            let window = 2 * max_packet(max_data);
            let pushed = self.held.search(bytes, window, MIN_PACKET, |b| judge(b, max_data));
            stats.bytes_skipped += pushed.skipped;
            stats.candidates_shed += pushed.shed;
            // Still searching: nothing more to do until more bytes come.
            pushed.found?;
            self.mode = Mode::Framing;
        } else {
            self.held.buf.extend_from_slice(bytes);
        }
        let mut pos = 0;
        loop {
            let rest = &self.held.buf[pos..];
            match self.mode {
                Mode::Framing => match frame(rest, max_data) {
                    Framed::Packet(p, used) => {
                        stats.packets += 1;
                        emit(&p, used);
                        pos += used;
                        if p.kind == ZabType::Snap {
                            stats.snapshots += 1;
                            self.mode = Mode::Snapshot;
                        }
                    }
                    Framed::Incomplete(_) => break,
                    Framed::Invalid => {
                        stats.resyncs += 1;
                        stats.oversized += u64::from(is_oversized(rest, max_data));
                        self.mode = Mode::Searching;
                        let rest = self.held.buf.split_off(pos);
                        self.held.buf.clear();
                        return Some(rest);
                    }
                },
                Mode::Snapshot => match memmem::find(rest, SIGNATURE) {
                    Some(at) => {
                        stats.snapshot_bytes += (at + SIGNATURE.len()) as u64;
                        pos += at + SIGNATURE.len();
                        self.mode = Mode::Framing;
                    }
                    None => {
                        // The signature may straddle this and the next bytes.
                        let skip = rest.len().saturating_sub(SIGNATURE.len() - 1);
                        stats.snapshot_bytes += skip as u64;
                        pos += skip;
                        break;
                    }
                },
                // Not reached: a search returns above, before framing starts.
                Mode::Searching => break,
            }
        }
        self.held.buf.drain(..pos);
        None
    }
}

fn is_oversized(buf: &[u8], max_data: usize) -> bool {
    buf.get(12..16)
        .is_some_and(|l| i32::from_be_bytes([l[0], l[1], l[2], l[3]]) as i64 > max_data as i64)
}

/// Judges a possible packet start while searching: a packet that the next one confirms (or
/// that ends the bytes so far exactly: a quiet stream's last one).
fn judge(b: &[u8], max_data: usize) -> Verdict {
    match frame(b, max_data) {
        Framed::Packet(_, used) if used == b.len() => Verdict::Found,
        Framed::Packet(_, used) => match frame(&b[used..], max_data) {
            Framed::Packet(..) => Verdict::Found,
            Framed::Incomplete(need) => Verdict::Wait(used + need),
            Framed::Invalid => Verdict::No,
        },
        Framed::Incomplete(need) => Verdict::Wait(need),
        Framed::Invalid => Verdict::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(t: i32, zxid: i64, data: Option<&[u8]>) -> Vec<u8> {
        super::super::packet::encode(t, zxid, data, &[])
    }

    /// Feeds `chunks` and returns the (type, zxid) of every packet.
    fn run(s: &mut ZabStream, chunks: &[&[u8]], stats: &mut ZabStats) -> Vec<(ZabType, i64)> {
        let mut out = Vec::new();
        for c in chunks {
            s.data(c, 1 << 20, stats, &mut |p, _| out.push((p.kind, p.zxid)));
        }
        out
    }

    fn stream() -> Vec<u8> {
        let mut b = packet(13, 5, None); // DIFF
        b.extend(packet(2, 6, Some(&[7; 40]))); // PROPOSAL
        b.extend(packet(4, 6, None)); // COMMIT
        b.extend(packet(10, 0x1_0000_0000, None)); // NEWLEADER
        b
    }

    const EXPECTED: [(ZabType, i64); 4] = [
        (ZabType::Diff, 5),
        (ZabType::Proposal, 6),
        (ZabType::Commit, 6),
        (ZabType::NewLeader, 0x1_0000_0000),
    ];

    #[test]
    fn back_to_back_packets_in_any_split() {
        let bytes = stream();
        for size in [1, 3, 7, 19, 20, 21, 64, bytes.len()] {
            let (mut s, mut stats) = (ZabStream::default(), ZabStats::default());
            s.start(true, &mut stats);
            let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
            assert_eq!(run(&mut s, &chunks, &mut stats), EXPECTED, "chunks of {size}");
            assert_eq!((s.buffered(), stats.resyncs, stats.packets), (0, 0, 4));
        }
    }

    #[test]
    fn a_snapshot_after_snap_is_skipped_and_counted() {
        let mut bytes = packet(15, 9, None);
        let snapshot = [b"\x00\x00\x00\x02\x01\x02junk BenWasHer".as_slice(), SIGNATURE].concat();
        bytes.extend_from_slice(&snapshot);
        bytes.extend(packet(12, 0, None)); // UPTODATE
        for size in [1, 5, 13, bytes.len()] {
            let (mut s, mut stats) = (ZabStream::default(), ZabStats::default());
            s.start(true, &mut stats);
            let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
            assert_eq!(
                run(&mut s, &chunks, &mut stats),
                [(ZabType::Snap, 9), (ZabType::UpToDate, 0)]
            );
            assert_eq!((stats.snapshots, stats.snapshot_bytes), (1, snapshot.len() as u64));
        }
    }

    #[test]
    fn mid_stream_and_after_a_gap_the_next_confirmed_packet_resumes() {
        let bytes = stream();
        // Joined 5 bytes into the DIFF: the PROPOSAL, confirmed by the COMMIT, is next.
        let (mut s, mut stats) = (ZabStream::default(), ZabStats::default());
        s.start(false, &mut stats);
        assert_eq!(run(&mut s, &[&bytes[5..]], &mut stats), EXPECTED[1..]);
        assert_eq!((stats.resyncs, stats.bytes_skipped), (1, 15));
        // A gap inside the PROPOSAL: COMMIT and NEWLEADER after it.
        let (mut s, mut stats) = (ZabStream::default(), ZabStats::default());
        s.start(true, &mut stats);
        let got = run(&mut s, &[&bytes[..30]], &mut stats);
        s.gap(10, &mut stats);
        let got2 = run(&mut s, &[&bytes[40..]], &mut stats);
        assert_eq!((got.as_slice(), got2.as_slice()), (&EXPECTED[..1], &EXPECTED[2..]));
    }

    #[test]
    fn garbage_never_panics_and_stays_bounded() {
        let mut seed = 7u64;
        let (mut s, mut stats) = (ZabStream::default(), ZabStats::default());
        s.start(false, &mut stats);
        for _ in 0..200 {
            let chunk: Vec<u8> = (0..97)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (seed >> 56) as u8
                })
                .collect();
            s.data(&chunk, 1024, &mut stats, &mut |_, _| {});
            assert!(s.buffered() <= 1024 + 64 * 2 * 4100 + 97, "{}", s.buffered());
        }
    }

    /// Noise that keeps candidates waiting (a PROPOSAL header claiming most of a mebibyte, and
    /// one claiming 64 KiB every 97 bytes after it), fed a segment at a time: every offset is
    /// judged a bounded number of times, not once per segment.
    #[test]
    fn a_search_through_plausible_noise_stays_linear() {
        let header =
            |len: i32| [&2i32.to_be_bytes()[..], &5i64.to_be_bytes(), &len.to_be_bytes()].concat();
        let mut bytes = header((1 << 20) - 64);
        bytes.resize(1 << 20, 0x41);
        for at in (64..bytes.len() - 16).step_by(97) {
            bytes[at..at + 16].copy_from_slice(&header(64 << 10));
        }
        let (mut s, mut stats) = (ZabStream::default(), ZabStats::default());
        s.start(false, &mut stats);
        let mut found = 0;
        for c in bytes.chunks(1448) {
            s.data(c, 2 << 20, &mut stats, &mut |_, _| found += 1);
        }
        let judged = s.held.judged();
        assert_eq!(found, 0);
        // Once per offset, and once more for each of the few that waited.
        assert!(
            judged <= bytes.len() as u64 * 17 / 16,
            "{judged} judgements for {} bytes",
            bytes.len()
        );
    }
}
