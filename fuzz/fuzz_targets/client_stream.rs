//! The client protocol decoder (framing, handshake, records, pairing) on arbitrary bytes in both
//! directions of one connection, with or without the TCP handshake (a stream joined mid-way
//! goes through resynchronisation).
#![no_main]

mod common;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    handshake: bool,
    close: bool,
    chunks: Vec<(bool, Vec<u8>)>,
}

fuzz_target!(|input: Input| {
    common::decode(|push| {
        let mut conn = common::Conn::new();
        if input.handshake {
            conn.open(push);
        }
        for (to_server, bytes) in &input.chunks {
            conn.send(*to_server, bytes, push);
        }
        if input.close {
            conn.close(push);
        }
    });
});
