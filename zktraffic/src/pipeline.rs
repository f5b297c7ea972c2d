//! Wires capture → TCP reassembly → ZooKeeper decoding → a message sink: every front-end runs
//! this and differs only in its sink.

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
    pub tcp: TcpLimits,
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

/// Counters of every stage after capture.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PipelineStats {
    /// Segments between two ports neither of which is a server port.
    pub segments_not_zookeeper: u64,
    pub tcp: TcpStats,
    pub decode: DecodeStats,
}

/// The reassembly and decoding stages, feeding `K`.
pub struct Pipeline<K: MessageSink> {
    ports: PortSet,
    flows: FlowTable<Session>,
    decoder: Decoder<K>,
    segments_not_zookeeper: u64,
}

impl<K: MessageSink> Pipeline<K> {
    /// A pipeline handing messages to `sink`.
    pub fn new(config: PipelineConfig, sink: K) -> Self {
        Pipeline {
            ports: PortSet::new(&config.ports),
            flows: FlowTable::new(config.tcp),
            decoder: Decoder::new(config.decoder, sink),
            segments_not_zookeeper: 0,
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
            return;
        };
        self.flows.push(seg, key, dir, &mut self.decoder);
    }

    /// End of input: flushes and closes every connection.
    pub fn finish(&mut self) {
        self.flows.finish(&mut self.decoder);
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
