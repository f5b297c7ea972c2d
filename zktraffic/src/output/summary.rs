//! `--summary`: counts per message type, errors by name, latency percentiles per request type.

use std::collections::BTreeMap;
use std::io::{self, Write};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::filter::Filter;
use crate::zk::{Body, Message, MessageSink};

/// Latency distribution of one request type, in microseconds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub avg_us: f64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

/// Counts of one message type.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct TypeCount {
    pub requests: u64,
    pub replies: u64,
    pub events: u64,
    pub four_letter_words: u64,
}

/// Aggregates the messages a filter accepts.
#[derive(Debug)]
pub struct Summary {
    filter: Filter,
    types: BTreeMap<String, TypeCount>,
    /// (request type, error name) → count, for replies with an error.
    errors: BTreeMap<(String, String), u64>,
    latency: BTreeMap<&'static str, Histogram<u64>>,
}

/// The finished report (what `--summary --format json` prints, plus the caller's counters).
#[derive(Clone, Debug, Serialize)]
pub struct SummaryReport {
    pub requests: u64,
    pub replies: u64,
    pub events: u64,
    pub four_letter_words: u64,
    pub types: BTreeMap<String, TypeCount>,
    /// `request type → error name → count`.
    pub errors: BTreeMap<String, BTreeMap<String, u64>>,
    pub latency: BTreeMap<String, LatencySummary>,
}

impl Summary {
    /// An empty summary of what `filter` accepts.
    pub fn new(filter: Filter) -> Self {
        Summary {
            filter,
            types: BTreeMap::new(),
            errors: BTreeMap::new(),
            latency: BTreeMap::new(),
        }
    }

    fn count(&mut self, name: &str) -> &mut TypeCount {
        if !self.types.contains_key(name) {
            self.types.insert(name.to_owned(), TypeCount::default());
        }
        self.types.get_mut(name).expect("inserted above")
    }

    /// The report so far.
    pub fn report(&self) -> SummaryReport {
        let total = |f: fn(&TypeCount) -> u64| self.types.values().map(f).sum();
        let mut errors: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((req, err), n) in &self.errors {
            errors.entry(req.clone()).or_default().insert(err.clone(), *n);
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        let latency = self
            .latency
            .iter()
            .map(|(name, h)| {
                let s = LatencySummary {
                    count: h.len(),
                    avg_us: h.mean() / 1000.0,
                    p50_us: us(h.value_at_quantile(0.50)),
                    p95_us: us(h.value_at_quantile(0.95)),
                    p99_us: us(h.value_at_quantile(0.99)),
                    max_us: us(h.max()),
                };
                ((*name).to_owned(), s)
            })
            .collect();
        SummaryReport {
            requests: total(|t| t.requests),
            replies: total(|t| t.replies),
            events: total(|t| t.events),
            four_letter_words: total(|t| t.four_letter_words),
            types: self.types.clone(),
            errors,
            latency,
        }
    }
}

impl MessageSink for Summary {
    fn message(&mut self, msg: &Message<'_>) {
        if !self.filter.accepts(msg) {
            return;
        }
        match &msg.body {
            Body::Request(r) => self.count(r.name()).requests += 1,
            Body::Reply(r) => {
                self.count(r.name()).replies += 1;
                let req = r.request.map_or(r.name(), |p| p.name);
                if !r.err.is_ok() {
                    *self.errors.entry((req.to_owned(), r.err.to_string())).or_default() += 1;
                }
                if let (Some(p), Some(ns)) = (r.request, r.latency_ns(msg.ts)) {
                    let h = self.latency.entry(p.name).or_insert_with(|| {
                        Histogram::new(3).expect("3 significant figures is a valid precision")
                    });
                    // Auto-resizing histogram: recording cannot fail for a u64 value.
                    let _ = h.record(ns.max(1));
                }
            }
            Body::Event(e) => self.count(e.type_name()).events += 1,
            Body::FourLetter(f) => self.count(f.command_str()).four_letter_words += 1,
        }
    }
}

impl SummaryReport {
    /// Prints the report as aligned text tables, followed by `counters` (name → value).
    pub fn write_text(&self, out: &mut impl Write, counters: &[(String, u64)]) -> io::Result<()> {
        writeln!(
            out,
            "messages: {} requests, {} replies, {} events, {} four-letter words",
            self.requests, self.replies, self.events, self.four_letter_words
        )?;
        writeln!(out, "\n{:<32} {:>10} {:>10} {:>10}", "type", "requests", "replies", "events")?;
        for (name, c) in &self.types {
            let events = c.events + c.four_letter_words;
            writeln!(out, "{name:<32} {:>10} {:>10} {events:>10}", c.requests, c.replies)?;
        }
        if !self.errors.is_empty() {
            writeln!(out, "\n{:<32} {:<28} {:>8}", "errors by request", "error", "count")?;
            for (req, errs) in &self.errors {
                for (err, n) in errs {
                    writeln!(out, "{req:<32} {err:<28} {n:>8}")?;
                }
            }
        }
        if !self.latency.is_empty() {
            writeln!(
                out,
                "\n{:<32} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
                "latency (µs)", "count", "avg", "p50", "p95", "p99", "max"
            )?;
            for (name, l) in &self.latency {
                writeln!(
                    out,
                    "{name:<32} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
                    l.count, l.avg_us, l.p50_us, l.p95_us, l.p99_us, l.max_us
                )?;
            }
        }
        writeln!(out, "\ncounters")?;
        for (name, v) in counters {
            writeln!(out, "  {name:<40} {v}")?;
        }
        Ok(())
    }
}
