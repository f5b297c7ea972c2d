//! The framer against crafted streams.

use super::*;
use crate::resync_search::MAX_WAITING;

/// Frames whose body starts with `Z`; `candidate` accepts exactly those.
#[derive(Default)]
struct Recorder {
    frames: Vec<Vec<u8>>,
    opaque: u64,
    kind: Option<StreamKind>,
}

impl FrameHandler for Recorder {
    fn stream_start(&mut self, first: [u8; 4]) -> StreamKind {
        let kind = if &first == b"stat" { StreamKind::Opaque } else { StreamKind::Framed };
        self.kind = Some(kind);
        kind
    }
    fn frame(&mut self, frame: &[u8], _ts: Timestamp, on_probation: bool) -> StreamKind {
        if on_probation && frame.get(PREFIX) != Some(&b'Z') {
            return StreamKind::Suspect;
        }
        self.frames.push(frame[PREFIX..].to_vec());
        if &frame[PREFIX..] == b"Zstop" { StreamKind::Opaque } else { StreamKind::Framed }
    }
    fn candidate(&self, bytes: &[u8]) -> Candidate {
        match (frame_len(bytes), bytes.get(PREFIX)) {
            (Some(n), Some(b'Z')) if (1..=64).contains(&n) => {
                if bytes.len() >= PREFIX + n {
                    Candidate::Frame
                } else {
                    Candidate::NeedMore(PREFIX + n)
                }
            }
            (Some(n), None) if (1..=64).contains(&n) => Candidate::NeedMore(PREFIX + 1),
            _ => Candidate::No,
        }
    }
    fn opaque(&mut self, n: u64, _ts: Timestamp) {
        self.opaque += n;
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

fn stream(bodies: &[&[u8]]) -> Vec<u8> {
    bodies.iter().flat_map(|b| frame(b)).collect()
}

fn feed(framer: &mut Framer, chunks: &[&[u8]]) -> (Recorder, FramingStats) {
    let mut r = Recorder::default();
    let mut s = FramingStats::default();
    for c in chunks {
        framer.push(c, Timestamp(0), &mut r, &mut s);
    }
    (r, s)
}

const BODIES: [&[u8]; 4] = [b"Zone", b"Ztwo-two", b"Z", b"Zfour-four-four"];

#[test]
fn frames_split_at_every_byte_boundary() {
    let bytes = stream(&BODIES);
    for split in 0..=bytes.len() {
        let mut f = Framer::at_start(1, 64);
        let (r, s) = feed(&mut f, &[&bytes[..split], &bytes[split..]]);
        assert_eq!(r.frames, BODIES.map(<[u8]>::to_vec), "split at {split}");
        assert_eq!(s, FramingStats::default());
        assert_eq!(f.buffered(), 0);
    }
    // One byte at a time.
    let mut f = Framer::at_start(1, 64);
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(feed(&mut f, &chunks).0.frames.len(), 4);
}

#[test]
fn opaque_stream_is_counted_not_framed() {
    let mut f = Framer::at_start(1, 64);
    let (r, _) = feed(&mut f, &[b"st", b"at\n", b"more text"]);
    assert_eq!((r.frames.len(), r.opaque, r.kind), (0, 14, Some(StreamKind::Opaque)));
}

#[test]
fn gap_inside_a_frame_keeps_sync() {
    let bytes = stream(&BODIES);
    // Lose 3 bytes in the middle of the second frame (which spans bytes 8..20).
    let mut f = Framer::at_start(1, 64);
    let mut r = Recorder::default();
    let mut s = FramingStats::default();
    f.push(&bytes[..12], Timestamp(0), &mut r, &mut s);
    f.gap(3, &mut s);
    f.push(&bytes[15..], Timestamp(0), &mut r, &mut s);
    assert_eq!(r.frames, vec![b"Zone".to_vec(), b"Z".to_vec(), b"Zfour-four-four".to_vec()]);
    assert_eq!((s.frames_lost_to_gaps, s.resyncs), (1, 0));
}

#[test]
fn gap_across_a_boundary_resyncs_on_the_next_valid_frame() {
    let bytes = stream(&BODIES);
    let mut f = Framer::at_start(1, 64);
    let mut r = Recorder::default();
    let mut s = FramingStats::default();
    f.push(&bytes[..10], Timestamp(0), &mut r, &mut s);
    // Lose the rest of frame 2 and the first 2 bytes of frame 3 (which starts at 20).
    f.gap(12, &mut s);
    f.push(&bytes[22..], Timestamp(0), &mut r, &mut s);
    assert_eq!(r.frames, vec![b"Zone".to_vec(), b"Zfour-four-four".to_vec()]);
    assert_eq!(s.resyncs, 1);
    assert_eq!(s.resync_skipped_bytes, 3, "the tail of frame 3 is skipped");
}

#[test]
fn mid_stream_start_finds_the_first_boundary() {
    let bytes = stream(&BODIES);
    let mut f = Framer::mid_stream(1, 64);
    // Join 6 bytes into the stream: the tail of frame 1 is skipped, frame 2 (at 8) is found.
    let (r, s) = feed(&mut f, &[&bytes[6..]]);
    assert_eq!(r.frames, BODIES[1..].iter().map(|b| b.to_vec()).collect::<Vec<_>>());
    assert_eq!((s.resyncs, s.resync_skipped_bytes), (1, 2));
}

#[test]
fn oversized_frames_are_skipped_without_buffering() {
    let big = vec![b'Z'; 1000];
    let bytes = stream(&[b"Za", &big, b"Zb"]);
    let mut f = Framer::at_start(1, 64);
    let chunks: Vec<&[u8]> = bytes.chunks(100).collect();
    let (r, s) = feed(&mut f, &chunks);
    assert_eq!(r.frames, vec![b"Za".to_vec(), b"Zb".to_vec()]);
    assert_eq!(s.oversized_frames, 1);
    assert_eq!(s.skipped_frame_bytes, 1004, "every byte passed over is counted");
    assert!(f.buffered() < 100);
}

#[test]
fn what_is_held_when_the_stream_ends_is_counted() {
    // Half a frame.
    let bytes = stream(&[b"Zone", b"Ztwo-two"]);
    let mut f = Framer::at_start(1, 64);
    let (_, mut s) = feed(&mut f, &[&bytes[..14]]);
    f.close(&mut s);
    assert_eq!((s.partial_frames_at_close, s.partial_bytes_at_close), (1, 6));
    // Bytes of a search, still in question.
    let mut f = Framer::mid_stream(1, 64);
    let (_, mut s) = feed(&mut f, &[b"xx\0\0\0\x09Zpart"]);
    let held = f.buffered() as u64;
    assert!(held > 0);
    f.close(&mut s);
    assert_eq!((s.partial_frames_at_close, s.partial_bytes_at_close), (1, held));
    assert_eq!(f.buffered(), 0);
}

#[test]
fn hostile_lengths_desync_then_recover() {
    let mut bytes = stream(&[b"Za"]);
    bytes.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]); // 2 GiB, then −2
    bytes.extend(stream(&[b"Zb"]));
    let mut f = Framer::at_start(1, 64);
    let (r, s) = feed(&mut f, &[&bytes]);
    assert_eq!(r.frames, vec![b"Za".to_vec(), b"Zb".to_vec()]);
    assert_eq!((s.bad_lengths, s.resyncs), (1, 1));
}

#[test]
fn search_window_is_bounded() {
    let mut f = Framer::mid_stream(1, 64);
    let noise = vec![0xffu8; 10_000];
    let (r, s) = feed(&mut f, &[&noise, &noise]);
    assert!(r.frames.is_empty());
    assert!(f.buffered() <= 68, "holds at most one frame's worth: {}", f.buffered());
    assert_eq!(s.resync_skipped_bytes + f.buffered() as u64, 20_000);
}

#[test]
fn a_frame_can_end_framing() {
    let mut bytes = stream(&[b"Za", b"Zstop"]);
    bytes.extend_from_slice(b"\0\0\0\x02Zb-not-framed");
    let mut f = Framer::at_start(1, 64);
    let (r, _) = feed(&mut f, &[&bytes]);
    assert_eq!(r.frames.len(), 2);
    assert_eq!(r.opaque, 17);
}

/// Accepts any frame start with a plausible length: false boundaries are found by probation.
struct Credulous(Recorder);

impl FrameHandler for Credulous {
    fn stream_start(&mut self, first: [u8; 4]) -> StreamKind {
        self.0.stream_start(first)
    }
    fn frame(&mut self, frame: &[u8], ts: Timestamp, on_probation: bool) -> StreamKind {
        self.0.frame(frame, ts, on_probation)
    }
    fn candidate(&self, bytes: &[u8]) -> Candidate {
        match frame_len(bytes) {
            Some(n) if (1..=64).contains(&n) => {
                if bytes.len() >= PREFIX + n {
                    Candidate::Frame
                } else {
                    Candidate::NeedMore(PREFIX + n)
                }
            }
            _ => Candidate::No,
        }
    }
    fn opaque(&mut self, n: u64, ts: Timestamp) {
        self.0.opaque(n, ts)
    }
}

#[test]
fn probation_rejects_a_false_boundary() {
    // Noise whose first bytes look like a 3-byte frame, then real frames.
    let mut bytes = vec![0, 0, 0, 3, b'x', b'y', b'z'];
    bytes.extend(stream(&BODIES));
    let mut f = Framer::mid_stream(1, 64);
    let mut h = Credulous(Recorder::default());
    let mut s = FramingStats::default();
    f.push(&bytes, Timestamp(0), &mut h, &mut s);
    assert_eq!(h.0.frames, BODIES.map(<[u8]>::to_vec));
    assert_eq!((s.false_resyncs, s.resyncs), (1, 2));
}

#[test]
fn an_oversized_length_on_probation_is_not_skipped() {
    // A false boundary followed by a "length" of 1 MiB must not swallow the stream.
    let mut bytes = vec![0, 0, 0, 1, b'Z', 0, 0x10, 0, 0];
    bytes.extend(stream(&BODIES));
    let mut f = Framer::mid_stream(1, 64);
    let (r, s) = feed(&mut f, &[&bytes]);
    assert_eq!(r.frames.last().map(Vec::as_slice), Some(&b"Zfour-four-four"[..]));
    assert_eq!(s.oversized_frames, 0);
}

/// Counts the judgements asked of a [`Recorder`] that takes lengths up to 64 KiB; a body
/// starting with `W` looks plausible until it is complete, then is no frame.
#[derive(Default)]
struct Counting {
    inner: Recorder,
    judged: std::cell::Cell<u64>,
}

impl FrameHandler for Counting {
    fn stream_start(&mut self, first: [u8; 4]) -> StreamKind {
        self.inner.stream_start(first)
    }
    fn frame(&mut self, frame: &[u8], ts: Timestamp, on_probation: bool) -> StreamKind {
        self.inner.frame(frame, ts, on_probation)
    }
    fn candidate(&self, bytes: &[u8]) -> Candidate {
        self.judged.set(self.judged.get() + 1);
        match (frame_len(bytes), bytes.get(PREFIX)) {
            (Some(n), Some(b'Z')) if (1..=PROBATION_MAX_FRAME).contains(&n) => {
                if bytes.len() >= PREFIX + n {
                    Candidate::Frame
                } else {
                    Candidate::NeedMore(PREFIX + n)
                }
            }
            (Some(n), Some(b'W'))
                if (1..=PROBATION_MAX_FRAME).contains(&n) && bytes.len() < PREFIX + n =>
            {
                Candidate::NeedMore(PREFIX + n)
            }
            (Some(n), None) if (1..=PROBATION_MAX_FRAME).contains(&n) => {
                Candidate::NeedMore(PREFIX + 1)
            }
            _ => Candidate::No,
        }
    }
    fn opaque(&mut self, n: u64, ts: Timestamp) {
        self.inner.opaque(n, ts)
    }
}

/// Issue 9, attack 1: a plausible header waiting for its bytes used to make every later segment
/// rescan the whole buffer (1 MB in 100-byte segments: 15 s). Each offset is judged a bounded
/// number of times now, whatever the segmentation.
#[test]
fn search_is_linear_whatever_the_segmentation() {
    // Plausible headers that never complete (each claims 60 000 bytes but is cut short by the
    // next), then noise, 1 MB in all, then real frames.
    let mut bytes = Vec::new();
    while bytes.len() < 1_000_000 {
        bytes.extend_from_slice(&60_000u32.to_be_bytes());
        bytes.push(b'W');
        bytes.extend(std::iter::repeat_n(0xff, 995));
    }
    let filler = bytes.len() as u64;
    let mut tail = Vec::new();
    for _ in 0..8 {
        tail.extend(stream(&BODIES));
    }
    bytes.extend(&tail);
    let mut f = Framer::mid_stream(1, 2 << 20);
    let mut h = Counting::default();
    let mut s = FramingStats::default();
    for chunk in bytes.chunks(100) {
        f.push(chunk, Timestamp(0), &mut h, &mut s);
    }
    let judged = h.judged.get();
    assert!(judged <= 3 * bytes.len() as u64, "{judged} judgements for {} bytes", bytes.len());
    assert!(h.inner.frames.len() >= 4 * BODIES.len(), "resynchronised on the real frames");
    assert!(s.resync_skipped_bytes >= filler, "the noise was skipped");
    assert!(f.buffered() <= 65_536 + 8, "held: {}", f.buffered());
}

#[test]
fn dense_candidates_are_shed_oldest_first() {
    // A plausible header every 5 bytes, each waiting for 64 KiB: at most MAX_WAITING are kept.
    let mut bytes = Vec::new();
    for _ in 0..20_000 {
        bytes.extend_from_slice(&60_000u32.to_be_bytes());
        bytes.push(b'Z');
    }
    let mut f = Framer::mid_stream(1, 2 << 20);
    let mut h = Counting::default();
    let mut s = FramingStats::default();
    for chunk in bytes.chunks(64) {
        f.push(chunk, Timestamp(0), &mut h, &mut s);
    }
    assert!(s.resync_candidates_shed > 0);
    assert!(f.buffered() <= MAX_WAITING * 5 + 8, "held: {}", f.buffered());
    assert!(h.judged.get() <= 3 * bytes.len() as u64);
}
