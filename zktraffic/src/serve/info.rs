//! `/json/info`, typed: what the daemon says about itself, built by the capture and aggregation
//! threads and read by HTTP (`/json/info`, `/metrics`, the first window's hint) and by
//! `--exit-when-done`.

use serde::Serialize;

use crate::capture::SourceInfo;
use crate::pipeline::PipelineStats;
use crate::stats::tally::TallyCounts;

/// The daemon's state as of one publication (`uptime` and `finished` are filled when served).
#[derive(Clone, Debug, Serialize)]
pub struct Info {
    /// zktraffic's version.
    pub version: &'static str,
    /// Seconds since the daemon started.
    pub uptime: u64,
    /// The input ended (a replayed capture is done, or the source failed).
    pub finished: bool,
    /// The source and its counters.
    pub capture: CaptureInfo,
    /// Every stage after capture: reassembly, decoding, their caps.
    pub pipeline: PipelineStats,
    /// `--sampling`.
    pub sampling: SamplingInfo,
    /// The bounded queue between capture and aggregation.
    pub queue: QueueInfo,
    /// Client connections, as the flow table and the aggregator see them.
    pub connections: ConnectionsInfo,
    /// Windows and totals (absent until the aggregation thread first publishes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<AggregationInfo>,
    /// The HTTP side's counters, read when served (they move while a snapshot stands still).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<serde_json::Value>,
    /// The ids, `no_new_privs` and capabilities the process holds, read when served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileges: Option<crate::privilege::Held>,
}

/// `/json/info`'s `capture`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CaptureInfo {
    /// What the source is.
    pub source: SourceInfo,
    /// The source's own counters (frames, kernel and ring drops, attachment).
    pub stats: serde_json::Value,
    /// Why the source failed or is not capturing, if it is.
    pub error: Option<String>,
    /// Seconds since capture started.
    pub elapsed_seconds: f64,
}

/// `/json/info`'s `sampling`.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct SamplingInfo {
    /// Fraction of connections analysed.
    pub probability: f64,
    /// Segments of connections left out.
    pub segments_sampled_out: u64,
}

/// `/json/info`'s `queue`.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct QueueInfo {
    /// Messages that may wait between capture and aggregation.
    pub capacity_messages: usize,
    /// Messages dropped because the queue was full (live capture only; a replay waits).
    pub dropped: QueueDropped,
}

/// Messages live capture dropped because the queue to aggregation was full, by kind.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct QueueDropped {
    /// Requests.
    pub requests: u64,
    /// Replies.
    pub replies: u64,
    /// Watch events.
    pub events: u64,
    /// Pings, four-letter words, connection ends.
    pub other: u64,
}

/// `/json/info`'s `connections`.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ConnectionsInfo {
    /// TCP connections in the flow table.
    pub live: usize,
    /// Client connections the aggregator tracks.
    pub tracked: usize,
    /// Tracked connections still open.
    pub open: usize,
    /// Tracked connections with a known session.
    pub sessions: usize,
    /// Connections not tracked because the table was full.
    pub not_tracked: u64,
    /// Closed connections forgotten after their grace period.
    pub expired: u64,
    /// Connections seen closing.
    pub closed: u64,
}

/// `/json/info`'s `aggregation`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AggregationInfo {
    /// `--window`, in seconds.
    pub window_seconds: f64,
    /// Windows closed so far.
    pub windows_completed: u64,
    /// Capture time the current window started at (none before the first message).
    pub current_window_start: Option<String>,
    /// Capture time of the last message.
    pub last_packet: String,
    /// The last completed window.
    pub window: WindowInfo,
    /// Totals since start.
    pub cumulative: TallyCounts,
    /// Paths known since start.
    pub distinct_paths: usize,
    /// `--max-paths`.
    pub max_paths: usize,
}

/// The last completed window: its bounds and totals.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WindowInfo {
    /// Capture time it started at.
    pub start: String,
    /// Capture time it ended at.
    pub end: String,
    /// Its totals and cap counters.
    pub counts: TallyCounts,
}

impl Default for Info {
    fn default() -> Self {
        Info {
            version: env!("CARGO_PKG_VERSION"),
            uptime: 0,
            finished: false,
            capture: CaptureInfo::default(),
            pipeline: PipelineStats::default(),
            sampling: SamplingInfo::default(),
            queue: QueueInfo::default(),
            connections: ConnectionsInfo::default(),
            aggregation: None,
            http: None,
            privileges: None,
        }
    }
}

impl Info {
    /// Messages decoded (requests, replies, events).
    pub fn messages(&self) -> u64 {
        let d = &self.pipeline.decode.protocol;
        d.requests + d.replies + d.events
    }

    /// One line for `--exit-when-done`: messages decoded, capture-thread time, paths.
    pub fn replay_summary(&self, tracked_clients: usize) -> serde_json::Value {
        let agg = self.aggregation.clone().unwrap_or_default();
        serde_json::json!({
            "messages": self.messages(),
            "replay_seconds": self.capture.elapsed_seconds,
            "distinct_paths": agg.distinct_paths,
            "folded_paths": agg.cumulative.folded_paths,
            "tracked_clients": tracked_clients,
        })
    }
}
