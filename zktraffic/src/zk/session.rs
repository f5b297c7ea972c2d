//! One connection's ZooKeeper conversation: how its streams are carried (frames, four-letter
//! word, TLS), the handshake, and turning each frame into a [`Message`], with replies paired to
//! their requests (see [`super::pairing`]). Where a frame boundary is unknown, the judgement of
//! candidate frames is [`super::resync`]'s.

use crate::Timestamp;
use crate::tcp::{ConnKey, Direction, StreamEvent};

use super::cursor::Cursor;
use super::error::ErrorCode;
use super::fourletter;
use super::framing::{Candidate, FrameHandler, Framer, PREFIX, StreamKind};
use super::message::{
    Body, FourLetterWord, MAX_LATENCY_NS, Message, PairedRequest, Reply, ReplyRecord, Request,
    RequestRecord,
};
use super::opcode::{OpCode, xid};
use super::pairing::{PendingRequests, Pushed, Taken};
use super::records::{self, REPLY_HEADER, REQUEST_HEADER};
use super::resync;
use super::sink::{ClientSink, DecodeStats, DecoderConfig, ProtocolStats};

/// What a connection turned out to carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ConnKind {
    /// Nothing classified yet.
    #[default]
    Unknown,
    /// ZooKeeper frames.
    ZooKeeper,
    /// A four-letter word and its text answer.
    FourLetter { command: [u8; 4], response_len: u64, last_ts: Timestamp },
    /// TLS: opaque.
    Tls,
    /// A handshake with a protocol version other than 0 (e.g. ClickHouse's 64-bit xids): opaque.
    ForeignDialect,
}

impl ConnKind {
    fn is_opaque(self) -> bool {
        !matches!(self, ConnKind::Unknown | ConnKind::ZooKeeper)
    }
}

/// Per-connection decoding state, kept by the flow table next to the TCP state.
#[derive(Debug, Default)]
pub struct Session {
    framers: [Option<Framer>; 2],
    /// Per direction: the next frame should be the handshake (the stream was seen from its SYN).
    expect_handshake: [bool; 2],
    kind: ConnKind,
    pending: PendingRequests,
}

impl Session {
    /// Handles one reassembly event of this connection.
    pub fn on_event<K: ClientSink>(
        &mut self,
        conn: &ConnKey,
        event: StreamEvent<'_>,
        cfg: &DecoderConfig,
        stats: &mut DecodeStats,
        sink: &mut K,
    ) {
        match event {
            StreamEvent::Start { dir, from_syn } => {
                let min = min_frame(dir);
                let max = cfg.max_frame_bytes;
                let mut framer = if from_syn {
                    Framer::at_start(min, max)
                } else {
                    Framer::mid_stream(min, max)
                };
                if self.kind.is_opaque() {
                    framer.make_opaque();
                }
                self.framers[dir.index()] = Some(framer);
                self.expect_handshake[dir.index()] = from_syn;
            }
            StreamEvent::Data { dir, ts, bytes } => {
                let Session { framers, expect_handshake, kind, pending } = self;
                let framer = framers[dir.index()]
                    .get_or_insert_with(|| Framer::mid_stream(min_frame(dir), cfg.max_frame_bytes));
                let mut side = Side {
                    dir,
                    conn,
                    kind,
                    expect_handshake: &mut expect_handshake[dir.index()],
                    pending,
                    cfg,
                    stats: &mut stats.protocol,
                    sink,
                };
                framer.push(bytes, ts, &mut side, &mut stats.framing);
                if self.kind.is_opaque() {
                    // The other direction is no ZooKeeper stream either.
                    for f in self.framers.iter_mut().flatten() {
                        f.make_opaque();
                    }
                }
            }
            StreamEvent::Gap { dir, lost, .. } => {
                if let Some(f) = &mut self.framers[dir.index()] {
                    f.gap(lost, &mut stats.framing);
                }
                self.expect_handshake[dir.index()] = false;
            }
            StreamEvent::Closed { .. } => {
                if let ConnKind::FourLetter { command, response_len, last_ts } = self.kind {
                    stats.protocol.four_letter_words += 1;
                    sink.message(&Message {
                        ts: last_ts,
                        conn,
                        size: response_len.min(u32::MAX as u64) as u32,
                        body: Body::FourLetter(FourLetterWord { command, response_len }),
                    });
                }
                for f in self.framers.iter_mut().flatten() {
                    f.close(&mut stats.framing);
                }
                let held = self.pending.bytes() as u64;
                stats.protocol.pending_bytes = stats.protocol.pending_bytes.saturating_sub(held);
                stats.protocol.unanswered_requests += self.pending.clear();
            }
        }
    }

    /// Bytes both directions hold for incomplete frames and searches.
    pub fn partial_bytes(&self) -> usize {
        self.framers.iter().flatten().map(Framer::held_bytes).sum()
    }

    /// Drops what both directions hold for incomplete frames and searches (see
    /// [`Framer::shed`]).
    pub fn shed_partial(&mut self, stats: &mut DecodeStats) {
        for f in self.framers.iter_mut().flatten() {
            f.shed(&mut stats.framing);
        }
    }
}

/// The smallest frame body of a direction: a RequestHeader or a ReplyHeader.
fn min_frame(dir: Direction) -> usize {
    match dir {
        Direction::ToServer => REQUEST_HEADER,
        Direction::ToClient => REPLY_HEADER,
    }
}

/// One direction of a session, borrowed for the framer's callbacks.
struct Side<'s, K> {
    dir: Direction,
    conn: &'s ConnKey,
    kind: &'s mut ConnKind,
    expect_handshake: &'s mut bool,
    pending: &'s mut PendingRequests,
    cfg: &'s DecoderConfig,
    stats: &'s mut ProtocolStats,
    sink: &'s mut K,
}

impl<K: ClientSink> FrameHandler for Side<'_, K> {
    fn stream_start(&mut self, first: [u8; 4]) -> StreamKind {
        if self.kind.is_opaque() {
            return StreamKind::Opaque;
        }
        if fourletter::is_tls(&first) {
            *self.kind = ConnKind::Tls;
            self.stats.tls_connections += 1;
            return StreamKind::Opaque;
        }
        if self.dir == Direction::ToServer && fourletter::is_four_letter_word(&first) {
            *self.kind =
                ConnKind::FourLetter { command: first, response_len: 0, last_ts: Timestamp(0) };
            return StreamKind::Opaque;
        }
        *self.kind = ConnKind::ZooKeeper;
        StreamKind::Framed
    }

    fn frame(&mut self, frame: &[u8], ts: Timestamp, on_probation: bool) -> StreamKind {
        let max = self.cfg.max_frame_bytes;
        if on_probation && !resync::plausible(self.dir, frame, max, self.pending) {
            return StreamKind::Suspect;
        }
        self.stats.frames += 1;
        let size = (frame.len() - PREFIX) as u32;
        let body = &frame[PREFIX..];
        let handshake = std::mem::take(self.expect_handshake);
        match self.dir {
            Direction::ToServer => self.request(body, size, ts, handshake),
            Direction::ToClient => {
                self.reply(body, size, ts, handshake);
                StreamKind::Framed
            }
        }
    }

    fn candidate(&self, bytes: &[u8]) -> Candidate {
        resync::candidate(self.dir, bytes, self.cfg.max_frame_bytes, self.pending)
    }

    fn opaque(&mut self, n: u64, ts: Timestamp) {
        self.stats.opaque_bytes += n;
        if let (ConnKind::FourLetter { response_len, last_ts, .. }, Direction::ToClient) =
            (&mut *self.kind, self.dir)
        {
            *response_len += n;
            *last_ts = ts;
        } else if let ConnKind::FourLetter { last_ts, .. } = self.kind {
            *last_ts = (*last_ts).max(ts);
        }
    }
}

impl<K: ClientSink> Side<'_, K> {
    /// Hands a message to the sink; the caller builds it in place (messages are a few hundred
    /// bytes: moving them through parameters shows in profiles).
    fn emit(&mut self, msg: &Message<'_>) {
        self.sink.message(msg);
    }

    /// A client → server frame.
    fn request(&mut self, body: &[u8], size: u32, ts: Timestamp, handshake: bool) -> StreamKind {
        if handshake || resync::looks_like_handshake(body) {
            match records::connect_request(body) {
                Ok(c) if c.protocol_version == 0 => {
                    *self.kind = ConnKind::ZooKeeper;
                    let record = RequestRecord::Connect(c);
                    self.emit_request(ts, size, 0, OpCode::Connect, record);
                    return StreamKind::Framed;
                }
                Ok(_) => {
                    *self.kind = ConnKind::ForeignDialect;
                    self.stats.foreign_dialect_connections += 1;
                    return StreamKind::Opaque;
                }
                Err(_) if handshake => self.stats.handshakes_missing += 1,
                Err(_) => {}
            }
        }
        let mut c = Cursor::new(body);
        let (Ok(xid), Ok(op)) = (c.i32(), c.i32()) else {
            self.stats.malformed_records += 1;
            return StreamKind::Framed;
        };
        let op = OpCode::from_wire(op);
        let record = records::request(op, &mut c).unwrap_or_else(|_| {
            self.stats.malformed_records += 1;
            RequestRecord::Unknown { body_len: body.len() - REQUEST_HEADER }
        });
        self.emit_request(ts, size, xid, op, record);
        StreamKind::Framed
    }

    /// Remembers a request for pairing and hands it to the sink. The message is built in
    /// place, once: copying a built request into a message showed as store-forwarding stalls.
    fn emit_request(
        &mut self,
        ts: Timestamp,
        size: u32,
        xid: i32,
        op: OpCode,
        record: RequestRecord<'_>,
    ) {
        let msg =
            Message { ts, conn: self.conn, size, body: Body::Request(Request { xid, op, record }) };
        if let Body::Request(req) = &msg.body {
            let before = self.pending.bytes();
            let left = self.cfg.max_pending_bytes.saturating_sub(self.stats.pending_bytes as usize);
            match self.pending.push(xid, op, req.name(), ts, req.path(), self.cfg.max_pending, left)
            {
                Pushed::Remembered => {}
                Pushed::CapHit => self.stats.pending_cap_hits += 1,
                Pushed::BudgetHit => self.stats.pending_budget_hits += 1,
            }
            self.stats.pending_bytes += (self.pending.bytes() - before) as u64;
        }
        self.stats.requests += 1;
        self.emit(&msg);
    }

    /// A server → client frame.
    fn reply(&mut self, body: &[u8], size: u32, ts: Timestamp, handshake: bool) {
        let connect_due = self.pending.front_op() == Some(OpCode::Connect);
        if handshake || (connect_due && records::CONNECT_RESPONSE_LENS.contains(&body.len())) {
            match records::connect_response(body) {
                Ok(r) => {
                    let taken = self.take(0);
                    let err =
                        if r.is_expired() { ErrorCode::SESSION_EXPIRED } else { ErrorCode::OK };
                    self.emit_reply(taken, 0, 0, err, ReplyRecord::Connect(r), size, ts);
                    return;
                }
                Err(_) if handshake => self.stats.handshakes_missing += 1,
                Err(_) => {}
            }
        }
        let mut c = Cursor::new(body);
        let (Ok(xid), Ok(zxid), Ok(err)) = (c.i32(), c.i64(), c.i32()) else {
            self.stats.malformed_records += 1;
            return;
        };
        let err = ErrorCode(err);
        if xid == xid::NOTIFICATION {
            match records::watch_event(zxid, &mut c) {
                Ok(event) => {
                    self.stats.events += 1;
                    self.emit(&Message { ts, conn: self.conn, size, body: Body::Event(event) });
                }
                Err(_) => self.stats.malformed_records += 1,
            }
            return;
        }
        let taken = self.take(xid);
        let op = taken.request.as_ref().map(|r| r.op).or_else(|| OpCode::from_special_xid(xid));
        let record = match op {
            _ if !err.is_ok() => ReplyRecord::Empty,
            Some(op) => records::reply(op, &mut c).unwrap_or_else(|_| {
                self.stats.malformed_records += 1;
                ReplyRecord::Undecoded { body_len: body.len() - REPLY_HEADER }
            }),
            None => ReplyRecord::Undecoded { body_len: body.len() - REPLY_HEADER },
        };
        self.emit_reply(taken, xid, zxid, err, record, size, ts);
    }

    /// Takes a reply's request, giving its bytes back to the pending budget.
    fn take(&mut self, xid: i32) -> Taken {
        let before = self.pending.bytes();
        let taken = self.pending.take(xid);
        let freed = (before - self.pending.bytes()) as u64;
        self.stats.pending_bytes = self.stats.pending_bytes.saturating_sub(freed);
        taken
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_reply(
        &mut self,
        taken: Taken,
        xid: i32,
        zxid: i64,
        err: ErrorCode,
        record: ReplyRecord<'_>,
        size: u32,
        ts: Timestamp,
    ) {
        self.stats.replies += 1;
        self.stats.unanswered_requests += taken.unanswered;
        match &taken.request {
            None => self.stats.unpaired_replies += 1,
            Some(p) if p.ts > ts => self.stats.replies_before_request += 1,
            Some(p) if ts.saturating_nanos_since(p.ts) > MAX_LATENCY_NS => {
                self.stats.latencies_out_of_range += 1
            }
            Some(_) => {}
        }
        let request = taken.request.as_ref().map(|p| PairedRequest {
            op: p.op,
            name: p.name,
            ts: p.ts,
            path: p.path(),
        });
        let body = Body::Reply(Reply { xid, zxid, err, request, record });
        self.emit(&Message { ts, conn: self.conn, size, body });
        if let Some(p) = taken.request {
            self.pending.recycle(p);
        }
    }
}

#[cfg(test)]
mod tests;
