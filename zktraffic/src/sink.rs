//! What every front-end implements: the [`MessageSink`] that decoded messages of every
//! protocol go to. Each decoder sees only its own part ([`ClientSink`], [`ZabSink`],
//! [`ElectionSink`]), so the protocols stay independent of one another; every `MessageSink` is
//! all of them.

use crate::Timestamp;
use crate::election::{ElectionMessage, ElectionSink};
use crate::quorum::{ZabMessage, ZabSink};
use crate::tcp::{CloseReason, ConnKey};
use crate::zk::{ClientSink, Message};

/// Receives every decoded message, in capture order per connection.
pub trait MessageSink {
    /// One client-protocol message; it borrows decoder buffers, so copy what must outlive the
    /// call.
    fn message(&mut self, msg: &Message<'_>);

    /// `conn` (a client connection) ended at `ts`, after its last message.
    fn closed(&mut self, conn: &ConnKey, ts: Timestamp, reason: CloseReason) {
        let _ = (conn, ts, reason);
    }

    /// One ZAB packet from a quorum port (only when quorum ports are decoded).
    fn zab(&mut self, msg: &ZabMessage<'_>) {
        let _ = msg;
    }

    /// One leader-election message (only when election ports are decoded).
    fn election(&mut self, msg: &ElectionMessage<'_>) {
        let _ = msg;
    }
}

impl<F: FnMut(&Message<'_>)> MessageSink for F {
    fn message(&mut self, msg: &Message<'_>) {
        self(msg)
    }
}

impl<T: MessageSink + ?Sized> ClientSink for T {
    fn message(&mut self, msg: &Message<'_>) {
        MessageSink::message(self, msg)
    }

    fn closed(&mut self, conn: &ConnKey, ts: Timestamp, reason: CloseReason) {
        MessageSink::closed(self, conn, ts, reason)
    }
}

impl<T: MessageSink + ?Sized> ZabSink for T {
    fn zab(&mut self, msg: &ZabMessage<'_>) {
        MessageSink::zab(self, msg)
    }
}

impl<T: MessageSink + ?Sized> ElectionSink for T {
    fn election(&mut self, msg: &ElectionMessage<'_>) {
        MessageSink::election(self, msg)
    }
}
