//! `cargo xtask bench live`: a real ZooKeeper server in a network namespace, driven through a
//! veth pair as fast as it goes by a Rust load generator (raw frames, pipelined over many
//! connections), captured at the same time by the zktraffic agent (TC at the server's end,
//! `dump --summary --format json`) and by `tcpdump -w /dev/null`. Reports messages sent vs
//! decoded, ring-buffer drops, agent and tcpdump CPU per million messages (wait4 rusage), and
//! the kernel program's average run time per packet (`kernel.bpf_stats_enabled`). Prints
//! figures; fails only when messages were lost or the setup broke, never on timing.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use zktraffic::encode::{FrameWriter, connect_request};
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

/// CPU time and exit status of a finished child, from `wait4`.
struct Usage {
    cpu_s: f64,
    /// The user-mode part of `cpu_s`.
    user_s: f64,
    max_rss_mib: f64,
    success: bool,
}

/// Waits for `child` with `wait4`, returning its resource usage.
fn wait_usage(child: &Child) -> Result<Usage, String> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child` is our child, not yet waited for; the pointers are valid for the call.
    let rc = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    if rc < 0 {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Usage {
        cpu_s: tv(usage.ru_utime) + tv(usage.ru_stime),
        user_s: tv(usage.ru_utime),
        max_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
    })
}

/// Sends SIGINT to a child (as Ctrl-C does).
fn interrupt(child: &Child) {
    // SAFETY: a plain syscall on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
}

/// Turns `kernel.bpf_stats_enabled` on, restoring the previous value on drop.
struct BpfStats {
    before: String,
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    fn enable() -> Result<BpfStats, String> {
        let before = std::fs::read_to_string(BPF_STATS).map_err(|e| format!("{BPF_STATS}: {e}"))?;
        std::fs::write(BPF_STATS, "1").map_err(|e| format!("enabling {BPF_STATS}: {e}"))?;
        Ok(BpfStats { before: before.trim().to_string() })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, &self.before);
    }
}

/// (program name, run count, run time in ns) of every BPF program process `pid` holds, from
/// its `/proc/PID/fdinfo` (filled while `kernel.bpf_stats_enabled` is 1).
fn program_stats(pid: u32) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return out };
    for e in dir.flatten() {
        let Ok(info) = std::fs::read_to_string(e.path()) else { continue };
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let (Some(id), Some(cnt), Some(ns)) =
            (field("prog_id:"), field("run_cnt:"), field("run_time_ns:"))
            && !info.contains("link_type:")
        {
            let name = aya::programs::loaded_programs()
                .flatten()
                .find(|p| u64::from(p.id()) == id)
                .and_then(|p| p.name_as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("program {id}"));
            out.push((name, cnt, ns));
        }
    }
    out
}

/// One connection of the load generator: handshake, `requests` ExistsRequests on `/zookeeper`
/// in batches of `depth` (each batch written at once, then its replies read), and a close.
/// Returns the requests sent (handshake and close included).
fn drive_connection(addr: SocketAddr, requests: usize, depth: usize) -> Result<u64, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| format!("connection to {addr}: {e}");
    s.write_all(&connect_request(0, 0, 30_000)).map_err(io)?;
    let mut buf = vec![0u8; 1 << 16];
    read_frames(&mut s, 1, &mut buf).map_err(io)?;
    let mut xid = 1i32;
    let mut left = requests;
    let mut batch = Vec::with_capacity(depth * 32);
    while left > 0 {
        let n = left.min(depth);
        batch.clear();
        for _ in 0..n {
            let frame =
                FrameWriter::new().request_header(xid, 3).string("/zookeeper").bool(false).finish();
            batch.extend_from_slice(&frame);
            xid += 1;
        }
        s.write_all(&batch).map_err(io)?;
        read_frames(&mut s, n, &mut buf).map_err(io)?;
        left -= n;
    }
    // CloseSession (op -11) and its reply.
    s.write_all(&FrameWriter::new().request_header(xid, -11).finish()).map_err(io)?;
    read_frames(&mut s, 1, &mut buf).map_err(io)?;
    Ok(requests as u64 + 2)
}

/// Reads `count` length-prefixed frames.
fn read_frames(s: &mut TcpStream, count: usize, buf: &mut Vec<u8>) -> std::io::Result<()> {
    for _ in 0..count {
        let mut len = [0u8; 4];
        s.read_exact(&mut len)?;
        let n = u32::from_be_bytes(len) as usize;
        if buf.len() < n {
            buf.resize(n, 0);
        }
        s.read_exact(&mut buf[..n])?;
    }
    Ok(())
}

/// A child in its own process group, killed on drop unless waited for.
struct Guarded(Option<Child>);

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(cmd: &mut std::process::Command, out: &Path, err: &Path) -> Result<Guarded, String> {
    let shown = format!("{cmd:?}");
    let stdout = std::fs::File::create(out).map_err(|e| e.to_string())?;
    let stderr = std::fs::File::create(err).map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map(|c| Guarded(Some(c)))
        .map_err(|e| format!("starting {shown}: {e}"))
}

/// Waits until `cond` holds, at most 30 s.
fn wait_for(what: &str, cond: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("{what}: not ready within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
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
            drive_connection(addr, per_conn, depth)
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
        "  kernel: {seen} packets seen, {segments} segments kept, ring_full_drops {drops}, truncated {truncated}; reassembly gaps {gaps}"
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
