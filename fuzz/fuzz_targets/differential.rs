//! Differential: the same conversation (structure-aware frames on one connection) decoded
//! once with one segment per frame and once with every frame cut at arbitrary points and its
//! pieces reordered (all within the reassembly window) must give the same messages.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zktraffic::encode::{self, FrameWriter};
use zktraffic_common::tcp_flags::{ACK, PSH};

#[derive(Arbitrary, Debug)]
enum Frame {
    GetData {
        xid: i32,
        path: String,
        watch: bool,
    },
    Exists {
        xid: i32,
        path: String,
    },
    SetData {
        xid: i32,
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    Create {
        xid: i32,
        path: String,
        data: Vec<u8>,
        flags: i32,
    },
    Delete {
        xid: i32,
        path: String,
    },
    GetChildren {
        xid: i32,
        path: String,
    },
    Ping,
    Close {
        xid: i32,
    },
    DataReply {
        xid: i32,
        zxid: i64,
        data: Option<Vec<u8>>,
    },
    StatReply {
        xid: i32,
        zxid: i64,
    },
    ChildrenReply {
        xid: i32,
        zxid: i64,
        names: Vec<String>,
    },
    ErrorReply {
        xid: i32,
        zxid: i64,
        err: i32,
    },
    Event {
        zxid: i64,
        kind: i32,
        state: i32,
        path: String,
    },
    /// A well-framed body of arbitrary bytes.
    Raw {
        to_server: bool,
        body: Vec<u8>,
    },
}

impl Frame {
    fn render(&self) -> (bool, Vec<u8>) {
        let req = |xid: i32, op: i32| FrameWriter::new().request_header(xid, op);
        let rep = |xid: i32, zxid: i64, err: i32| FrameWriter::new().reply_header(xid, zxid, err);
        match self {
            Frame::GetData { xid, path, watch } => {
                (true, req(*xid, 4).string(path).bool(*watch).finish())
            }
            Frame::Exists { xid, path } => (true, req(*xid, 3).string(path).bool(false).finish()),
            Frame::SetData { xid, path, data, version } => {
                (true, req(*xid, 5).string(path).buffer(Some(data)).i32(*version).finish())
            }
            Frame::Create { xid, path, data, flags } => (
                true,
                req(*xid, 1)
                    .string(path)
                    .buffer(Some(data))
                    .i32(1)
                    .i32(31)
                    .string("world")
                    .string("anyone")
                    .i32(*flags)
                    .finish(),
            ),
            Frame::Delete { xid, path } => (true, req(*xid, 2).string(path).i32(-1).finish()),
            Frame::GetChildren { xid, path } => {
                (true, req(*xid, 12).string(path).bool(false).finish())
            }
            Frame::Ping => (true, req(-2, 11).finish()),
            Frame::Close { xid } => (true, req(*xid, -11).finish()),
            Frame::DataReply { xid, zxid, data } => {
                (false, rep(*xid, *zxid, 0).buffer(data.as_deref()).stat(*zxid).finish())
            }
            Frame::StatReply { xid, zxid } => (false, rep(*xid, *zxid, 0).stat(*zxid).finish()),
            Frame::ChildrenReply { xid, zxid, names } => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                (false, rep(*xid, *zxid, 0).strings(&names).stat(*zxid).finish())
            }
            Frame::ErrorReply { xid, zxid, err } => (false, rep(*xid, *zxid, *err).finish()),
            Frame::Event { zxid, kind, state, path } => {
                (false, rep(-1, *zxid, 0).i32(*kind).i32(*state).string(path).finish())
            }
            Frame::Raw { to_server, body } => (*to_server, FrameWriter::new().raw(body).finish()),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    handshake: bool,
    frames: Vec<Frame>,
    /// Cut points (taken modulo each frame's length) and the order of the pieces.
    cuts: Vec<u16>,
    order: Vec<u8>,
}

/// At most this many pieces per frame, so a frame's pieces stay well within the reassembly
/// window however they are reordered.
const MAX_PIECES: usize = 8;

fuzz_target!(|input: Input| {
    let mut frames: Vec<(bool, Vec<u8>)> = vec![
        (true, encode::connect_request(0, 0, 30_000)),
        (false, encode::connect_response(0x5eed, 30_000)),
    ];
    if !input.handshake {
        frames.clear();
    }
    frames.extend(input.frames.iter().map(Frame::render));
    // Frames stay small: the window is far larger.
    if frames.iter().any(|(_, f)| f.len() > 16 * 1024) {
        return;
    }

    let whole = common::decode(|push| {
        let mut conn = common::Conn::new();
        conn.open(push);
        for (to_server, f) in &frames {
            conn.send(*to_server, f, push);
        }
        conn.close(push);
    });

    let mut cuts = input.cuts.iter().cycle();
    let mut order = input.order.iter().cycle();
    let split = common::decode(|push| {
        let mut conn = common::Conn::new();
        conn.open(push);
        for (to_server, f) in &frames {
            // Cut points, sorted and deduplicated.
            let mut points: Vec<usize> = (0..MAX_PIECES - 1)
                .filter_map(|_| cuts.next().map(|&c| usize::from(c) % (f.len() + 1)))
                .collect();
            points.push(0);
            points.push(f.len());
            points.sort_unstable();
            points.dedup();
            let mut pieces: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
            // Reorder: a permutation driven by the input.
            for i in (1..pieces.len()).rev() {
                if let Some(&o) = order.next() {
                    pieces.swap(i, usize::from(o) % (i + 1));
                }
            }
            for &(a, b) in &pieces {
                push(&conn.segment(*to_server, a as u32, PSH | ACK, &f[a..b]));
            }
            conn.advance(*to_server, f.len() as u32);
        }
        conn.close(push);
    });

    assert_eq!(whole, split, "split/reordered decode differs from whole-segment decode");
});
