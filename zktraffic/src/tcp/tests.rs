//! Property tests: arbitrary segment streams never panic, respect the caps, and deliver every
//! byte at its right offset.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::test_support::{Harness, Rec, Recorder, Seg, key_n, seg};
use super::{Direction, TcpLimits};

/// The original byte stream of one direction and its initial sequence number.
#[derive(Clone, Copy)]
struct Original<'a> {
    bytes: &'a [u8],
    isn: u32,
}

impl Original<'_> {
    /// Sequence number of stream byte `index`.
    fn seq(&self, index: usize) -> u32 {
        self.isn.wrapping_add(1).wrapping_add(index as u32)
    }
}

/// Where one direction of one connection instance stands.
#[derive(Clone, Copy, Debug, Default)]
struct DirTrack {
    /// Sequence number of stream offset 0, once started.
    origin: Option<u32>,
    /// Offset of the next byte (delivered + lost so far).
    offset: u64,
}

/// Follows the recorder's log and checks every event as it comes.
#[derive(Default)]
struct Checker {
    seen: usize,
    dirs: HashMap<usize, [DirTrack; 2]>,
    closed: HashMap<usize, bool>,
    payload_bytes: u64,
    gaps: u64,
    lost_bytes: u64,
}

impl Checker {
    /// Checks the events logged since the last call; `pushed` is the segment just pushed (Start
    /// events must come from it), `originals` the true streams when the input is consistent.
    fn absorb(
        &mut self,
        rec: &Recorder,
        pushed: Option<&Seg>,
        originals: Option<&[Original<'_>; 2]>,
    ) -> Result<(), TestCaseError> {
        let log = rec.log.get(self.seen..).unwrap_or(&[]);
        self.seen = rec.log.len();
        for (instance, _, event) in log {
            let closed = self.closed.entry(*instance).or_default();
            prop_assert!(!*closed, "event after Closed: {event:?}");
            let dirs = self.dirs.entry(*instance).or_default();
            match event {
                Rec::Start { dir, from_syn } => {
                    let track = &mut dirs[dir.index()];
                    prop_assert!(track.origin.is_none(), "second Start");
                    let Some(seg) = pushed else {
                        return Err(TestCaseError::fail("Start outside push"));
                    };
                    prop_assert_eq!(seg.dir, *dir, "Start for the other direction");
                    let syn = seg.flags & zktraffic_common::tcp_flags::SYN != 0;
                    prop_assert_eq!(syn, *from_syn);
                    track.origin = Some(if syn { seg.seq.wrapping_add(1) } else { seg.seq });
                }
                Rec::Data { dir, bytes } => {
                    let track = &mut dirs[dir.index()];
                    let Some(origin) = track.origin else {
                        return Err(TestCaseError::fail("Data before Start"));
                    };
                    prop_assert!(!bytes.is_empty());
                    if let Some(originals) = originals {
                        let original = originals[dir.index()];
                        let seq = origin.wrapping_add(track.offset as u32);
                        let index = seq.wrapping_sub(original.seq(0)) as usize;
                        let expected = original.bytes.get(index..index + bytes.len());
                        prop_assert_eq!(Some(&bytes[..]), expected, "wrong bytes at {}", index);
                    }
                    track.offset += bytes.len() as u64;
                    self.payload_bytes += bytes.len() as u64;
                }
                Rec::Gap { dir, lost } => {
                    let track = &mut dirs[dir.index()];
                    prop_assert!(track.origin.is_some(), "Gap before Start");
                    prop_assert!(*lost > 0);
                    track.offset += lost;
                    self.gaps += 1;
                    self.lost_bytes += lost;
                }
                Rec::Closed(_) => *closed = true,
            }
        }
        Ok(())
    }
}

/// Checks the table's caps and books after a push.
fn check_table(h: &Harness, limits: &TcpLimits, checker: &Checker) -> Result<(), TestCaseError> {
    let (bytes, chunks) = h.table.max_pending();
    prop_assert!(bytes <= limits.max_buffered_bytes);
    prop_assert!(chunks <= limits.max_buffered_segments);
    prop_assert!(h.table.buffered_bytes() <= limits.max_total_buffered_bytes);
    prop_assert!(h.table.len() <= limits.max_connections);
    let stats = h.table.stats();
    let closed = stats.closed_fin
        + stats.closed_reset
        + stats.closed_idle
        + stats.closed_end_of_capture
        + stats.unanswered_evicted;
    prop_assert_eq!(stats.connections_opened, closed + h.table.len() as u64);
    prop_assert_eq!(stats.payload_bytes, checker.payload_bytes);
    prop_assert_eq!((stats.gaps, stats.lost_bytes), (checker.gaps, checker.lost_bytes));
    Ok(())
}

/// One step of a consistent capture, decoded against the original streams by [`build`].
#[derive(Clone, Debug)]
struct Op {
    to_server: bool,
    kind: u8,
    a: u16,
    b: u16,
    cut: u16,
    bits: u8,
    junk: u32,
}

fn op() -> impl Strategy<Value = Op> {
    (any::<bool>(), 0u8..20, any::<u16>(), any::<u16>(), any::<u16>(), any::<u8>(), any::<u32>())
        .prop_map(|(to_server, kind, a, b, cut, bits, junk)| Op {
            to_server,
            kind,
            a,
            b,
            cut,
            bits,
            junk,
        })
}

/// Initial sequence numbers, often close to the 2^32 wrap.
fn isn() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), (0u32..2_000).prop_map(|d| u32::MAX - d)]
}

/// A segment for `op`: a slice of the original stream (maybe truncated, with FIN or ACK), a
/// SYN, a FIN, a RST or a pure ACK, all at the sequence numbers a real sender would use.
fn build(op: &Op, originals: &[Original<'_>; 2], ts_ns: u64) -> Seg {
    let dir = if op.to_server { Direction::ToServer } else { Direction::ToClient };
    let own = originals[dir.index()];
    let peer = originals[1 - dir.index()];
    let len = own.bytes.len();
    let mut out = match op.kind {
        0..=13 if len > 0 => {
            let from = op.a as usize % len;
            let to = from + 1 + op.b as usize % (len - from);
            let slice = &own.bytes[from..to];
            let mut out = seg(dir, own.seq(from), slice);
            if op.bits & 1 != 0 {
                out.payload.truncate(op.cut as usize % slice.len());
                out = out.wire(slice.len() as u32);
            }
            if op.bits & 6 == 6 {
                out = out.fin();
            }
            out
        }
        14 | 15 => seg(dir, own.isn, b"").syn(),
        16 => seg(dir, own.seq(len), b"").fin(),
        17 => seg(dir, own.seq(op.a as usize % (len + 1)), b"").rst(),
        _ => seg(dir, own.seq(op.a as usize % (len + 1)), b""),
    };
    if op.bits & 8 != 0 {
        // Either an ACK the peer could send (maybe for bytes not captured yet) or junk.
        let ack = if op.bits & 16 != 0 {
            op.junk
        } else {
            peer.seq(op.junk as usize % (peer.bytes.len() + 2)).wrapping_sub(1)
        };
        out = out.ack(ack);
    }
    out.at(ts_ns)
}

fn small_limits() -> impl Strategy<Value = TcpLimits> {
    (1usize..200, 1usize..8, 0usize..2_000).prop_map(|(bytes, segments, total)| TcpLimits {
        max_buffered_bytes: bytes,
        max_buffered_segments: segments,
        max_total_buffered_bytes: total,
        ..TcpLimits::default()
    })
}

fn limits() -> impl Strategy<Value = TcpLimits> {
    prop_oneof![Just(TcpLimits::default()), small_limits()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Shuffled, duplicated, overlapping, truncated slices with random SYN/FIN/RST/ACK: every
    /// delivered byte is the original byte at its offset, and the caps hold throughout.
    #[test]
    fn delivered_bytes_sit_at_their_original_offsets(
        client in prop::collection::vec(any::<u8>(), 0..400),
        server in prop::collection::vec(any::<u8>(), 0..400),
        cisn in isn(),
        sisn in isn(),
        ops in prop::collection::vec(op(), 0..150),
        limits in limits(),
    ) {
        let originals = [Original { bytes: &client, isn: cisn }, Original { bytes: &server, isn: sisn }];
        let mut h = Harness::new(limits.clone());
        let mut checker = Checker::default();
        for (i, op) in ops.iter().enumerate() {
            let segment = build(op, &originals, i as u64 * 1_000_000);
            h.push(&segment);
            checker.absorb(&h.rec, Some(&segment), Some(&originals))?;
            check_table(&h, &limits, &checker)?;
        }
        h.finish();
        checker.absorb(&h.rec, None, Some(&originals))?;
        check_table(&h, &limits, &checker)?;
        prop_assert!(h.table.is_empty());
        prop_assert_eq!(h.table.buffered_bytes(), 0);
        prop_assert_eq!(checker.closed.len(), h.rec.instances());
        prop_assert!(checker.closed.values().all(|closed| *closed));
    }

    /// After a handshake, any order of segments that together cover the streams delivers both
    /// streams whole, without gaps.
    #[test]
    fn complete_captures_in_any_order_deliver_everything(
        client in prop::collection::vec(any::<u8>(), 0..400),
        server in prop::collection::vec(any::<u8>(), 0..400),
        cisn in isn(),
        sisn in isn(),
        cuts in prop::collection::vec(any::<u16>(), 0..30),
        extra in prop::collection::vec((any::<bool>(), any::<u16>(), any::<u16>()), 0..30),
        order in prop::collection::vec(any::<u16>(), 100),
    ) {
        let originals = [Original { bytes: &client, isn: cisn }, Original { bytes: &server, isn: sisn }];
        let mut segments = Vec::new();
        for (dir, original) in [(Direction::ToServer, originals[0]), (Direction::ToClient, originals[1])] {
            let len = original.bytes.len();
            let mut bounds: Vec<usize> = cuts.iter().map(|c| *c as usize % (len + 1)).collect();
            bounds.extend([0, len]);
            bounds.sort_unstable();
            bounds.dedup();
            for w in bounds.windows(2) {
                segments.push(seg(dir, original.seq(w[0]), &original.bytes[w[0]..w[1]]));
            }
            for &(to_server, a, b) in &extra {
                if to_server == (dir == Direction::ToServer) && len > 0 {
                    let from = a as usize % len;
                    let to = from + 1 + b as usize % (len - from);
                    segments.push(seg(dir, original.seq(from), &original.bytes[from..to]));
                }
            }
        }
        // At most 31 + 31 + 30 segments: one sort key each.
        let mut keyed: Vec<(u16, Seg)> = order.iter().copied().zip(segments).collect();
        keyed.sort_by_key(|(key, _)| *key);
        let segments: Vec<Seg> = keyed.into_iter().map(|(_, segment)| segment).collect();
        let mut h = Harness::new(TcpLimits::default());
        h.push(&seg(Direction::ToServer, cisn, b"").syn());
        h.push(&seg(Direction::ToClient, sisn, b"").syn().ack(cisn.wrapping_add(1)));
        h.push_all(&segments);
        h.finish();
        prop_assert_eq!(h.rec.bytes(0, Direction::ToServer), client);
        prop_assert_eq!(h.rec.bytes(0, Direction::ToClient), server);
        prop_assert_eq!(h.table.stats().gaps, 0);
        prop_assert_eq!(h.rec.instances(), 1);
    }

    /// Arbitrary junk on a few connections with tiny caps: no panic, caps and books hold.
    #[test]
    fn arbitrary_segments_never_break_the_table(
        segments in prop::collection::vec(
            (0u16..3, any::<bool>(), any::<u32>(), any::<u32>(), any::<u8>(),
             prop::collection::vec(any::<u8>(), 0..40), prop_oneof![Just(None), any::<u32>().prop_map(Some), (0u32..80).prop_map(Some)],
             0u64..3_000_000_000),
            0..200),
        limits in small_limits(),
        max_connections in 0usize..3,
    ) {
        let limits = TcpLimits { max_connections, idle_timeout_ns: 5_000_000_000, ..limits };
        let mut h = Harness::new(limits.clone());
        let mut checker = Checker::default();
        let mut ts = 0u64;
        for (conn, to_server, seq, ack, flags, payload, wire, step) in segments {
            ts = ts.wrapping_add(step) % 100_000_000_000;
            let dir = if to_server { Direction::ToServer } else { Direction::ToClient };
            let mut segment = seg(dir, seq, &payload).at(ts);
            segment.flags = flags;
            segment.ack = ack;
            segment.wire_len = wire;
            h.push_on(key_n(conn), &segment);
            checker.absorb(&h.rec, Some(&segment), None)?;
            check_table(&h, &limits, &checker)?;
        }
        h.table.expire_idle(crate::Timestamp(ts), &mut h.rec);
        checker.absorb(&h.rec, None, None)?;
        h.finish();
        checker.absorb(&h.rec, None, None)?;
        check_table(&h, &limits, &checker)?;
        prop_assert_eq!(h.table.buffered_bytes(), 0);
    }
}
