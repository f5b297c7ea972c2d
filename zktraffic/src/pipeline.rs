//! Wires capture → TCP reassembly → ZooKeeper decoding → a message sink: every front-end runs
//! this and differs only in its sink.

use std::collections::HashMap;

use serde::Serialize;

use crate::capture::Segment;
use crate::tcp::{ConnKey, Direction, FlowTable, TcpLimits, TcpStats};
use crate::zk::session::Session;
use crate::zk::{DecodeStats, Decoder, DecoderConfig, MessageSink};

/// The set of server ports (ZooKeeper client ports), as a bitmap for a branch-free lookup.
#[derive(Clone)]
pub struct PortSet(Box<[u64; 1024]>);

impl PortSet {
    /// The given ports.
    pub fn new(ports: &[u16]) -> Self {
        let mut bits = Box::new([0u64; 1024]);
        for &p in ports {
            bits[p as usize / 64] |= 1 << (p % 64);
        }
        PortSet(bits)
    }

    /// True when `port` is a server port.
    pub fn contains(&self, port: u16) -> bool {
        self.0[port as usize / 64] & (1 << (port % 64)) != 0
    }
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<u16> = (0..=u16::MAX).filter(|&p| self.contains(p)).collect();
        f.debug_tuple("PortSet").field(&ports).finish()
    }
}

/// Everything the pipeline needs to know.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Server ports: a segment to one of them is a request, from one a reply.
    pub ports: Vec<u16>,
    /// Reassembly's caps.
    pub tcp: TcpLimits,
    /// Decoding's caps.
    pub decoder: DecoderConfig,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            ports: vec![zktraffic_common::ZK_CLIENT_PORT],
            tcp: TcpLimits::default(),
            decoder: DecoderConfig::default(),
        }
    }
}

/// Counters of every stage after capture, and the caps they are counted against.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PipelineStats {
    /// Segments between two ports neither of which is a server port.
    pub segments_not_zookeeper: u64,
    /// Reassembly.
    pub tcp: TcpStats,
    /// Decoding.
    pub decode: DecodeStats,
    /// The caps in force (flags), next to the counters of their use and of what they shed.
    pub limits: PipelineLimits,
}

/// The caps of the reassembly and decoding stages.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PipelineLimits {
    /// Reassembly's caps.
    pub tcp: TcpLimits,
    /// Decoding's caps.
    pub decode: DecoderConfig,
}

/// The reassembly and decoding stages, feeding `K`.
pub struct Pipeline<K: MessageSink> {
    ports: PortSet,
    flows: FlowTable<Session>,
    decoder: Decoder<K>,
    segments_not_zookeeper: u64,
    /// Ports of the segments on no server port, with their counts (bounded), to say where the
    /// traffic was when nothing decoded.
    other_ports: HashMap<u16, u64>,
}

/// Distinct ports remembered for [`Pipeline::busiest_other_ports`].
const MAX_OTHER_PORTS: usize = 4096;

impl<K: MessageSink> Pipeline<K> {
    /// A pipeline handing messages to `sink`.
    pub fn new(config: PipelineConfig, sink: K) -> Self {
        Pipeline {
            ports: PortSet::new(&config.ports),
            flows: FlowTable::new(config.tcp),
            decoder: Decoder::new(config.decoder, sink),
            segments_not_zookeeper: 0,
            other_ports: HashMap::new(),
        }
    }

    /// Feeds one captured segment.
    pub fn push(&mut self, seg: &Segment<'_>) {
        let (key, dir) = if self.ports.contains(seg.dst.port()) {
            (ConnKey { client: seg.src, server: seg.dst }, Direction::ToServer)
        } else if self.ports.contains(seg.src.port()) {
            (ConnKey { client: seg.dst, server: seg.src }, Direction::ToClient)
        } else {
            self.segments_not_zookeeper += 1;
            for port in [seg.src.port(), seg.dst.port()] {
                let room = self.other_ports.len() < MAX_OTHER_PORTS;
                match self.other_ports.get_mut(&port) {
                    Some(n) => *n += 1,
                    None if room => {
                        self.other_ports.insert(port, 1);
                    }
                    None => {}
                }
            }
            return;
        };
        self.flows.push(seg, key, dir, &mut self.decoder);
        while let Some(victim) = self.decoder.partial_budget_victim() {
            let shed = match self.flows.state_mut(&victim) {
                Some(state) => self.decoder.shed_partial(&victim, state),
                None => false,
            };
            if !shed {
                // Nothing more to give back (a few bytes of frame prefixes): over by those.
                break;
            }
        }
    }

    /// End of input: flushes and closes every connection.
    pub fn finish(&mut self) {
        self.flows.finish(&mut self.decoder);
    }

    /// The ports most seen on segments to or from no server port, busiest first (a client's
    /// ephemeral ports spread out; a server port stands out).
    pub fn busiest_other_ports(&self, n: usize) -> Vec<(u16, u64)> {
        let mut ports: Vec<(u16, u64)> = self.other_ports.iter().map(|(&p, &c)| (p, c)).collect();
        ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ports.truncate(n);
        ports
    }

    /// Live connections.
    pub fn connections(&self) -> usize {
        self.flows.len()
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> PipelineStats {
        PipelineStats {
            segments_not_zookeeper: self.segments_not_zookeeper,
            tcp: self.flows.stats().clone(),
            decode: self.decoder.stats.clone(),
            limits: PipelineLimits {
                tcp: self.flows.limits().clone(),
                decode: self.decoder.config.clone(),
            },
        }
    }

    /// The sink.
    pub fn sink(&self) -> &K {
        &self.decoder.sink
    }

    /// The sink, mutably.
    pub fn sink_mut(&mut self) -> &mut K {
        &mut self.decoder.sink
    }

    /// Consumes the pipeline, returning its sink.
    pub fn into_sink(self) -> K {
        self.decoder.sink
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use zktraffic_common::tcp_flags::{ACK, SYN};

    use super::*;
    use crate::Timestamp;
    use crate::zk::encode::{FrameWriter, connect_request};
    use crate::zk::{Body, Message, OpCode};

    const CISN: u32 = 1000;
    const SISN: u32 = 5000;

    fn addr(port: u16) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, port).into()
    }

    /// Pushes one segment of connection `c` (client port 40000 + c).
    fn push<K: MessageSink>(
        p: &mut Pipeline<K>,
        c: u16,
        to_server: bool,
        seq: u32,
        flags: u8,
        data: &[u8],
    ) {
        let (client, server) = (addr(40_000 + c), addr(2181));
        let (src, dst) = if to_server { (client, server) } else { (server, client) };
        let ack = if to_server { SISN + 1 } else { CISN + 1 };
        p.push(&Segment {
            ts: Timestamp(1_000_000_000),
            src,
            dst,
            seq,
            ack,
            flags,
            payload: data,
            wire_len: data.len() as u32,
        });
    }

    /// Many connections each holding half of a large frame: the total stays within
    /// `--max-partial-bytes` (the largest holders shed, counted with their bytes), and the frames
    /// after a shed one still decode.
    #[test]
    fn partial_frames_share_one_budget() {
        const CONNS: u16 = 10;
        const HALF: usize = 100 << 10;
        let mut config = PipelineConfig::default();
        config.decoder.max_partial_bytes = 512 << 10;
        let mut paths: HashMap<String, u64> = HashMap::new();
        let sink = |m: &Message<'_>| {
            if let Body::Request(r) = &m.body {
                *paths.entry(r.path().unwrap_or("-").to_owned()).or_default() += 1;
            }
        };
        let mut p = Pipeline::new(config, sink);
        let set_data = FrameWriter::new()
            .request_header(2, OpCode::SetData.to_wire())
            .string("/big")
            .buffer(Some(&vec![7; 2 * HALF]))
            .i32(-1)
            .finish();
        let exists = FrameWriter::new()
            .request_header(3, OpCode::Exists.to_wire())
            .string("/after")
            .bool(false)
            .finish();
        let hello = connect_request(0, 0, 30_000);
        let first = CISN + 1 + hello.len() as u32;
        for c in 0..CONNS {
            push(&mut p, c, true, CISN, SYN, b"");
            push(&mut p, c, false, SISN, SYN | ACK, b"");
            push(&mut p, c, true, CISN + 1, ACK, &hello);
            push(&mut p, c, true, first, ACK, &set_data[..HALF]);
            let held = p.decoder.stats.framing.partial_bytes;
            assert!(held <= (512 << 10) + HALF as u64, "held {held}");
        }
        let stats = p.stats().decode.framing;
        assert!(stats.partial_bytes <= 512 << 10, "{stats:?}");
        assert_eq!(stats.partial_frames_shed, u64::from(CONNS) - 5, "{stats:?}");
        assert_eq!(stats.partial_bytes_shed, (u64::from(CONNS) - 5) * HALF as u64, "{stats:?}");
        for c in 0..CONNS {
            let mut rest = set_data[HALF..].to_vec();
            rest.extend_from_slice(&exists);
            push(&mut p, c, true, first + HALF as u32, ACK, &rest);
        }
        // One connection ends with half a frame: lost, and counted as such.
        push(
            &mut p,
            0,
            true,
            first + set_data.len() as u32 + exists.len() as u32,
            ACK,
            &set_data[..10],
        );
        p.finish();
        let stats = p.stats().decode.framing;
        assert_eq!(stats.partial_bytes, 0);
        // The shed frames' bytes still to come were skipped, their ends found by their lengths.
        let rest = (set_data.len() - HALF) as u64;
        assert_eq!(stats.skipped_frame_bytes, (u64::from(CONNS) - 5) * rest);
        assert_eq!((stats.partial_frames_at_close, stats.partial_bytes_at_close), (1, 10));
        drop(p);
        assert_eq!(paths.get("/after"), Some(&u64::from(CONNS)));
        assert_eq!(paths.get("/big"), Some(&5));
    }
}
