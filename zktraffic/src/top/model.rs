//! What `top` shows, computed from a published snapshot: the header's figures ([`Data`]) and
//! each view's rows ([`table`]), independent of any terminal (the screen and `--batch` both
//! read them).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::output::drop_warnings::is_loss_counter;
use crate::output::numbers::flatten_numbers;
use crate::serve::{Snapshot, View, WindowPoint};
use crate::stats::Tally;
use crate::stats::latency::Latency;
use crate::stats::path::parent_path;

/// The views, in their key order (`1`–`5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Per request type.
    Ops,
    /// Per path, at the display depth.
    Paths,
    /// Per client connection.
    Clients,
    /// Request type × error × path.
    Errors,
    /// Watch events per path, and per client below.
    Watches,
    /// The ensemble: leader, elections, commits, and each learner.
    Ensemble,
}

impl Tab {
    /// Every view, in key order.
    pub const ALL: [Tab; 6] =
        [Tab::Ops, Tab::Paths, Tab::Clients, Tab::Errors, Tab::Watches, Tab::Ensemble];

    /// The view's name on its tab.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Ops => "Ops",
            Tab::Paths => "Paths",
            Tab::Clients => "Clients",
            Tab::Errors => "Errors",
            Tab::Watches => "Watches",
            Tab::Ensemble => "Ensemble",
        }
    }

    /// The view's columns.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Tab::Ops => OPS,
            Tab::Paths => PATHS,
            Tab::Clients => CLIENTS,
            Tab::Errors => ERRORS,
            Tab::Watches => WATCHES,
            Tab::Ensemble => LEARNERS,
        }
    }

    /// The column sorted on first (the busiest rows on top).
    pub fn default_sort(self) -> usize {
        match self {
            Tab::Ops | Tab::Paths | Tab::Watches => 1,
            Tab::Ensemble => 0,
            Tab::Clients => 3,
            Tab::Errors => 3,
        }
    }
}

/// What a column holds, and so how it is formatted and sorted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text (sorted ascending first).
    Text,
    /// A path (the `/` filter matches it as a prefix).
    Path,
    /// A count: per second over the window, or a total.
    Count,
    /// Bytes: per second, or a total.
    Bytes,
    /// Microseconds.
    Micros,
    /// Seconds before the last packet.
    Ago,
}

/// One column of a view.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Its heading over rates (`req/s`).
    pub rate_title: &'static str,
    /// Its heading over totals (`req`).
    pub total_title: &'static str,
    /// Its key in `--batch` output.
    pub key: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// Width on screen (the first column takes what is left).
    pub width: u16,
    /// Columns with a higher number are dropped first when the terminal is narrow (0: never).
    pub drop_order: u8,
}

const fn col(
    rate_title: &'static str,
    total_title: &'static str,
    key: &'static str,
    kind: Kind,
    width: u16,
    drop_order: u8,
) -> Column {
    Column { rate_title, total_title, key, kind, width, drop_order }
}

const OPS: &[Column] = &[
    col("operation", "operation", "op", Kind::Text, 24, 0),
    col("req/s", "requests", "requests", Kind::Count, 9, 0),
    col("p50", "p50", "p50_us", Kind::Micros, 8, 3),
    col("p99", "p99", "p99_us", Kind::Micros, 8, 0),
    col("max", "max", "max_us", Kind::Micros, 8, 2),
    col("err/s", "errors", "errors", Kind::Count, 8, 1),
];

const PATHS: &[Column] = &[
    col("path", "path", "path", Kind::Path, 24, 0),
    col("req/s", "requests", "requests", Kind::Count, 9, 0),
    col("bytes/s", "bytes", "bytes", Kind::Bytes, 9, 3),
    col("writes/s", "writes", "writes", Kind::Count, 9, 2),
    col("err/s", "errors", "errors", Kind::Count, 8, 1),
    col("p99", "p99", "p99_us", Kind::Micros, 8, 0),
    col("events/s", "events", "events", Kind::Count, 9, 4),
];

const CLIENTS: &[Column] = &[
    col("client", "client", "client", Kind::Text, 21, 0),
    col("session", "session", "session", Kind::Text, 18, 3),
    col("identity", "identity", "identity", Kind::Text, 14, 4),
    col("req/s", "requests", "requests", Kind::Count, 9, 0),
    col("err/s", "errors", "errors", Kind::Count, 8, 1),
    col("p99", "p99", "p99_us", Kind::Micros, 8, 2),
    col("seen", "seen", "last_seen_s", Kind::Ago, 6, 5),
];

const ERRORS: &[Column] = &[
    col("operation", "operation", "op", Kind::Text, 20, 0),
    col("error", "error", "error", Kind::Text, 16, 0),
    col("path", "path", "path", Kind::Path, 20, 1),
    col("err/s", "errors", "errors", Kind::Count, 9, 0),
];

const WATCHES: &[Column] = &[
    col("path", "path", "path", Kind::Path, 24, 0),
    col("events/s", "events", "events", Kind::Count, 9, 0),
    col("changed", "changed", "data_changed", Kind::Count, 8, 2),
    col("children", "children", "children_changed", Kind::Count, 8, 3),
    col("created", "created", "created", Kind::Count, 8, 4),
    col("deleted", "deleted", "deleted", Kind::Count, 8, 5),
    col("watch req/s", "watch req", "watching_requests", Kind::Count, 11, 1),
];

/// The Ensemble view's learners (figures since start).
const LEARNERS: &[Column] = &[
    col("learner", "learner", "learner", Kind::Text, 21, 0),
    col("sid", "sid", "sid", Kind::Text, 5, 0),
    col("sync", "sync", "last_sync_mode", Kind::Text, 6, 2),
    col("sync ms", "sync ms", "last_sync_ms", Kind::Count, 8, 3),
    col("acks", "acks", "acks", Kind::Count, 8, 1),
    col("ack p50", "ack p50", "ack_p50_us", Kind::Micros, 8, 4),
    col("ack p99", "ack p99", "ack_p99_us", Kind::Micros, 8, 0),
];

/// The table under the Watches view: events per client.
pub const WATCH_CLIENTS: &[Column] = &[
    col("client", "client", "client", Kind::Text, 21, 0),
    col("identity", "identity", "identity", Kind::Text, 14, 2),
    col("events/s", "events", "events", Kind::Count, 9, 0),
    col("req/s", "requests", "requests", Kind::Count, 9, 1),
];

/// One value of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Text (operation, path, client…).
    Text(String),
    /// A number in the column's unit (per second when the view shows rates).
    Num(f64),
    /// Nothing to show (no latency sample, no session yet).
    None,
}

/// Rows and their columns.
#[derive(Clone, Debug)]
pub struct Table {
    /// The columns.
    pub columns: &'static [Column],
    /// The rows, in display order.
    pub rows: Vec<Vec<Value>>,
}

/// Counts per second over the window, or totals since start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Per second over the latest `--window` of traffic.
    Rates,
    /// Since start (or the last reset).
    Totals,
}

/// How a view's rows are chosen and ordered.
#[derive(Clone, Debug)]
pub struct TableOptions {
    /// Rates or totals.
    pub scope: Scope,
    /// Path depth (0: full paths).
    pub depth: usize,
    /// Rows whose text matches (a path by prefix when it starts with `/`, otherwise any text
    /// column, case-insensitively).
    pub filter: String,
    /// Sorted on this column…
    pub sort: usize,
    /// …the other way round from its natural order (numbers descending, text ascending).
    pub reverse: bool,
}

/// Losses of the capture, by where they happen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Records the kernel programs could not put in the ring buffer.
    pub ring: u64,
    /// Other kernel and ring-reader losses (truncated, bad or orphan records).
    pub kernel: u64,
    /// Bytes reassembly never saw (gaps).
    pub gaps: u64,
    /// Messages dropped between capture and aggregation (live capture under overload).
    pub queue: u64,
    /// Frames lost to gaps or shed at a decoding cap.
    pub decode: u64,
}

/// The header's figures.
#[derive(Clone, Debug, Default)]
pub struct Header {
    /// The interface or file.
    pub source: String,
    /// Live capture (otherwise a replay).
    pub live: bool,
    /// Server ports.
    pub ports: Vec<u16>,
    /// Since start.
    pub uptime: Duration,
    /// Per second over the window.
    pub requests: f64,
    /// Per second over the window.
    pub replies: f64,
    /// Error replies per second over the window.
    pub errors: f64,
    /// Watch events per second over the window.
    pub events: f64,
    /// Sessions open now.
    pub sessions: usize,
    /// Reply latency over the window, all request types.
    pub p50_us: Option<f64>,
    /// Reply latency over the window, all request types.
    pub p99_us: Option<f64>,
    /// What the capture lost.
    pub losses: Losses,
    /// The replay is complete, or capture ended.
    pub finished: bool,
    /// Why capture is unhealthy, if it is.
    pub problem: Option<String>,
}

/// Everything one refresh shows, whatever the view.
#[derive(Debug)]
pub struct Data {
    /// The windows of the last `--window`, added up.
    pub recent: Tally,
    /// The capture time they cover, in seconds.
    pub span_s: f64,
    /// Totals since start, and the connections known now.
    pub totals: Arc<View>,
    /// The header.
    pub header: Header,
    /// One point per closed window, oldest first (the sparkline).
    pub history: Vec<WindowPoint>,
    /// The ensemble, once quorum or election traffic was seen.
    pub quorum: Option<Arc<crate::ensemble::state::QuorumView>>,
}

impl Data {
    /// The figures of `snap`, with rates over `window_ns` of capture time.
    pub fn new(snap: &Snapshot, ports: &[u16], window_ns: u64) -> Self {
        let limits = snap.cumulative.tally.limits;
        let mut recent = Tally::new(limits);
        for w in &snap.recent {
            recent.merge(&w.tally);
        }
        // Over the whole window, quiet parts included, unless capture began within it.
        let end = snap.history.last().map_or(recent.end, |p| p.end);
        let first = snap.history.first().map_or(end, |p| p.start);
        let start = first.max(crate::Timestamp(end.0.saturating_sub(window_ns)));
        let span_s = (end.0.saturating_sub(start.0)) as f64 / 1e9;
        let per_s = |n| per(n, span_s);
        let point = WindowPoint::of(&recent);
        let info = &snap.info;
        let header = Header {
            source: info.capture.source.name.clone(),
            live: info.capture.source.live,
            ports: ports.to_vec(),
            uptime: snap.started.elapsed(),
            requests: per_s(point.requests),
            replies: per_s(point.replies),
            errors: per_s(point.errors),
            events: per_s(recent.counts.events),
            sessions: snap.cumulative.conns.sessions(),
            p50_us: point.p50_us,
            p99_us: point.p99_us,
            losses: losses(snap),
            finished: snap.finished,
            problem: snap.health.clone().err(),
        };
        Data {
            recent,
            span_s,
            totals: snap.cumulative.clone(),
            header,
            history: snap.history.clone(),
            quorum: snap.quorum.clone(),
        }
    }

    /// The tally of `scope`, and how its counts are shown (per second, or as they are).
    fn scoped(&self, scope: Scope) -> (&Tally, impl Fn(u64) -> f64 + Copy) {
        let (tally, div) = match scope {
            Scope::Rates => (&self.recent, self.span_s),
            Scope::Totals => (&self.totals.tally, 1.0),
        };
        (tally, move |n| per(n, div))
    }
}

/// `n` over `div` (0 when there is nothing to divide by: no span yet).
fn per(n: u64, div: f64) -> f64 {
    if div > 0.0 { n as f64 / div } else { 0.0 }
}

/// The capture's losses, from the published counters.
fn losses(snap: &Snapshot) -> Losses {
    let mut counters = Vec::new();
    flatten_numbers("", &snap.info.capture.stats, '.', &mut counters);
    flatten_numbers("", &snap.info.pipeline, '.', &mut counters);
    let mut l = Losses {
        queue: {
            let q = &snap.info.queue.dropped;
            q.requests + q.replies + q.events + q.other
        },
        ..Losses::default()
    };
    for (name, n) in counters {
        if !is_loss_counter(&name) {
            continue;
        }
        let last = name.rsplit('.').next().unwrap_or_default();
        let slot = match last {
            "ring_full_drops" => &mut l.ring,
            "gaps" => &mut l.gaps,
            _ if name.starts_with("tcp.") || name.starts_with("decode.") => &mut l.decode,
            _ => &mut l.kernel,
        };
        *slot += n;
    }
    l
}

/// The rows of `tab` (for Watches, the per-path table; see [`watch_clients`]).
pub fn table(data: &Data, tab: Tab, opts: &TableOptions) -> Table {
    let (tally, rate) = data.scoped(opts.scope);
    let rows = match tab {
        Tab::Ops => ops(tally, rate),
        Tab::Paths => paths(tally, opts.depth, rate),
        Tab::Clients => clients(data, tally, rate),
        Tab::Errors => errors(tally, opts.depth, rate),
        Tab::Watches => watches(tally, opts.depth, rate),
        Tab::Ensemble => learners(data),
    };
    finish(tab.columns(), rows, opts)
}

/// Events per client, under the Watches view's table.
pub fn watch_clients(data: &Data, opts: &TableOptions) -> Table {
    let (tally, rate) = data.scoped(opts.scope);
    let rows = tally
        .client_cells
        .iter()
        .filter(|(_, c)| c.events > 0)
        .map(|(conn, c)| {
            vec![
                Value::Text(conn.client.to_string()),
                c.identity.map_or(Value::None, |id| Value::Text(tally.identity(id).to_owned())),
                Value::Num(rate(c.events)),
                Value::Num(rate(c.requests)),
            ]
        })
        .collect();
    let opts = TableOptions { sort: 2, reverse: false, ..opts.clone() };
    finish(WATCH_CLIENTS, rows, &opts)
}

fn micros(
    l: Option<&Latency>,
    q: impl Fn(&crate::stats::latency::LatencySummary) -> Option<f64>,
) -> Value {
    match l.filter(|l| l.count > 0) {
        Some(l) => q(&l.summary()).map_or(Value::None, Value::Num),
        None => Value::None,
    }
}

fn ops(t: &Tally, rate: impl Fn(u64) -> f64) -> Vec<Vec<Value>> {
    #[derive(Default)]
    struct Op<'a> {
        requests: u64,
        errors: u64,
        latency: Option<&'a Latency>,
    }
    let mut by: HashMap<&str, Op<'_>> = HashMap::new();
    for (k, c) in &t.requests {
        by.entry(t.name(k.name).0).or_default().requests += c.count;
    }
    for (&(n, err, _), c) in &t.replies {
        let op = by.entry(t.name(n).0).or_default();
        if !err.is_ok() {
            op.errors += c;
        }
    }
    for (name, l) in &t.latency {
        by.entry(name.0).or_default().latency = Some(l);
    }
    by.into_iter()
        .map(|(name, op)| {
            vec![
                Value::Text(name.to_owned()),
                Value::Num(rate(op.requests)),
                micros(op.latency, |s| s.p50_us),
                micros(op.latency, |s| s.p99_us),
                micros(op.latency, |s| Some(s.max_us)),
                Value::Num(rate(op.errors)),
            ]
        })
        .collect()
}

fn paths(t: &Tally, depth: usize, rate: impl Fn(u64) -> f64) -> Vec<Vec<Value>> {
    #[derive(Default)]
    struct P {
        requests: u64,
        bytes: u64,
        writes: u64,
        errors: u64,
        events: u64,
        latency: Option<Latency>,
    }
    let mut by: HashMap<&str, P> = HashMap::new();
    let key = |id| parent_path(t.path(id), depth);
    for (k, c) in &t.requests {
        let p = by.entry(key(k.path)).or_default();
        p.requests += c.count;
        p.bytes += c.bytes;
        if k.write {
            p.writes += c.count;
        }
    }
    for (&(_, err, path), c) in &t.replies {
        if !err.is_ok() {
            by.entry(key(path)).or_default().errors += c;
        }
    }
    for (&(_, path), c) in &t.events {
        by.entry(key(path)).or_default().events += c;
    }
    for (&path, l) in &t.path_latency {
        let p = by.entry(key(path)).or_default();
        match &mut p.latency {
            Some(mine) => mine.merge(l),
            None => p.latency = Some(l.clone()),
        }
    }
    by.into_iter()
        .map(|(path, p)| {
            vec![
                Value::Text(display_path(path)),
                Value::Num(rate(p.requests)),
                Value::Num(rate(p.bytes)),
                Value::Num(rate(p.writes)),
                Value::Num(rate(p.errors)),
                micros(p.latency.as_ref(), |s| s.p99_us),
                Value::Num(rate(p.events)),
            ]
        })
        .collect()
}

/// Path-less messages (pings aside: connects, multi…) count under `""`, shown as such.
fn display_path(p: &str) -> String {
    if p.is_empty() { "(no path)".to_owned() } else { p.to_owned() }
}

fn clients(data: &Data, t: &Tally, rate: impl Fn(u64) -> f64) -> Vec<Vec<Value>> {
    let now = data.totals.tally.end;
    t.client_cells
        .iter()
        .map(|(conn, c)| {
            // The session and identity stay once the connection is gone.
            let identity =
                c.identity.map_or(Value::None, |id| Value::Text(t.identity(id).to_owned()));
            let seen = match c.last_seen {
                crate::Timestamp(0) => Value::None,
                ts => Value::Num(now.0.saturating_sub(ts.0) as f64 / 1e9),
            };
            vec![
                Value::Text(conn.client.to_string()),
                c.session.map_or(Value::None, |s| Value::Text(format!("{s:#018x}"))),
                identity,
                Value::Num(rate(c.requests)),
                Value::Num(rate(c.errors)),
                micros(c.latency.as_deref(), |s| s.p99_us),
                seen,
            ]
        })
        .collect()
}

/// The learners of the Ensemble view (since start, whatever the scope).
fn learners(data: &Data) -> Vec<Vec<Value>> {
    let Some(q) = &data.quorum else { return Vec::new() };
    q.learners
        .iter()
        .map(|(addr, l)| {
            let s = (l.ack.count > 0).then(|| l.ack.summary());
            let text = |v: Option<&str>| v.map_or(Value::None, |t| Value::Text(t.to_owned()));
            vec![
                Value::Text(addr.to_string()),
                l.sid.map_or(Value::None, |s| Value::Text(s.to_string())),
                text(l.last_sync.and_then(|s| s.0)),
                l.last_sync.and_then(|s| s.1).map_or(Value::None, Value::Num),
                Value::Num(l.ack.count as f64),
                s.as_ref().and_then(|s| s.p50_us).map_or(Value::None, Value::Num),
                s.as_ref().and_then(|s| s.p99_us).map_or(Value::None, Value::Num),
            ]
        })
        .collect()
}

/// The Ensemble view's summary lines: role, leader, elections, commits.
pub fn ensemble_summary(data: &Data) -> Vec<String> {
    let Some(q) = &data.quorum else {
        return vec![
            "no traffic on a quorum (--zab-port) or election (--election-port) port yet".to_owned(),
        ];
    };
    let ms = |us: Option<f64>| us.map_or("-".to_owned(), |u| format!("{:.1}ms", u / 1e3));
    let leader = match q.leader {
        Some((addr, epoch, sid)) => {
            let sid = sid.map(|s| format!("sid {s} ")).unwrap_or_default();
            format!("leader {sid}{addr} epoch {epoch}")
        }
        None => "leader unknown".to_owned(),
    };
    let last = q.elections.back().map_or(String::new(), |e| {
        format!(" (last: epoch {}, leader {}, {:.1}ms)", e.election_epoch, e.leader, e.duration_ms)
    });
    let c = q.commit_latency.summary();
    vec![
        format!("role {}  {leader}  elections {}{last}", q.role(), q.elections_total),
        format!(
            "commits {}  proposal→commit p50 {} p99 {}  outstanding {}",
            q.commits,
            ms(c.p50_us.filter(|_| c.count > 0)),
            ms(c.p99_us.filter(|_| c.count > 0)),
            q.outstanding_proposals
        ),
    ]
}

fn errors(t: &Tally, depth: usize, rate: impl Fn(u64) -> f64) -> Vec<Vec<Value>> {
    let mut by: HashMap<(&str, crate::zk::ErrorCode, &str), u64> = HashMap::new();
    for (&(n, err, path), c) in &t.replies {
        if !err.is_ok() {
            *by.entry((t.name(n).0, err, parent_path(t.path(path), depth))).or_default() += c;
        }
    }
    by.into_iter()
        .map(|((op, err, path), n)| {
            vec![
                Value::Text(op.to_owned()),
                Value::Text(err.to_string()),
                Value::Text(display_path(path)),
                Value::Num(rate(n)),
            ]
        })
        .collect()
}

fn watches(t: &Tally, depth: usize, rate: impl Fn(u64) -> f64) -> Vec<Vec<Value>> {
    // events, changed, children, created, deleted, watch-setting requests
    let mut by: HashMap<&str, [u64; 6]> = HashMap::new();
    let key = |id| parent_path(t.path(id), depth);
    for (&(n, path), &c) in &t.events {
        let slot = match t.name(n).0 {
            "NodeDataChanged" => 1,
            "NodeChildrenChanged" => 2,
            "NodeCreated" => 3,
            "NodeDeleted" => 4,
            _ => 0,
        };
        let e = by.entry(key(path)).or_default();
        e[0] += c;
        if slot > 0 {
            e[slot] += c;
        }
    }
    for (k, c) in &t.requests {
        if c.watches > 0 {
            by.entry(key(k.path)).or_default()[5] += c.watches;
        }
    }
    by.into_iter()
        .map(|(path, e)| {
            let mut row = vec![Value::Text(display_path(path))];
            row.extend(e.iter().map(|&n| Value::Num(rate(n))));
            row
        })
        .collect()
}

/// Filters and sorts `rows`.
fn finish(columns: &'static [Column], mut rows: Vec<Vec<Value>>, opts: &TableOptions) -> Table {
    if !opts.filter.is_empty() {
        let needle = opts.filter.to_lowercase();
        rows.retain(|row| {
            row.iter().zip(columns).any(|(v, c)| match (v, c.kind) {
                (Value::Text(t), Kind::Path) if needle.starts_with('/') => {
                    t.starts_with(&opts.filter)
                }
                (Value::Text(_), _) if needle.starts_with('/') => false,
                (Value::Text(t), _) => t.to_lowercase().contains(&needle),
                _ => false,
            })
        });
    }
    let sort = opts.sort.min(columns.len().saturating_sub(1));
    let text = matches!(columns[sort].kind, Kind::Text | Kind::Path);
    rows.sort_by(|a, b| {
        let order = compare(&a[sort], &b[sort]);
        // Numbers: largest first; text: alphabetical.
        let order = if text { order } else { order.reverse() };
        let order = if opts.reverse { order.reverse() } else { order };
        // Ties in the order of the other columns, so that a refresh does not shuffle them.
        a.iter().zip(b).fold(order, |o, (x, y)| o.then_with(|| compare(x, y)))
    });
    Table { columns, rows }
}

/// Values in their natural order; nothing sorts below every number.
fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.total_cmp(y),
        (Value::Text(x), Value::Text(y)) => x.cmp(y),
        (Value::None, Value::None) => Ordering::Equal,
        (Value::None, _) => Ordering::Less,
        (_, Value::None) => Ordering::Greater,
        (Value::Num(_), Value::Text(_)) => Ordering::Less,
        (Value::Text(_), Value::Num(_)) => Ordering::Greater,
    }
}
