//! What aggregation needs of a message, owned and compact. The daemon's capture thread turns
//! decoded messages into facts, a batch at a time, and its aggregation thread applies them:
//! messages borrow the capture's buffers, facts do not, so they can cross threads.

use super::identity;
use super::name::Name;
use crate::Timestamp;
use crate::tcp::{CloseReason, ConnKey};
use crate::zk::message::{ReplyRecord, RequestRecord};
use crate::zk::{Body, ErrorCode, Message, OpCode};

/// Name of the request type of a reply whose request was not captured.
const UNKNOWN_REQUEST: &str = "UnknownRequest";

/// One message as the aggregator sees it. Its connection and path live in the batch.
#[derive(Clone, Copy, Debug)]
pub struct Fact {
    pub ts: Timestamp,
    /// Index in the batch's connections.
    conn: u32,
    /// The frame's length prefix.
    pub size: u32,
    pub kind: FactKind,
    /// The raw path (`/<identity>` for an auth request): `text[start..end]`.
    path: (u32, u32),
}

/// A fact with what its batch holds for it.
#[derive(Clone, Copy, Debug)]
pub struct FactRef<'a> {
    pub fact: &'a Fact,
    pub conn: &'a ConnKey,
    /// The raw path (keyed by the aggregator's [`PathRules`](super::PathRules)).
    pub path: &'a str,
    /// For an auth request, the identity it establishes; empty otherwise.
    pub identity: &'a str,
}

/// What a [`Fact`] is.
#[derive(Clone, Copy, Debug)]
pub enum FactKind {
    /// A ping or its reply: excluded from the counts, still a sign of life.
    Ping,
    Request {
        name: Name,
        write: bool,
        /// Reads that set a watch, and the watch re-registrations.
        watch: bool,
        /// A reconnect's session id.
        session: Option<i64>,
        auth: AuthChange,
    },
    Reply {
        /// The answered request's name (`UnknownRequest`, or the type its xid implies, when
        /// the request was not captured).
        request: Name,
        /// The request was not captured.
        unpaired: bool,
        err: ErrorCode,
        latency_ns: Option<u64>,
        /// A handshake answer: session id and negotiated timeout.
        connect: Option<(i64, i32)>,
    },
    Event {
        name: Name,
    },
    FourLetter,
    /// The connection ended.
    Closed,
}

/// How a request changes its connection's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthChange {
    None,
    /// An auth request, establishing the identity in the batch's text right after the path
    /// (`/<identity>`: the original keys auth requests by credential, and the identity stands
    /// in for it).
    Auth {
        identity_len: u32,
    },
    /// A SASL exchange.
    Sasl,
}

/// Facts in arrival order, with the text of their paths and their connections (stored
/// once per run of facts of one connection: a segment carries many messages of one
/// connection, and a connection key is larger than the rest of a fact).
#[derive(Debug, Default)]
pub struct FactBatch {
    facts: Vec<Fact>,
    text: String,
    conns: Vec<ConnKey>,
}

impl FactBatch {
    /// Appends the fact of `msg`.
    pub fn push(&mut self, msg: &Message<'_>) {
        let mut path = "";
        let mut auth_text = None;
        let kind = match &msg.body {
            Body::Request(r) if r.op == OpCode::Ping => FactKind::Ping,
            Body::Request(r) => {
                let (mut session, mut auth) = (None, AuthChange::None);
                match &r.record {
                    RequestRecord::Connect(c) if c.session_id != 0 => session = Some(c.session_id),
                    RequestRecord::Auth { scheme, credential, .. } => {
                        let id = identity::from_auth(scheme, credential);
                        auth = AuthChange::Auth { identity_len: id.len() as u32 };
                        auth_text = Some(format!("/{id}"));
                    }
                    RequestRecord::Sasl { .. } => auth = AuthChange::Sasl,
                    _ => {}
                }
                path = auth_text.as_deref().or(r.path()).unwrap_or("");
                // SetWatches re-registers watches: the original counts it as a watch-setting read.
                let watch = r.watch().unwrap_or(false)
                    || matches!(r.op, OpCode::SetWatches | OpCode::SetWatches2 | OpCode::AddWatch);
                FactKind::Request {
                    name: Name(r.name()),
                    write: r.op.is_write(),
                    watch,
                    session,
                    auth,
                }
            }
            Body::Reply(r) if r.op() == Some(OpCode::Ping) => FactKind::Ping,
            Body::Reply(r) => {
                let request = match &r.request {
                    Some(p) => {
                        path = p.path.unwrap_or("");
                        p.name
                    }
                    None => r.op().map_or(UNKNOWN_REQUEST, OpCode::request_name),
                };
                let connect = match &r.record {
                    ReplyRecord::Connect(c) => Some((c.session_id, c.timeout_ms)),
                    _ => None,
                };
                FactKind::Reply {
                    request: Name(request),
                    unpaired: r.request.is_none(),
                    err: r.err,
                    latency_ns: r.latency_ns(msg.ts),
                    connect,
                }
            }
            Body::Event(e) => {
                path = e.path;
                FactKind::Event { name: Name(e.type_name()) }
            }
            Body::FourLetter(_) => FactKind::FourLetter,
        };
        let start = self.text.len();
        self.text.push_str(path);
        let path = (start as u32, self.text.len() as u32);
        if let Some(id) = &auth_text {
            self.text.push_str(&id[1..]);
        }
        let conn = self.conn_index(msg.conn);
        self.facts.push(Fact { ts: msg.ts, conn, size: msg.size, kind, path });
    }

    /// Appends the end of `conn` at `ts`, unless it is only the end of the capture (the
    /// connection was still open then).
    pub fn push_closed(&mut self, conn: &ConnKey, ts: Timestamp, reason: CloseReason) {
        if reason == CloseReason::EndOfCapture {
            return;
        }
        let conn = self.conn_index(conn);
        let at = self.text.len() as u32;
        self.facts.push(Fact { ts, conn, size: 0, kind: FactKind::Closed, path: (at, at) });
    }

    /// The index of `conn` in the batch's connections.
    fn conn_index(&mut self, conn: &ConnKey) -> u32 {
        if self.conns.last() != Some(conn) {
            self.conns.push(*conn);
        }
        self.conns.len() as u32 - 1
    }

    /// The facts with their connections, paths and, for auth requests, the identity they
    /// establish (empty otherwise), in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = FactRef<'_>> {
        self.facts.iter().map(|f| {
            let (start, end) = (f.path.0 as usize, f.path.1 as usize);
            let identity = match f.kind {
                FactKind::Request { auth: AuthChange::Auth { identity_len }, .. } => {
                    &self.text[end..end + identity_len as usize]
                }
                _ => "",
            };
            FactRef {
                fact: f,
                conn: &self.conns[f.conn as usize],
                path: &self.text[start..end],
                identity,
            }
        })
    }

    /// Facts held.
    pub fn len(&self) -> usize {
        self.facts.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.facts.clear();
        self.text.clear();
        self.conns.clear();
    }
}
