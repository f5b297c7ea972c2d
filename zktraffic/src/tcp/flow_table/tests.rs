//! The flow table against hand-built segment sequences: reordering, retransmissions, gaps,
//! closes, reused ports, idle expiry, the caps and floods.

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
    let part = |from: usize, to: usize| seg(ToServer, CISN + 1 + from as u32, &stream[from..to]);
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
    let reply = events.iter().position(|e| matches!(e, Rec::Data { dir: ToClient, .. })).unwrap();
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
        h.rec.closes().iter().all(|&(i, r)| r != CloseReason::Evicted || !(i < 10 || i == 50_010)),
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
