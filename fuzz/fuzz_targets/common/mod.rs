//! Shared by the targets: one TCP connection to a ZooKeeper server, driven segment by segment
//! straight into a [`Pipeline`], and a printable summary of each decoded message.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};

use zktraffic::Timestamp;
use zktraffic::Segment;
use zktraffic::{Pipeline, PipelineConfig};
use zktraffic::Message;
use zktraffic_common::tcp_flags::{ACK, FIN, PSH, SYN};

/// Every segment carries the same time: the targets are free of timing, and a message's
/// summary must not depend on which segment completed it.
pub const TS: Timestamp = Timestamp::from_parts(1_700_000_000, 0);
pub const CLIENT_ISN: u32 = 0xfff0_0000;
pub const SERVER_ISN: u32 = 0x7fff_fff0;

pub fn client() -> SocketAddr {
    (Ipv4Addr::new(10, 0, 0, 1), 40_000).into()
}

pub fn server() -> SocketAddr {
    (Ipv4Addr::new(10, 0, 0, 2), zktraffic_common::ZK_CLIENT_PORT).into()
}

/// Decodes with the default configuration, returning one line per message.
pub fn decode(feed: impl FnOnce(&mut dyn FnMut(&Segment<'_>))) -> Vec<String> {
    let mut out = Vec::new();
    let sink = |m: &Message<'_>| out.push(format!("{:?} {} {:?}", m.conn, m.size, m.body));
    let mut p = Pipeline::new(PipelineConfig::default(), sink);
    feed(&mut |s| p.push(s));
    p.finish();
    let _ = p.stats();
    drop(p);
    out
}

/// Sequence numbers of a connection as the two sides send.
pub struct Conn {
    pub client_seq: u32,
    pub server_seq: u32,
    /// The server's end (the client port unless [`Conn::to`]).
    pub server: SocketAddr,
}

impl Conn {
    pub fn new() -> Self {
        Conn { client_seq: CLIENT_ISN, server_seq: SERVER_ISN, server: server() }
    }

    /// A connection to another server port (quorum, election).
    pub fn to(port: u16) -> Self {
        Conn { server: (Ipv4Addr::new(10, 0, 0, 2), port).into(), ..Conn::new() }
    }

    /// A segment from one side at the current sequence number plus `offset`, acknowledging
    /// everything the other side sent so far.
    pub fn segment<'a>(
        &self,
        to_server: bool,
        offset: u32,
        flags: u8,
        payload: &'a [u8],
    ) -> Segment<'a> {
        let (src, dst, seq, ack) = if to_server {
            (client(), self.server, self.client_seq, self.server_seq)
        } else {
            (self.server, client(), self.server_seq, self.client_seq)
        };
        Segment {
            ts: TS,
            src,
            dst,
            seq: seq.wrapping_add(offset),
            ack,
            flags,
            payload,
            wire_len: payload.len() as u32,
        }
    }

    pub fn advance(&mut self, to_server: bool, n: u32) {
        if to_server {
            self.client_seq = self.client_seq.wrapping_add(n);
        } else {
            self.server_seq = self.server_seq.wrapping_add(n);
        }
    }

    /// The three-way handshake.
    pub fn open(&mut self, push: &mut dyn FnMut(&Segment<'_>)) {
        push(&self.segment(true, 0, SYN, &[]));
        self.advance(true, 1);
        push(&self.segment(false, 0, SYN | ACK, &[]));
        self.advance(false, 1);
        push(&self.segment(true, 0, ACK, &[]));
    }

    /// Sends `bytes` as one segment.
    pub fn send(&mut self, to_server: bool, bytes: &[u8], push: &mut dyn FnMut(&Segment<'_>)) {
        push(&self.segment(to_server, 0, PSH | ACK, bytes));
        self.advance(to_server, bytes.len() as u32);
    }

    /// FIN from both sides.
    pub fn close(&mut self, push: &mut dyn FnMut(&Segment<'_>)) {
        push(&self.segment(true, 0, FIN | ACK, &[]));
        self.advance(true, 1);
        push(&self.segment(false, 0, FIN | ACK, &[]));
        self.advance(false, 1);
    }
}
