//! Synthetic ZooKeeper conversations written as capture files: the traffic generator of
//! `cargo xtask bench decode` and of tests that need realistic pipelined, multi-segment traffic.
//!
//! Frames are built with [`crate::zk::encode`] exactly as the Java client and server write
//! them; TCP segments carry correct sequence and acknowledgement numbers.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};

use zktraffic_common::tcp_flags::{ACK, FIN, PSH, SYN};

use crate::Timestamp;
use crate::capture::pcap_write::{FrameBuilder, PcapWriter};
use crate::zk::OpCode;
use crate::zk::encode::{self, FrameWriter};

/// One TCP connection being written: sequence numbers, clock and segment size.
#[derive(Debug)]
pub struct Conversation {
    client: SocketAddr,
    server: SocketAddr,
    client_seq: u32,
    server_seq: u32,
    /// Largest payload per segment (64 KiB models loopback/GSO, 1448 an Ethernet MSS).
    pub mss: usize,
}

impl Conversation {
    /// A connection between `client` and `server` with the given initial sequence numbers.
    pub fn new(client: SocketAddr, server: SocketAddr, client_isn: u32, server_isn: u32) -> Self {
        Conversation { client, server, client_seq: client_isn, server_seq: server_isn, mss: 65_483 }
    }

    fn segment<W: Write>(
        &mut self,
        out: &mut PcapWriter<W>,
        ts: Timestamp,
        to_server: bool,
        flags: u8,
        payload: &[u8],
    ) -> io::Result<()> {
        let (src, dst, seq, ack) = if to_server {
            (self.client, self.server, self.client_seq, self.server_seq)
        } else {
            (self.server, self.client, self.server_seq, self.client_seq)
        };
        let frame = FrameBuilder::new(src, dst)
            .seq(seq)
            .ack(ack)
            .flags(flags)
            .payload(payload)
            .ethernet()
            .map_err(io::Error::other)?;
        out.write_packet(ts, &frame)?;
        let advance = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        if to_server {
            self.client_seq = self.client_seq.wrapping_add(advance);
        } else {
            self.server_seq = self.server_seq.wrapping_add(advance);
        }
        Ok(())
    }

    /// The three-way handshake.
    pub fn open<W: Write>(&mut self, out: &mut PcapWriter<W>, ts: Timestamp) -> io::Result<()> {
        self.segment(out, ts, true, SYN, &[])?;
        self.segment(out, ts, false, SYN | ACK, &[])?;
        self.segment(out, ts, true, ACK, &[])
    }

    /// Sends `bytes` in one direction, cut into segments of at most `mss` bytes.
    pub fn send<W: Write>(
        &mut self,
        out: &mut PcapWriter<W>,
        ts: Timestamp,
        to_server: bool,
        bytes: &[u8],
    ) -> io::Result<()> {
        for chunk in bytes.chunks(self.mss.max(1)) {
            self.segment(out, ts, to_server, PSH | ACK, chunk)?;
        }
        Ok(())
    }

    /// FIN from both sides.
    pub fn close<W: Write>(&mut self, out: &mut PcapWriter<W>, ts: Timestamp) -> io::Result<()> {
        self.segment(out, ts, true, FIN | ACK, &[])?;
        self.segment(out, ts, false, FIN | ACK, &[])
    }
}

/// The shape of a generated workload.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Concurrent client connections (interleaved in the capture).
    pub connections: usize,
    /// Request/reply pairs per connection, after the handshake.
    pub requests_per_connection: usize,
    /// Requests in flight per connection: each batch is written back to back, then its replies.
    pub pipeline_depth: usize,
    /// Largest segment payload.
    pub mss: usize,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            connections: 64,
            requests_per_connection: 10_000,
            pipeline_depth: 64,
            mss: 65_483,
        }
    }
}

/// What a generated capture holds, for checking a decoder against it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generated {
    /// Requests written.
    pub requests: u64,
    /// Replies written.
    pub replies: u64,
    /// Watch events written.
    pub events: u64,
    /// Replies with a non-zero error code.
    pub errors: u64,
}

impl Generated {
    /// Every message.
    pub fn messages(&self) -> u64 {
        self.requests + self.replies + self.events
    }
}

/// One request of the mix and its reply. `i` varies paths, sizes and outcomes.
fn request_and_reply(i: usize, xid: i32, zxid: i64) -> (Vec<u8>, Vec<u8>, bool) {
    let path = format!("/app/service-{}/node-{}", i % 37, i % 1000);
    let ok = FrameWriter::new().reply_header(xid, zxid, 0);
    match i % 10 {
        0..=2 => (
            FrameWriter::new()
                .request_header(xid, OpCode::GetData.to_wire())
                .string(&path)
                .bool(i.is_multiple_of(3))
                .finish(),
            ok.buffer(Some(&[b'v'; 120])).stat(zxid).finish(),
            false,
        ),
        3..=4 => {
            // One exists in four misses.
            let missing = i.is_multiple_of(4);
            let req = FrameWriter::new()
                .request_header(xid, OpCode::Exists.to_wire())
                .string(&path)
                .bool(true);
            let rep = if missing {
                FrameWriter::new().reply_header(xid, zxid, -101).finish()
            } else {
                ok.stat(zxid).finish()
            };
            (req.finish(), rep, missing)
        }
        5 => (
            FrameWriter::new()
                .request_header(xid, OpCode::SetData.to_wire())
                .string(&path)
                .buffer(Some(&[b'd'; 200]))
                .i32(-1)
                .finish(),
            ok.stat(zxid).finish(),
            false,
        ),
        6 => (
            FrameWriter::new()
                .request_header(xid, OpCode::GetChildren2.to_wire())
                .string(&format!("/app/service-{}", i % 37))
                .bool(false)
                .finish(),
            ok.strings(&["node-1", "node-2", "node-3", "lock-0000000042"]).stat(zxid).finish(),
            false,
        ),
        7 => (
            FrameWriter::new()
                .request_header(xid, OpCode::Create.to_wire())
                .string(&format!("{path}/lock-"))
                .buffer(Some(b"owner"))
                .i32(1)
                .i32(31)
                .string("world")
                .string("anyone")
                .i32(3)
                .finish(),
            ok.string(&format!("{path}/lock-{:010}", i)).finish(),
            false,
        ),
        8 => (
            FrameWriter::new()
                .request_header(xid, OpCode::Delete.to_wire())
                .string(&path)
                .i32(-1)
                .finish(),
            ok.finish(),
            false,
        ),
        _ => (
            FrameWriter::new()
                .request_header(xid, OpCode::Multi.to_wire())
                .i32(OpCode::SetData.to_wire())
                .bool(false)
                .i32(-1)
                .string(&path)
                .buffer(Some(b"m"))
                .i32(-1)
                .i32(OpCode::Check.to_wire())
                .bool(false)
                .i32(-1)
                .string(&path)
                .i32(3)
                .i32(-1)
                .bool(true)
                .i32(-1)
                .finish(),
            ok.i32(OpCode::SetData.to_wire())
                .bool(false)
                .i32(0)
                .stat(zxid)
                .i32(OpCode::Check.to_wire())
                .bool(false)
                .i32(0)
                .i32(-1)
                .bool(true)
                .i32(-1)
                .finish(),
            false,
        ),
    }
}

/// Writes `w` as a classic pcap to `out`: every connection opens, sends its requests in
/// pipelined batches (each batch coalesced into as few segments as the MSS allows, as Nagle
/// and GSO do), gets its replies the same way with a watch event now and then, and closes.
pub fn write_workload<W: Write>(out: W, w: &Workload) -> io::Result<Generated> {
    let mut pcap = PcapWriter::new(out)?;
    let server: SocketAddr = (Ipv4Addr::new(10, 0, 0, 1), 2181).into();
    let mut convs: Vec<Conversation> = (0..w.connections)
        .map(|c| {
            let client = (
                Ipv4Addr::new(10, 1, (c / 250) as u8, (c % 250) as u8 + 1),
                40_000 + (c % 20_000) as u16,
            );
            // Initial sequence numbers near the wrap, so every run crosses 2^32.
            let mut conv =
                Conversation::new(client.into(), server, u32::MAX - 5_000 * c as u32, 7 + c as u32);
            conv.mss = w.mss;
            conv
        })
        .collect();
    let mut g = Generated::default();
    let mut ts = Timestamp::from_parts(1_700_000_000, 0);
    let tick = |ts: &mut Timestamp, ns: u64| {
        ts.0 += ns;
        *ts
    };
    for (c, conv) in convs.iter_mut().enumerate() {
        conv.open(&mut pcap, tick(&mut ts, 1_000))?;
        conv.send(&mut pcap, tick(&mut ts, 1_000), true, &encode::connect_request(0, 0, 30_000))?;
        let session = 0x100_0000_0000 + c as i64;
        conv.send(
            &mut pcap,
            tick(&mut ts, 50_000),
            false,
            &encode::connect_response(session, 30_000),
        )?;
        g.requests += 1;
        g.replies += 1;
    }
    let depth = w.pipeline_depth.max(1);
    let mut zxid = 0x1_0000_0000i64;
    let (mut batch_req, mut batch_rep) = (Vec::new(), Vec::new());
    for round in 0..w.requests_per_connection.div_ceil(depth) {
        for conv in convs.iter_mut() {
            batch_req.clear();
            batch_rep.clear();
            let n = depth.min(w.requests_per_connection - round * depth);
            for k in 0..n {
                let i = round * depth + k;
                zxid += 1;
                let (req, rep, failed) = request_and_reply(i, (i + 1) as i32, zxid);
                batch_req.extend_from_slice(&req);
                if i.is_multiple_of(97) {
                    // A watch fires between replies.
                    batch_rep.extend(
                        FrameWriter::new()
                            .reply_header(crate::zk::opcode::xid::NOTIFICATION, -1, 0)
                            .i32(3)
                            .i32(3)
                            .string("/app/config")
                            .finish(),
                    );
                    g.events += 1;
                }
                batch_rep.extend_from_slice(&rep);
                g.errors += u64::from(failed);
            }
            g.requests += n as u64;
            g.replies += n as u64;
            conv.send(&mut pcap, tick(&mut ts, 2_000), true, &batch_req)?;
            conv.send(&mut pcap, tick(&mut ts, 150_000), false, &batch_rep)?;
        }
    }
    for conv in convs.iter_mut() {
        conv.close(&mut pcap, tick(&mut ts, 1_000))?;
    }
    pcap.flush()?;
    Ok(g)
}

/// The shape of generated quorum traffic: a leader and its followers under a write load.
#[derive(Clone, Debug)]
pub struct QuorumWorkload {
    /// Followers connected to the leader.
    pub learners: usize,
    /// Writes: each a PROPOSAL to every follower, their ACKs, a COMMIT to every follower.
    pub writes: usize,
    /// Writes between two rounds of PINGs.
    pub pings_every: usize,
    /// Writes the leader sends back to back (as a busy leader's socket buffers them).
    pub batch: usize,
    /// Largest segment payload.
    pub mss: usize,
}

/// A setData transaction as a PROPOSAL carries it.
fn set_data_txn(session: i64, cxid: i32, zxid: i64, path: &str, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(48 + path.len() + data.len());
    b.extend_from_slice(&session.to_be_bytes());
    b.extend_from_slice(&cxid.to_be_bytes());
    b.extend_from_slice(&zxid.to_be_bytes());
    b.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    b.extend_from_slice(&OpCode::SetData.to_wire().to_be_bytes());
    b.extend_from_slice(&(path.len() as i32).to_be_bytes());
    b.extend_from_slice(path.as_bytes());
    b.extend_from_slice(&(data.len() as i32).to_be_bytes());
    b.extend_from_slice(data);
    b.extend_from_slice(&1i32.to_be_bytes());
    b
}

/// Writes `w` as a classic pcap: every follower connects and syncs (FOLLOWERINFO … UPTODATE,
/// by DIFF), then the writes go out in batches; returns the packets written.
pub fn write_quorum<W: Write>(out: W, w: &QuorumWorkload) -> io::Result<u64> {
    use crate::quorum::packet::encode;
    let mut pcap = PcapWriter::new(out)?;
    let leader: SocketAddr = (Ipv4Addr::new(10, 2, 0, 1), 2888).into();
    let epoch = 1i64 << 32;
    let mut convs: Vec<Conversation> = (0..w.learners)
        .map(|n| {
            let learner = (Ipv4Addr::new(10, 2, 0, n as u8 + 2), 40_000 + n as u16);
            let mut c = Conversation::new(learner.into(), leader, u32::MAX - 9_000, 11);
            c.mss = w.mss;
            c
        })
        .collect();
    let mut packets = 0u64;
    let mut ts = Timestamp::from_parts(1_700_000_000, 0);
    let tick = |ts: &mut Timestamp, ns: u64| *ts = Timestamp(ts.0 + ns);
    for (n, c) in convs.iter_mut().enumerate() {
        c.open(&mut pcap, ts)?;
        let info =
            [&(n as i64 + 1).to_be_bytes()[..], &0x10000i32.to_be_bytes(), &0i64.to_be_bytes()]
                .concat();
        c.send(&mut pcap, ts, true, &encode(11, 0, Some(&info), &[]))?;
        c.send(&mut pcap, ts, false, &encode(17, epoch, Some(&0x10000i32.to_be_bytes()), &[]))?;
        c.send(&mut pcap, ts, true, &encode(18, 0, Some(&0i32.to_be_bytes()), &[]))?;
        let sync = [encode(13, 0, None, &[]), encode(10, epoch, None, &[])].concat();
        c.send(&mut pcap, ts, false, &sync)?;
        c.send(&mut pcap, ts, true, &encode(3, epoch, None, &[]))?;
        c.send(&mut pcap, ts, false, &encode(12, 0, None, &[]))?;
        c.send(&mut pcap, ts, true, &encode(3, epoch, None, &[]))?;
        packets += 8;
        tick(&mut ts, 1_000_000);
    }
    let data = [b'd'; 100];
    let mut written = 0;
    while written < w.writes {
        let batch = w.batch.max(1).min(w.writes - written);
        let zxids = (written..written + batch).map(|i| epoch + i as i64 + 1);
        let txns: Vec<(i64, Vec<u8>)> = zxids
            .map(|z| {
                let path = format!("/bench/node-{}", z % 1000);
                (z, set_data_txn(0x1000 + z % 64, z as i32, z, &path, &data))
            })
            .collect();
        let proposals: Vec<u8> =
            txns.iter().flat_map(|(z, t)| encode(2, *z, Some(t), &[])).collect();
        let acks: Vec<u8> = txns.iter().flat_map(|(z, _)| encode(3, *z, None, &[])).collect();
        let commits: Vec<u8> = txns.iter().flat_map(|(z, _)| encode(4, *z, None, &[])).collect();
        for c in &mut convs {
            c.send(&mut pcap, ts, false, &proposals)?;
        }
        tick(&mut ts, 200_000);
        for c in &mut convs {
            c.send(&mut pcap, ts, true, &acks)?;
        }
        tick(&mut ts, 100_000);
        for c in &mut convs {
            c.send(&mut pcap, ts, false, &commits)?;
        }
        packets += 3 * (batch * convs.len()) as u64;
        let before = written / w.pings_every.max(1);
        written += batch;
        if written / w.pings_every.max(1) > before {
            for c in &mut convs {
                c.send(&mut pcap, ts, false, &encode(5, epoch + written as i64, None, &[]))?;
                let sessions = [&0x1001i64.to_be_bytes()[..], &30_000i32.to_be_bytes()].concat();
                c.send(
                    &mut pcap,
                    ts,
                    true,
                    &encode(5, epoch + written as i64, Some(&sessions), &[]),
                )?;
            }
            packets += 2 * convs.len() as u64;
        }
        tick(&mut ts, 700_000);
    }
    for c in &mut convs {
        c.close(&mut pcap, ts)?;
    }
    pcap.flush()?;
    Ok(packets)
}
