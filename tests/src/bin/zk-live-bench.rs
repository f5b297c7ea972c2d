//! `cargo xtask bench live`: a real ZooKeeper server in a network namespace, driven through a
//! veth pair as fast as it goes by a Rust load generator (raw frames, pipelined over many
//! connections), captured at the same time by the zktraffic agent (TC at the server's end,
//! `dump --summary --format json`) and by `tcpdump -w /dev/null`. Reports messages sent vs
//! decoded, ring-buffer drops, agent and tcpdump CPU per million messages (wait4 rusage), and
//! the kernel program's average run time per packet (`kernel.bpf_stats_enabled`). Prints
//! figures; fails only when messages were lost or the setup broke, never on timing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use zktraffic_tests::load::{
    BpfStats, drive_connection, interrupt, program_stats, spawn, wait_for, wait_usage,
};
use zktraffic_tests::netns::{VethPair, move_current_thread_into, privileged};
use zktraffic_tests::zookeeper::{self, TempDir, ZkServer};

/// Command-line options (`--name value` pairs).
struct Options {
    zktraffic: PathBuf,
    connections: usize,
    requests: usize,
    depth: usize,
    offloads: bool,
    /// The agent's `--ring-bytes` (None: its default).
    ring_bytes: Option<usize>,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        zktraffic: PathBuf::from("target/release/zktraffic"),
        connections: 16,
        requests: 1_000_000,
        depth: 64,
        offloads: true,
        ring_bytes: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = || value.parse::<usize>().map_err(|e| format!("{flag} {value}: {e}"));
        match flag.as_str() {
            "--zktraffic" => o.zktraffic = PathBuf::from(&value),
            "--connections" => o.connections = num()?.max(1),
            "--requests" => o.requests = num()?,
            "--depth" => o.depth = num()?.max(1),
            "--offloads" => o.offloads = value == "on",
            "--ring-bytes" => o.ring_bytes = Some(num()?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(o)
}

/// A number field of the summary JSON.
fn num(v: &serde_json::Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, k| &v[k]).as_u64().unwrap_or(0)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench live: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let o = parse_options()?;
    if !privileged("bench live") {
        return Err("needs root".into());
    }
    if !zookeeper::installed() {
        return Err("the zookeeper package is missing: run `cargo xtask setup`".into());
    }
    if !o.zktraffic.is_file() {
        return Err(format!("{} not found (cargo build --release)", o.zktraffic.display()));
    }
    let dir = TempDir::new("bench");
    let pair = VethPair::new("bench");
    pair.set_offloads(o.offloads);
    let addr: SocketAddr = format!("{}:2181", VethPair::SERVER_IP).parse().expect("address");
    eprintln!("bench live: starting ZooKeeper in {} …", pair.server.name);
    let server = ZkServer::start(&pair.server, addr, "bench");
    let _stats = BpfStats::enable()?;

    let agent_cmd = || {
        let mut c = pair.server.command(&o.zktraffic.to_string_lossy());
        c.args(["dump", "--iface", VethPair::SERVER_IF, "--summary", "--format", "json"]);
        if let Some(n) = o.ring_bytes {
            c.args(["--ring-bytes", &n.to_string()]);
        }
        c
    };
    let (agent_out, agent_err) = (dir.join("agent.out"), dir.join("agent.err"));
    // The agent's fixed cost (loading and verifying the programs, attaching, detaching): a run
    // without traffic, stopped as soon as it is attached.
    let mut idle = spawn(&mut agent_cmd(), &agent_out, &agent_err)?;
    let idle_pid = idle.0.as_ref().map_or(0, Child::id);
    wait_for("the agent", || zktraffic_tests::agent::bpf_links(idle_pid) >= 2)?;
    let idle = idle.0.take().ok_or("agent gone")?;
    interrupt(&idle);
    let fixed = wait_usage(&idle)?;

    let mut agent = spawn(&mut agent_cmd(), &agent_out, &agent_err)?;
    let agent_pid = agent.0.as_ref().map_or(0, Child::id);
    wait_for("the agent", || zktraffic_tests::agent::bpf_links(agent_pid) >= 2)?;

    let mut tcpdump_cmd = pair.server.command("tcpdump");
    tcpdump_cmd.args(["-i", VethPair::SERVER_IF, "-w", "/dev/null", "-s", "0", "-B", "32768"]);
    tcpdump_cmd.args(["tcp", "port", "2181"]);
    let (td_out, td_err) = (dir.join("tcpdump.out"), dir.join("tcpdump.err"));
    let mut tcpdump = spawn(&mut tcpdump_cmd, &td_out, &td_err)?;
    wait_for("tcpdump", || {
        std::fs::read_to_string(&td_err).is_ok_and(|s| s.contains("listening on"))
    })?;

    eprintln!(
        "bench live: {} requests over {} connections, {} in flight each, offloads {}",
        o.requests,
        o.connections,
        o.depth,
        if o.offloads { "on" } else { "off" }
    );
    let start = Instant::now();
    let per_conn = o.requests.div_ceil(o.connections);
    let mut threads = Vec::new();
    for _ in 0..o.connections {
        let ns = pair.client.name.clone();
        let depth = o.depth;
        threads.push(std::thread::spawn(move || {
            move_current_thread_into(&ns);
            drive_connection(addr, per_conn, depth, None)
        }));
    }
    let mut sent_requests = 0u64;
    for t in threads {
        sent_requests += t.join().map_err(|_| "a load thread panicked".to_string())??;
    }
    let load_s = start.elapsed().as_secs_f64();
    // Let the capture catch up, then read the kernel's statistics before the agent exits.
    std::thread::sleep(Duration::from_millis(500));
    let progs = program_stats(agent_pid);

    let td = tcpdump.0.take().ok_or("tcpdump gone")?;
    interrupt(&td);
    let td_usage = wait_usage(&td)?;
    let ag = agent.0.take().ok_or("agent gone")?;
    interrupt(&ag);
    let ag_usage = wait_usage(&ag)?;
    let agent_stderr = std::fs::read_to_string(&agent_err).unwrap_or_default();
    if !ag_usage.success {
        return Err(format!("the agent failed: {agent_stderr}"));
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&agent_out).map_err(|e| format!("agent output: {e}"))?,
    )
    .map_err(|e| format!("agent summary is not JSON: {e}"))?;
    drop(server);

    let sent = 2 * sent_requests; // every request has its reply
    let decoded = num(&summary, &["requests"]) + num(&summary, &["replies"]);
    let drops = num(&summary, &["counters", "kernel", "ring_full_drops"]);
    let truncated = num(&summary, &["counters", "kernel", "truncated"]);
    let gaps = num(&summary, &["counters", "tcp", "gaps"]);
    let segments = num(&summary, &["counters", "kernel", "segments_kept"]);
    let seen = num(&summary, &["counters", "kernel", "packets_seen"]);
    let pure_acks = num(&summary, &["counters", "kernel", "pure_acks_skipped"]);
    let td_text = std::fs::read_to_string(&td_err).unwrap_or_default();
    let td_line =
        |what: &str| td_text.lines().find(|l| l.contains(what)).unwrap_or("?").trim().to_string();
    let per_m = |cpu: f64| cpu / (sent as f64 / 1e6);

    println!("bench live: ZooKeeper {} through a veth pair, TC at the server's end", addr);
    println!(
        "  load: {sent_requests} requests + replies = {sent} messages in {load_s:.2} s ({:.0} messages/s)",
        sent as f64 / load_s
    );
    println!(
        "  decoded by the agent: {decoded} messages (sent {sent}) {}",
        if decoded == sent { "— equal" } else { "— DIFFERENT" }
    );
    println!(
        "  kernel: {seen} packets seen, {segments} segments kept, {pure_acks} pure ACKs skipped, ring_full_drops {drops}, truncated {truncated}; reassembly gaps {gaps}"
    );
    let (mut runs, mut ns) = (0u64, 0u64);
    for (name, cnt, t) in &progs {
        if *cnt > 0 {
            println!("  kernel program {name}: {cnt} runs, {:.0} ns/run", *t as f64 / *cnt as f64);
        }
        runs += cnt;
        ns += t;
    }
    if runs > 0 {
        println!(
            "  kernel program average: {:.0} ns per packet ({runs} runs)",
            ns as f64 / runs as f64
        );
    } else {
        println!("  kernel program run time: unavailable (no BPF statistics)");
    }
    println!(
        "  zktraffic agent: cpu {:.2} s (user {:.2} s) = {:.2} s per million messages, peak RSS {:.1} MiB",
        ag_usage.cpu_s,
        ag_usage.user_s,
        per_m(ag_usage.cpu_s),
        ag_usage.max_rss_mib
    );
    println!(
        "  of which start-up and shutdown (an agent run without traffic): cpu {:.2} s (user {:.2} s); the rest = {:.2} s per million messages (user {:.2} s)",
        fixed.cpu_s,
        fixed.user_s,
        per_m((ag_usage.cpu_s - fixed.cpu_s).max(0.0)),
        per_m((ag_usage.user_s - fixed.user_s).max(0.0))
    );
    println!(
        "  tcpdump -w /dev/null: cpu {:.2} s (user {:.2} s) = {:.2} s per million messages ({}; {})",
        td_usage.cpu_s,
        td_usage.user_s,
        per_m(td_usage.cpu_s),
        td_line("captured"),
        td_line("dropped by kernel")
    );
    println!("  ratio agent/tcpdump (cpu): {:.2}×", ag_usage.cpu_s / td_usage.cpu_s.max(1e-9));
    if decoded != sent || drops != 0 {
        return Err(format!("lost messages: sent {sent}, decoded {decoded}, ring drops {drops}"));
    }
    Ok(())
}
