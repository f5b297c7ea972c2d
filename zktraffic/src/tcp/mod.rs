//! TCP: the flow table and per-direction stream reassembly.
//!
//! [`FlowTable`] turns captured [`Segment`](crate::capture::Segment)s into ordered byte streams,
//! one per direction of each connection, delivered as [`StreamEvent`]s to a [`StreamHandler`]
//! together with the per-connection state `S` the handler keeps (the ZooKeeper session).

mod flow_table;
mod limits;
mod reassembly;
mod reorder;
#[cfg(test)]
mod test_support;

use std::net::SocketAddr;

pub use flow_table::FlowTable;
pub use limits::{TcpLimits, TcpStats};

use crate::Timestamp;

/// A connection, oriented from the ZooKeeper client to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey {
    /// The client end (the side whose port is not a server port).
    pub client: SocketAddr,
    /// The server end (the side listening on a ZooKeeper port).
    pub server: SocketAddr,
}

/// Which way bytes travel on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client → server: requests.
    ToServer,
    /// Server → client: replies, watch events.
    ToClient,
}

impl Direction {
    /// Index 0 for [`Direction::ToServer`], 1 for [`Direction::ToClient`]: for per-direction arrays.
    pub const fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

/// Why a connection's streams ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Both directions sent FIN (or one sent FIN and the capture ended).
    Fin,
    /// A RST was seen.
    Reset,
    /// No segment for longer than the idle timeout.
    Idle,
    /// Evicted to make room under the connection cap.
    Evicted,
    /// The capture ended with the connection still open.
    EndOfCapture,
}

/// What reassembly delivers, in order, for one connection.
#[derive(Debug)]
pub enum StreamEvent<'a> {
    /// The first byte of a direction's stream is known. `from_syn` is true when the SYN was seen,
    /// so the stream starts at the very beginning of the connection; false when the capture
    /// joined the connection mid-stream.
    Start { dir: Direction, from_syn: bool },
    /// The next bytes of a direction's stream, in order, each delivered exactly once.
    Data { dir: Direction, ts: Timestamp, bytes: &'a [u8] },
    /// `lost` bytes of a direction's stream will never be delivered (lost segment, truncated
    /// capture, buffer cap). The next `Data` continues after the hole.
    Gap { dir: Direction, lost: u64 },
    /// The connection is over; its state is dropped after this event.
    Closed { ts: Timestamp, reason: CloseReason },
}

/// Receives the ordered streams of every connection.
pub trait StreamHandler {
    /// Per-connection state, created with `Default` when a connection is first seen and dropped
    /// after its `Closed` event.
    type State: Default;

    /// Called for every event of a connection, with that connection's state.
    fn on_event(&mut self, conn: &ConnKey, state: &mut Self::State, event: StreamEvent<'_>);
}

#[cfg(test)]
mod tests;
