//! Latency accounting: exact fixed buckets for Prometheus, hdrhistogram for percentiles.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Upper bounds of the Prometheus histogram buckets, in nanoseconds (100 µs … 10 s).
pub const BUCKET_BOUNDS_NS: [u64; 16] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Largest latency a histogram records (an hour, in µs); larger ones are recorded as this.
const MAX_RECORDED_US: u64 = 3_600_000_000;

/// A latency distribution: count, sum and max exactly, per-bucket counts exactly, and
/// percentiles from an optional histogram in microseconds (mergeable, bounded relative error).
#[derive(Clone, Debug)]
pub struct Latency {
    pub count: u64,
    pub sum_ns: u64,
    pub max_ns: u64,
    /// Non-cumulative counts per [`BUCKET_BOUNDS_NS`] bound; the last slot is +Inf.
    pub buckets: [u64; BUCKET_BOUNDS_NS.len() + 1],
    /// Microseconds; `None` when only count/sum/max are kept (cheap per-path accounting).
    pub hist: Option<Box<Histogram<u32>>>,
}

/// What `/json/latency` shows for one distribution.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub avg_us: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_us: Option<f64>,
    pub max_us: f64,
}

impl Latency {
    /// An empty distribution; `sigfig` significant digits of percentiles, or none.
    pub fn new(sigfig: Option<u8>) -> Self {
        Latency {
            count: 0,
            sum_ns: 0,
            max_ns: 0,
            buckets: [0; BUCKET_BOUNDS_NS.len() + 1],
            // Auto-resizing from a small range: memory follows the largest latency seen.
            hist: sigfig.and_then(|s| Histogram::new(s).ok()).map(Box::new),
        }
    }

    /// Records one reply's latency.
    pub fn record(&mut self, ns: u64) {
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.max_ns = self.max_ns.max(ns);
        let slot = BUCKET_BOUNDS_NS.partition_point(|&b| b < ns);
        self.buckets[slot] += 1;
        if let Some(h) = &mut self.hist {
            // Auto-resizing (saturating_record would clamp instead); capped at an hour so one
            // absurd value cannot grow every histogram.
            let _ = h.record((ns / 1_000).min(MAX_RECORDED_US));
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Latency) {
        self.count += other.count;
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
        if let (Some(a), Some(b)) = (&mut self.hist, &other.hist) {
            // Both auto-resize, so adding cannot fail on range; a failure only loses percentiles.
            let _ = a.add(&**b);
        }
    }

    /// The JSON summary.
    pub fn summary(&self) -> LatencySummary {
        let us = |ns: u64| ns as f64 / 1_000.0;
        let q = |p: f64| self.hist.as_ref().map(|h| h.value_at_quantile(p) as f64);
        LatencySummary {
            count: self.count,
            avg_us: if self.count == 0 { 0.0 } else { us(self.sum_ns) / self.count as f64 },
            p50_us: q(0.50),
            p95_us: q(0.95),
            p99_us: q(0.99),
            max_us: us(self.max_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges() {
        let mut a = Latency::new(Some(2));
        a.record(531_000);
        a.record(50_000);
        let mut b = Latency::new(Some(2));
        b.record(20_000_000_000);
        a.merge(&b);
        assert_eq!(a.count, 3);
        assert_eq!(a.buckets[0], 1);
        assert_eq!(a.buckets[3], 1);
        assert_eq!(a.buckets[16], 1);
        let s = a.summary();
        assert_eq!(s.max_us, 20_000_000.0);
        assert!(s.p50_us.is_some_and(|p| (p - 531.0).abs() < 10.0));
        assert!(Latency::new(None).summary().p99_us.is_none());
    }
}
