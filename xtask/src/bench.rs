//! `cargo xtask bench`: reproducible performance measurements, reported as ratios against a
//! baseline measured in the same run (these machines are noisy).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use crate::util;

mod serve;

/// The generated capture of pipelined traffic that `bench decode` and `bench serve` run on.
#[derive(Args, Clone, Copy)]
pub struct WorkloadArgs {
    /// Request/reply pairs in the large capture (its message count is about twice this).
    #[arg(long, default_value_t = 2_000_000)]
    requests: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 200)]
    connections: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 64)]
    depth: usize,
    /// Segment size (65483 models loopback/GSO, 1448 an Ethernet MSS).
    #[arg(long, default_value_t = 1448)]
    mss: usize,
    /// Keep the generated captures in target/bench.
    #[arg(long)]
    keep: bool,
}

/// The available benchmarks.
#[derive(Subcommand)]
pub enum Bench {
    /// Decode a large generated capture of pipelined traffic; compare with a plain read.
    Decode {
        #[command(flatten)]
        workload: WorkloadArgs,
    },
    /// Replay the decode capture into the stats daemon while pollers hit every endpoint;
    /// then peak memory on a capture with many distinct paths and clients.
    Serve {
        #[command(flatten)]
        workload: WorkloadArgs,
        /// HTTP pollers looping over every endpoint.
        #[arg(long, default_value_t = 2)]
        pollers: usize,
        /// Milliseconds between the starts of a paced poller's rounds over every endpoint (the
        /// rate-under-polling run; the stress run's pollers never pause).
        #[arg(long, default_value_t = 100)]
        poll_interval_ms: u64,
        /// Distinct paths in the cardinality capture.
        #[arg(long, default_value_t = 100_000)]
        paths: usize,
        /// Distinct clients in the cardinality capture.
        #[arg(long, default_value_t = 10_000)]
        clients: usize,
    },
    /// The observer effect: the same closed-loop load against a real ZooKeeper server, in
    /// alternating rounds watched by nothing, the agent (dump, serve + poller), tcpdump, and
    /// tcpdump piped into zktraffic; ZooKeeper's throughput and p99 and the machine's CPU per
    /// million messages for each. Needs root and the zookeeper package.
    Observe {
        /// Requests per run (each has its reply).
        #[arg(long, default_value_t = 300_000)]
        requests: usize,
        /// Concurrent connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Requests in flight per connection.
        #[arg(long, default_value_t = 64)]
        depth: usize,
        /// Rounds (each runs every way once; medians are reported).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Drive a real ZooKeeper server (in a network namespace, through a veth pair) as fast as it
    /// goes while the agent captures; compare with tcpdump. Needs root and the zookeeper package.
    Live {
        /// Requests sent in total (each has its reply; handshakes and closes come on top).
        #[arg(long, default_value_t = 1_000_000)]
        requests: usize,
        /// Concurrent connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Requests in flight per connection.
        #[arg(long, default_value_t = 64)]
        depth: usize,
        /// TCP segmentation/receive offloads on the veth pair.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        offloads: bool,
        /// The agent's ring buffer size in bytes (default: the agent's default).
        #[arg(long)]
        ring_bytes: Option<usize>,
    },
}

/// CPU and memory of one child process.
#[derive(Clone, Copy, Debug)]
struct Usage {
    cpu_s: f64,
    wall_s: f64,
    max_rss_mib: f64,
}

/// Runs `cmd` to completion, returning its resource usage (from `wait4`) and, when `keep_stdout`,
/// its output (otherwise discarded). Only small outputs may be kept: a vforked child's peak RSS
/// starts at this process's, so this process must stay small for the figures to be the child's.
fn measure(cmd: &mut Command, keep_stdout: bool) -> Result<(Usage, String)> {
    let shown = format!("{cmd:?}");
    let start = std::time::Instant::now();
    // One file per call: calls may run at once on several threads.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path =
        std::env::temp_dir().join(format!("zktraffic-bench-{}-{call}.out", std::process::id()));
    let stdout =
        if keep_stdout { Stdio::from(fs::File::create(&out_path)?) } else { Stdio::null() };
    let child = cmd.stdout(stdout).spawn().with_context(|| format!("could not start {shown}"))?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child.id()` is our child, not yet waited for; the pointers are valid for the call.
    let rc = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall_s = start.elapsed().as_secs_f64();
    if rc < 0 {
        bail!("waiting for {shown}: {}", std::io::Error::last_os_error());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("{shown} failed (wait status {status})");
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let stdout =
        if keep_stdout { fs::read_to_string(&out_path).unwrap_or_default() } else { String::new() };
    let _ = fs::remove_file(&out_path);
    Ok((
        Usage {
            cpu_s: tv(usage.ru_utime) + tv(usage.ru_stime),
            wall_s,
            max_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        },
        stdout,
    ))
}

/// Runs the chosen benchmark.
pub fn run(which: Bench) -> Result<()> {
    match which {
        Bench::Decode { workload } => decode(&workload),
        Bench::Serve { workload, pollers, poll_interval_ms, paths, clients } => {
            let poll_interval = Duration::from_millis(poll_interval_ms);
            serve::run(&serve::Params { workload, pollers, poll_interval, paths, clients })
        }
        Bench::Live { requests, connections, depth, offloads, ring_bytes } => {
            live(requests, connections, depth, offloads, ring_bytes)
        }
        Bench::Observe { requests, connections, depth, rounds } => {
            let n = |v: usize| v.to_string();
            let args = [
                ("--requests", n(requests)),
                ("--connections", n(connections)),
                ("--depth", n(depth)),
                ("--rounds", n(rounds)),
            ];
            run_as_root("zk-observe-bench", &args)
        }
    }
}

/// `bench live`: the load generator `tests/src/bin/zk-live-bench.rs` sets up the namespaces,
/// the server, the agent and tcpdump, and measures them with wait4.
fn live(
    requests: usize,
    connections: usize,
    depth: usize,
    offloads: bool,
    ring_bytes: Option<usize>,
) -> Result<()> {
    let n = |v: usize| v.to_string();
    let mut args = vec![
        ("--requests", n(requests)),
        ("--connections", n(connections)),
        ("--depth", n(depth)),
        ("--offloads", if offloads { "on" } else { "off" }.to_owned()),
    ];
    if let Some(bytes) = ring_bytes {
        args.push(("--ring-bytes", n(bytes)));
    }
    run_as_root("zk-live-bench", &args)
}

/// Builds the release agent and the benchmark binary `bin` of zktraffic-tests, then runs the
/// latter with `--zktraffic AGENT` and `args`, as root (directly, or under `sudo -E`).
fn run_as_root(bin: &str, args: &[(&str, String)]) -> Result<()> {
    // Two builds: together, cargo would unify their dependencies' features and build another
    // zktraffic than `cargo xtask build` does.
    util::cargo_build(true)?;
    util::cargo(&["build", "--release", "-p", "zktraffic-tests", "--bin", bin])?;
    let bench = util::binary_path(true).with_file_name(bin);
    let mut cmd = if util::is_root() {
        Command::new(&bench)
    } else {
        let mut c = Command::new("sudo");
        c.arg("-E").arg(&bench);
        c
    };
    cmd.arg("--zktraffic").arg(util::binary_path(true));
    for (flag, value) in args {
        cmd.args([flag, value.as_str()]);
    }
    util::run_checked(&mut cmd)
}

/// Builds the release zktraffic binary and the `examples` (capture generators).
fn build_release(examples: &[&str]) -> Result<()> {
    let mut args = vec!["build", "--release", "-p", "zktraffic", "--bin", "zktraffic"];
    for e in examples {
        args.extend(["--example", e]);
    }
    util::cargo(&args)
}

/// `target/bench`, created if absent: where the generated captures go.
fn bench_dir() -> Result<PathBuf> {
    let dir = util::workspace_root().join("target/bench");
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Writes a synthetic capture of the workload `w`; returns how many messages it holds.
fn generate(path: &Path, w: &WorkloadArgs) -> Result<u64> {
    let bin = util::workspace_root().join("target/release/examples/synth_capture");
    let (_, out) = measure(
        Command::new(&bin).args([
            path.to_str().context("utf-8 path")?,
            &w.connections.to_string(),
            &w.requests.div_ceil(w.connections.max(1)).to_string(),
            &w.depth.to_string(),
            &w.mss.to_string(),
        ]),
        true,
    )?;
    Ok(serde_json_lite::parse(&out)?.messages())
}

/// Writes the quorum capture of `bench decode` (a leader and 2 followers, `writes` writes in
/// batches of 64, Ethernet segments) and returns the packets it holds.
fn generate_quorum(path: &Path, writes: usize, mss: usize) -> Result<u64> {
    let bin = util::workspace_root().join("target/release/examples/synth_capture");
    let (_, out) = measure(
        Command::new(&bin).args([
            "--quorum",
            path.to_str().context("utf-8 path")?,
            "2",
            &writes.to_string(),
            "64",
            &mss.to_string(),
        ]),
        true,
    )?;
    serde_json_lite::field(&out, "packets")
}

/// Runs `zktraffic dump --protocol zab --summary --format json` on `pcap` (leader port 2888);
/// returns its usage and the packets decoded.
fn decode_quorum(zk: &Path, pcap: &Path) -> Result<(Usage, u64)> {
    let (u, out) = measure(
        Command::new(zk).args([
            "dump",
            "--pcap",
            pcap.to_str().context("utf-8 path")?,
            "--protocol",
            "zab",
            "--summary",
            "--format",
            "json",
        ]),
        true,
    )?;
    Ok((u, serde_json_lite::field(&out, "packets")?))
}

/// Runs of each contender in `bench decode` and `bench serve`.
const ROUNDS: usize = 5;

/// The median of `runs` by `key`.
fn median_by<T: Copy>(runs: &mut [T], key: impl Fn(&T) -> f64) -> T {
    runs.sort_by(|a, b| key(a).total_cmp(&key(b)));
    runs[runs.len() / 2]
}

/// The run with the median CPU time.
fn median(runs: &mut [Usage]) -> Usage {
    median_by(runs, |u| u.cpu_s)
}

/// Runs `zktraffic dump --summary --format json --include-pings` on `pcap`; returns its usage
/// and how many messages it decoded.
fn decode_summary(zk: &Path, pcap: &Path) -> Result<(Usage, u64)> {
    let (u, out) = measure(
        Command::new(zk).args([
            "dump",
            "--pcap",
            pcap.to_str().context("utf-8 path")?,
            "--summary",
            "--format",
            "json",
            "--include-pings",
        ]),
        true,
    )?;
    Ok((u, serde_json_lite::parse(&out)?.messages()))
}

/// A reader of numbers in one-line JSON objects, so xtask needs no JSON dependency.
mod serde_json_lite {
    use std::str::FromStr;

    use anyhow::{Context, Result};

    pub struct Counts {
        pub requests: u64,
        pub replies: u64,
        pub events: u64,
    }

    impl Counts {
        /// Every decoded message: requests, replies and watch events.
        pub fn messages(&self) -> u64 {
            self.requests + self.replies + self.events
        }
    }

    /// `"name":<number>`: the number's characters (digits, and `.`, `e`, `-` for floats).
    pub fn field<T>(s: &str, name: &str) -> Result<T>
    where
        T: FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        let key = format!("\"{name}\":");
        let at = s.find(&key).with_context(|| format!("no {name} in {s}"))? + key.len();
        let num: String = s[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '-'))
            .collect();
        num.parse().with_context(|| format!("bad {name} in {s}"))
    }

    pub fn parse(s: &str) -> Result<Counts> {
        Ok(Counts {
            requests: field(s, "requests")?,
            replies: field(s, "replies")?,
            events: field(s, "events")?,
        })
    }
}

fn decode(w: &WorkloadArgs) -> Result<()> {
    let &WorkloadArgs { requests, connections, depth, mss, keep } = w;
    build_release(&["synth_capture"])?;
    let dir = bench_dir()?;
    let big = dir.join("decode-large.pcap");
    let small = dir.join("decode-small.pcap");
    eprintln!("generating {} and a capture a quarter its size…", big.display());
    let expected_big = generate(&big, w)?;
    let expected_small = generate(&small, &WorkloadArgs { requests: requests / 4, ..*w })?;
    let size_mib = fs::metadata(&big)?.len() as f64 / (1 << 20) as f64;
    // The quorum capture: about as many bytes as the client one.
    let quorum = dir.join("decode-quorum.pcap");
    let expected_quorum = generate_quorum(&quorum, requests / 2, mss)?;
    let quorum_mib = fs::metadata(&quorum)?.len() as f64 / (1 << 20) as f64;
    let zk = util::binary_path(true);

    // Warm the page cache so every contender reads from memory.
    measure(Command::new("cat").arg(&big), false)?;
    let (cat, _) = measure(Command::new("cat").arg(&big), false)?;
    // Contenders alternate, ROUNDS times each, and the medians are compared: one run of
    // each is at the mercy of whatever else the machine does at that moment.
    let tcpdump_run = || {
        measure(
            Command::new("tcpdump")
                .args(["-r", big.to_str().unwrap_or_default(), "-w", "/dev/null"])
                .stderr(Stdio::null()),
            false,
        )
        .map(|(u, _)| u)
    };
    let mut tcpdump_runs = Vec::new();
    let mut our_runs = Vec::new();
    let mut quorum_runs = Vec::new();
    let mut messages = 0;
    let mut packets = 0;
    for _ in 0..ROUNDS {
        let (u, p) = decode_quorum(&zk, &quorum)?;
        quorum_runs.push(u);
        packets = p;
        match tcpdump_run() {
            Ok(u) => tcpdump_runs.push(u),
            Err(e) if tcpdump_runs.is_empty() => eprintln!(
                "tcpdump baseline unavailable ({e:#}); install tcpdump (cargo xtask setup does)"
            ),
            Err(e) => return Err(e),
        }
        let (u, m) = decode_summary(&zk, &big)?;
        our_runs.push(u);
        messages = m;
    }
    let tcpdump = (!tcpdump_runs.is_empty()).then(|| median(&mut tcpdump_runs));
    let ours = median(&mut our_runs);
    let zab = median(&mut quorum_runs);
    let (ours_small, messages_small) = decode_summary(&zk, &small)?;
    let (json, _) = measure(
        Command::new(&zk).args([
            "dump",
            "--pcap",
            big.to_str().unwrap_or_default(),
            "--format",
            "json",
            "--include-pings",
        ]),
        false,
    )?;

    println!(
        "bench decode: {size_mib:.0} MiB capture, {messages} messages ({connections} connections, depth {depth}, mss {mss})"
    );
    println!(
        "  exact: decoded {messages} of {expected_big} generated; small capture {messages_small} of {expected_small}"
    );
    println!(
        "  zktraffic dump --summary   cpu {:.2} s  wall {:.2} s  peak RSS {:.1} MiB  (medians of {ROUNDS} runs, alternating with tcpdump)",
        ours.cpu_s, ours.wall_s, ours.max_rss_mib
    );
    println!("  messages per second (one core): {:.2} M", messages as f64 / ours.cpu_s / 1e6);
    if let Some(t) = tcpdump {
        println!("  tcpdump -r -w /dev/null    cpu {:.2} s  wall {:.2} s", t.cpu_s, t.wall_s);
        println!("  ratio zktraffic/tcpdump (cpu): {:.2}×", ours.cpu_s / t.cpu_s);
    }
    println!(
        "  cat (page-cache read)      cpu {:.2} s  wall {:.2} s  → zktraffic/cat wall {:.1}×",
        cat.cpu_s,
        cat.wall_s,
        ours.wall_s / cat.wall_s
    );
    println!(
        "  --format json to a file    cpu {:.2} s  ({:.2} M messages/s printed)",
        json.cpu_s,
        messages as f64 / json.cpu_s / 1e6
    );
    println!(
        "  memory: peak RSS {:.1} MiB for the full capture vs {:.1} MiB for a quarter of it (bounded by live connections, not file size)",
        ours.max_rss_mib, ours_small.max_rss_mib
    );
    let (client_rate, zab_rate) = (size_mib / ours.cpu_s, quorum_mib / zab.cpu_s);
    println!(
        "  quorum (ZAB, 2 followers, derived events on): {quorum_mib:.0} MiB, {packets} packets of {expected_quorum} generated; cpu {:.2} s → {:.2} M packets/s",
        zab.cpu_s,
        packets as f64 / zab.cpu_s / 1e6
    );
    println!(
        "  per byte: client protocol {client_rate:.0} MiB/s, quorum {zab_rate:.0} MiB/s (quorum/client {:.2}×; medians of {ROUNDS} alternating runs)",
        zab_rate / client_rate
    );
    println!(
        "  per item: client protocol {:.0} ns per message, quorum {:.0} ns per packet (ZAB packets are smaller: {:.0} vs {:.0} bytes)",
        ours.cpu_s / messages.max(1) as f64 * 1e9,
        zab.cpu_s / packets.max(1) as f64 * 1e9,
        quorum_mib * (1 << 20) as f64 / packets.max(1) as f64,
        size_mib * (1 << 20) as f64 / messages.max(1) as f64
    );
    if messages != expected_big || messages_small != expected_small || packets != expected_quorum {
        bail!("decoded counts differ from the generated ones");
    }
    if !keep {
        let _ = fs::remove_file(&big);
        let _ = fs::remove_file(&small);
        let _ = fs::remove_file(&quorum);
    }
    Ok(())
}
