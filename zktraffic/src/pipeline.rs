//! Wires capture → TCP reassembly → ZooKeeper decoding → a message sink: every front-end runs
//! this and differs only in its sink. Segments on a client port go to the client-protocol
//! decoder, those on a quorum port (`zab_ports`) to the ZAB decoder, each with its own flow
//! table (their caps apply to each).

use std::collections::HashMap;

use serde::Serialize;

use crate::capture::Segment;
use crate::quorum::{ZabConn, ZabDecoder, ZabHandler, ZabStats};
use crate::sink::MessageSink;
use crate::tcp::{ConnKey, Direction, FlowTable, TcpLimits, TcpStats};
use crate::zk::session::Session;
use crate::zk::{DecodeStats, Decoder, DecoderConfig};

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
    /// Quorum ports (ZAB, leader side): decoded as the ensemble's own protocol.
    pub zab_ports: Vec<u16>,
    /// Reassembly's caps.
    pub tcp: TcpLimits,
    /// Decoding's caps.
    pub decoder: DecoderConfig,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            ports: vec![zktraffic_common::ZK_CLIENT_PORT],
            zab_ports: Vec::new(),
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
    /// The quorum ports' reassembly and decoding, when they are decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum: Option<QuorumStats>,
}

/// Counters of the quorum ports.
#[derive(Clone, Debug, Default, Serialize)]
pub struct QuorumStats {
    /// Their reassembly.
    pub tcp: TcpStats,
    /// ZAB decoding.
    pub zab: ZabStats,
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
    /// Quorum ports, their connections and decoder (none when no quorum port is given).
    zab: Option<(PortSet, FlowTable<ZabConn>, ZabDecoder)>,
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
        let zab = (!config.zab_ports.is_empty()).then(|| {
            let decoder =
                ZabDecoder { max_data: config.decoder.max_frame_bytes, stats: ZabStats::default() };
            (PortSet::new(&config.zab_ports), FlowTable::new(config.tcp.clone()), decoder)
        });
        Pipeline {
            ports: PortSet::new(&config.ports),
            flows: FlowTable::new(config.tcp),
            zab,
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
        } else if let Some((ports, flows, decoder)) = &mut self.zab
            && let Some((key, dir)) = directed(ports, seg)
        {
            let mut handler = ZabHandler { decoder, sink: &mut self.decoder.sink };
            flows.push(seg, key, dir, &mut handler);
            return;
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
        if let Some((_, flows, decoder)) = &mut self.zab {
            flows.finish(&mut ZabHandler { decoder, sink: &mut self.decoder.sink });
        }
    }

    /// The ports most seen on segments to or from no server port, busiest first (a client's
    /// ephemeral ports spread out; a server port stands out).
    pub fn busiest_other_ports(&self, n: usize) -> Vec<(u16, u64)> {
        let mut ports: Vec<(u16, u64)> = self.other_ports.iter().map(|(&p, &c)| (p, c)).collect();
        ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ports.truncate(n);
        ports
    }

    /// Live connections (client and quorum).
    pub fn connections(&self) -> usize {
        self.flows.len() + self.zab.as_ref().map_or(0, |(_, f, _)| f.len())
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
            quorum: self.zab.as_ref().map(|(_, flows, decoder)| QuorumStats {
                tcp: flows.stats().clone(),
                zab: decoder.stats.clone(),
            }),
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

/// The connection and direction of a segment to or from one of `ports`.
fn directed(ports: &PortSet, seg: &Segment<'_>) -> Option<(ConnKey, Direction)> {
    if ports.contains(seg.dst.port()) {
        Some((ConnKey { client: seg.src, server: seg.dst }, Direction::ToServer))
    } else if ports.contains(seg.src.port()) {
        Some((ConnKey { client: seg.dst, server: seg.src }, Direction::ToClient))
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
