//! What every front-end implements: the [`MessageSink`] that decoded messages of every
//! protocol go to. Each decoder sees only its own half ([`ClientSink`], [`ZabSink`]), so the
//! protocols stay independent of one another; every `MessageSink` is both.

use crate::Timestamp;
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
