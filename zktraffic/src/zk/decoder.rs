//! The decoding stage as the flow table sees it: a [`StreamHandler`] whose per-connection state
//! is a [`Session`], and which hands every decoded [`Message`] to a [`MessageSink`].

use std::collections::BTreeSet;

use serde::Serialize;

use crate::Timestamp;
use crate::tcp::{CloseReason, ConnKey, StreamEvent, StreamHandler};

use super::framing::FramingStats;
use super::message::Message;
use super::session::Session;

/// Receives every decoded message, in capture order per connection.
pub trait MessageSink {
    /// One message; it borrows decoder buffers, so copy what must outlive the call.
    fn message(&mut self, msg: &Message<'_>);

    /// `conn` ended at `ts` (after its last message).
    fn closed(&mut self, conn: &ConnKey, ts: Timestamp, reason: CloseReason) {
        let _ = (conn, ts, reason);
    }
}

impl<F: FnMut(&Message<'_>)> MessageSink for F {
    fn message(&mut self, msg: &Message<'_>) {
        self(msg)
    }
}

/// Limits of the decoding stage.
#[derive(Clone, Debug, Serialize)]
pub struct DecoderConfig {
    /// Largest frame decoded (bytes after the length prefix); larger ones are skipped and
    /// counted. Default: 2 MiB, jute.maxbuffer (1 MiB) plus the same again of slack, like the
    /// Java client's `jute.maxbuffer.extrasize`.
    pub max_frame_bytes: usize,
    /// Most requests remembered per connection while waiting for their replies.
    pub max_pending: usize,
    /// Most bytes of waiting requests (entries and their paths) over all connections.
    pub max_pending_bytes: usize,
    /// Most bytes of incomplete frames and searches over all connections; past it the largest
    /// holder's are dropped (counted) until the total fits.
    pub max_partial_bytes: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            max_frame_bytes: 2 << 20,
            max_pending: 10_000,
            max_pending_bytes: 64 << 20,
            max_partial_bytes: 128 << 20,
        }
    }
}

/// Counters of the protocol layer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolStats {
    /// Frames decoded (all kinds).
    pub frames: u64,
    pub requests: u64,
    pub replies: u64,
    pub events: u64,
    pub four_letter_words: u64,
    /// Connections carrying TLS (recognised, not decoded).
    pub tls_connections: u64,
    /// Connections whose handshake announced a protocol version other than 0.
    pub foreign_dialect_connections: u64,
    /// Bytes of four-letter words, TLS and foreign dialects.
    pub opaque_bytes: u64,
    /// Frames whose record did not decode (reported with an undecoded body).
    pub malformed_records: u64,
    /// Streams seen from their start whose first frame was not the handshake.
    pub handshakes_missing: u64,
    /// Replies whose request was not captured.
    pub unpaired_replies: u64,
    /// Paired replies timestamped before their request (a clock step, or timestamps taken on
    /// different CPUs): their latency is taken as 0.
    pub replies_before_request: u64,
    /// Paired replies more than an hour after their request (a timestamp jump, or a reused
    /// xid): no latency is recorded for them.
    pub latencies_out_of_range: u64,
    /// Requests that never got a reply (lost, or the connection ended first).
    pub unanswered_requests: u64,
    /// Requests not remembered because `max_pending` were already waiting.
    pub pending_cap_hits: u64,
    /// Requests not remembered because `max_pending_bytes` were in use.
    pub pending_budget_hits: u64,
    /// Bytes of requests waiting for their replies now, over all connections (a gauge).
    pub pending_bytes: u64,
}

/// Every decoding counter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DecodeStats {
    #[serde(flatten)]
    pub protocol: ProtocolStats,
    #[serde(flatten)]
    pub framing: FramingStats,
}

/// The decoding stage: configuration, counters and the sink.
#[derive(Debug)]
pub struct Decoder<K> {
    pub config: DecoderConfig,
    pub stats: DecodeStats,
    pub sink: K,
    /// Connections holding partial-frame bytes, by how many: the budget sheds the largest.
    partial: BTreeSet<(usize, ConnKey)>,
}

impl<K: MessageSink> Decoder<K> {
    /// A decoder handing messages to `sink`.
    pub fn new(config: DecoderConfig, sink: K) -> Self {
        Decoder { config, stats: DecodeStats::default(), sink, partial: BTreeSet::new() }
    }

    /// The connection whose partial frames should be dropped now, the largest holder, while
    /// all of them together are over `max_partial_bytes`.
    pub fn partial_budget_victim(&self) -> Option<ConnKey> {
        if self.stats.framing.partial_bytes as usize <= self.config.max_partial_bytes {
            return None;
        }
        self.partial.last().map(|&(_, conn)| conn)
    }

    /// Drops `conn`'s partial frames (see [`Session::shed_partial`]); false when that gave
    /// nothing back.
    pub fn shed_partial(&mut self, conn: &ConnKey, state: &mut Session) -> bool {
        let before = state.partial_bytes();
        state.shed_partial(&mut self.stats);
        let after = state.partial_bytes();
        self.account_partial(conn, before, after);
        after < before
    }

    /// Keeps the index of partial-frame holders and the total in step with one connection.
    fn account_partial(&mut self, conn: &ConnKey, before: usize, after: usize) {
        if before == after {
            return;
        }
        if before > 0 {
            self.partial.remove(&(before, *conn));
        }
        if after > 0 {
            self.partial.insert((after, *conn));
        }
        let total = &mut self.stats.framing.partial_bytes;
        *total = (*total + after as u64).saturating_sub(before as u64);
    }
}

impl<K: MessageSink> StreamHandler for Decoder<K> {
    type State = Session;

    fn on_event(&mut self, conn: &ConnKey, state: &mut Session, event: StreamEvent<'_>) {
        let closed = match event {
            StreamEvent::Closed { ts, reason } => Some((ts, reason)),
            _ => None,
        };
        let before = state.partial_bytes();
        state.on_event(conn, event, &self.config, &mut self.stats, &mut self.sink);
        self.account_partial(conn, before, state.partial_bytes());
        if let Some((ts, reason)) = closed {
            self.sink.closed(conn, ts, reason);
        }
    }
}
