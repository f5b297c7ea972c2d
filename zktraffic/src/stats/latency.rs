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

/// Largest latency a histogram records, in µs; the decoder gives no latency beyond it.
const MAX_RECORDED_US: u64 = crate::zk::message::MAX_LATENCY_NS / 1_000;

/// Non-cumulative counts per [`BUCKET_BOUNDS_NS`] bound; the last slot is +Inf.
pub type Buckets = [u64; BUCKET_BOUNDS_NS.len() + 1];

/// A latency distribution: count, sum and max exactly and, unless it is a light one (cheap
/// per-path accounting: a few words, touched in one cache line), per-bucket counts exactly and
/// percentiles from a histogram in microseconds (mergeable, bounded relative error).
#[derive(Clone, Debug)]
pub struct Latency {
    pub count: u64,
    pub sum_ns: u64,
    pub max_ns: u64,
    /// `None` for a light distribution.
    buckets: Option<Box<Buckets>>,
    /// Microseconds; `None` for a light distribution.
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
    /// An empty distribution with buckets, and percentiles of `sigfig` significant digits
    /// unless `None`.
    pub fn new(sigfig: Option<u8>) -> Self {
        Latency {
            buckets: Some(Box::new([0; BUCKET_BOUNDS_NS.len() + 1])),
            // Auto-resizing from a small range: memory follows the largest latency seen.
            hist: sigfig.and_then(|s| Histogram::new(s).ok()).map(Box::new),
            ..Latency::light()
        }
    }

    /// An empty light distribution: count, sum and max only.
    pub fn light() -> Self {
        Latency { count: 0, sum_ns: 0, max_ns: 0, buckets: None, hist: None }
    }

    /// The bucket counts (all zero for a light distribution).
    pub fn buckets(&self) -> Buckets {
        self.buckets.as_deref().copied().unwrap_or_default()
    }

    /// Records one reply's latency.
    pub fn record(&mut self, ns: u64) {
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.max_ns = self.max_ns.max(ns);
        if let Some(buckets) = &mut self.buckets {
            buckets[BUCKET_BOUNDS_NS.partition_point(|&b| b < ns)] += 1;
        }
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
        if let (Some(a), Some(b)) = (&mut self.buckets, &other.buckets) {
            for (a, b) in a.iter_mut().zip(b.iter()) {
                *a += b;
            }
        }
        if let (Some(a), Some(b)) = (&mut self.hist, &other.hist) {
            // Both auto-resize, so adding cannot fail on range; a failure only loses percentiles.
            let _ = a.add(&**b);
        }
    }

    /// The JSON summary.
    pub fn summary(&self) -> LatencySummary {
        let us = |ns: u64| ns as f64 / 1_000.0;
        // A histogram bucket reports its upper end, which can pass the exact maximum.
        let q = |p: f64| {
            self.hist.as_ref().map(|h| (h.value_at_quantile(p) as f64).min(us(self.max_ns)))
        };
        LatencySummary {
            count: self.count,
            // To 0.1 µs: more digits are noise, and make the JSON hard to read.
            avg_us: if self.count == 0 {
                0.0
            } else {
                (us(self.sum_ns) / self.count as f64 * 10.0).round() / 10.0
            },
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
        let buckets = a.buckets();
        assert_eq!((buckets[0], buckets[3], buckets[16]), (1, 1, 1));
        let s = a.summary();
        assert_eq!(s.max_us, 20_000_000.0);
        assert!(s.p99_us.is_some_and(|p| p <= s.max_us), "{s:?}");
        assert!(s.p50_us.is_some_and(|p| (p - 531.0).abs() < 10.0));
        assert!(Latency::new(None).summary().p99_us.is_none());
        let mut light = Latency::light();
        light.record(531_000);
        light.merge(&a);
        assert!(light.summary().p99_us.is_none());
        assert_eq!((light.count, light.max_ns, light.buckets()), (4, 20_000_000_000, [0; 17]));
    }
}
