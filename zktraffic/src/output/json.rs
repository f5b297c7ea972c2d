//! `--format json`: one JSON object per message and line.

use std::io::{self, Write};
use std::net::SocketAddr;

use serde::Serialize;

use super::filter::Filter;
use super::time_format::TimeFormatter;
use crate::sink::MessageSink;
use crate::zk::message::{CreateRequest, ReplyRecord, RequestRecord};
use crate::zk::opcode::xid;
use crate::zk::{Body, Message};

/// One sub-operation (multi requests) or sub-result (multi replies).
#[derive(Serialize)]
struct JsonOp<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The JSON shape of a message; absent fields are left out.
#[derive(Serialize, Default)]
struct JsonMessage<'a> {
    ts: String,
    dir: &'static str,
    #[serde(rename = "type")]
    kind: std::borrow::Cow<'a, str>,
    client: Option<SocketAddr>,
    server: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zxid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_zxid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    watch: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheme: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    watches: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ops: Option<Vec<JsonOp<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<&'a str>,
}

fn create_fields(j: &mut JsonMessage<'_>, c: &CreateRequest<'_>) {
    j.mode = Some(c.mode().name());
    j.ttl_ms = c.ttl_ms;
    j.data_len = Some(c.data_len);
}

/// Writes each accepted message as a JSON line.
pub struct JsonPrinter<W: Write> {
    out: W,
    filter: Filter,
    time: TimeFormatter,
    show_secrets: bool,
    error: Option<io::Error>,
    /// What the quorum protocols' packets mean together, printed as it is derived.
    ensemble: Box<crate::ensemble::Tracker>,
}

impl<W: Write> JsonPrinter<W> {
    /// A printer writing to `out`; timestamps are RFC 3339 in UTC.
    pub fn new(out: W, filter: Filter, show_secrets: bool) -> Self {
        JsonPrinter {
            out,
            filter,
            time: TimeFormatter::utc(),
            show_secrets,
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

    /// Flushes, returning the first write error met (e.g. a closed pipe).
    pub fn finish(mut self) -> io::Result<()> {
        let events = self.ensemble.on_finish();
        self.print_events(events);
        match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        }
    }

    /// Derived ensemble events, an object each.
    fn print_events(&mut self, events: Vec<(crate::Timestamp, crate::ensemble::EnsembleEvent)>) {
        for (ts, e) in events {
            let j = super::ensemble::EnsembleJson::new(&e, self.time.rfc3339(ts));
            self.write_line(&j);
        }
    }

    /// Writes one object and a newline; the first error is kept (and nothing written after).
    fn write_line(&mut self, j: &impl Serialize) {
        let result = serde_json::to_writer(&mut self.out, j)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    fn render<'m>(&mut self, msg: &'m Message<'m>) -> JsonMessage<'m> {
        let mut j = JsonMessage {
            ts: self.time.rfc3339(msg.ts),
            dir: super::direction(msg),
            kind: super::type_name(msg),
            client: Some(msg.conn.client),
            server: Some(msg.conn.server),
            path: super::path(msg),
            size: msg.size,
            session: super::session_id(msg).map(super::hex_session),
            ..JsonMessage::default()
        };
        match &msg.body {
            Body::Request(r) => {
                j.xid = Some(r.xid);
                j.watch = r.watch();
                match &r.record {
                    RequestRecord::Connect(c) => {
                        j.timeout_ms = Some(c.timeout_ms);
                        j.last_zxid = Some(c.last_zxid_seen);
                        j.read_only = c.read_only;
                    }
                    RequestRecord::Create(c) => create_fields(&mut j, c),
                    RequestRecord::SetData { data_len, version, .. } => {
                        j.data_len = Some(*data_len);
                        j.version = Some(*version);
                    }
                    RequestRecord::PathVersion { version, .. }
                    | RequestRecord::SetAcl { version, .. } => j.version = Some(*version),
                    RequestRecord::Auth { scheme, credential, .. } => {
                        j.scheme = Some(scheme);
                        j.credential =
                            Some(super::credential(scheme, credential, self.show_secrets));
                    }
                    RequestRecord::SetWatches(w) => {
                        j.last_zxid = Some(w.relative_zxid);
                        j.watches = Some(serde_json::json!({
                            "data": w.data, "exist": w.exist, "child": w.child,
                            "persistent": w.persistent, "persistent_recursive": w.persistent_recursive,
                        }));
                    }
                    RequestRecord::Multi(ops) => {
                        j.ops = Some(
                            ops.iter()
                                .map(|o| JsonOp {
                                    kind: o.op.request_name(),
                                    path: o.path,
                                    mode: o.create_mode.map(|m| m.name()),
                                    error: None,
                                })
                                .collect(),
                        );
                    }
                    _ => {}
                }
            }
            Body::Reply(r) => {
                j.xid = Some(r.xid);
                j.zxid = Some(r.zxid);
                j.error = Some(r.err.to_string());
                j.request_type = r.request.map(|p| p.name);
                j.latency_us = r.latency_ns(msg.ts).map(|ns| ns as f64 / 1000.0);
                match &r.record {
                    ReplyRecord::Connect(c) => {
                        j.timeout_ms = Some(c.timeout_ms);
                        j.read_only = c.read_only;
                    }
                    ReplyRecord::Path { path, .. } => j.path = Some(path),
                    ReplyRecord::Children { count, .. } => j.count = Some(*count),
                    ReplyRecord::Data { data_len, .. } => j.data_len = Some(*data_len),
                    ReplyRecord::Multi(results) => {
                        j.ops = Some(
                            results
                                .iter()
                                .map(|o| JsonOp {
                                    kind: if o.op.to_wire() == -1 {
                                        "ErrorResult"
                                    } else {
                                        o.op.reply_name()
                                    },
                                    path: o.path,
                                    mode: None,
                                    error: Some(o.err.to_string()),
                                })
                                .collect(),
                        );
                    }
                    _ => {}
                }
            }
            Body::Event(e) => {
                j.xid = Some(xid::NOTIFICATION);
                j.zxid = Some(e.zxid);
                j.event = Some(e.type_name());
                j.state = Some(e.state_name());
            }
            Body::FourLetter(f) => j.command = Some(f.command_str()),
        }
        j
    }
}

impl<W: Write> MessageSink for JsonPrinter<W> {
    fn message(&mut self, msg: &Message<'_>) {
        if self.error.is_some() || !self.filter.accepts(msg) {
            return;
        }
        let j = self.render(msg);
        self.write_line(&j);
    }

    fn zab(&mut self, msg: &crate::quorum::ZabMessage<'_>) {
        if self.error.is_some() {
            return;
        }
        let j = super::zab::ZabJson::new(msg, self.time.rfc3339(msg.ts));
        self.write_line(&j);
        let events = self.ensemble.on_zab(msg);
        self.print_events(events);
    }

    fn election(&mut self, msg: &crate::election::ElectionMessage<'_>) {
        if self.error.is_some() {
            return;
        }
        let j = super::election::ElectionJson::new(msg, self.time.rfc3339(msg.ts));
        self.write_line(&j);
        let events = self.ensemble.on_election(msg);
        self.print_events(events);
    }
}
