//! Shared by the `serve_*` tests: run `zktraffic serve --pcap` in-process on 127.0.0.1:0 and
//! talk to it with real HTTP requests (a minimal HTTP/1.1 client over `TcpStream`).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::Value;
use zktraffic::Daemon;
use zktraffic::OpCode;
use zktraffic::PcapSource;
use zktraffic::PcapWriter;
use zktraffic::Timestamp;
use zktraffic::encode::{self, FrameWriter};
use zktraffic::synth::Conversation;
use zktraffic::{Cli, Command};

/// A daemon that replayed a capture, serving on a free port.
pub struct Served {
    pub daemon: Option<Daemon>,
    pub addr: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.take() {
            d.shutdown();
        }
    }
}

/// Starts `zktraffic serve --pcap PCAP ARGS…` on 127.0.0.1:0 and waits for the replay to end.
pub fn serve(pcap: &Path, args: &[&str]) -> Served {
    let mut argv = vec![
        "zktraffic",
        "serve",
        "--pcap",
        pcap.to_str().expect("utf-8 path"),
        "--http-addr",
        "127.0.0.1:0",
    ];
    argv.extend_from_slice(args);
    let Some(Command::Serve(a)) = Cli::try_parse_from(argv).expect("valid arguments").command
    else {
        panic!("not a serve command");
    };
    let mut config = a.config();
    config.handle_signals = false;
    let source = PcapSource::open(pcap).expect("capture opens");
    let mut daemon = Daemon::start(config, Box::new(source)).expect("daemon starts");
    daemon.wait_capture();
    let addr = daemon.addr();
    Served { daemon: Some(daemon), addr }
}

/// `GET path` → (status, body).
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = get_accept(addr, path, None);
    (status, body)
}

/// `GET path` with an `Accept` header → (status, content type, body).
#[allow(dead_code)] // not every test binary negotiates
pub fn get_accept(addr: SocketAddr, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n")
        .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// `GET path` as JSON (status 200 required).
pub fn json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// The value of `key` in a flat JSON object (panics with the object when absent).
pub fn at(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// A conformance capture, or `None` (skip) when they are absent.
pub fn capture(name: &str) -> Option<PathBuf> {
    zktraffic_tests::conformance(name)
}

/// One request of a generated capture: (seconds since start, client index, path).
pub type Req<'a> = (u64, usize, &'a str);

/// Writes a capture where each listed client sends `exists PATH` at the given second and the
/// server answers after 1 ms (NoNode when the path ends in `missing`).
pub fn write_capture(path: &Path, clients: usize, reqs: &[Req<'_>]) {
    write_capture_closing(path, clients, reqs, &[]);
}

/// As [`write_capture`], and each `(second, client)` of `closes` (in time order) ends that
/// client's connection (FIN both ways).
pub fn write_capture_closing(
    path: &Path,
    clients: usize,
    reqs: &[Req<'_>],
    closes: &[(u64, usize)],
) {
    let file = std::fs::File::create(path).expect("create capture");
    let mut out = PcapWriter::new(std::io::BufWriter::new(file)).expect("pcap header");
    let server: SocketAddr = (Ipv4Addr::new(10, 0, 0, 1), 2181).into();
    let base = 1_700_000_000u64;
    let mut convs: Vec<Conversation> = (0..clients)
        .map(|c| {
            let client = (Ipv4Addr::new(10, 1, 0, c as u8 + 1), 40_000 + c as u16).into();
            Conversation::new(client, server, 1000 * c as u32, 7)
        })
        .collect();
    for (c, conv) in convs.iter_mut().enumerate() {
        let ts = Timestamp::from_parts(base, c as u32);
        conv.open(&mut out, ts).expect("write");
        conv.send(&mut out, ts, true, &encode::connect_request(0, 0, 30_000)).expect("write");
        conv.send(&mut out, ts, false, &encode::connect_response(0x100 + c as i64, 30_000))
            .expect("write");
    }
    let mut closes = closes.iter().peekable();
    let close_at = |out: &mut PcapWriter<_>, convs: &mut [Conversation], sec: u64, c: usize| {
        convs[c].close(out, Timestamp::from_parts(base + sec, 2000)).expect("write");
    };
    for (i, &(sec, c, p)) in reqs.iter().enumerate() {
        // In time order: the closes due before this request first.
        while let Some(&&(at, client)) = closes.peek()
            && at < sec
        {
            close_at(&mut out, &mut convs, at, client);
            closes.next();
        }
        let xid = i as i32 + 1;
        let ts = Timestamp::from_parts(base + sec, 1000);
        let req = FrameWriter::new()
            .request_header(xid, OpCode::Exists.to_wire())
            .string(p)
            .bool(false)
            .finish();
        let err = if p.ends_with("missing") { -101 } else { 0 };
        let mut rep = FrameWriter::new().reply_header(xid, 10 + i as i64, err);
        if err == 0 {
            rep = rep.stat(1);
        }
        convs[c].send(&mut out, ts, true, &req).expect("write");
        convs[c].send(&mut out, Timestamp(ts.0 + 1_000_000), false, &rep.finish()).expect("write");
    }
    for &(sec, c) in closes {
        close_at(&mut out, &mut convs, sec, c);
    }
    out.flush().expect("flush");
}

/// A fresh temporary file name for a generated capture.
pub fn temp_capture(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("zktraffic-serve-{}-{name}.pcap", std::process::id()))
}
