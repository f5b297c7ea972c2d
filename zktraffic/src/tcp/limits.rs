//! Reassembly's caps and counters, shared by the flow table and the per-direction reassembly.

use serde::Serialize;

/// Caps on reassembly state. Every cap has a counter in [`TcpStats`] that counts when it bites.
#[derive(Clone, Debug, Serialize)]
pub struct TcpLimits {
    /// Most connections tracked at once. Beyond it a new connection takes the place of the
    /// oldest one the server has not answered (a SYN flood's, spoofed data's), and is refused
    /// when every tracked connection has been answered.
    pub max_connections: usize,
    /// Most out-of-order bytes buffered per direction of a connection.
    pub max_buffered_bytes: usize,
    /// Most out-of-order segments buffered per direction of a connection.
    pub max_buffered_segments: usize,
    /// Most out-of-order bytes buffered by all connections together (plus a small per-segment
    /// overhead), so that memory stays bounded even with every connection at its own cap.
    pub max_total_buffered_bytes: usize,
    /// A connection without segments for longer than this (packet time, ns) is closed.
    pub idle_timeout_ns: u64,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 100_000,
            max_buffered_bytes: 4 << 20,
            max_buffered_segments: 4096,
            max_total_buffered_bytes: 256 << 20,
            idle_timeout_ns: 300 * 1_000_000_000,
        }
    }
}

/// Reassembly counters, monotonic over the table's life.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TcpStats {
    /// Segments pushed.
    pub segments: u64,
    /// Stream bytes delivered as `Data`.
    pub payload_bytes: u64,
    /// Connections created.
    pub connections_opened: u64,
    /// Connections closed with `CloseReason::Fin` (both FINs, port reuse, or one FIN at the
    /// end of the capture).
    pub closed_fin: u64,
    /// Connections closed by a RST.
    pub closed_reset: u64,
    /// Connections closed for idleness.
    pub closed_idle: u64,
    /// Connections still open at the end of the capture.
    pub closed_end_of_capture: u64,
    /// Connections closed because a new SYN reused their ports (also counted in `closed_fin`).
    pub port_reuses: u64,
    /// Segments of new connections refused because the table was full of answered ones.
    pub connection_cap_hits: u64,
    /// Connections the server had sent nothing on (half-open, or spoofed data), closed to make
    /// room for a new one when the table was full.
    pub unanswered_evicted: u64,
    /// Bytes received again after being delivered or skipped (retransmissions, overlaps), or
    /// lying before the point where the capture joined the stream; dropped.
    pub duplicate_bytes: u64,
    /// Segments buffered because they arrived ahead of a hole.
    pub out_of_order_segments: u64,
    /// `Gap` events delivered.
    pub gaps: u64,
    /// Stream bytes reported lost in `Gap` events.
    pub lost_bytes: u64,
    /// Times a buffer cap forced skipping a hole.
    pub buffer_cap_hits: u64,
    /// Segments whose capture kept fewer payload bytes than the wire carried.
    pub truncated_segments: u64,
    /// Segments ignored: no payload, SYN or state to act on (e.g. ACKs, RSTs of unknown
    /// connections).
    pub ignored_segments: u64,
    /// Bytes dropped because they lie past their direction's FIN.
    pub bytes_beyond_fin: u64,
}
