//! `/metrics`: OpenMetrics text (prometheus-client) from the cumulative view, so every counter
//! is monotonic since start.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use serde_json::Value;

use crate::output::numbers::flatten_numbers;
use crate::serve::info::Info;
use crate::serve::snapshot::{Snapshot, View};
use crate::stats::latency::{BUCKET_BOUNDS_NS, Latency};

/// Everything one scrape encodes.
#[derive(Debug)]
struct SnapshotCollector {
    view: Arc<View>,
    quorum: Option<Arc<crate::ensemble::state::QuorumView>>,
    info: Info,
    uptime_s: f64,
    live_connections: usize,
    /// The source is healthy (`/healthz` 200).
    healthy: bool,
}

/// Renders the snapshot as OpenMetrics text.
pub fn render(s: &Snapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector {
        view: s.cumulative.clone(),
        quorum: s.quorum.clone(),
        info: s.info.clone(),
        uptime_s: s.started.elapsed().as_secs_f64(),
        live_connections: s.live_connections,
        healthy: s.health.is_ok(),
    }));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// `base` (a rendered snapshot, cached) with the HTTP side's counters `http` (read per scrape)
/// added before its `# EOF`.
pub fn with_http(base: &str, http: &Value) -> String {
    struct Http(Vec<(String, u64)>);
    impl fmt::Debug for Http {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Http")
        }
    }
    impl Collector for Http {
        fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
            encode_numbers(&mut enc, &self.0)
        }
    }
    let mut values = Vec::new();
    numbers("http", http, &mut values);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Http(values)));
    let mut extra = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut extra, &registry);
    const EOF: &str = "# EOF\n";
    let head = base.strip_suffix(EOF).unwrap_or(base);
    let mut out = String::with_capacity(head.len() + extra.len());
    out.push_str(head);
    out.push_str(&extra);
    out
}

/// A label value as the exposition format requires it: prometheus-client writes label values
/// verbatim, and paths and names come from the wire, so `\`, `"` and newline are escaped here
/// (else a client-chosen path could close the label set and forge samples).
fn label(s: &str) -> Cow<'_, str> {
    if !s.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn counter_family<'a>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = ([(&'static str, &'a str); 2], u64)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for ([(k1, v1), (k2, v2)], v) in values {
        m.encode_family(&[(k1, label(v1)), (k2, label(v2))])?
            .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
    }
    Ok(())
}

fn histogram(enc: &mut prometheus_client::encoding::MetricEncoder, l: &Latency) -> fmt::Result {
    let buckets: Vec<(f64, u64)> = BUCKET_BOUNDS_NS
        .iter()
        .map(|&b| b as f64 / 1e9)
        .chain(std::iter::once(f64::MAX))
        .zip(l.buckets())
        .collect();
    enc.encode_histogram::<NoLabelSet>(l.sum_ns as f64 / 1e9, l.count, &buckets, None)
}

/// Numbers of `/json/info` that are levels, not counts: they go down as well as up.
const GAUGES: [&str; 4] = [
    "zktraffic_pipeline_decode_pending_bytes",
    "zktraffic_pipeline_decode_partial_bytes",
    "zktraffic_http_connections_open",
    "zktraffic_http_max_connections",
];

/// Each `a_b → value` of [`numbers`] as `zktraffic_a_b`: the caps in force (`pipeline.limits`,
/// durations in seconds) and the levels of [`GAUGES`] as gauges, every other number a counter.
fn encode_numbers(enc: &mut DescriptorEncoder, numbers: &[(String, u64)]) -> fmt::Result {
    for (name, v) in numbers {
        let v = *v;
        let name = format!("zktraffic_{}", name.replace(['.', '-'], "_"));
        if let Some(cap) = name.strip_prefix("zktraffic_pipeline_limits_") {
            if let Some(base) = name.strip_suffix("_ns") {
                let secs = Some(&prometheus_client::registry::Unit::Seconds);
                let help = format!("Cap {}", cap.trim_end_matches("_ns"));
                enc.encode_descriptor(base, &help, secs, MetricType::Gauge)?
                    .encode_gauge(&(v as f64 / 1e9))?;
            } else {
                enc.encode_descriptor(&name, &format!("Cap {cap}"), None, MetricType::Gauge)?
                    .encode_gauge(&v)?;
            }
        } else if GAUGES.contains(&name.as_str()) {
            enc.encode_descriptor(&name, &help_for(&name), None, MetricType::Gauge)?
                .encode_gauge(&v)?;
        } else {
            enc.encode_descriptor(&name, &help_for(&name), None, MetricType::Counter)?
                .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
        }
    }
    Ok(())
}

/// The help of a counter from its path in `/json/info`: `zktraffic_pipeline_tcp_gaps` →
/// "pipeline tcp: gaps (see /json/info)".
fn help_for(name: &str) -> String {
    let path = name.strip_prefix("zktraffic_").unwrap_or(name);
    let (stage, rest) = path.split_once('_').unwrap_or((path, ""));
    let (part, counter) = match (stage, rest.split_once('_')) {
        ("pipeline", Some((part @ ("tcp" | "decode" | "limits"), counter))) => {
            (format!("{stage} {part}"), counter)
        }
        _ => (stage.to_owned(), rest),
    };
    format!("{part}: {} (see /json/info)", counter.replace('_', " "))
}

/// `a.b.c → value` for every number in a JSON tree.
fn numbers(prefix: &str, v: &impl serde::Serialize, out: &mut Vec<(String, u64)>) {
    flatten_numbers(prefix, v, '_', out);
}

fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The ensemble's series: ZAB packets by type, elections, learner syncs by mode, and the
/// proposal → commit and per-follower ACK latency histograms.
fn encode_quorum(
    enc: &mut DescriptorEncoder,
    q: &crate::ensemble::state::QuorumView,
) -> fmt::Result {
    use crate::quorum::ZabType;
    let seconds = Some(&prometheus_client::registry::Unit::Seconds);
    let mut m = enc.encode_descriptor(
        "zktraffic_zab_packets",
        "ZAB packets on the quorum ports, by type and sender",
        None,
        MetricType::Counter,
    )?;
    for (t, n) in ZabType::ALL.iter().zip(&q.packets) {
        for (from, v) in [("leader", n[0]), ("learner", n[1])] {
            if v > 0 {
                m.encode_family(&[("type", t.name()), ("from", from)])?
                    .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
            }
        }
    }
    let mut m = enc.encode_descriptor(
        "zktraffic_elections",
        "Leader elections seen to finish",
        None,
        MetricType::Counter,
    )?;
    m.encode_counter::<NoLabelSet, _, u64>(&q.elections_total, None)?;
    let m = enc.encode_descriptor(
        "zktraffic_election_duration",
        "From an election round's first vote to the vote that made its quorum",
        seconds,
        MetricType::Histogram,
    )?;
    histogram_of(m, &q.election_duration)?;
    let mut m = enc.encode_descriptor(
        "zktraffic_learner_syncs",
        "Learner syncs with the leader, by mode",
        None,
        MetricType::Counter,
    )?;
    for (mode, v) in &q.syncs {
        m.encode_family(&[("mode", *mode)])?.encode_counter::<NoLabelSet, _, u64>(v, None)?;
    }
    let m = enc.encode_descriptor(
        "zktraffic_proposal_commit",
        "A write's first PROPOSAL to its first COMMIT",
        seconds,
        MetricType::Histogram,
    )?;
    histogram_of(m, &q.commit_latency)?;
    let mut m = enc.encode_descriptor(
        "zktraffic_follower_ack",
        "PROPOSAL to a follower to its ACK, by follower (sid, or address when unknown)",
        seconds,
        MetricType::Histogram,
    )?;
    for (addr, l) in &q.learners {
        let who = l.sid.map_or_else(|| addr.to_string(), |s| s.to_string());
        histogram(&mut m.encode_family(&[("learner", label(&who))])?, &l.ack)?;
    }
    let mut m = enc.encode_descriptor(
        "zktraffic_outstanding_proposals",
        "Proposals not committed yet",
        None,
        MetricType::Gauge,
    )?;
    m.encode_gauge(&(q.outstanding_proposals as u64))?;
    Ok(())
}

/// A histogram with no labels.
fn histogram_of(mut m: prometheus_client::encoding::MetricEncoder, l: &Latency) -> fmt::Result {
    histogram(&mut m, l)
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let t = &self.view.tally;
        let mut requests: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
        for (k, c) in &t.requests {
            let path = match t.path(k.path) {
                "" => "/",
                other => other,
            };
            let e = requests.entry((t.name(k.name).0, path)).or_default();
            e.0 += c.count;
            e.1 += c.bytes;
        }
        counter_family(
            &mut enc,
            "zktraffic_requests",
            "Requests by type and aggregated path",
            requests.iter().map(|(&(op, path), v)| ([("op", op), ("path", path)], v.0)),
        )?;
        counter_family(
            &mut enc,
            "zktraffic_request_bytes",
            "Request bytes (frame length prefixes) by type and aggregated path",
            requests.iter().map(|(&(op, path), v)| ([("op", op), ("path", path)], v.1)),
        )?;
        let mut replies: BTreeMap<(&str, String), u64> = BTreeMap::new();
        for (&(name, err, _), &n) in &t.replies {
            *replies.entry((t.name(name).0, err.to_string())).or_default() += n;
        }
        counter_family(
            &mut enc,
            "zktraffic_replies",
            "Replies by request type and error",
            replies.iter().map(|((op, e), &n)| ([("op", *op), ("error", e.as_str())], n)),
        )?;
        let mut events: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for (&(name, p), &n) in &t.events {
            *events.entry((t.name(name).0, t.path(p))).or_default() += n;
        }
        counter_family(
            &mut enc,
            "zktraffic_watch_events",
            "Watch events by type and aggregated path",
            events.iter().map(|(&(ev, path), &n)| ([("event", ev), ("path", path)], n)),
        )?;

        let mut by_op: BTreeMap<&str, Latency> = BTreeMap::new();
        for (name, l) in &t.latency {
            by_op.entry(name.0).or_insert_with(|| Latency::new(None)).merge(l);
        }
        let mut m = enc.encode_descriptor(
            "zktraffic_request_latency",
            "Reply time minus request time, by request type",
            Some(&prometheus_client::registry::Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (op, l) in &by_op {
            histogram(&mut m.encode_family(&[("op", label(op))])?, l)?;
        }
        if t.limits.path_latency {
            let mut m = enc.encode_descriptor(
                "zktraffic_path_latency",
                "Reply time minus request time, by aggregated path (--path-latency)",
                Some(&prometheus_client::registry::Unit::Seconds),
                MetricType::Histogram,
            )?;
            let mut by_path: BTreeMap<&str, &Latency> = BTreeMap::new();
            for (&p, l) in &t.path_latency {
                by_path.insert(t.path(p), l);
            }
            for (path, l) in by_path {
                let path = if path.is_empty() { "/" } else { path };
                histogram(&mut m.encode_family(&[("path", label(path))])?, l)?;
            }
        }

        if let Some(q) = &self.quorum {
            encode_quorum(&mut enc, q)?;
        }

        let gauges = [
            ("zktraffic_connections", "TCP connections in the flow table", self.live_connections),
            (
                "zktraffic_sessions",
                "Open client connections with a known session",
                self.view.conns.sessions(),
            ),
            ("zktraffic_tracked_clients", "Client connections tracked", self.view.conns.len()),
        ];
        for (name, help, v) in gauges {
            enc.encode_descriptor(name, help, None, MetricType::Gauge)?
                .encode_gauge(&(v as u64))?;
        }

        let mut counters = Vec::new();
        numbers("capture", &self.info.capture.stats, &mut counters);
        numbers("pipeline", &self.info.pipeline, &mut counters);
        numbers("aggregation", &t.counts, &mut counters);
        numbers("sampling", &self.info.sampling, &mut counters);
        numbers("queue_dropped", &self.info.queue.dropped, &mut counters);
        counters.retain(|(name, _)| name != "sampling_probability");
        encode_numbers(&mut enc, &counters)?;

        // A gauge of 1 rather than an info family: `info` is OpenMetrics-only, and the two
        // exposition formats then carry the same series.
        enc.encode_descriptor(
            "zktraffic_build_info",
            "Version of zktraffic (always 1)",
            None,
            MetricType::Gauge,
        )?
        .encode_family(&[("version", env!("CARGO_PKG_VERSION"))])?
        .encode_gauge(&1u64)?;
        enc.encode_descriptor(
            "zktraffic_uptime",
            "Seconds since the daemon started",
            Some(&prometheus_client::registry::Unit::Seconds),
            MetricType::Gauge,
        )?
        .encode_gauge(&self.uptime_s)?;
        // What `/healthz` says, for alerting: `up` stays 1 while the process serves but its
        // capture has lost the interface.
        enc.encode_descriptor(
            "zktraffic_capture_healthy",
            "1 while the capture source is attached and read (/healthz 200), else 0",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&u64::from(self.healthy))?;
        if let Some(rss) = resident_memory_bytes() {
            enc.encode_descriptor(
                "process_resident_memory",
                "Resident memory",
                Some(&prometheus_client::registry::Unit::Bytes),
                MetricType::Gauge,
            )?
            .encode_gauge(&rss)?;
        }
        Ok(())
    }
}
