//! Wires capture → TCP reassembly → ZooKeeper decoding → a message sink: every front-end runs
//! this and differs only in its sink. Segments on a client port go to the client-protocol
//! decoder, those on a quorum port (`zab_ports`) to the ZAB decoder and those on an election
//! port to the election decoder, each protocol with its own flow table (the caps apply to
//! each). With `learn_ports`, the ports that election notifications' config text names are
//! decoded from then on.

use std::collections::HashMap;

use serde::Serialize;

use crate::capture::Segment;
use crate::election::{ElectionConn, ElectionDecoder, ElectionHandler, ElectionStats};
use crate::partial_budget;
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
        let mut set = PortSet(Box::new([0u64; 1024]));
        for &p in ports {
            set.insert(p);
        }
        set
    }

    /// True when `port` is a server port.
    pub fn contains(&self, port: u16) -> bool {
        self.0[port as usize / 64] & (1 << (port % 64)) != 0
    }

    /// The connection and direction of a segment to or from one of these ports (the side
    /// on one of them is the server).
    #[inline]
    pub fn direct(&self, seg: &Segment<'_>) -> Option<(ConnKey, Direction)> {
        if self.contains(seg.dst.port()) {
            Some((ConnKey { client: seg.src, server: seg.dst }, Direction::ToServer))
        } else if self.contains(seg.src.port()) {
            Some((ConnKey { client: seg.dst, server: seg.src }, Direction::ToClient))
        } else {
            None
        }
    }

    /// Adds `port`.
    pub fn insert(&mut self, port: u16) {
        self.0[port as usize / 64] |= 1 << (port % 64);
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
    /// Election ports (leader election).
    pub election_ports: Vec<u16>,
    /// Decode, from then on, the client, quorum and election ports of every server that an
    /// election notification's config names.
    pub learn_ports: bool,
    /// Reassembly's caps.
    pub tcp: TcpLimits,
    /// Decoding's caps.
    pub decoder: DecoderConfig,
}

impl PipelineConfig {
    /// Every server port decoded, of every protocol (what live capture must see).
    pub fn server_ports(&self) -> Vec<u16> {
        self.ports.iter().chain(&self.zab_ports).chain(&self.election_ports).copied().collect()
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            ports: vec![zktraffic_common::ZK_CLIENT_PORT],
            zab_ports: Vec::new(),
            election_ports: Vec::new(),
            learn_ports: false,
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
    /// The election ports', when they are decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub election: Option<ElectionPortStats>,
}

/// Counters of the quorum ports.
#[derive(Clone, Debug, Default, Serialize)]
pub struct QuorumStats {
    /// Their reassembly.
    pub tcp: TcpStats,
    /// ZAB decoding.
    pub zab: ZabStats,
}

/// Counters of the election ports.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ElectionPortStats {
    /// Their reassembly.
    pub tcp: TcpStats,
    /// Election decoding.
    pub decode: ElectionStats,
    /// Ports learned from config text (with `learn_ports`).
    pub ports_learned: u64,
}

/// One protocol's ports, connections and decoder.
struct Protocol<S, D> {
    ports: PortSet,
    flows: FlowTable<S>,
    decoder: D,
}

impl<S: Default, D> Protocol<S, D> {
    fn new(ports: &[u16], limits: &TcpLimits, decoder: D) -> Self {
        Protocol { ports: PortSet::new(ports), flows: FlowTable::new(limits.clone()), decoder }
    }
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
    zab: Option<Protocol<ZabConn, ZabDecoder>>,
    /// Election ports, likewise.
    election: Option<Protocol<ElectionConn, ElectionDecoder>>,
    /// See [`PipelineConfig::learn_ports`]; with the caps the new protocols get (reassembly,
    /// frame size, partial bytes).
    learn: Option<(TcpLimits, usize, usize)>,
    ports_learned: u64,
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
        let max_data = config.decoder.max_frame_bytes;
        let max_partial = config.decoder.max_partial_bytes;
        let zab = (!config.zab_ports.is_empty()).then(|| {
            Protocol::new(&config.zab_ports, &config.tcp, ZabDecoder::new(max_data, max_partial))
        });
        let election = (!config.election_ports.is_empty() || config.learn_ports).then(|| {
            Protocol::new(&config.election_ports, &config.tcp, ElectionDecoder::new(max_partial))
        });
        Pipeline {
            ports: PortSet::new(&config.ports),
            zab,
            election,
            learn: config.learn_ports.then(|| (config.tcp.clone(), max_data, max_partial)),
            ports_learned: 0,
            flows: FlowTable::new(config.tcp),
            decoder: Decoder::new(config.decoder, sink),
            segments_not_zookeeper: 0,
            other_ports: HashMap::new(),
        }
    }

    /// Feeds one captured segment.
    pub fn push(&mut self, seg: &Segment<'_>) {
        let (key, dir) = if let Some(directed) = self.ports.direct(seg) {
            directed
        } else if let Some(z) = &mut self.zab
            && let Some((key, dir)) = z.ports.direct(seg)
        {
            let mut handler = ZabHandler { decoder: &mut z.decoder, sink: &mut self.decoder.sink };
            z.flows.push(seg, key, dir, &mut handler);
            partial_budget::enforce(&mut z.flows, &mut z.decoder);
            return;
        } else if let Some(e) = &mut self.election
            && let Some((key, dir)) = e.ports.direct(seg)
        {
            let sink = &mut self.decoder.sink;
            e.flows.push(seg, key, dir, &mut ElectionHandler { decoder: &mut e.decoder, sink });
            partial_budget::enforce(&mut e.flows, &mut e.decoder);
            self.learn_ports();
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
        partial_budget::enforce(&mut self.flows, &mut self.decoder);
    }

    /// End of input: flushes and closes every connection.
    pub fn finish(&mut self) {
        self.flows.finish(&mut self.decoder);
        let sink = &mut self.decoder.sink;
        if let Some(z) = &mut self.zab {
            z.flows.finish(&mut ZabHandler { decoder: &mut z.decoder, sink });
        }
        if let Some(e) = &mut self.election {
            e.flows.finish(&mut ElectionHandler { decoder: &mut e.decoder, sink });
        }
    }

    /// Adds the ports election config text named since the last call (with `learn_ports`).
    fn learn_ports(&mut self) {
        let Some(e) = &mut self.election else { return };
        let learned = std::mem::take(&mut e.decoder.learned);
        let Some((limits, max_data, max_partial)) = &self.learn else { return };
        for s in learned {
            e.ports.insert(s.election_port);
            let z = self.zab.get_or_insert_with(|| {
                Protocol::new(&[], limits, ZabDecoder::new(*max_data, *max_partial))
            });
            z.ports.insert(s.quorum_port);
            if let Some(p) = s.client_port {
                self.ports.insert(p);
            }
            self.ports_learned += 1;
            tracing::info!(
                "learned server.{} from an election notification: client port {}, quorum port {}, \
                 election port {}",
                s.sid,
                s.client_port.map_or("-".to_owned(), |p| p.to_string()),
                s.quorum_port,
                s.election_port
            );
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

    /// Live connections (client, quorum and election).
    pub fn connections(&self) -> usize {
        self.flows.len()
            + self.zab.as_ref().map_or(0, |z| z.flows.len())
            + self.election.as_ref().map_or(0, |e| e.flows.len())
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
            quorum: self.zab.as_ref().map(|z| QuorumStats {
                tcp: z.flows.stats().clone(),
                zab: z.decoder.stats.clone(),
            }),
            election: self.election.as_ref().map(|e| ElectionPortStats {
                tcp: e.flows.stats().clone(),
                decode: e.decoder.stats.clone(),
                ports_learned: self.ports_learned,
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

#[cfg(test)]
mod tests;
