//! `cargo xtask bench serve`: the stats daemon replays the decode benchmark's capture while
//! pollers hit every endpoint; then a high-cardinality capture measures peak memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::serde_json_lite::field;
use super::{
    ROUNDS, Usage, WorkloadArgs, bench_dir, build_release, decode_summary, generate, measure,
    median, median_by,
};
use crate::util;

/// Every endpoint the pollers request, in both scopes where there are two.
const ENDPOINTS: [&str; 17] = [
    "/json/paths",
    "/json/paths?scope=cumulative",
    "/json/ips",
    "/json/ips?scope=cumulative",
    "/json/auths",
    "/json/auths?scope=cumulative",
    "/json/auths-dump",
    "/json/latency",
    "/json/latency?scope=cumulative",
    "/json/errors",
    "/json/errors?scope=cumulative",
    "/json/clients",
    "/json/clients?scope=cumulative",
    "/json/info",
    "/metrics",
    "/healthz",
    "/",
];

/// What the benchmark runs on.
pub struct Params {
    pub workload: WorkloadArgs,
    pub pollers: usize,
    /// Pace of the polled run's pollers (one round over every endpoint per interval).
    pub poll_interval: Duration,
    pub paths: usize,
    pub clients: usize,
}

/// One `GET` on `conn`, opened first if `None` (the time includes connecting then); the time
/// to the last byte of the body. The connection stays open for the next request (as Prometheus
/// scrapes) and is dropped on any error; pass a fresh `None` for a connection per request.
fn get(
    conn: &mut Option<BufReader<TcpStream>>,
    addr: SocketAddr,
    path: &str,
) -> std::io::Result<Duration> {
    let start = Instant::now();
    let result = (|| {
        let r = match conn {
            Some(r) => r,
            None => {
                let s = TcpStream::connect(addr)?;
                s.set_nodelay(true)?;
                conn.insert(BufReader::new(s))
            }
        };
        // One write: a request split over several segments waits on delayed ACKs.
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        r.get_mut().write_all(request.as_bytes())?;
        let (mut line, mut len, mut ok) = (String::new(), None, false);
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            ok |= l.starts_with("http/1.1 200");
            if let Some(v) = l.strip_prefix("content-length:") {
                len = v.trim().parse::<u64>().ok();
            }
        }
        let len = len.ok_or_else(|| std::io::Error::other(format!("{path}: no length")))?;
        std::io::copy(&mut r.by_ref().take(len), &mut std::io::sink())?;
        if !ok {
            return Err(std::io::Error::other(format!("{path}: not 200")));
        }
        Ok(start.elapsed())
    })();
    if result.is_err() {
        *conn = None;
    }
    result
}

/// Polls every endpoint in a loop until `stop`: paced (`Some`), a round per interval on one
/// kept-alive connection, as a collector does; otherwise back to back, each request on a fresh
/// connection (the stress case). Returns each endpoint's response times.
fn poller(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pace: Option<Duration>,
) -> JoinHandle<Vec<Vec<Duration>>> {
    std::thread::spawn(move || {
        let mut times = vec![Vec::new(); ENDPOINTS.len()];
        let mut conn = None;
        while !stop.load(Ordering::Relaxed) {
            let round = Instant::now();
            for (i, e) in ENDPOINTS.iter().enumerate() {
                let got = match pace {
                    Some(_) => get(&mut conn, addr, e),
                    None => get(&mut None, addr, e),
                };
                match got {
                    Ok(t) => times[i].push(t),
                    // Not listening yet, or already gone.
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            if let Some(rest) = pace.and_then(|p| p.checked_sub(round.elapsed())) {
                std::thread::sleep(rest);
            }
        }
        times
    })
}

fn free_port() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn serve_run(
    zk: &Path,
    pcap: &Path,
    extra: &[&str],
    pollers: usize,
    pace: Option<Duration>,
) -> Result<(Usage, String, Vec<Vec<Duration>>)> {
    let addr = free_port()?;
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..pollers).map(|_| poller(addr, stop.clone(), pace)).collect();
    let mut cmd = Command::new(zk);
    cmd.args(["serve", "--pcap", pcap.to_str().context("utf-8 path")?, "--http-addr"])
        .arg(addr.to_string())
        .arg("--exit-when-done")
        .args(extra)
        .stderr(Stdio::null());
    let result = measure(&mut cmd, true);
    stop.store(true, Ordering::Relaxed);
    let mut times = vec![Vec::new(); ENDPOINTS.len()];
    for h in handles {
        let t = h.join().map_err(|_| anyhow::anyhow!("a poller panicked"))?;
        for (all, mine) in times.iter_mut().zip(t) {
            all.extend(mine);
        }
    }
    let (usage, out) = result?;
    Ok((usage, out, times))
}

/// CPU seconds of two decoders run at once (their mean), to set against one run alone: about
/// the same when the machine's two CPUs are separate cores; well above when they share one, as
/// the vCPUs of a VM may, and then two threads do less than twice the work of one, the daemon's
/// capture and aggregation included.
fn decoder_pair_cpu(zk: &Path, pcap: &Path) -> Result<f64> {
    let run = || decode_summary(zk, pcap).map(|(u, _)| u.cpu_s);
    let (a, b) = std::thread::scope(|s| {
        let other = s.spawn(run);
        (run(), other.join())
    });
    let b = b.map_err(|_| anyhow::anyhow!("a decoder thread panicked"))?;
    Ok((a? + b?) / 2.0)
}

/// Runs the benchmark.
pub fn run(p: &Params) -> Result<()> {
    let w = &p.workload;
    build_release(&["synth_capture", "synth_cardinality"])?;
    let dir = bench_dir()?;
    let big = dir.join("serve-large.pcap");
    let card = dir.join("serve-cardinality.pcap");
    eprintln!("generating {} and {}…", big.display(), card.display());
    let expected = generate(&big, w)?;
    let gen_card = util::workspace_root().join("target/release/examples/synth_cardinality");
    let card_requests = (p.paths * 10).max(p.clients * 10);
    measure(
        Command::new(gen_card).args([
            card.to_str().context("utf-8 path")?,
            &p.clients.to_string(),
            &p.paths.to_string(),
            &card_requests.to_string(),
        ]),
        false,
    )?;
    let zk = util::binary_path(true);
    measure(Command::new("cat").arg(&big), false)?;

    // The decoder, the quiet daemon and the daemon under paced polling alternate, ROUNDS times
    // each; medians are compared.
    let (mut decs, mut quiets, mut replays, mut paced, mut pairs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut paced_times = vec![Vec::new(); ENDPOINTS.len()];
    let mut dec_messages = 0;
    for _ in 0..ROUNDS {
        let (dec, m) = decode_summary(&zk, &big)?;
        decs.push(dec);
        dec_messages = m;
        pairs.push(decoder_pair_cpu(&zk, &big)? / dec.cpu_s);
        let (quiet, out_quiet, _) = serve_run(&zk, &big, &[], 0, None)?;
        quiets.push(quiet);
        replays.push(field::<f64>(&out_quiet, "replay_seconds")?);
        let (_, out_paced, times) = serve_run(&zk, &big, &[], p.pollers, Some(p.poll_interval))?;
        paced.push(field::<f64>(&out_paced, "replay_seconds")?);
        for (all, mine) in paced_times.iter_mut().zip(times) {
            all.extend(mine);
        }
    }
    let dec = median(&mut decs);
    let quiet = median(&mut quiets);
    let replay_quiet_s = median_by(&mut replays, |&r| r);
    let replay_paced_s = median_by(&mut paced, |&r| r);
    let pair_slowdown = median_by(&mut pairs, |&r| r);
    let mut paced_times: Vec<Duration> = paced_times.concat();
    paced_times.sort();
    let (polled, out_polled, mut times) = serve_run(&zk, &big, &[], p.pollers, None)?;
    let messages: f64 = field(&out_polled, "messages")?;
    let replay_s: f64 = field(&out_polled, "replay_seconds")?;
    let (capped, out_capped, _) = serve_run(&zk, &card, &[], 0, None)?;
    let all = [
        "--max-paths",
        "1000000",
        "--max-clients",
        "1000000",
        "--max-ips",
        "1000000",
        "--max-keys",
        "100000000",
    ];
    let (uncapped, out_uncapped, _) = serve_run(&zk, &card, &all, 0, None)?;

    println!(
        "bench serve: {messages} messages ({} connections, depth {}, mss {}); decoder saw {dec_messages} of {expected}",
        w.connections, w.depth, w.mss
    );
    println!(
        "  dump --summary (decoder, median)    cpu {:.2} s → {:.2} M messages/s",
        dec.cpu_s,
        dec_messages as f64 / dec.cpu_s / 1e6
    );
    println!(
        "  machine: two decoders run at once take {pair_slowdown:.2}× the CPU of one alone (median; above 1.00 the two CPUs slow each other down, and the daemon's two threads with them)"
    );
    // The daemon decodes on one thread and aggregates on another: its rate is messages over
    // the wall-clock time from the first packet to the last publication; the decoder's is
    // messages over its CPU time (one thread, so the same as its wall-clock time).
    let dec_rate = dec_messages as f64 / dec.cpu_s;
    println!(
        "  serve, no pollers (medians of {ROUNDS}) replay {:.2} s wall → {:.2} M messages/s aggregated ({:.0} % of the decoder's rate); cpu {:.2} s in all ({:.0} ns per message)",
        replay_quiet_s,
        messages / replay_quiet_s / 1e6,
        100.0 * (messages / replay_quiet_s) / dec_rate,
        quiet.cpu_s,
        quiet.cpu_s / messages * 1e9
    );
    println!(
        "  serve, {} pollers, a round over every endpoint each {} ms on a kept-alive connection (medians of {ROUNDS}) replay {:.2} s wall → {:.2} M messages/s aggregated ({:.0} % of the decoder's rate); {} requests, p99 {:.2} ms",
        p.pollers,
        p.poll_interval.as_millis(),
        replay_paced_s,
        messages / replay_paced_s / 1e6,
        100.0 * (messages / replay_paced_s) / dec_rate,
        paced_times.len(),
        percentile(&paced_times, 0.99)
    );
    // Closed-loop pollers take every CPU cycle they can: on a small machine they compete with
    // capture and aggregation, which is what this run shows.
    println!(
        "  serve, {} pollers without pause (stress) replay {:.2} s wall → {:.2} M messages/s aggregated ({:.0} % of the decoder's rate); cpu {:.2} s (HTTP included)",
        p.pollers,
        replay_s,
        messages / replay_s / 1e6,
        100.0 * (messages / replay_s) / dec_rate,
        polled.cpu_s
    );
    let mut total = 0;
    let mut all_times = Vec::new();
    println!("  endpoint response times under stress (ms, fresh connection per request):");
    for (e, t) in ENDPOINTS.iter().zip(times.iter_mut()) {
        t.sort();
        total += t.len();
        all_times.extend_from_slice(t);
        println!(
            "    {e:32} n={:6}  p50 {:7.2}  p99 {:7.2}  max {:7.2}",
            t.len(),
            percentile(t, 0.5),
            percentile(t, 0.99),
            t.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
        );
    }
    all_times.sort();
    println!("  all endpoints: {total} requests, p99 {:.2} ms", percentile(&all_times, 0.99));
    println!(
        "  memory, {} paths × {} clients: default caps peak RSS {:.1} MiB ({}), every cap lifted {:.1} MiB ({})",
        p.paths,
        p.clients,
        capped.max_rss_mib,
        out_capped.trim(),
        uncapped.max_rss_mib,
        out_uncapped.trim()
    );
    println!("  (for scale: the decoder alone peaks at {:.1} MiB)", dec.max_rss_mib);
    if dec_messages != expected || messages as u64 != expected {
        bail!(
            "message counts differ: generated {expected}, decoder {dec_messages}, daemon {messages}"
        );
    }
    if !w.keep {
        let _ = std::fs::remove_file(&big);
        let _ = std::fs::remove_file(&card);
    }
    Ok(())
}
