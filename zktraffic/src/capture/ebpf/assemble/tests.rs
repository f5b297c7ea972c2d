//! Tests of segment assembly, on hand-made ring records.

use super::*;
use zktraffic_common::record::{BIG_CHUNK, MID_CHUNK, SMALL_CHUNK};

fn record(h: &RecordHeader, data: &[u8], cap: usize) -> Vec<u8> {
    let mut v = vec![0u8; size_of::<RecordHeader>() + cap];
    // SAFETY: RecordHeader is plain data; the vector is big enough.
    unsafe { std::ptr::write_unaligned(v.as_mut_ptr().cast::<RecordHeader>(), *h) };
    v[size_of::<RecordHeader>()..][..data.len()].copy_from_slice(data);
    v
}

fn header(seg_id: u32, wire: u32) -> RecordHeader {
    RecordHeader {
        ts_ns: 1_000,
        saddr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        daddr: [10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        seq: 7,
        ack: 9,
        wire_len: wire,
        captured_len: wire.min(MAX_CAPTURE),
        seg_id,
        sport: 40000,
        dport: 2181,
        family: 4,
        hook: hook::TC_EGRESS,
        tcp_flags: 0x18,
        ..RecordHeader::default()
    }
}

fn collect(a: &mut Assembler, recs: &[Vec<u8>]) -> Vec<(Vec<u8>, u32, Hook)> {
    let mut out = Vec::new();
    for r in recs {
        a.push(r, &mut |s, h| out.push((s.payload.to_vec(), s.wire_len, h)));
    }
    out
}

#[test]
fn single_record_segment() {
    let mut a = Assembler::new(5);
    let mut h = header(1, 3);
    h.chunk_len = 3;
    h.rec_flags = rec_flags::LAST;
    let mut got = Vec::new();
    a.push(&record(&h, b"abc", SMALL_CHUNK), &mut |s, hook| {
        got.push((s.payload.to_vec(), s.ts, s.src, s.dst, s.seq, s.ack, hook));
    });
    assert_eq!(got.len(), 1);
    let (p, ts, src, dst, seq, ack, hook) = &got[0];
    assert_eq!(p, b"abc");
    assert_eq!(*ts, Timestamp(1_005));
    assert_eq!(src.to_string(), "127.0.0.1:40000");
    assert_eq!(dst.to_string(), "10.0.0.2:2181");
    assert_eq!((*seq, *ack, *hook), (7, 9, Hook::TcEgress));
}

#[test]
fn header_only_record() {
    // A segment without payload (SYN, FIN, pure ACK) comes as a bare header.
    let mut h = header(2, 0);
    h.tcp_flags = 0x10;
    h.rec_flags = rec_flags::LAST;
    let mut a = Assembler::new(0);
    let out = collect(&mut a, &[record(&h, &[], 0)]);
    assert_eq!(out, vec![(Vec::new(), 0, Hook::TcEgress)]);
    assert_eq!(a.stats().bad_records, 0);
}

#[test]
fn chunks_interleaved_across_cpus() {
    let total = BIG_CHUNK + 904;
    let payload: Vec<u8> = (0..total as u32).map(|i| i as u8).collect();
    let mut a0 = header(1, total as u32);
    a0.chunk_len = BIG_CHUNK as u16;
    let mut a1 = a0;
    a1.chunk_index = 1;
    a1.chunk_offset = BIG_CHUNK as u32;
    a1.chunk_len = 904;
    a1.rec_flags = rec_flags::LAST;
    let mut b = header(1, 2);
    b.cpu = 1;
    b.chunk_len = 2;
    b.rec_flags = rec_flags::LAST;
    let mut a = Assembler::new(0);
    let out = collect(
        &mut a,
        &[
            record(&a0, &payload[..BIG_CHUNK], BIG_CHUNK),
            record(&b, b"zz", SMALL_CHUNK),
            record(&a1, &payload[BIG_CHUNK..], MID_CHUNK),
        ],
    );
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].0, b"zz");
    assert_eq!(out[1].0, payload);
    assert_eq!(a.stats().incomplete_segments, 0);
}

#[test]
fn lost_tail_becomes_short_payload() {
    let mut a0 = header(1, 2 * BIG_CHUNK as u32);
    a0.chunk_len = BIG_CHUNK as u16;
    let mut next = header(2, 1);
    next.chunk_len = 1;
    next.rec_flags = rec_flags::LAST;
    let mut a = Assembler::new(0);
    let out = collect(
        &mut a,
        &[record(&a0, &[1; BIG_CHUNK], BIG_CHUNK), record(&next, b"x", SMALL_CHUNK)],
    );
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].0.len(), out[0].1), (BIG_CHUNK, 2 * BIG_CHUNK as u32));
    assert_eq!(out[1].0, b"x");
    assert_eq!(a.stats().incomplete_segments, 1);
}

#[test]
fn orphan_and_bad_records_are_counted() {
    let mut orphan = header(3, 40_000);
    orphan.chunk_index = 1;
    orphan.chunk_offset = BIG_CHUNK as u32;
    orphan.chunk_len = 10;
    let mut bad = header(4, 10);
    bad.chunk_len = 300; // more than the record holds
    let mut a = Assembler::new(0);
    let out = collect(
        &mut a,
        &[record(&orphan, &[0; 10], SMALL_CHUNK), record(&bad, &[], SMALL_CHUNK), vec![1, 2]],
    );
    assert!(out.is_empty());
    assert_eq!(a.stats().orphan_chunks, 1);
    assert_eq!(a.stats().bad_records, 2);
}
