//! Pipelined, multi-segment, lossy and mid-stream traffic from the synthetic generator, decoded
//! end to end with exact expectations.

use std::io::Cursor;
use std::ops::ControlFlow;

use zktraffic::CaptureReader;
use zktraffic::PcapWriter;
use zktraffic::synth::{Generated, Workload, write_workload};
use zktraffic::{Body, Message};
use zktraffic::{Pipeline, PipelineConfig, PipelineStats};

#[derive(Default, Debug, PartialEq, Eq)]
struct Tally {
    requests: u64,
    replies: u64,
    paired: u64,
    events: u64,
    errors: u64,
    negative_latency: u64,
}

fn decode(pcap: &[u8]) -> (Tally, PipelineStats) {
    let mut reader =
        CaptureReader::from_reader("mem".into(), Box::new(Cursor::new(pcap.to_vec()))).unwrap();
    let mut tally = Tally::default();
    let sink = |m: &Message<'_>| match &m.body {
        Body::Request(_) => tally.requests += 1,
        Body::Reply(r) => {
            tally.replies += 1;
            tally.paired += u64::from(r.request.is_some());
            tally.errors += u64::from(!r.err.is_ok());
            if r.request.is_some_and(|p| p.ts > m.ts) {
                tally.negative_latency += 1;
            }
        }
        Body::Event(_) => tally.events += 1,
        Body::FourLetter(_) => {}
    };
    let mut p = Pipeline::new(PipelineConfig::default(), sink);
    reader.for_each_segment(|s| p.push(s)).unwrap();
    p.finish();
    let stats = p.stats();
    drop(p);
    (tally, stats)
}

fn generate(w: &Workload) -> (Vec<u8>, Generated) {
    let mut buf = Vec::new();
    let g = write_workload(&mut buf, w).unwrap();
    (buf, g)
}

#[test]
fn pipelined_traffic_at_every_segment_size_is_decoded_exactly() {
    for mss in [65_483, 1_448, 100, 7, 1] {
        let w = Workload { connections: 5, requests_per_connection: 300, pipeline_depth: 64, mss };
        let (pcap, g) = generate(&w);
        let (t, stats) = decode(&pcap);
        assert_eq!(
            (t.requests, t.replies, t.paired, t.events, t.errors),
            (g.requests, g.replies, g.replies, g.events, g.errors),
            "mss {mss}: {stats:#?}"
        );
        assert_eq!(t.negative_latency, 0);
        assert_eq!(stats.decode.protocol.unanswered_requests, 0);
        assert_eq!((stats.tcp.gaps, stats.decode.framing.resyncs), (0, 0));
    }
}

/// Rewrites a capture keeping the frames for which `keep(index)` is true.
fn filter_frames(pcap: &[u8], keep: impl Fn(usize) -> bool) -> Vec<u8> {
    let mut reader =
        CaptureReader::from_reader("mem".into(), Box::new(Cursor::new(pcap.to_vec()))).unwrap();
    let mut out = PcapWriter::new(Vec::new()).unwrap();
    let mut i = 0;
    reader
        .try_for_each_frame(|f| {
            if keep(i) {
                out.write_packet(f.ts, f.data).unwrap();
            }
            i += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    out.into_inner()
}

#[test]
fn a_lost_segment_costs_only_the_messages_it_carried() {
    let w = Workload { connections: 1, requests_per_connection: 200, pipeline_depth: 8, mss: 100 };
    let (pcap, g) = generate(&w);
    // Frames 0..2 are the TCP handshake, 3 and 4 the ZooKeeper handshake; drop one data segment
    // in the middle of the conversation.
    let lossy = filter_frames(&pcap, |i| i != 400);
    let (t, stats) = decode(&lossy);
    assert_eq!(stats.tcp.gaps, 1);
    assert!(stats.tcp.lost_bytes > 0 && stats.tcp.lost_bytes <= 100);
    // At most the frames the segment touched (a 100-byte segment touches at most 3) are lost,
    // and nothing is invented.
    let lost = g.messages() - (t.requests + t.replies + t.events);
    assert!((1..=3).contains(&lost), "lost {lost}, {stats:#?}");
    assert!(t.requests <= g.requests && t.replies <= g.replies);
    assert_eq!(t.negative_latency, 0);
}

#[test]
fn a_capture_joined_mid_stream_finds_frame_boundaries() {
    let skipped: u64 =
        [(333, 16), (1448, 64), (97, 4)].into_iter().map(|(m, d)| joined_mid_stream(m, d)).sum();
    assert!(skipped > 0, "some starts fall inside a frame");
}

/// Decodes the capture from many starting frames; returns the bytes skipped to find boundaries.
fn joined_mid_stream(mss: usize, depth: usize) -> u64 {
    let w = Workload { connections: 2, requests_per_connection: 300, pipeline_depth: depth, mss };
    let (pcap, g) = generate(&w);
    let mut skipped = 0;
    // Start the capture at several points about 150 frames in (of about 400): no SYN, no
    // handshake, and the first segments of each direction start anywhere in a frame.
    for start in 120..320 {
        let late = filter_frames(&pcap, |i| i >= start);
        let (t, stats) = decode(&late);
        if t.requests + t.replies == 0 {
            break; // past the end of this capture
        }
        let framing = &stats.decode.framing;
        skipped += framing.resync_skipped_bytes;
        assert!(framing.resyncs >= 2, "{stats:#?}");
        // Everything after the first boundary is decoded: every request seen gets its reply,
        // and only replies to requests from before the capture are unpaired (at most a
        // pipeline's depth per connection).
        assert!(t.requests >= 20, "mss {mss} start {start}: {t:?} of {g:?}");
        assert_eq!(t.paired, t.requests, "mss {mss} start {start} {t:?} {stats:#?}");
        assert!(t.replies - t.paired <= 2 * depth as u64, "{t:?}");
        assert_eq!(stats.decode.protocol.malformed_records, 0, "{stats:#?}");
        assert_eq!(t.negative_latency, 0);
    }
    skipped
}
