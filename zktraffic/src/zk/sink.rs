//! The decoding stage's contract with the rest of the program: the [`ClientSink`] every
//! decoded [`Message`] goes to (every [`MessageSink`](crate::MessageSink) is one), the decoder's limits ([`DecoderConfig`]) and its counters
//! ([`DecodeStats`]).

use serde::Serialize;

use crate::Timestamp;
use crate::tcp::{CloseReason, ConnKey};

use super::framing::FramingStats;
use super::message::Message;

/// What the client-protocol decoder hands its messages to (the client half of
/// [`MessageSink`](crate::MessageSink), which every sink implements).
pub trait ClientSink {
    /// One message; it borrows decoder buffers, so copy what must outlive the call.
    fn message(&mut self, msg: &Message<'_>);

    /// `conn` ended at `ts` (after its last message).
    fn closed(&mut self, conn: &ConnKey, ts: Timestamp, reason: CloseReason) {
        let _ = (conn, ts, reason);
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
    /// Messages by kind, and what was odd about them.
    #[serde(flatten)]
    pub protocol: ProtocolStats,
    /// Frames: sizes, skips, resynchronisation.
    #[serde(flatten)]
    pub framing: FramingStats,
}
