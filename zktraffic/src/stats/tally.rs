//! One window's (or the cumulative) counts, keyed by interned ids so the hot path hashes
//! integers and each path string once.

use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::interner::Interner;
use super::latency::Latency;
use super::name::Name;
use crate::Timestamp;
use crate::tcp::ConnKey;
use crate::zk::ErrorCode;

/// Id of an interned path (or [`OVERFLOW`]).
pub type PathId = u32;

/// The id every value past a cap shares; rendered as [`OTHER`].
pub const OVERFLOW: u32 = u32::MAX;

/// How an overflowed path, IP or identity is shown.
pub const OTHER: &str = "<other>";

/// Caps and options of a [`Tally`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TallyLimits {
    /// Distinct paths (`--max-paths`); the rest count under [`OTHER`].
    pub max_paths: usize,
    /// Distinct client IPs, and distinct identities.
    pub max_ips: usize,
    /// Entries of each per-IP, per-identity and per-reply map.
    pub max_keys: usize,
    /// Client connections with their own counters.
    pub max_clients: usize,
    /// Keep a percentile histogram per path (`--path-latency`), not only count/avg/max.
    pub path_latency: bool,
}

impl TallyLimits {
    /// An empty per-path latency: with buckets and percentiles under `--path-latency`, else
    /// count, sum and max only.
    fn new_path_latency(&self) -> Latency {
        if self.path_latency { Latency::new(Some(2)) } else { Latency::light() }
    }
}

/// Request counters of one [`RequestKey`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Cell {
    pub count: u64,
    /// Sum of the frames' length prefixes (the original's `size`).
    pub bytes: u64,
    /// Requests that set a watch.
    pub watches: u64,
}

impl Cell {
    fn add(&mut self, other: &Cell) {
        self.count += other.count;
        self.bytes += other.bytes;
        self.watches += other.watches;
    }
}

/// Id of an interned request or event [`Name`] in one tally (see [`Tally::name`]): two bytes
/// in the keys of the large maps instead of a 16-byte string reference, so more of their
/// entries share the caches.
pub type NameId = u16;

/// Counters of one client connection.
#[derive(Clone, Debug, Default)]
pub struct ClientCell {
    pub requests: u64,
    pub bytes: u64,
    pub replies: u64,
    pub errors: u64,
    /// Watch events delivered to this client.
    pub events: u64,
    /// Its session, once known (kept after the connection is gone, unlike [`ConnTable`]'s).
    ///
    /// [`ConnTable`]: super::connections::ConnTable
    pub session: Option<i64>,
    /// Its identity's id in this tally (as of its last request; none before one).
    pub identity: Option<u32>,
    /// Capture time of its last request or reply.
    pub last_seen: Timestamp,
    /// Latency of this client's replies (coarse histogram: one per connection).
    pub latency: Option<Box<Latency>>,
}

/// Totals and cap counters of a tally.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TallyCounts {
    pub requests: u64,
    pub replies: u64,
    /// Replies whose request was not captured (no type, path or latency).
    pub unpaired_replies: u64,
    pub events: u64,
    pub pings: u64,
    pub four_letter_words: u64,
    /// Messages whose path was counted under `<other>` (`--max-paths` reached).
    pub folded_paths: u64,
    /// Messages whose IP or identity was counted under `<other>`.
    pub folded_ips_or_identities: u64,
    /// Keys counted under `<other>` because a per-IP/identity/reply map was full.
    pub folded_keys: u64,
    /// Messages of connections past `max_clients` (not in `/json/clients`).
    pub clients_not_tracked: u64,
}

/// Key of the request counters. `/json/paths`, `/json/ips` and `/json/auths` are sums over
/// one map with this key, so a request costs one map update instead of one per view.
/// 16 bytes: with its [`Cell`], an entry is 40 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestKey {
    pub name: NameId,
    /// The request is a write in the original's classification (a property of the name, so
    /// it adds no keys).
    pub write: bool,
    pub path: PathId,
    /// The client IP's id.
    pub ip: u32,
    /// The connection's identity's id.
    pub identity: u32,
}

/// A connection's ids in one tally: its IP, its identity and its client slot. The
/// aggregator caches them per connection (see [`Tally::generation`]), which saves three
/// lookups per message.
#[derive(Clone, Copy, Debug)]
pub struct ConnIds {
    pub ip: u32,
    pub identity: u32,
    /// Index in [`Tally::client_cells`], or [`OVERFLOW`] when past `max_clients`.
    pub client: u32,
}

/// A request as a tally records it.
#[derive(Clone, Copy, Debug)]
pub struct RequestFact {
    pub name: Name,
    pub write: bool,
    pub size: u32,
    pub watch: bool,
    /// The path key's id in this tally ([`Tally::path_id`]).
    pub path: PathId,
    /// From [`Tally::conn_ids`] of this tally.
    pub ids: ConnIds,
    /// The connection's session, when known.
    pub session: Option<i64>,
    /// Capture time.
    pub ts: Timestamp,
}

/// A reply as a tally records it.
#[derive(Clone, Copy, Debug)]
pub struct ReplyFact {
    /// The answered request's name (when it was not captured, the type its opcode implies, or
    /// `UnknownRequest`).
    pub request: Name,
    pub err: ErrorCode,
    /// The path key's id in this tally ([`Tally::path_id`]).
    pub path: PathId,
    pub latency_ns: Option<u64>,
    /// The connection's client slot (see [`ConnIds::client`]).
    pub client: u32,
    /// The connection's session, when known (a connect reply gives it).
    pub session: Option<i64>,
    /// Capture time.
    pub ts: Timestamp,
}

/// Every counter of one window, or of the whole run.
#[derive(Clone, Debug)]
pub struct Tally {
    pub limits: TallyLimits,
    /// Capture time of the first and last message counted (the window's bounds when closed).
    pub start: Timestamp,
    pub end: Timestamp,
    pub paths: Interner<Box<str>>,
    pub ips: Interner<IpAddr>,
    pub identities: Interner<Box<str>>,
    /// (request name, path, ip, identity) → counters: `/json/paths`, `/json/ips` and
    /// `/json/auths` sum them. Past `max_keys` entries a new key keeps its name and path and
    /// folds its IP and identity into [`OVERFLOW`] (so per-path counts stay exact).
    pub requests: FxHashMap<RequestKey, Cell>,
    /// Names of requests and events, by [`NameId`].
    pub names: Interner<Name>,
    /// (event name, path) → count.
    pub events: FxHashMap<(NameId, PathId), u64>,
    /// (request name, error, path) → replies.
    pub replies: FxHashMap<(NameId, ErrorCode, PathId), u64>,
    /// Latency by request name.
    pub latency: FxHashMap<Name, Latency>,
    /// Latency by path (all request types).
    pub path_latency: FxHashMap<PathId, Latency>,
    /// Connection → index in `client_cells`.
    pub clients: FxHashMap<ConnKey, u32>,
    pub client_cells: Vec<(ConnKey, ClientCell)>,
    pub counts: TallyCounts,
    /// Unique per tally created: ids cached for another generation are stale.
    pub generation: u64,
}

/// Source of [`Tally::generation`].
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Adds to `map[key]`, or to `map[overflow]` when the map is full and `key` is new.
fn bump<'m, K: Eq + Hash, V: Default>(
    map: &'m mut FxHashMap<K, V>,
    cap: usize,
    key: K,
    overflow: impl FnOnce() -> K,
    folded: &mut u64,
) -> &'m mut V {
    // The second lookup only happens once the map is full.
    let key = if map.len() >= cap && !map.contains_key(&key) {
        *folded += 1;
        overflow()
    } else {
        key
    };
    map.entry(key).or_default()
}

/// Where a request key goes once the request map is full: its IP and identity fold.
fn fold_conn(key: RequestKey) -> RequestKey {
    RequestKey { ip: OVERFLOW, identity: OVERFLOW, ..key }
}

impl Tally {
    /// An empty tally.
    pub fn new(limits: TallyLimits) -> Self {
        Tally {
            limits,
            start: Timestamp::default(),
            end: Timestamp::default(),
            paths: Interner::new(limits.max_paths),
            ips: Interner::new(limits.max_ips),
            identities: Interner::new(limits.max_ips),
            requests: FxHashMap::default(),
            names: Interner::new(usize::from(NameId::MAX)),
            events: FxHashMap::default(),
            replies: FxHashMap::default(),
            latency: FxHashMap::default(),
            path_latency: FxHashMap::default(),
            clients: FxHashMap::default(),
            client_cells: Vec::new(),
            counts: TallyCounts::default(),
            generation: GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// An empty tally covering `[start, end)`.
    pub fn empty_between(limits: TallyLimits, start: Timestamp, end: Timestamp) -> Self {
        Tally { start, end, ..Tally::new(limits) }
    }

    /// The id of a path key (after depth and folding; `""` for a message without a path),
    /// interning it; [`OVERFLOW`] past `max_paths`, counted in `folded_paths`.
    pub fn path_id(&mut self, key: &str) -> PathId {
        let id = self.paths.intern(key, |p: &str| Box::from(p));
        if id == OVERFLOW {
            self.counts.folded_paths += 1;
        }
        id
    }

    /// The id of `name` (names are a small fixed set, far below the interner's cap).
    fn name_id(&mut self, name: Name) -> NameId {
        self.names.intern(&name, |n| *n) as NameId
    }

    /// The name of `id`.
    pub fn name(&self, id: NameId) -> Name {
        self.names.get(u32::from(id)).copied().unwrap_or(Name(OTHER))
    }

    fn client_slot(&mut self, conn: ConnKey) -> u32 {
        let len = self.client_cells.len();
        match self.clients.entry(conn) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) if len < self.limits.max_clients => {
                self.client_cells.push((conn, ClientCell::default()));
                *e.insert(len as u32)
            }
            Entry::Vacant(_) => OVERFLOW,
        }
    }

    fn client(&mut self, slot: u32) -> Option<&mut ClientCell> {
        match self.client_cells.get_mut(slot as usize) {
            Some((_, c)) => Some(c),
            None => {
                self.counts.clients_not_tracked += 1;
                None
            }
        }
    }

    /// The ids of a connection from `ip` with `identity` in this tally.
    pub fn conn_ids(&mut self, conn: ConnKey, identity: &str) -> ConnIds {
        let ip = self.ips.intern(&conn.client.ip(), |ip| *ip);
        let identity = self.identities.intern(identity, |p: &str| Box::from(p));
        if ip == OVERFLOW || identity == OVERFLOW {
            self.counts.folded_ips_or_identities += 1;
        }
        ConnIds { ip, identity, client: self.client_slot(conn) }
    }

    /// Counts a request (pings excluded by the caller).
    pub fn record_request(&mut self, r: &RequestFact) {
        self.counts.requests += 1;
        let path = r.path;
        let ConnIds { ip, identity, client } = r.ids;
        let delta = Cell { count: 1, bytes: u64::from(r.size), watches: u64::from(r.watch) };
        let key = RequestKey { name: self.name_id(r.name), write: r.write, path, ip, identity };
        let cap = self.limits.max_keys;
        bump(&mut self.requests, cap, key, || fold_conn(key), &mut self.counts.folded_keys)
            .add(&delta);
        if let Some(c) = self.client(client) {
            c.requests += 1;
            c.bytes += u64::from(r.size);
            c.session = r.session.or(c.session);
            c.identity = Some(identity);
            c.last_seen = r.ts;
        }
    }

    /// Counts a reply.
    pub fn record_reply(&mut self, r: &ReplyFact) {
        self.counts.replies += 1;
        let path = r.path;
        let name = self.name_id(r.request);
        let cap = self.limits.max_keys;
        *bump(
            &mut self.replies,
            cap,
            (name, r.err, path),
            || (name, r.err, OVERFLOW),
            &mut self.counts.folded_keys,
        ) += 1;
        if let Some(ns) = r.latency_ns {
            self.latency.entry(r.request).or_insert_with(|| Latency::new(Some(2))).record(ns);
            let per_path = || self.limits.new_path_latency();
            self.path_latency.entry(path).or_insert_with(per_path).record(ns);
        }
        if let Some(c) = self.client(r.client) {
            c.replies += 1;
            c.session = r.session.or(c.session);
            c.last_seen = r.ts;
            c.errors += u64::from(r.err != ErrorCode::OK);
            if let Some(ns) = r.latency_ns {
                c.latency.get_or_insert_with(|| Box::new(Latency::new(Some(1)))).record(ns);
            }
        }
    }

    /// Counts a watch event delivered to the client in `client` (see [`ConnIds::client`]).
    pub fn record_event(&mut self, name: Name, path: PathId, client: u32) {
        self.counts.events += 1;
        let name = self.name_id(name);
        *self.events.entry((name, path)).or_default() += 1;
        if let Some(c) = self.client(client) {
            c.events += 1;
        }
    }

    /// Nothing counted or interned yet.
    fn is_blank(&self) -> bool {
        let c = &self.counts;
        c.requests + c.replies + c.events + c.pings + c.four_letter_words == 0
            && self.paths.is_empty()
            && self.ips.is_empty()
            && self.identities.is_empty()
            && self.names.is_empty()
            && self.client_cells.is_empty()
            && self.latency.is_empty()
    }

    /// The text of a path id (`<other>` for the overflow id).
    pub fn path(&self, id: PathId) -> &str {
        self.paths.get(id).map_or(OTHER, |p| p)
    }

    /// The text of an IP id.
    pub fn ip(&self, id: u32) -> String {
        self.ips.get(id).map_or_else(|| OTHER.to_owned(), IpAddr::to_string)
    }

    /// The text of an identity id.
    pub fn identity(&self, id: u32) -> &str {
        self.identities.get(id).map_or(OTHER, |p| p)
    }

    /// Adds every counter of `other` (its ids are translated through their text).
    pub fn merge(&mut self, other: &Tally) {
        if self.is_blank() && self.limits == other.limits {
            // The first window into the cumulative totals (and a replay's only one): its ids
            // are as good as any, and a copy costs far less than re-interning every key.
            *self = Tally { generation: self.generation, ..other.clone() };
            return;
        }
        if self.counts.requests + self.counts.replies + self.counts.events == 0 {
            self.start = other.start;
        }
        self.end = self.end.max(other.end);
        let path = |me: &mut Tally, id: PathId| match other.paths.get(id) {
            // Not counted again in `folded_paths`: `other.counts` already did.
            Some(p) => me.paths.intern(&**p, |p: &str| Box::from(p)),
            None => OVERFLOW,
        };
        let ip = |me: &mut Tally, id: u32| match other.ips.get(id) {
            Some(a) => me.ips.intern(a, |a| *a),
            None => OVERFLOW,
        };
        let identity = |me: &mut Tally, id: u32| match other.identities.get(id) {
            Some(i) => me.identities.intern(&**i, |p: &str| Box::from(p)),
            None => OVERFLOW,
        };
        let name = |me: &mut Tally, id: NameId| me.name_id(other.name(id));
        let cap = self.limits.max_keys;
        for (k, c) in &other.requests {
            let key = RequestKey {
                name: name(self, k.name),
                path: path(self, k.path),
                ip: ip(self, k.ip),
                identity: identity(self, k.identity),
                ..*k
            };
            let folded = &mut self.counts.folded_keys;
            bump(&mut self.requests, cap, key, || fold_conn(key), folded).add(c);
        }
        for (&(n, p), c) in &other.events {
            let (n, p) = (name(self, n), path(self, p));
            *self.events.entry((n, p)).or_default() += c;
        }
        for (&(n, e, p), c) in &other.replies {
            let (n, p) = (name(self, n), path(self, p));
            let folded = &mut self.counts.folded_keys;
            *bump(&mut self.replies, cap, (n, e, p), || (n, e, OVERFLOW), folded) += c;
        }
        for (n, l) in &other.latency {
            self.latency.entry(*n).or_insert_with(|| Latency::new(Some(2))).merge(l);
        }
        for (&p, l) in &other.path_latency {
            let p = path(self, p);
            let per_path = || self.limits.new_path_latency();
            self.path_latency.entry(p).or_insert_with(per_path).merge(l);
        }
        for (conn, c) in &other.client_cells {
            let slot = self.client_slot(*conn);
            let id = c.identity.map(|i| identity(self, i));
            if let Some((_, mine)) = self.client_cells.get_mut(slot as usize) {
                // The later tally's identity and session win.
                if c.last_seen >= mine.last_seen {
                    mine.identity = id.or(mine.identity);
                    mine.session = c.session.or(mine.session);
                } else {
                    mine.identity = mine.identity.or(id);
                    mine.session = mine.session.or(c.session);
                }
                mine.last_seen = mine.last_seen.max(c.last_seen);
                mine.requests += c.requests;
                mine.bytes += c.bytes;
                mine.replies += c.replies;
                mine.errors += c.errors;
                mine.events += c.events;
                if let Some(l) = &c.latency {
                    mine.latency.get_or_insert_with(|| Box::new(Latency::new(Some(1)))).merge(l);
                }
            }
        }
        let (a, b) = (&mut self.counts, &other.counts);
        a.requests += b.requests;
        a.replies += b.replies;
        a.unpaired_replies += b.unpaired_replies;
        a.events += b.events;
        a.pings += b.pings;
        a.four_letter_words += b.four_letter_words;
        a.folded_paths += b.folded_paths;
        a.folded_ips_or_identities += b.folded_ips_or_identities;
        a.folded_keys += b.folded_keys;
        a.clients_not_tracked += b.clients_not_tracked;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Names compare by address: one literal each.
    const GET: &str = "GetDataRequest";
    const EXISTS: &str = "ExistsRequest";

    fn limits() -> TallyLimits {
        TallyLimits {
            max_paths: 100,
            max_ips: 100,
            max_keys: 100,
            max_clients: 100,
            path_latency: false,
        }
    }

    fn request(t: &mut Tally, name: &'static str, path: &str) {
        let conn = ConnKey {
            client: "10.0.0.1:5000".parse().unwrap(),
            server: "10.0.0.2:2181".parse().unwrap(),
        };
        let ids = t.conn_ids(conn, "noauth");
        let path = t.path_id(path);
        t.record_request(&RequestFact {
            name: Name(name),
            write: false,
            size: 10,
            watch: false,
            path,
            ids,
            session: None,
            ts: Timestamp(1),
        });
        t.record_reply(&ReplyFact {
            request: Name(name),
            err: ErrorCode::OK,
            path,
            latency_ns: Some(1000),
            client: ids.client,
            session: None,
            ts: Timestamp(2),
        });
    }

    /// Name and path ids are per tally: a merge goes through their text, whatever order each
    /// tally met them in.
    #[test]
    fn merge_translates_name_and_path_ids() {
        let (mut a, mut b) = (Tally::new(limits()), Tally::new(limits()));
        request(&mut a, GET, "/a");
        request(&mut b, EXISTS, "/b");
        request(&mut b, GET, "/a");
        a.merge(&b);
        let mut counts: Vec<(&str, &str, u64)> =
            a.requests.iter().map(|(k, c)| (a.name(k.name).0, a.path(k.path), c.count)).collect();
        counts.sort();
        assert_eq!(counts, [("ExistsRequest", "/b", 1), ("GetDataRequest", "/a", 2)]);
        let mut replies: Vec<(&str, &str, u64)> =
            a.replies.iter().map(|(&(n, _, p), &c)| (a.name(n).0, a.path(p), c)).collect();
        replies.sort();
        assert_eq!(replies, [("ExistsRequest", "/b", 1), ("GetDataRequest", "/a", 2)]);
    }

    /// The first merge into an empty tally is a copy (keeping the tally's own generation), and
    /// merges go on as usual after it.
    #[test]
    fn merging_into_a_blank_tally_copies() {
        let mut b = Tally::new(limits());
        request(&mut b, EXISTS, "/b");
        request(&mut b, GET, "/a");
        let mut c = Tally::new(limits());
        let generation = c.generation;
        c.merge(&b);
        assert_eq!((c.generation, c.counts.requests, c.counts.replies), (generation, 2, 2));
        c.merge(&b);
        let mut counts: Vec<(&str, &str, u64)> =
            c.requests.iter().map(|(k, n)| (c.name(k.name).0, c.path(k.path), n.count)).collect();
        counts.sort();
        assert_eq!(counts, [("ExistsRequest", "/b", 2), ("GetDataRequest", "/a", 2)]);
        assert_eq!(c.latency.values().map(|l| l.count).sum::<u64>(), 4);
    }
}
