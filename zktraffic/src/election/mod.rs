//! Leader election on the election port (quorum reference §2): each pair of servers keeps one
//! connection, the connecting side introduces itself, then both send votes. Reassembly hands
//! each connection's two streams to an [`ElectionStream`]; every message goes to the sink as
//! an [`ElectionMessage`].
//!
//! - `message.rs`: the initial message, SASL packets, notifications and their config text;
//! - `stream.rs`: one direction as a state machine (lengths split off, TLS, resync).

pub mod message;
pub mod stream;

pub use message::{ElectionBody, Notification, Server, state_name};
pub use stream::{ElectionStats, ElectionStream};

use crate::Timestamp;
use crate::partial_budget::{Budgeted, PartialBudget};
use crate::tcp::{ConnKey, Direction, StreamEvent, StreamHandler};

/// One election-port message, as sinks see it.
#[derive(Clone, Copy, Debug)]
pub struct ElectionMessage<'a> {
    /// Capture time of the segment that completed it.
    pub ts: Timestamp,
    /// The sender.
    pub from: std::net::SocketAddr,
    /// The receiver.
    pub to: std::net::SocketAddr,
    /// The sender's sid, when its initial message was seen.
    pub sid: Option<i64>,
    /// What it holds.
    pub body: ElectionBody<'a>,
    /// Bytes on the wire.
    pub size: usize,
}

/// What the election decoder hands its messages to (the election half of
/// [`MessageSink`](crate::MessageSink), which every sink implements).
pub trait ElectionSink {
    /// One message; it borrows decoder buffers.
    fn election(&mut self, msg: &ElectionMessage<'_>);
}

/// An election connection's two streams, and the connecting server's sid.
#[derive(Debug, Default)]
pub struct ElectionConn {
    streams: [ElectionStream; 2],
    initiator_sid: Option<i64>,
}

impl ElectionConn {
    fn held(&self) -> usize {
        self.streams.iter().map(ElectionStream::held).sum()
    }
}

/// The ports of a server named by config text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerPorts {
    pub sid: i64,
    pub client_port: Option<u16>,
    pub quorum_port: u16,
    pub election_port: u16,
}

/// Most distinct servers remembered from config text (hostile text cannot grow it further).
const MAX_SERVERS: usize = 1024;

/// The election decoding stage: counters, the servers config text named, and the bytes all
/// election connections hold.
#[derive(Debug)]
pub struct ElectionDecoder {
    /// Counters.
    pub stats: ElectionStats,
    /// Servers named since the pipeline last looked (each once).
    pub learned: Vec<ServerPorts>,
    known: std::collections::BTreeSet<ServerPorts>,
    /// Most bytes all election connections hold together (`--max-partial-bytes`).
    max_partial: usize,
    partial: PartialBudget,
}

impl ElectionDecoder {
    /// A stage whose connections hold at most `max_partial` bytes together.
    pub fn new(max_partial: usize) -> Self {
        ElectionDecoder {
            stats: ElectionStats::default(),
            learned: Vec::new(),
            known: std::collections::BTreeSet::new(),
            max_partial,
            partial: PartialBudget::default(),
        }
    }
}

impl Budgeted<ElectionConn> for ElectionDecoder {
    fn victim(&self) -> Option<ConnKey> {
        self.partial.victim(self.max_partial)
    }

    fn shed(&mut self, conn: &ConnKey, state: &mut ElectionConn) -> bool {
        let stats = &mut self.stats;
        let shed = |c: &mut ElectionConn| c.streams.iter_mut().for_each(|s| s.shed(stats));
        self.partial.shed(conn, state, ElectionConn::held, shed)
    }
}

/// Notes the servers `n`'s config names, each once.
fn note_servers(
    known: &mut std::collections::BTreeSet<ServerPorts>,
    learned: &mut Vec<ServerPorts>,
    n: &Notification<'_>,
) {
    for s in n.servers() {
        let ports = ServerPorts {
            sid: s.sid,
            client_port: s.client_port,
            quorum_port: s.quorum_port,
            election_port: s.election_port,
        };
        if known.len() < MAX_SERVERS && known.insert(ports) {
            learned.push(ports);
        }
    }
}

/// The election stage with the sink its messages go to, for one push.
pub struct ElectionHandler<'a, K> {
    /// The stage.
    pub decoder: &'a mut ElectionDecoder,
    /// The sink.
    pub sink: &'a mut K,
}

impl<K: ElectionSink> StreamHandler for ElectionHandler<'_, K> {
    type State = ElectionConn;

    fn on_event(&mut self, conn: &ConnKey, state: &mut ElectionConn, event: StreamEvent<'_>) {
        let before = state.held();
        self.decode(conn, state, event);
        self.decoder.partial.account(conn, before, state.held());
    }
}

impl<K: ElectionSink> ElectionHandler<'_, K> {
    fn decode(&mut self, conn: &ConnKey, state: &mut ElectionConn, event: StreamEvent<'_>) {
        let ElectionDecoder { stats, learned, known, .. } = &mut *self.decoder;
        match event {
            StreamEvent::Start { dir, from_syn } => {
                let initiator = dir == Direction::ToServer;
                state.streams[dir.index()].start(from_syn, initiator, stats);
            }
            StreamEvent::Gap { dir, lost } => state.streams[dir.index()].gap(lost, stats),
            StreamEvent::Data { dir, ts, bytes } => {
                let (from, to) = match dir {
                    // `client` is the connecting server's end.
                    Direction::ToServer => (conn.client, conn.server),
                    Direction::ToClient => (conn.server, conn.client),
                };
                let sink = &mut *self.sink;
                let initiator_sid = &mut state.initiator_sid;
                state.streams[dir.index()].data(bytes, stats, &mut |body, size| {
                    match body {
                        ElectionBody::Initial { sid, .. } => *initiator_sid = Some(*sid),
                        ElectionBody::Notification(n) => note_servers(known, learned, n),
                        ElectionBody::Sasl { .. } => {}
                    }
                    let sid = if dir == Direction::ToServer { *initiator_sid } else { None };
                    sink.election(&ElectionMessage { ts, from, to, sid, body: *body, size });
                });
            }
            // The state is dropped after this: what it held is no longer held.
            StreamEvent::Closed { .. } => *state = ElectionConn::default(),
        }
    }
}
