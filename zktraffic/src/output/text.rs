//! The default human output, modelled on zk-dump: `HH:MM:SS:micros Name(field=value, …)`, one
//! line per message, each reply printed under its request with an arrow (or, with
//! `--unpaired`, every message as it arrives).

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};

use super::filter::Filter;
use super::time_format::TimeFormatter;
use crate::sink::MessageSink;
use crate::tcp::ConnKey;
use crate::zk::message::{ReplyRecord, Request, RequestRecord};
use crate::zk::{Body, Message};

/// The reply arrow: `"—"×4 + "►"`, as zk-dump.
const ARROW: &str = "————►";
/// Request lines held at most while waiting for replies; past it the oldest are printed alone.
const MAX_HELD_LINES: usize = 100_000;

/// Printer options.
#[derive(Clone, Debug, Default)]
pub struct TextOptions {
    /// Print in arrival order, without pairing.
    pub unpaired: bool,
    /// One ANSI colour per client.
    pub colors: bool,
    /// Show credentials in clear.
    pub show_secrets: bool,
}

/// Writes zk-dump-style lines.
pub struct TextPrinter<W: Write> {
    out: W,
    filter: Filter,
    options: TextOptions,
    time: TimeFormatter,
    /// Per connection: printed request lines waiting for their reply, with their xids.
    held: HashMap<ConnKey, VecDeque<(i32, String)>>,
    held_lines: usize,
    error: Option<io::Error>,
    /// What the quorum protocols' packets mean together, printed as it is derived.
    ensemble: Box<crate::ensemble::Tracker>,
}

impl<W: Write> TextPrinter<W> {
    /// A printer writing to `out` with times in `time`'s zone.
    pub fn new(out: W, filter: Filter, options: TextOptions, time: TimeFormatter) -> Self {
        TextPrinter {
            out,
            filter,
            options,
            time,
            held: HashMap::new(),
            held_lines: 0,
            error: None,
            ensemble: Default::default(),
        }
    }

    /// Pushes what was written to the output, returning the first write error met.
    pub fn flush(&mut self) -> io::Result<()> {
        match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        }
    }

    /// Prints requests still waiting for a reply, resets colours, flushes.
    pub fn finish(mut self) -> io::Result<()> {
        let events = self.ensemble.on_finish();
        self.print_events(events);
        let mut conns: Vec<ConnKey> = self.held.keys().copied().collect();
        conns.sort();
        for conn in conns {
            self.release(&conn, None);
        }
        if self.options.colors {
            self.write("\x1b[0m");
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        }
    }

    fn write(&mut self, line: &str) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(line.as_bytes())
        {
            self.error = Some(e);
        }
    }

    fn color(&self, conn: &ConnKey) -> &'static str {
        const COLORS: [&str; 8] = [
            "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[35m", "\x1b[36m", "\x1b[91m",
            "\x1b[92m",
        ];
        if !self.options.colors {
            return "";
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        conn.client.hash(&mut h);
        COLORS[(h.finish() % 8) as usize]
    }

    fn line(&mut self, msg: &Message<'_>, arrow: bool) -> String {
        let mut s = String::from(self.color(msg.conn));
        if arrow {
            s.push_str(ARROW);
        }
        s.push_str(&self.time.clock(msg.ts));
        s.push(' ');
        describe(&mut s, msg, self.options.show_secrets);
        s.push('\n');
        s
    }

    /// Prints the held requests of `conn` up to and including the first with `xid` (all of
    /// them when `None`); returns true if that request was found.
    fn release(&mut self, conn: &ConnKey, xid: Option<i32>) -> bool {
        let Some(queue) = self.held.get_mut(conn) else { return false };
        let upto = match xid {
            None => queue.len(),
            Some(x) => match queue.iter().position(|(q, _)| *q == x) {
                Some(i) => i + 1,
                None => return false,
            },
        };
        let lines: Vec<String> = queue.drain(..upto).map(|(_, l)| l).collect();
        if queue.is_empty() {
            self.held.remove(conn);
        }
        self.held_lines -= lines.len();
        for l in &lines {
            self.write(l);
        }
        true
    }
}

impl<W: Write> MessageSink for TextPrinter<W> {
    fn message(&mut self, msg: &Message<'_>) {
        if !self.filter.accepts(msg) {
            return;
        }
        match &msg.body {
            Body::Request(r) if !self.options.unpaired => {
                let line = self.line(msg, false);
                if self.held_lines >= MAX_HELD_LINES {
                    let oldest: Vec<ConnKey> = self.held.keys().copied().collect();
                    for c in oldest {
                        self.release(&c, None);
                    }
                }
                self.held.entry(*msg.conn).or_default().push_back((r.xid, line));
                self.held_lines += 1;
            }
            Body::Reply(r) if !self.options.unpaired => {
                let paired = r.request.is_some() && self.release(msg.conn, Some(r.xid));
                let line = self.line(msg, paired);
                self.write(&line);
            }
            _ => {
                let line = self.line(msg, false);
                self.write(&line);
            }
        }
    }

    fn zab(&mut self, msg: &crate::quorum::ZabMessage<'_>) {
        self.quorum_line(msg.ts, |s| super::zab::describe(s, msg));
        let events = self.ensemble.on_zab(msg);
        self.print_events(events);
    }

    fn election(&mut self, msg: &crate::election::ElectionMessage<'_>) {
        self.quorum_line(msg.ts, |s| super::election::describe(s, msg));
        let events = self.ensemble.on_election(msg);
        self.print_events(events);
    }
}

impl<W: Write> TextPrinter<W> {
    /// Derived ensemble events, a line each.
    fn print_events(&mut self, events: Vec<(crate::Timestamp, crate::ensemble::EnsembleEvent)>) {
        for (ts, e) in events {
            self.quorum_line(ts, |s| super::ensemble::describe(s, &e));
        }
    }

    /// A quorum-protocol line, described by `describe` (the client filters do not apply).
    fn quorum_line(&mut self, ts: crate::Timestamp, describe: impl FnOnce(&mut String)) {
        let mut s = String::new();
        if self.options.colors {
            s.push_str("\x1b[90m");
        }
        s.push_str(&self.time.clock(ts));
        s.push(' ');
        let start = s.len();
        describe(&mut s);
        super::escape_tail(&mut s, start);
        s.push('\n');
        self.write(&s);
    }
}

fn py_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Appends the `Name(field=value, …)` description of a message (the original's `__str__`
/// formats, extended to what it never decoded), with the wire's text escaped — its
/// control characters, backslashes, line separators and bidi overrides made visible: a client
/// cannot forge a line or drive the terminal.
pub fn describe(s: &mut String, msg: &Message<'_>, show_secrets: bool) {
    let start = s.len();
    describe_raw(s, msg, show_secrets);
    // The formats themselves hold no control characters or backslashes, so escaping the whole
    // description escapes exactly the wire's text, with no field forgotten.
    super::escape_tail(s, start);
}

fn describe_raw(s: &mut String, msg: &Message<'_>, show_secrets: bool) {
    let client = msg.conn.client;
    let server = msg.conn.server;
    let name = super::type_name(msg);
    let name = name.as_ref();
    let _ = match &msg.body {
        Body::Request(r) => describe_request(s, r, name, msg.size, &client, &server, show_secrets),
        Body::Reply(r) => {
            let _ = match &r.record {
                ReplyRecord::Connect(c) => write!(
                    s,
                    "{name}(ver={}, timeout={}, session={:#x}, readonly={}, error={}",
                    c.protocol_version,
                    c.timeout_ms,
                    c.session_id as u64,
                    super::py_bool(c.read_only.unwrap_or(false)),
                    r.err
                ),
                _ => write!(s, "{name}(xid={}, zxid={}, error={}", r.xid, r.zxid, r.err),
            };
            let _ = match &r.record {
                ReplyRecord::Path { path, .. } => write!(s, ", path={path}"),
                ReplyRecord::Children { count, .. } => write!(s, ", count={count}"),
                ReplyRecord::Multi(results) => {
                    let r: Vec<String> =
                        results.iter().map(|x| format!("{}:{}", x.op.base_name(), x.err)).collect();
                    write!(s, ", results=[{}]", r.join(", "))
                }
                _ => Ok(()),
            };
            if let Some(ns) = r.latency_ns(msg.ts) {
                let _ = write!(s, ", latency={:.3}ms", ns as f64 / 1e6);
            }
            write!(s, ", server={server})")
        }
        Body::Event(e) => write!(
            s,
            "Event{}(state={}, path={}, client={client}, server={server})",
            e.type_name(),
            e.state_name(),
            e.path
        ),
        Body::FourLetter(f) => write!(
            s,
            "FourLetterWord(command={}, response={} bytes, client={client}, server={server})",
            f.command_str(),
            f.response_len
        ),
    };
}

fn describe_request(
    s: &mut String,
    r: &Request<'_>,
    name: &str,
    size: u32,
    client: &std::net::SocketAddr,
    server: &std::net::SocketAddr,
    show_secrets: bool,
) -> std::fmt::Result {
    match &r.record {
        RequestRecord::Connect(c) => write!(
            s,
            "{name}(ver={}, zxid={}, timeout={}, session={:#x}, readonly={}, client={client})",
            c.protocol_version,
            c.last_zxid_seen,
            c.timeout_ms,
            c.session_id as u64,
            super::py_bool(c.read_only.unwrap_or(false))
        ),
        RequestRecord::Empty if name == "PingRequest" => write!(s, "PingRequest(client={client})"),
        RequestRecord::Empty if name == "CloseRequest" => {
            write!(s, "CloseRequest(xid={}, client={client}, server={server})", r.xid)
        }
        RequestRecord::Auth { auth_type, scheme, credential } => write!(
            s,
            "{name}(type={auth_type}, scheme={scheme}, credential={}, client={client})",
            super::credential(scheme, credential, show_secrets)
        ),
        RequestRecord::Create(c) => {
            let mode = c.mode();
            write!(
                s,
                "{name}(size={size}, xid={}, path={}, ephemeral={}, sequence={}, mode={}",
                r.xid,
                c.path,
                super::py_bool(mode.is_ephemeral()),
                super::py_bool(mode.is_sequential()),
                mode.name()
            )?;
            if let Some(ttl) = c.ttl_ms {
                write!(s, ", ttl={ttl}")?;
            }
            write!(s, ", client={client})")
        }
        RequestRecord::Reconfig { joining, leaving, new_members, .. } => write!(
            s,
            "{name}(xid={}, joining={joining}, leaving={leaving}, new_members={new_members}, client={client})",
            r.xid
        ),
        RequestRecord::SetWatches(w) => {
            write!(
                s,
                "{name}(xid={}, relzxid={}, data={}, exist={}, child={}",
                r.xid,
                w.relative_zxid,
                py_list(&w.data),
                py_list(&w.exist),
                py_list(&w.child)
            )?;
            if name == "SetWatches2Request" {
                write!(
                    s,
                    ", persistent={}, persistent_recursive={}",
                    py_list(&w.persistent),
                    py_list(&w.persistent_recursive)
                )?;
            }
            write!(s, ", client={client})")
        }
        RequestRecord::Multi(ops) => {
            let ops: Vec<String> = ops
                .iter()
                .map(|o| format!("{} {}", o.op.base_name(), o.path.unwrap_or("")))
                .collect();
            write!(
                s,
                "{name}(xid={}, ops=[{}], path={}, size={size}, client={client})",
                r.xid,
                ops.join(", "),
                r.path().unwrap_or("")
            )
        }
        _ => {
            write!(s, "{name}(xid={}, path={}", r.xid, r.path().unwrap_or(""))?;
            if let Some(w) = r.watch() {
                write!(s, ", watch={}", super::py_bool(w))?;
            }
            write!(s, ", size={size}, client={client})")
        }
    }
}
