//! The original's quick reports on `dump`: `--count-requests N` (the first N requests and watch
//! events, counted by a key) and `--measure-latency N` (the first N paired replies, latency
//! statistics by a key), also bounded by `--duration` of packet time.

mod table;

use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;

use super::filter::Filter;
use crate::Timestamp;
use crate::sink::MessageSink;
use crate::stats::identity;
use crate::stats::path::parent_path;
use crate::tcp::ConnKey;
use crate::zk::message::RequestRecord;
use crate::zk::{Body, Message, OpCode};
use table::LatencyRow;

/// Latency samples kept at most (8 bytes each): a `--duration` report on a busy server stops
/// collecting there, and says so.
pub const MAX_SAMPLES: u64 = 10_000_000;

/// Which report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    /// Requests and watch events counted by key (`--count-requests`).
    Count,
    /// Paired replies' latency by key (`--measure-latency`).
    Latency,
}

/// What rows are keyed by (`--group-by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// The (aggregated) path; path-less messages have key `""`, as in the original.
    Path,
    /// The message type (`ExistsRequest`, `NodeDataChanged`); for latency, the request's.
    Type,
    /// The client, `IP:PORT`.
    Client,
    /// Who the connection authenticated as (`digest:user`, never a secret), `noauth` before.
    Auth,
    /// The operation (`Exists`): a request and its reply are one row.
    Op,
}

/// The column latency rows are sorted by (`--sort-by`), descending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SortBy {
    Avg,
    P50,
    P95,
    P99,
    Max,
    Count,
    Errors,
}

/// A report's settings.
#[derive(Clone, Debug)]
pub struct ReportConfig {
    pub kind: ReportKind,
    /// Messages to collect (requests and events, or paired replies); `None`: until the end.
    pub limit: Option<u64>,
    /// Packet time to collect for, from the first message collected; `None`: no bound.
    pub duration_ns: Option<u64>,
    pub group_by: GroupBy,
    pub sort_by: SortBy,
    /// Path components kept for `--group-by path` (0: the whole path).
    pub depth: usize,
}

/// One key's figures.
#[derive(Debug, Default)]
struct Group {
    requests: u64,
    events: u64,
    errors: u64,
    /// Nanoseconds, in arrival order (sorted when reported).
    latencies: Vec<u64>,
}

/// Collects a report as a message sink.
pub struct Report {
    config: ReportConfig,
    filter: Filter,
    groups: HashMap<String, Group>,
    /// Identities established by auth requests, per connection.
    identities: HashMap<ConnKey, String>,
    collected: u64,
    first_ts: Option<Timestamp>,
    done: bool,
    /// Samples were dropped at [`MAX_SAMPLES`].
    truncated: bool,
}

impl Report {
    /// An empty report of the messages `filter` accepts.
    pub fn new(config: ReportConfig, filter: Filter) -> Self {
        Report {
            config,
            filter,
            groups: HashMap::new(),
            identities: HashMap::new(),
            collected: 0,
            first_ts: None,
            done: false,
            truncated: false,
        }
    }

    /// True once the limit or the duration is reached: the rest of the input can be skipped.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Messages collected so far, and the limit.
    pub fn progress(&self) -> (u64, Option<u64>) {
        (self.collected, self.config.limit)
    }

    fn key(&self, msg: &Message<'_>, op: Option<OpCode>, type_name: &str) -> String {
        match self.config.group_by {
            GroupBy::Path => super::path(msg)
                .map_or_else(String::new, |p| parent_path(p, self.config.depth).to_owned()),
            GroupBy::Type => type_name.to_owned(),
            GroupBy::Client => msg.conn.client.to_string(),
            GroupBy::Auth => self
                .identities
                .get(msg.conn)
                .cloned()
                .unwrap_or_else(|| identity::NOAUTH.to_owned()),
            GroupBy::Op => op.map_or_else(|| type_name.to_owned(), |op| op.base_name().to_owned()),
        }
    }

    /// False (and the report is done) once `ts` is past the duration.
    fn in_time(&mut self, ts: Timestamp) -> bool {
        let first = *self.first_ts.get_or_insert(ts);
        let over = self.config.duration_ns.is_some_and(|d| ts.saturating_nanos_since(first) >= d);
        self.done |= over;
        !over
    }

    /// Counts one message toward the limit.
    fn collected_one(&mut self) {
        self.collected += 1;
        if self.config.limit.is_some_and(|n| self.collected >= n) {
            self.done = true;
        }
    }

    /// The rows, sorted.
    pub fn rows(&self) -> Rows {
        match self.config.kind {
            ReportKind::Count => {
                let mut rows: Vec<CountRow> = self
                    .groups
                    .iter()
                    .map(|(key, g)| CountRow {
                        key: key.clone(),
                        count: g.requests + g.events,
                        requests: g.requests,
                        events: g.events,
                    })
                    .collect();
                rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
                Rows::Count(rows)
            }
            ReportKind::Latency => {
                let mut rows: Vec<LatencyRow> =
                    self.groups.iter().map(|(key, g)| LatencyRow::new(key, g)).collect();
                let sort = self.config.sort_by;
                rows.sort_by(|a, b| {
                    b.sort_value(sort)
                        .total_cmp(&a.sort_value(sort))
                        .then_with(|| a.key.cmp(&b.key))
                });
                Rows::Latency(rows)
            }
        }
    }

    /// Writes the report: the original's text layouts, or one JSON object.
    pub fn write(&self, out: &mut impl Write, json: bool) -> io::Result<()> {
        let rows = self.rows();
        if json {
            let v = serde_json::json!({
                "group_by": self.config.group_by,
                "collected": self.collected,
                "truncated": self.truncated,
                "rows": rows,
            });
            serde_json::to_writer(&mut *out, &v).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
        } else {
            match &rows {
                Rows::Count(rows) => {
                    for r in rows {
                        writeln!(out, "{} {}", r.key, r.count)?;
                    }
                }
                Rows::Latency(rows) => table::write_latency(out, self.group_label(), rows)?,
            }
        }
        out.flush()
    }

    fn group_label(&self) -> &'static str {
        match self.config.group_by {
            GroupBy::Path => "path",
            GroupBy::Type => "type",
            GroupBy::Client => "client",
            GroupBy::Auth => "auth",
            GroupBy::Op => "op",
        }
    }

    /// True when samples were dropped at [`MAX_SAMPLES`].
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

impl MessageSink for Report {
    fn message(&mut self, msg: &Message<'_>) {
        if let Body::Request(r) = &msg.body
            && let RequestRecord::Auth { scheme, credential, .. } = &r.record
        {
            // Tracked whatever the filter shows: it is who the connection is.
            self.identities.insert(*msg.conn, identity::from_auth(scheme, credential));
        }
        if self.done || !self.filter.accepts(msg) {
            return;
        }
        let collects = match (self.config.kind, &msg.body) {
            (ReportKind::Count, Body::Request(_) | Body::Event(_)) => true,
            (ReportKind::Latency, Body::Reply(r)) => r.request.is_some(),
            _ => false,
        };
        if !collects || !self.in_time(msg.ts) {
            return;
        }
        match (self.config.kind, &msg.body) {
            (ReportKind::Count, Body::Request(r)) => {
                let key = self.key(msg, Some(r.op), r.name());
                self.groups.entry(key).or_default().requests += 1;
                self.collected_one();
            }
            (ReportKind::Count, Body::Event(e)) => {
                let key = self.key(msg, None, e.type_name());
                self.groups.entry(key).or_default().events += 1;
                self.collected_one();
            }
            (ReportKind::Latency, Body::Reply(r)) => {
                // The original leaves close requests out; a latency beyond belief has none.
                let (Some(p), Some(ns)) = (r.request, r.latency_ns(msg.ts)) else { return };
                if p.op == OpCode::Close {
                    return;
                }
                let key = self.key(msg, Some(p.op), p.name);
                let truncated = self.collected >= MAX_SAMPLES;
                let g = self.groups.entry(key).or_default();
                g.errors += u64::from(!r.err.is_ok());
                if truncated {
                    self.truncated = true;
                    self.done = true;
                    return;
                }
                g.latencies.push(ns);
                self.collected_one();
            }
            _ => {}
        }
    }
}

/// A report's rows.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Rows {
    Count(Vec<CountRow>),
    Latency(Vec<LatencyRow>),
}

/// A `--count-requests` row: `count` = requests + events, the original's number.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CountRow {
    pub key: String,
    pub count: u64,
    pub requests: u64,
    pub events: u64,
}

impl LatencyRow {
    fn new(key: &str, g: &Group) -> Self {
        let mut v: Vec<f64> = g.latencies.iter().map(|&ns| ns as f64 / 1_000.0).collect();
        v.sort_by(f64::total_cmp);
        let avg = if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
        // To 0.1 µs, as the daemon's JSON.
        let avg = (avg * 10.0).round() / 10.0;
        LatencyRow {
            key: key.to_owned(),
            count: v.len() as u64,
            avg_us: avg,
            p50_us: percentile(&v, 0.50),
            p95_us: percentile(&v, 0.95),
            p99_us: percentile(&v, 0.99),
            max_us: v.last().copied().unwrap_or(0.0),
            errors: g.errors,
        }
    }

    fn sort_value(&self, by: SortBy) -> f64 {
        match by {
            SortBy::Avg => self.avg_us,
            SortBy::P50 => self.p50_us,
            SortBy::P95 => self.p95_us,
            SortBy::P99 => self.p99_us,
            SortBy::Max => self.max_us,
            SortBy::Count => self.count as f64,
            SortBy::Errors => self.errors as f64,
        }
    }
}

/// The original's `percentile(sorted, p)`: index `(n − 1)·p`, linear interpolation between
/// its floor and ceiling (1..=10 → p95 = 9.55).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else { return 0.0 };
    let idx = last as f64 * p;
    let (lo, hi) = (idx.floor() as usize, idx.ceil() as usize);
    if lo == hi {
        return sorted[lo];
    }
    sorted[lo] * (hi as f64 - idx) + sorted[hi] * (idx - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_as_the_original() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!((percentile(&v, 0.95) - 9.55).abs() < 1e-9);
        assert_eq!(percentile(&v, 0.5), 5.5);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
        assert_eq!(percentile(&[], 0.99), 0.0);
    }
}
