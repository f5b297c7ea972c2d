//! Tests of the capture reader, on files written by [`crate::capture::pcap_write`] and on
//! hand-made blocks. The helpers they share and the tests of opening, buffering and stopping
//! early are here; [`reading`], [`damage`] and [`interop`] hold the rest.

use std::io::Cursor;
use std::net::SocketAddr;

use proptest::prelude::*;
use zktraffic_common::tcp_flags::{ACK, FIN, PSH, RST, SYN};

use super::input::{INITIAL_BUFFER_LEN, MAX_RECORD_LEN};
use super::*;
use crate::capture::pcap_write::{FrameBuilder, NgInterface, PcapFormat, PcapNgWriter, PcapWriter};

/// An owned copy of a delivered segment.
pub(super) use crate::capture::OwnedSegment as Seg;

/// Hands out at most `chunk` bytes per read, like a pipe.
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
}

impl Read for Chunked {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = out.len().min(self.chunk).min(self.data.len() - self.pos);
        out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

struct Outcome {
    segments: Vec<Seg>,
    stats: CaptureStats,
    warnings: Vec<String>,
    result: Result<(), CaptureError>,
}

fn read_chunked(name: &str, bytes: &[u8], chunk: usize) -> Result<Outcome, CaptureError> {
    let input = Chunked { data: bytes.to_vec(), pos: 0, chunk };
    let mut reader = CaptureReader::from_reader(name.to_string(), Box::new(input))?;
    let mut segments = Vec::new();
    let result = reader.for_each_segment(|s| segments.push(Seg::from(s)));
    // Reading again after the end (or an error) delivers nothing more.
    reader.for_each_segment(|_| panic!("segment after the end")).unwrap();
    Ok(Outcome {
        segments,
        stats: reader.stats().clone(),
        warnings: reader.warnings().to_vec(),
        result,
    })
}

fn read(name: &str, bytes: &[u8]) -> Outcome {
    read_chunked(name, bytes, usize::MAX).unwrap()
}

fn open_error(name: &str, bytes: &[u8]) -> String {
    match CaptureReader::from_reader(name.to_string(), Box::new(Cursor::new(bytes.to_vec()))) {
        Ok(_) => panic!("{name} was accepted"),
        Err(e) => e.to_string(),
    }
}

/// A frame to write and the segment it must read back as (timestamp at full precision).
struct Sent {
    frame: Vec<u8>,
    seg: Seg,
}

fn traffic(count: usize, big: bool) -> Vec<Sent> {
    let client4: SocketAddr = "192.168.7.1:51234".parse().unwrap();
    let server4: SocketAddr = "192.168.7.2:2181".parse().unwrap();
    let client6: SocketAddr = "[fd00::17]:51235".parse().unwrap();
    let server6: SocketAddr = "[fd00::2181]:2181".parse().unwrap();
    let sizes: &[usize] = if big { &[0, 1, 12, 100, 1460, 9000] } else { &[0, 1, 12, 40] };
    let all_flags = [SYN, SYN | ACK, ACK, PSH | ACK, FIN | ACK, RST];
    (0..count)
        .map(|i| {
            let (src, dst) = match i % 4 {
                0 => (client4, server4),
                1 => (server4, client4),
                2 => (client6, server6),
                _ => (server6, client6),
            };
            let vlans: &[u16] = [&[][..], &[7], &[7, 8]][i % 3];
            let payload: Vec<u8> =
                (0..sizes[i % sizes.len()]).map(|b| (b * 31 + i) as u8).collect();
            let seq = 1000u32.wrapping_add(i as u32 * 7919);
            let ack = u32::MAX - i as u32;
            let flags = all_flags[i % all_flags.len()];
            let frame = FrameBuilder::new(src, dst)
                .seq(seq)
                .ack(ack)
                .flags(flags)
                .payload(&payload)
                .vlans(vlans)
                .ethernet()
                .unwrap();
            let ts = Timestamp(1_700_000_000_000_000_000 + i as u64 * 1_234_567_891);
            let wire_len = payload.len() as u32;
            Sent { frame, seg: Seg { ts, src, dst, seq, ack, flags, payload, wire_len } }
        })
        .collect()
}

fn write_pcap(format: PcapFormat, traffic: &[Sent]) -> Vec<u8> {
    let mut w = PcapWriter::with_format(Vec::new(), format).unwrap();
    for sent in traffic {
        w.write_packet(sent.seg.ts, &sent.frame).unwrap();
    }
    w.into_inner()
}

fn write_pcapng(big_endian: bool, tsresol: u8, traffic: &[Sent]) -> Vec<u8> {
    let mut w = PcapNgWriter::empty(Vec::new(), big_endian).unwrap();
    let interface = NgInterface { tsresol, ..NgInterface::default() };
    let id = w.add_interface(interface).unwrap();
    for sent in traffic {
        w.write_packet(id, sent.seg.ts, &sent.frame).unwrap();
    }
    w.into_inner()
}

/// The segments expected back from a file whose timestamps have `granularity` ns.
fn expected(traffic: &[Sent], granularity: u64) -> Vec<Seg> {
    traffic
        .iter()
        .map(|sent| Seg {
            ts: Timestamp(sent.seg.ts.0 / granularity * granularity),
            ..sent.seg.clone()
        })
        .collect()
}

/// A raw pcapng block.
fn ng_block(big_endian: bool, block_type: u32, body: &[u8]) -> Vec<u8> {
    let u32b = |v: u32| {
        if big_endian { v.to_be_bytes() } else { v.to_le_bytes() }
    };
    let padded = body.len().div_ceil(4) * 4;
    let len = (12 + padded) as u32;
    let mut out = u32b(block_type).to_vec();
    out.extend_from_slice(&u32b(len));
    out.extend_from_slice(body);
    out.resize(8 + padded, 0);
    out.extend_from_slice(&u32b(len));
    out
}

mod damage;
mod interop;
mod reading;

#[test]
fn missing_file_error_names_it() {
    let path = Path::new("/nonexistent/zktraffic/capture.pcap");
    let Err(e) = CaptureReader::open(path) else {
        panic!("opened a missing file");
    };
    assert!(e.to_string().starts_with("/nonexistent/zktraffic/capture.pcap: cannot open: "), "{e}");
}

#[test]
fn reads_a_real_file_by_path() {
    let traffic = traffic(3, false);
    let path = std::env::temp_dir().join(format!("zktraffic-capture-{}.pcap", std::process::id()));
    std::fs::write(&path, write_pcap(PcapFormat::default(), &traffic)).unwrap();
    let mut reader = CaptureReader::open(&path).unwrap();
    let mut count = 0;
    reader.for_each_segment(|_| count += 1).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(count, 3);
    assert_eq!(reader.name(), path.display().to_string());
}

#[test]
fn large_record_grows_the_buffer_and_stays_under_the_cap() {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let big = vec![0xaa; 3 << 20];
    w.write_packet(0, Timestamp(1), &big).unwrap();
    let traffic = traffic(2, false);
    for sent in &traffic {
        w.write_packet(0, sent.seg.ts, &sent.frame).unwrap();
    }
    let bytes = w.into_inner();
    let mut reader = CaptureReader::from_reader(
        "big.pcapng".into(),
        Box::new(Chunked { data: bytes, pos: 0, chunk: 1 << 16 }),
    )
    .unwrap();
    let mut sizes = Vec::new();
    reader
        .try_for_each_frame(|frame| {
            sizes.push(frame.data.len());
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(sizes, vec![3 << 20, traffic[0].frame.len(), traffic[1].frame.len()]);
    assert!(reader.input.buf.len() >= 3 << 20 && reader.input.buf.len() <= MAX_RECORD_LEN);
}

/// An endless-looking classic pcap stream, generated as it is read.
struct Generated {
    record: Vec<u8>,
    remaining_records: usize,
    pending: Vec<u8>,
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() && self.remaining_records > 0 {
            self.remaining_records -= 1;
            self.pending = self.record.clone();
        }
        let n = out.len().min(self.pending.len());
        out[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[test]
fn long_streams_are_read_in_bounded_memory() {
    let sent = &traffic(5, true)[4]; // 1460-byte payload
    let mut record = PcapWriter::new(Vec::new()).unwrap();
    record.write_packet(sent.seg.ts, &sent.frame).unwrap();
    let record = record.into_inner();
    let (header, record) = record.split_at(24);
    let records = (64 << 20) / record.len();
    let input =
        Generated { record: record.to_vec(), remaining_records: records, pending: header.to_vec() };
    let mut reader = CaptureReader::from_reader("stream".into(), Box::new(input)).unwrap();
    let mut bytes = 0u64;
    reader.for_each_segment(|s| bytes += s.payload.len() as u64).unwrap();
    assert_eq!(reader.stats().tcp_segments, records as u64);
    assert_eq!(bytes, records as u64 * 1460);
    assert_eq!(reader.input.buf.len(), INITIAL_BUFFER_LEN);
}

#[test]
fn early_stop_resumes_where_it_stopped() {
    let traffic = traffic(6, false);
    let bytes = write_pcapng(false, 9, &traffic);
    let mut reader = CaptureReader::from_reader("x".into(), Box::new(Cursor::new(bytes))).unwrap();
    let mut seqs = Vec::new();
    reader
        .try_for_each_segment(|s| {
            seqs.push(s.seq);
            if seqs.len() == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
    assert_eq!(seqs.len(), 2);
    reader.for_each_segment(|s| seqs.push(s.seq)).unwrap();
    let want: Vec<u32> = traffic.iter().map(|s| s.seg.seq).collect();
    assert_eq!(seqs, want);
}
