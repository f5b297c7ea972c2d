//! Test helpers: a handler that records what reassembly delivers, segment builders and a
//! harness around a [`FlowTable`].

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use zktraffic_common::tcp_flags;

use super::{CloseReason, ConnKey, Direction, FlowTable, StreamEvent, StreamHandler, TcpLimits};
use crate::Timestamp;
use crate::capture::Segment;

/// The connection most tests use.
pub(super) fn key() -> ConnKey {
    key_n(0)
}

/// A distinct connection per `n` (the client port varies).
pub(super) fn key_n(n: u16) -> ConnKey {
    ConnKey {
        client: SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(10, 0, 0, 1),
            40_000u16.wrapping_add(n),
        )),
        server: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 2181)),
    }
}

/// An event as recorded (owned).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Rec {
    Start { dir: Direction, from_syn: bool },
    Data { dir: Direction, bytes: Vec<u8> },
    Gap { dir: Direction, lost: u64 },
    Closed(CloseReason),
}

/// The per-connection state the table keeps for the recorder: which connection instance this
/// is, so that a state reused across connections would show.
#[derive(Debug, Default)]
pub(super) struct ConnLog {
    instance: Option<usize>,
    events: usize,
}

/// Records every event with the connection instance it belongs to.
#[derive(Debug, Default)]
pub(super) struct Recorder {
    /// (instance, key, event), in delivery order.
    pub log: Vec<(usize, ConnKey, Rec)>,
    /// Address of each `Data` slice, to check the in-order path does not copy.
    pub data_ptrs: Vec<*const u8>,
    instances: usize,
}

impl StreamHandler for Recorder {
    type State = ConnLog;

    fn on_event(&mut self, conn: &ConnKey, state: &mut ConnLog, event: StreamEvent<'_>) {
        let instance = *state.instance.get_or_insert_with(|| {
            self.instances += 1;
            self.instances - 1
        });
        state.events += 1;
        let rec = match event {
            StreamEvent::Start { dir, from_syn } => Rec::Start { dir, from_syn },
            StreamEvent::Data { dir, bytes, .. } => {
                self.data_ptrs.push(bytes.as_ptr());
                Rec::Data { dir, bytes: bytes.to_vec() }
            }
            StreamEvent::Gap { dir, lost, .. } => Rec::Gap { dir, lost },
            StreamEvent::Closed { reason, .. } => Rec::Closed(reason),
        };
        self.log.push((instance, *conn, rec));
    }
}

/// A stretch of one direction as delivered: bytes, or a count of lost bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Part {
    Bytes(Vec<u8>),
    Lost(u64),
}

impl Recorder {
    /// Events of connection instance `instance`.
    pub fn events(&self, instance: usize) -> Vec<Rec> {
        self.log.iter().filter(|(i, _, _)| *i == instance).map(|(_, _, rec)| rec.clone()).collect()
    }

    /// The stream of `dir` in `instance`, adjacent data merged.
    pub fn parts(&self, instance: usize, dir: Direction) -> Vec<Part> {
        let mut parts: Vec<Part> = Vec::new();
        for rec in self.events(instance) {
            match (rec, parts.last_mut()) {
                (Rec::Data { dir: d, bytes }, Some(Part::Bytes(last))) if d == dir => {
                    last.extend_from_slice(&bytes)
                }
                (Rec::Data { dir: d, bytes }, _) if d == dir => parts.push(Part::Bytes(bytes)),
                (Rec::Gap { dir: d, lost }, _) if d == dir => parts.push(Part::Lost(lost)),
                _ => {}
            }
        }
        parts
    }

    /// All bytes delivered for `dir` in `instance`, gaps ignored.
    pub fn bytes(&self, instance: usize, dir: Direction) -> Vec<u8> {
        self.parts(instance, dir)
            .into_iter()
            .flat_map(|part| match part {
                Part::Bytes(bytes) => bytes,
                Part::Lost(_) => Vec::new(),
            })
            .collect()
    }

    /// How each instance closed, by instance.
    pub fn closes(&self) -> Vec<(usize, CloseReason)> {
        self.log
            .iter()
            .filter_map(|(i, _, rec)| match rec {
                Rec::Closed(reason) => Some((*i, *reason)),
                _ => None,
            })
            .collect()
    }

    /// Number of connection instances seen.
    pub fn instances(&self) -> usize {
        self.instances
    }
}

/// A segment under construction, owning its payload.
#[derive(Clone, Debug)]
pub(super) struct Seg {
    pub ts_ns: u64,
    pub dir: Direction,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: Vec<u8>,
    /// Wire length when it differs from the payload length (truncated capture).
    pub wire_len: Option<u32>,
}

/// A segment of `dir` carrying `payload` at `seq`.
pub(super) fn seg(dir: Direction, seq: u32, payload: &[u8]) -> Seg {
    Seg { ts_ns: 0, dir, seq, ack: 0, flags: 0, payload: payload.to_vec(), wire_len: None }
}

impl Seg {
    pub fn syn(mut self) -> Self {
        self.flags |= tcp_flags::SYN;
        self
    }

    pub fn fin(mut self) -> Self {
        self.flags |= tcp_flags::FIN;
        self
    }

    pub fn rst(mut self) -> Self {
        self.flags |= tcp_flags::RST;
        self
    }

    pub fn ack(mut self, ack: u32) -> Self {
        self.flags |= tcp_flags::ACK;
        self.ack = ack;
        self
    }

    pub fn at(mut self, ts_ns: u64) -> Self {
        self.ts_ns = ts_ns;
        self
    }

    pub fn wire(mut self, wire_len: u32) -> Self {
        self.wire_len = Some(wire_len);
        self
    }

    /// The borrowed segment, addressed for `key`.
    pub fn segment(&self, key: &ConnKey) -> Segment<'_> {
        let (src, dst) = match self.dir {
            Direction::ToServer => (key.client, key.server),
            Direction::ToClient => (key.server, key.client),
        };
        Segment {
            ts: Timestamp(self.ts_ns),
            src,
            dst,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            payload: &self.payload,
            wire_len: self.wire_len.unwrap_or(self.payload.len() as u32),
        }
    }
}

/// A table and a recorder.
pub(super) struct Harness {
    pub table: FlowTable<ConnLog>,
    pub rec: Recorder,
}

impl Harness {
    pub fn new(limits: TcpLimits) -> Self {
        Harness { table: FlowTable::new(limits), rec: Recorder::default() }
    }

    /// Pushes on the default connection.
    pub fn push(&mut self, seg: &Seg) {
        self.push_on(key(), seg);
    }

    pub fn push_on(&mut self, key: ConnKey, seg: &Seg) {
        self.table.push(&seg.segment(&key), key, seg.dir, &mut self.rec);
    }

    pub fn push_all(&mut self, segs: &[Seg]) {
        for seg in segs {
            self.push(seg);
        }
    }

    pub fn finish(&mut self) {
        self.table.finish(&mut self.rec);
    }
}
