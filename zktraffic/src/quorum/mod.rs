//! The ensemble's own protocol on the quorum port: ZAB between the leader and its learners
//! (quorum reference §1). Reassembly hands each connection's two streams to a [`ZabStream`];
//! every packet it frames goes to the sink as a [`ZabMessage`].
//!
//! - `packet.rs`: one `QuorumPacket` framed, and its data by type;
//! - `txn.rs`: the transactions PROPOSAL and INFORM carry;
//! - `stream.rs`: one direction as a state machine (framing, SNAP's snapshot, resync).

pub mod packet;
pub mod stream;
pub mod txn;

pub use packet::{Side, ZabBody, ZabType};
pub use stream::{ZabStats, ZabStream};
pub use txn::Txn;

use crate::Timestamp;
use crate::partial_budget::{Budgeted, PartialBudget};
use crate::tcp::{ConnKey, Direction, StreamEvent, StreamHandler};

/// One ZAB packet, as sinks see it.
#[derive(Clone, Copy, Debug)]
pub struct ZabMessage<'a> {
    /// Capture time of the segment that completed it.
    pub ts: Timestamp,
    /// `client` is the learner, `server` the leader's quorum port.
    pub conn: ConnKey,
    /// Who sent it.
    pub from: Side,
    /// Its type.
    pub kind: ZabType,
    /// The packet's zxid (its meaning depends on the type; −1 on REQUEST).
    pub zxid: i64,
    /// Its data, decoded.
    pub body: ZabBody<'a>,
    /// Bytes on the wire.
    pub size: usize,
    /// Authinfo entries (counted, never shown).
    pub auth: usize,
}

/// What the quorum decoder hands its packets to (the ZAB half of
/// [`MessageSink`](crate::MessageSink), which every sink implements).
pub trait ZabSink {
    /// One packet; it borrows decoder buffers.
    fn zab(&mut self, msg: &ZabMessage<'_>);
}

/// A quorum connection's two streams.
#[derive(Debug, Default)]
pub struct ZabConn {
    streams: [ZabStream; 2],
}

impl ZabConn {
    fn held(&self) -> usize {
        self.streams.iter().map(ZabStream::held).sum()
    }
}

/// The quorum decoding stage: counters, the largest packet data accepted, and the bytes all
/// quorum connections hold.
#[derive(Debug)]
pub struct ZabDecoder {
    /// Largest packet data framed (`--max-frame-bytes`); larger means lost sync.
    pub max_data: usize,
    /// Most bytes all quorum connections hold together (`--max-partial-bytes`).
    pub max_partial: usize,
    /// Counters.
    pub stats: ZabStats,
    partial: PartialBudget,
}

impl ZabDecoder {
    /// A stage framing data of up to `max_data` bytes, holding at most `max_partial` bytes.
    pub fn new(max_data: usize, max_partial: usize) -> Self {
        ZabDecoder {
            max_data,
            max_partial,
            stats: ZabStats::default(),
            partial: PartialBudget::default(),
        }
    }

    /// Bytes all quorum connections hold now.
    #[cfg(test)]
    pub fn partial_bytes(&self) -> u64 {
        self.partial.total()
    }
}

impl Budgeted<ZabConn> for ZabDecoder {
    fn victim(&self) -> Option<ConnKey> {
        self.partial.victim(self.max_partial)
    }

    fn shed(&mut self, conn: &ConnKey, state: &mut ZabConn) -> bool {
        let stats = &mut self.stats;
        self.partial
            .shed(conn, state, ZabConn::held, |c| c.streams.iter_mut().for_each(|s| s.shed(stats)))
    }
}

/// The quorum stage with the sink its packets go to, for one push.
pub struct ZabHandler<'a, K> {
    /// The stage.
    pub decoder: &'a mut ZabDecoder,
    /// The sink.
    pub sink: &'a mut K,
}

impl<K: ZabSink> StreamHandler for ZabHandler<'_, K> {
    type State = ZabConn;

    fn on_event(&mut self, conn: &ConnKey, state: &mut ZabConn, event: StreamEvent<'_>) {
        let before = state.held();
        self.decode(conn, state, event);
        self.decoder.partial.account(conn, before, state.held());
    }
}

impl<K: ZabSink> ZabHandler<'_, K> {
    fn decode(&mut self, conn: &ConnKey, state: &mut ZabConn, event: StreamEvent<'_>) {
        let stats = &mut self.decoder.stats;
        match event {
            StreamEvent::Start { dir, from_syn } => {
                state.streams[dir.index()].start(from_syn, stats)
            }
            StreamEvent::Gap { dir, lost } => state.streams[dir.index()].gap(lost, stats),
            StreamEvent::Data { dir, ts, bytes } => {
                let from = match dir {
                    Direction::ToServer => Side::Learner,
                    Direction::ToClient => Side::Leader,
                };
                let sink = &mut *self.sink;
                let mut undecoded = 0;
                let max = self.decoder.max_data;
                state.streams[dir.index()].data(bytes, max, stats, &mut |p, size| {
                    let body = ZabBody::of(p, from);
                    undecoded += u64::from(body == ZabBody::Undecoded);
                    sink.zab(&ZabMessage {
                        ts,
                        conn: *conn,
                        from,
                        kind: p.kind,
                        zxid: p.zxid,
                        body,
                        size,
                        auth: p.auth,
                    });
                });
                self.decoder.stats.undecoded_bodies += undecoded;
            }
            // The state is dropped after this: what it held is no longer held.
            StreamEvent::Closed { .. } => *state = ZabConn::default(),
        }
    }
}
