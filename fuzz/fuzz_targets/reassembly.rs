//! TCP reassembly fed arbitrary segment sequences: each segment picks a direction, an offset
//! (anywhere around the stream, including behind and far ahead), a length, flags, truncation
//! and acknowledgement; its bytes come from a valid ZooKeeper conversation, so what survives
//! reassembly exercises the decoder too.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zktraffic::encode::{self, FrameWriter};

#[derive(Arbitrary, Debug)]
struct Seg {
    to_server: bool,
    offset: i32,
    len: u16,
    flags: u8,
    /// Captured bytes kept (the rest counts as lost to a snap length).
    captured: Option<u16>,
    ack_delta: i32,
}

fn stream(to_server: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if to_server {
        out.extend(encode::connect_request(0, 0, 30_000));
        for xid in 1..40 {
            out.extend(
                FrameWriter::new()
                    .request_header(xid, 4)
                    .string(&format!("/node/{xid}"))
                    .bool(xid % 2 == 0)
                    .finish(),
            );
        }
    } else {
        out.extend(encode::connect_response(0x1234, 30_000));
        for xid in 1..40 {
            out.extend(
                FrameWriter::new()
                    .reply_header(xid, 100 + i64::from(xid), 0)
                    .buffer(Some(&vec![b'v'; xid as usize * 7]))
                    .stat(100)
                    .finish(),
            );
        }
    }
    out
}

fuzz_target!(|segs: Vec<Seg>| {
    let streams = [stream(false), stream(true)];
    common::decode(|push| {
        let mut conn = common::Conn::new();
        conn.open(push);
        for s in &segs {
            let bytes = &streams[usize::from(s.to_server)];
            let start = (s.offset.rem_euclid(bytes.len() as i32 + 64)) as usize;
            let start = start.min(bytes.len());
            let end = (start + usize::from(s.len)).min(bytes.len());
            let payload = &bytes[start..end];
            let kept = s.captured.map_or(payload.len(), |c| usize::from(c).min(payload.len()));
            // In range, the sequence number matches the bytes; behind the stream, garbage.
            let seq_offset = if s.offset >= 0 { start as u32 } else { s.offset as u32 };
            let mut seg = conn.segment(s.to_server, seq_offset, s.flags, &payload[..kept]);
            seg.wire_len = payload.len() as u32;
            seg.ack = seg.ack.wrapping_add(s.ack_delta as u32);
            push(&seg);
        }
        conn.close(push);
    });
});
