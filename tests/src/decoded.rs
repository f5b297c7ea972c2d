//! What the agent decoded, in the shape of [`Expected`], with the per-message checks every live
//! test makes (replies paired, latencies positive), and a readable comparison.

use std::collections::BTreeMap;
use std::fmt::Debug;

use serde_json::Value;

use crate::workload::Expected;

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Sorts the agent's JSON lines into requests, replies, events and multi sub-operations.
/// `paired` demands that every reply names its request with a positive latency (both
/// directions captured); otherwise replies are keyed by their `type`, not their request's.
pub fn decoded(lines: &[Value], paired: bool) -> Expected {
    let mut x = Expected::default();
    for m in lines {
        match m["dir"].as_str() {
            Some("request") => {
                let kind = s(&m["type"]);
                if kind == "ConnectRequest" {
                    x.sessions += 1;
                }
                *x.requests.entry((kind.clone(), s(&m["path"]))).or_default() += 1;
                if let Some(ops) = m["ops"].as_array() {
                    x.multi_ops.push(ops.iter().map(|o| (s(&o["type"]), s(&o["path"]))).collect());
                }
            }
            Some("reply") => {
                let key = if paired {
                    assert!(m["request_type"].is_string(), "reply not paired: {m}");
                    let latency = m["latency_us"].as_f64().unwrap_or(0.0);
                    assert!(latency > 0.0, "latency not positive: {m}");
                    s(&m["request_type"])
                } else {
                    s(&m["type"])
                };
                *x.replies.entry((key, s(&m["error"]))).or_default() += 1;
                if let Some(ops) = m["ops"].as_array() {
                    x.multi_results
                        .push(ops.iter().map(|o| (s(&o["type"]), s(&o["error"]))).collect());
                }
            }
            Some("event") => {
                *x.events.entry((s(&m["event"]), s(&m["path"]))).or_default() += 1;
            }
            Some("fourletter") => {}
            other => panic!("unexpected message direction {other:?}: {m}"),
        }
    }
    x
}

/// The four-letter words seen (command → count).
pub fn four_letter_words(lines: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in lines.iter().filter(|m| m["dir"] == "fourletter") {
        *out.entry(s(&m["command"])).or_default() += 1;
    }
    out
}

/// The differences between two multisets, as lines `key: got N, want M`.
pub fn diff<K: Ord + Debug>(got: &BTreeMap<K, usize>, want: &BTreeMap<K, usize>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, w) in want {
        let g = got.get(k).copied().unwrap_or(0);
        if g != *w {
            out.push(format!("  {k:?}: decoded {g}, expected {w}"));
        }
    }
    for (k, g) in got {
        if !want.contains_key(k) {
            out.push(format!("  {k:?}: decoded {g}, expected 0"));
        }
    }
    out
}

/// Panics with every difference between what was decoded and what was expected.
pub fn assert_same(what: &str, got: &Expected, want: &Expected) {
    let mut problems = Vec::new();
    for (name, d) in [
        ("requests (type, path)", diff(&got.requests, &want.requests)),
        ("replies (request type, error)", diff(&got.replies, &want.replies)),
        ("events (event, path)", diff(&got.events, &want.events)),
    ] {
        if !d.is_empty() {
            problems.push(format!("{name}:\n{}", d.join("\n")));
        }
    }
    let sorted = |v: &Vec<Vec<(String, String)>>| {
        let mut v = v.clone();
        v.sort();
        v
    };
    if sorted(&got.multi_ops) != sorted(&want.multi_ops) {
        problems.push(format!(
            "multi sub-operations: decoded {:?}, expected {:?}",
            got.multi_ops, want.multi_ops
        ));
    }
    if sorted(&got.multi_results) != sorted(&want.multi_results) {
        problems.push(format!(
            "multi sub-results: decoded {:?}, expected {:?}",
            got.multi_results, want.multi_results
        ));
    }
    if got.sessions != want.sessions {
        problems.push(format!("sessions: decoded {}, expected {}", got.sessions, want.sessions));
    }
    assert!(
        problems.is_empty(),
        "{what}: the agent did not decode the workload:\n{}",
        problems.join("\n")
    );
    eprintln!(
        "{what}: decoded exactly {} requests, {} replies, {} events, {} multi, {} sessions",
        got.requests.values().sum::<usize>(),
        got.replies.values().sum::<usize>(),
        got.events.values().sum::<usize>(),
        got.multi_ops.len(),
        got.sessions
    );
}
