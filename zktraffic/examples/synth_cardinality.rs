//! Writes a capture with many distinct paths and clients (the cardinality input of
//! `cargo xtask bench serve`) and prints what it holds as JSON.
//!
//! Usage: `synth_cardinality OUT.pcap CLIENTS PATHS REQUESTS`

use std::fs::File;
use std::io::BufWriter;
use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{Context, Result, bail};
use zktraffic::OpCode;
use zktraffic::PcapWriter;
use zktraffic::Timestamp;
use zktraffic::encode::{self, FrameWriter};
use zktraffic::synth::Conversation;

/// Requests a client sends back to back before reading their replies.
const DEPTH: usize = 8;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, clients, paths, requests] = args.as_slice() else {
        bail!("usage: synth_cardinality OUT.pcap CLIENTS PATHS REQUESTS");
    };
    let clients: usize = clients.parse().context("CLIENTS")?;
    let paths: usize = paths.parse().context("PATHS")?;
    let requests: usize = requests.parse().context("REQUESTS")?;
    let file = File::create(out).with_context(|| format!("creating {out}"))?;
    let mut pcap = PcapWriter::new(BufWriter::with_capacity(1 << 20, file))?;
    let server: SocketAddr = (Ipv4Addr::new(10, 0, 0, 1), 2181).into();
    let mut ts = Timestamp::from_parts(1_700_000_000, 0);
    let mut convs: Vec<Conversation> = (0..clients)
        .map(|c| {
            let ip = Ipv4Addr::new(10, 2 + (c >> 16) as u8, (c >> 8) as u8, c as u8);
            let mut conv =
                Conversation::new((ip, 30_000 + (c % 30_000) as u16).into(), server, 1, 1);
            conv.mss = 1448;
            conv
        })
        .collect();
    let (mut reqs, mut reps, mut errors) = (0u64, 0u64, 0u64);
    for (c, conv) in convs.iter_mut().enumerate() {
        ts.0 += 1_000;
        conv.open(&mut pcap, ts)?;
        conv.send(&mut pcap, ts, true, &encode::connect_request(0, 0, 30_000))?;
        conv.send(&mut pcap, ts, false, &encode::connect_response(0x200 + c as i64, 30_000))?;
        reqs += 1;
        reps += 1;
    }
    let mut i = 0usize;
    let mut xid = vec![0i32; clients];
    while i < requests {
        for (c, conv) in convs.iter_mut().enumerate() {
            if i >= requests {
                break;
            }
            let (mut batch_req, mut batch_rep) = (Vec::new(), Vec::new());
            for _ in 0..DEPTH.min(requests - i) {
                xid[c] += 1;
                let path = format!("/bench/t{}/n{}", i % 100, i % paths);
                let missing = i.is_multiple_of(10);
                batch_req.extend(
                    FrameWriter::new()
                        .request_header(xid[c], OpCode::Exists.to_wire())
                        .string(&path)
                        .bool(false)
                        .finish(),
                );
                let rep = FrameWriter::new().reply_header(
                    xid[c],
                    i as i64,
                    if missing { -101 } else { 0 },
                );
                batch_rep.extend(if missing { rep.finish() } else { rep.stat(1).finish() });
                errors += u64::from(missing);
                i += 1;
                reqs += 1;
                reps += 1;
            }
            ts.0 += 2_000;
            conv.send(&mut pcap, ts, true, &batch_req)?;
            ts.0 += 150_000;
            conv.send(&mut pcap, ts, false, &batch_rep)?;
        }
    }
    for conv in convs.iter_mut() {
        ts.0 += 1_000;
        conv.close(&mut pcap, ts)?;
    }
    pcap.flush()?;
    println!("{{\"requests\":{reqs},\"replies\":{reps},\"events\":0,\"errors\":{errors}}}");
    Ok(())
}
