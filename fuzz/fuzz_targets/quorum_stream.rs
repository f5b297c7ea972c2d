//! The quorum protocols' decoders (ZAB on a quorum port, leader election on an election port,
//! with port learning from config text on) on arbitrary bytes in both directions of one
//! connection, with or without the TCP handshake (a stream joined mid-way is searched).
#![no_main]

mod common;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zktraffic::{Message, MessageSink, Pipeline, PipelineConfig};

#[derive(Arbitrary, Debug)]
struct Input {
    election: bool,
    handshake: bool,
    close: bool,
    chunks: Vec<(bool, Vec<u8>)>,
}

/// Counts what is decoded, touching every field the printers read.
#[derive(Default)]
struct Count(usize);

impl MessageSink for Count {
    fn message(&mut self, m: &Message<'_>) {
        self.0 += format!("{:?}", m.body).len();
    }

    fn zab(&mut self, m: &zktraffic::ZabMessage<'_>) {
        self.0 += format!("{m:?}").len();
        if let zktraffic::ZabBody::Txn(t) = m.body {
            self.0 += t.multi_ops().count();
        }
    }

    fn election(&mut self, m: &zktraffic::ElectionMessage<'_>) {
        self.0 += format!("{m:?}").len();
    }
}

fuzz_target!(|input: Input| {
    let port = if input.election { 3888 } else { 2888 };
    let config = PipelineConfig {
        zab_ports: vec![2888],
        election_ports: vec![3888],
        learn_ports: true,
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::new(config, Count::default());
    let mut conn = common::Conn::to(port);
    let mut push = |s: &zktraffic::Segment<'_>| p.push(s);
    if input.handshake {
        conn.open(&mut push);
    }
    for (to_server, bytes) in &input.chunks {
        conn.send(*to_server, bytes, &mut push);
    }
    if input.close {
        conn.close(&mut push);
    }
    p.finish();
    let _ = p.stats();
});
