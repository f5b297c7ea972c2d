//! Writes a synthetic capture of pipelined ZooKeeper traffic (the input of
//! `cargo xtask bench decode`) and prints what it holds as JSON.
//!
//! Usage: `synth_capture OUT.pcap CONNECTIONS REQUESTS_PER_CONNECTION PIPELINE_DEPTH MSS`, or
//! `synth_capture --quorum OUT.pcap LEARNERS WRITES BATCH MSS` for a leader's ZAB traffic.

use std::fs::File;
use std::io::BufWriter;

use anyhow::{Context, Result, bail};
use zktraffic::synth::{QuorumWorkload, Workload, write_quorum, write_workload};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, out, learners, writes, batch, mss] = args.as_slice()
        && flag == "--quorum"
    {
        let w = QuorumWorkload {
            learners: learners.parse().context("LEARNERS")?,
            writes: writes.parse().context("WRITES")?,
            pings_every: 1000,
            batch: batch.parse().context("BATCH")?,
            mss: mss.parse().context("MSS")?,
        };
        let file = File::create(out).with_context(|| format!("creating {out}"))?;
        let packets = write_quorum(BufWriter::with_capacity(1 << 20, file), &w)?;
        println!("{{\"packets\":{packets}}}");
        return Ok(());
    }
    let [out, connections, requests, depth, mss] = args.as_slice() else {
        bail!(
            "usage: synth_capture OUT.pcap CONNECTIONS REQUESTS_PER_CONNECTION PIPELINE_DEPTH MSS"
        );
    };
    let w = Workload {
        connections: connections.parse().context("CONNECTIONS")?,
        requests_per_connection: requests.parse().context("REQUESTS_PER_CONNECTION")?,
        pipeline_depth: depth.parse().context("PIPELINE_DEPTH")?,
        mss: mss.parse().context("MSS")?,
    };
    let file = File::create(out).with_context(|| format!("creating {out}"))?;
    let g = write_workload(BufWriter::with_capacity(1 << 20, file), &w)?;
    println!(
        "{{\"requests\":{},\"replies\":{},\"events\":{},\"errors\":{}}}",
        g.requests, g.replies, g.events, g.errors
    );
    Ok(())
}
