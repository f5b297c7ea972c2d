//! [`CaptureStats`]: the reader's counters.

use crate::capture::Segment;
use crate::capture::link::SkipReason;

/// What a [`CaptureReader`](super::CaptureReader) has seen so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaptureStats {
    /// Packet records read (pcap records; pcapng enhanced, simple and obsolete packet blocks).
    pub frames: u64,
    /// Captured bytes in those records.
    pub captured_bytes: u64,
    /// Records captured shorter than they were on the wire (snap length).
    pub truncated_frames: u64,
    /// TCP segments delivered.
    pub tcp_segments: u64,
    /// Captured TCP payload bytes delivered.
    pub tcp_payload_bytes: u64,
    /// Delivered segments whose payload was cut short (`payload.len() < wire_len`).
    pub truncated_payloads: u64,
    /// Frames skipped: not IPv4/IPv6.
    pub skipped_not_ip: u64,
    /// Frames skipped: IP but not TCP.
    pub skipped_not_tcp: u64,
    /// Frames skipped: IP fragments.
    pub skipped_ip_fragments: u64,
    /// Frames skipped: link type not supported.
    pub skipped_unsupported_link: u64,
    /// Frames skipped: captured bytes end inside the headers.
    pub skipped_truncated_headers: u64,
    /// Frames skipped: impossible header values.
    pub skipped_malformed: u64,
    /// pcapng packets skipped because their interface was never described.
    pub skipped_unknown_interface: u64,
    /// pcapng sections started.
    pub sections: u64,
    /// pcapng interfaces described.
    pub interfaces: u64,
    /// pcapng blocks that carry no packets and were ignored (statistics, name resolution, …).
    pub ignored_blocks: u64,
    /// A last record cut off by the end of the file (0 or 1).
    pub truncated_records: u64,
    /// Warnings raised (also those beyond the ones kept as text).
    pub warnings: u64,
}

impl CaptureStats {
    /// Counts a frame skipped for `reason`.
    pub(super) fn count_skip(&mut self, reason: SkipReason) {
        let counter = match reason {
            SkipReason::NotIp => &mut self.skipped_not_ip,
            SkipReason::NotTcp => &mut self.skipped_not_tcp,
            SkipReason::Fragment => &mut self.skipped_ip_fragments,
            SkipReason::UnsupportedLink => &mut self.skipped_unsupported_link,
            SkipReason::TruncatedHeaders => &mut self.skipped_truncated_headers,
            SkipReason::Malformed => &mut self.skipped_malformed,
        };
        *counter += 1;
    }

    /// Counts a delivered segment (and its payload, and whether it was cut short).
    pub(super) fn count_segment(&mut self, segment: &Segment<'_>) {
        self.tcp_segments += 1;
        self.tcp_payload_bytes += segment.payload.len() as u64;
        if (segment.payload.len() as u64) < u64::from(segment.wire_len) {
            self.truncated_payloads += 1;
        }
    }
}
