//! JSON bodies of the `/json/*` endpoints, rendered from an immutable tally.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::connections::ConnTable;
use super::tally::Tally;

/// Presentation options.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    /// Top-N per operation key (`--max-results`, 0: all).
    pub max_results: usize,
    /// No `*Bytes` keys (`--exclude-bytes`).
    pub exclude_bytes: bool,
}

/// The dimension of a compatible endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    /// `/json/paths`: `<op><path>`.
    Path,
    /// `/json/ips`: `per_ip/<op><path>:<ip>`.
    Ip,
    /// `/json/auths`: `per_auth/<op><path>:<identity>`.
    Auth,
}

impl Dimension {
    fn prefix(self) -> &'static str {
        match self {
            Dimension::Path => "",
            Dimension::Ip => "per_ip/",
            Dimension::Auth => "per_auth/",
        }
    }
}

/// `op → path → value`, the original's accumulator shape.
#[derive(Default)]
struct OpStats(BTreeMap<String, HashMap<String, u64>>);

impl OpStats {
    fn add(&mut self, op: &str, path: &str, v: u64) {
        let paths = match self.0.get_mut(op) {
            Some(p) => p,
            None => self.0.entry(op.to_owned()).or_default(),
        };
        match paths.get_mut(path) {
            Some(x) => *x += v,
            None => {
                paths.insert(path.to_owned(), v);
            }
        }
    }

    /// `prefix + op + path` → value, top-N per op (ties by path, so output is deterministic).
    fn flatten(self, prefix: &str, top: usize) -> Map<String, Value> {
        let mut out = Map::new();
        for (op, paths) in self.0 {
            let mut v: Vec<(String, u64)> = paths.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            if top > 0 {
                v.truncate(top);
            }
            for (path, n) in v {
                out.insert(format!("{prefix}{op}{path}"), Value::from(n));
            }
        }
        out
    }
}

/// `/json/paths`, `/json/ips` or `/json/auths`: the original's flattened key scheme (§4.3),
/// including its seeded zero entries (an empty window shows only those). Before the first
/// window closes there is no tally yet (it starts at time 0): `{}`, as the original.
pub fn compatible(t: &Tally, dim: Dimension, opts: RenderOptions) -> Value {
    if t.start == crate::Timestamp::default() && t.requests.is_empty() && t.events.is_empty() {
        return Value::Object(Map::new());
    }
    let bytes = !opts.exclude_bytes;
    let mut s = OpStats::default();
    for op in ["writes", "reads"] {
        s.add(op, "/", 0);
    }
    for total in ["/writes", "/reads"] {
        s.add("total", total, 0);
    }
    if bytes {
        s.add("writesBytes", "/", 0);
        s.add("readsBytes", "/", 0);
        s.add("total", "/writeBytes", 0);
        s.add("total", "/readBytes", 0);
    }
    let mut name_bytes = String::new();
    let mut add_request = |s: &mut OpStats, name: &str, path: &str, c: &super::tally::Cell| {
        s.add(name, path, c.count);
        let (rw, total, total_bytes) = if c.write {
            ("writes", "/writes", "/writeBytes")
        } else {
            ("reads", "/reads", "/readBytes")
        };
        s.add(rw, path, c.count);
        s.add("total", total, c.count);
        if bytes {
            name_bytes.clear();
            name_bytes.push_str(name);
            name_bytes.push_str("Bytes");
            s.add(&name_bytes, path, c.bytes);
            s.add(if c.write { "writesBytes" } else { "readsBytes" }, path, c.bytes);
            s.add("total", total_bytes, c.bytes);
        }
        if c.watches > 0 {
            s.add("watches", path, c.watches);
        }
    };
    match dim {
        Dimension::Path => {
            for (&(name, p), c) in &t.requests {
                // The original maps a request without a path to "/".
                let path = match t.path(p) {
                    "" => "/",
                    other => other,
                };
                add_request(&mut s, name.0, path, c);
            }
            // Events keep their path as is (the original applies no "" → "/" fix to them).
            for (&(name, p), &n) in &t.events {
                s.add(name.0, t.path(p), n);
            }
        }
        Dimension::Ip => {
            for (&(name, p, ip), c) in &t.by_ip {
                let key = format!("{}:{}", t.path(p), t.ip(ip));
                add_request(&mut s, name.0, &key, c);
            }
        }
        Dimension::Auth => {
            for (&(name, p, id), c) in &t.by_auth {
                let key = format!("{}:{}", t.path(p), t.identity(id));
                add_request(&mut s, name.0, &key, c);
            }
        }
    }
    Value::Object(s.flatten(dim.prefix(), opts.max_results))
}

/// `/json/auths-dump`: `client ip:port → identity` for every tracked connection.
pub fn auths_dump(conns: &ConnTable) -> Value {
    let map: BTreeMap<String, &str> =
        conns.iter().map(|(k, s)| (k.client.to_string(), &*s.identity)).collect();
    json!(map)
}

/// `/json/latency`: per request type and per path (top-N by count).
pub fn latency(t: &Tally, opts: RenderOptions) -> Value {
    let mut by_type: BTreeMap<&str, _> = BTreeMap::new();
    for (name, l) in &t.latency {
        by_type
            .entry(name.0)
            .and_modify(|m: &mut super::latency::Latency| m.merge(l))
            .or_insert_with(|| l.clone());
    }
    let by_type: BTreeMap<&str, _> = by_type.into_iter().map(|(k, l)| (k, l.summary())).collect();
    let mut by_path: Vec<(&str, &super::latency::Latency)> =
        t.path_latency.iter().map(|(&p, l)| (t.path(p), l)).collect();
    by_path.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
    if opts.max_results > 0 {
        by_path.truncate(opts.max_results);
    }
    let by_path: Map<String, Value> = by_path
        .into_iter()
        .map(|(p, l)| (display_path(p).to_owned(), json!(l.summary())))
        .collect();
    json!({ "by_type": by_type, "by_path": by_path })
}

/// A path key as shown outside the compatible endpoints: `/` for requests without a path.
fn display_path(p: &str) -> &str {
    if p.is_empty() { "/" } else { p }
}

/// `/json/errors`: failed replies by request type → error → path, plus totals.
pub fn errors(t: &Tally) -> Value {
    let mut by_type: BTreeMap<&str, BTreeMap<String, BTreeMap<&str, u64>>> = BTreeMap::new();
    let mut failed = 0;
    for (&(name, err, p), &n) in &t.replies {
        if err == crate::zk::ErrorCode::OK {
            continue;
        }
        failed += n;
        *by_type
            .entry(name.0)
            .or_default()
            .entry(err.to_string())
            .or_default()
            .entry(display_path(t.path(p)))
            .or_default() += n;
    }
    json!({ "replies": t.counts.replies, "errors": failed, "by_type": by_type })
}

/// `/json/clients`: per connection, top-N by requests.
pub fn clients(t: &Tally, conns: &ConnTable, opts: RenderOptions) -> Value {
    let mut rows: Vec<_> = t.client_cells.iter().map(|(k, c)| (k, c)).collect();
    rows.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then_with(|| a.0.client.cmp(&b.0.client)));
    if opts.max_results > 0 {
        rows.truncate(opts.max_results);
    }
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(k, c)| {
            let state = conns.get(k);
            json!({
                "client": k.client.to_string(),
                "server": k.server.to_string(),
                "session": state.and_then(|s| s.session_id).map(|id| format!("{id:#x}")),
                "timeout_ms": state.and_then(|s| s.timeout_ms),
                "identity": state.map_or("unknown", |s| &*s.identity),
                "requests": c.requests,
                "bytes": c.bytes,
                "replies": c.replies,
                "errors": c.errors,
                "latency_p99_us": c.latency.as_ref().and_then(|l| l.summary().p99_us),
                "last_seen": state.map(|s| s.last_seen.to_string()),
            })
        })
        .collect();
    json!({ "clients": rows, "tracked": t.clients.len(), "not_tracked_messages": t.counts.clients_not_tracked })
}
