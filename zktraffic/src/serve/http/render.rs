//! JSON bodies of the `/json/*` endpoints, rendered from an immutable tally.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use serde_json::{Map, Value, json};

use crate::stats::connections::ConnTable;
use crate::stats::name::Name;
use crate::stats::tally::{Cell, RequestKey, Tally};

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

/// An operation key of the original's accumulators (`GetDataRequest`, `readsBytes`, `total`…).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    Request(Name),
    RequestBytes(Name),
    Event(Name),
    Fixed(&'static str),
}

/// The `path` part of a key: a path id and, for `/json/ips` and `/json/auths`, an IP or
/// identity id. [`NO_SUFFIX`] for `/json/paths`; [`SLASH`] for the `/` of path-less requests.
type PathKey = (u32, u32);
const NO_SUFFIX: u32 = u32::MAX - 1;
const SLASH: u32 = u32::MAX - 1;

/// The original's `op → path → value`, on ids: keys are formatted only for the top-N.
#[derive(Default)]
struct OpStats(FxHashMap<Op, FxHashMap<PathKey, u64>>);

impl OpStats {
    fn add(&mut self, op: Op, key: PathKey, v: u64) {
        *self.0.entry(op).or_default().entry(key).or_default() += v;
    }

    /// `prefix + op + path` → value, top-N per op; ties keep first-seen order (ids), so the
    /// output is deterministic for a given input.
    fn flatten(
        self,
        prefix: &str,
        top: usize,
        text: impl Fn(PathKey) -> String,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (op, paths) in self.0 {
            let mut v: Vec<(PathKey, u64)> = paths.into_iter().collect();
            let order = |a: &(PathKey, u64), b: &(PathKey, u64)| b.1.cmp(&a.1).then(a.0.cmp(&b.0));
            if top > 0 && v.len() > top {
                v.select_nth_unstable_by(top - 1, order);
                v.truncate(top);
            }
            let op = match op {
                Op::Request(n) | Op::Event(n) => n.0.to_owned(),
                Op::RequestBytes(n) => format!("{}Bytes", n.0),
                Op::Fixed(s) => s.to_owned(),
            };
            for (key, n) in v {
                out.insert(format!("{prefix}{op}{}", text(key)), Value::from(n));
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
    let slash = (t.paths.id_of("/").unwrap_or(SLASH), NO_SUFFIX);
    let (total_reads, total_writes) = ((u32::MAX - 2, NO_SUFFIX), (u32::MAX - 3, NO_SUFFIX));
    let (total_read_bytes, total_write_bytes) =
        ((u32::MAX - 4, NO_SUFFIX), (u32::MAX - 5, NO_SUFFIX));
    for op in ["writes", "reads"] {
        s.add(Op::Fixed(op), slash, 0);
    }
    s.add(Op::Fixed("total"), total_writes, 0);
    s.add(Op::Fixed("total"), total_reads, 0);
    if bytes {
        s.add(Op::Fixed("writesBytes"), slash, 0);
        s.add(Op::Fixed("readsBytes"), slash, 0);
        s.add(Op::Fixed("total"), total_write_bytes, 0);
        s.add(Op::Fixed("total"), total_read_bytes, 0);
    }
    let add_request = |s: &mut OpStats, k: &RequestKey, key: PathKey, c: &Cell| {
        let name = t.name(k.name);
        s.add(Op::Request(name), key, c.count);
        let (rw, rw_bytes, total, total_bytes) = if k.write {
            ("writes", "writesBytes", total_writes, total_write_bytes)
        } else {
            ("reads", "readsBytes", total_reads, total_read_bytes)
        };
        s.add(Op::Fixed(rw), key, c.count);
        s.add(Op::Fixed("total"), total, c.count);
        if bytes {
            s.add(Op::RequestBytes(name), key, c.bytes);
            s.add(Op::Fixed(rw_bytes), key, c.bytes);
            s.add(Op::Fixed("total"), total_bytes, c.bytes);
        }
        if c.watches > 0 {
            s.add(Op::Fixed("watches"), key, c.watches);
        }
    };
    let empty = t.paths.id_of("");
    match dim {
        Dimension::Path => {
            for (k, c) in &t.requests {
                // The original maps a request without a path to "/".
                let key = if Some(k.path) == empty { slash } else { (k.path, NO_SUFFIX) };
                add_request(&mut s, k, key, c);
            }
            // Events keep their path as is (the original applies no "" → "/" fix to them).
            for (&(name, p), &n) in &t.events {
                s.add(Op::Event(t.name(name)), (p, NO_SUFFIX), n);
            }
        }
        Dimension::Ip => {
            for (k, c) in &t.requests {
                add_request(&mut s, k, (k.path, k.ip), c);
            }
        }
        Dimension::Auth => {
            for (k, c) in &t.requests {
                add_request(&mut s, k, (k.path, k.identity), c);
            }
        }
    }
    let text = |(p, suffix): PathKey| -> String {
        let path = match p {
            SLASH => "/",
            x if x == total_reads.0 => "/reads",
            x if x == total_writes.0 => "/writes",
            x if x == total_read_bytes.0 => "/readBytes",
            x if x == total_write_bytes.0 => "/writeBytes",
            x => t.path(x),
        };
        match (dim, suffix) {
            (_, NO_SUFFIX) => path.to_owned(),
            (Dimension::Ip, ip) => format!("{path}:{}", t.ip(ip)),
            (_, id) => format!("{path}:{}", t.identity(id)),
        }
    };
    Value::Object(s.flatten(dim.prefix(), opts.max_results, text))
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
            .and_modify(|m: &mut crate::stats::latency::Latency| m.merge(l))
            .or_insert_with(|| l.clone());
    }
    let by_type: BTreeMap<&str, _> = by_type.into_iter().map(|(k, l)| (k, l.summary())).collect();
    let mut by_path: Vec<(&str, &crate::stats::latency::Latency)> =
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
            .entry(t.name(name).0)
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
    let mut time = crate::output::time_format::TimeFormatter::utc();
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
                // RFC 3339 in UTC, as `dump --format json` (the original had no such field).
                "last_seen": state.map(|s| time.rfc3339(s.last_seen)),
            })
        })
        .collect();
    json!({ "clients": rows, "tracked": t.clients.len(), "not_tracked_messages": t.counts.clients_not_tracked })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::tally::{RequestFact, TallyLimits};
    use crate::tcp::ConnKey;

    /// Past `max_keys`, a request keeps its path (per-path counts stay exact) and its IP and
    /// identity fold into `<other>`.
    #[test]
    fn a_full_request_map_folds_ips_not_paths() {
        let limits = TallyLimits {
            max_paths: 100,
            max_ips: 100,
            max_keys: 2,
            max_clients: 100,
            path_latency: false,
        };
        let mut t = Tally::new(limits);
        t.start = crate::Timestamp(1);
        for i in 1..=3u8 {
            let conn = ConnKey {
                client: format!("10.0.0.{i}:5000").parse().unwrap(),
                server: "10.0.0.100:2181".parse().unwrap(),
            };
            let ids = t.conn_ids(conn, "noauth");
            let path = t.path_id("/a");
            t.record_request(&RequestFact {
                name: Name("GetDataRequest"),
                write: false,
                size: 30,
                watch: false,
                path,
                ids,
                session: None,
                ts: crate::Timestamp(2),
            });
        }
        let opts = RenderOptions { max_results: 0, exclude_bytes: true };
        let paths = compatible(&t, Dimension::Path, opts);
        assert_eq!(paths["GetDataRequest/a"], 3, "{paths}");
        let ips = compatible(&t, Dimension::Ip, opts);
        assert_eq!(ips["per_ip/GetDataRequest/a:10.0.0.1"], 1, "{ips}");
        assert_eq!(ips["per_ip/GetDataRequest/a:10.0.0.2"], 1, "{ips}");
        assert_eq!(ips["per_ip/GetDataRequest/a:<other>"], 1, "{ips}");
        let auths = compatible(&t, Dimension::Auth, opts);
        assert_eq!(auths["per_auth/GetDataRequest/a:noauth"], 2, "{auths}");
        assert_eq!(auths["per_auth/GetDataRequest/a:<other>"], 1, "{auths}");
        assert_eq!(t.counts.folded_keys, 1);
    }
}
