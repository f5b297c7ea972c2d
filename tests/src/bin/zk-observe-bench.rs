//! `cargo xtask bench observe`: what capture costs ZooKeeper. A real server in a network
//! namespace, driven closed-loop through a veth pair (C connections × D requests in flight),
//! in rounds that alternate six ways of watching it:
//!
//! - `none`: nothing captures;
//! - `agent`: `zktraffic dump --iface --summary` (TC at the server's end), and the same with
//!   `--keep-pure-acks` (every pure ACK sent through the ring, as before the kernel skipped
//!   them), for the cost of that choice measured in the same run;
//! - `serve`: `zktraffic serve --iface` with a poller reading `/metrics` and `/json/paths`
//!   every second;
//! - `tcpdump`: `tcpdump -w /dev/null` on the same interface and filter;
//! - `tcpdump | zktraffic`: `tcpdump -U -w -` piped into `zktraffic dump --pcap - --summary`.
//!
//! For each run: the load generator's throughput (requests/s) and p99 request latency (write
//! of a request's batch → its reply), and the whole machine's busy CPU (user, system, irq,
//! softirq from /proc/stat) per million messages. Medians per way over the rounds; the agent's
//! kernel program cost per packet (`kernel.bpf_stats_enabled`) and, for the decoding ways,
//! sent = decoded are checked. Fails only when messages were lost or the setup broke, never on
//! timing.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use zktraffic_tests::agent::bpf_links;
use zktraffic_tests::load::{
    BpfStats, Guarded, drive_connection, interrupt, machine_busy_s, program_stats, spawn, wait_for,
    wait_usage,
};
use zktraffic_tests::netns::{NetNs, VethPair, move_current_thread_into, privileged};
use zktraffic_tests::zookeeper::{self, TempDir, ZkServer};

struct Options {
    zktraffic: PathBuf,
    connections: usize,
    requests: usize,
    depth: usize,
    rounds: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        zktraffic: PathBuf::from("target/release/zktraffic"),
        connections: 16,
        requests: 300_000,
        depth: 64,
        rounds: 5,
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
            "--rounds" => o.rounds = num()?.max(1),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(o)
}

/// The ways of watching, in the order each round runs them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Way {
    None,
    Agent,
    /// The agent as it was before it skipped pure ACKs in the kernel (`--keep-pure-acks`).
    AgentAllAcks,
    Serve,
    Tcpdump,
    TcpdumpPipe,
}

impl Way {
    const ALL: [Way; 6] =
        [Way::None, Way::Agent, Way::AgentAllAcks, Way::Serve, Way::Tcpdump, Way::TcpdumpPipe];

    fn name(self) -> &'static str {
        match self {
            Way::None => "none",
            Way::Agent => "agent (dump --summary)",
            Way::AgentAllAcks => "agent, --keep-pure-acks",
            Way::Serve => "agent (serve + poller)",
            Way::Tcpdump => "tcpdump -w /dev/null",
            Way::TcpdumpPipe => "tcpdump | zktraffic dump",
        }
    }
}

/// One run's figures.
#[derive(Clone, Copy, Default)]
struct Run {
    requests_per_s: f64,
    p99_ms: f64,
    /// Machine busy CPU seconds per million messages.
    cpu_per_m: f64,
    /// Kernel program ns per packet (agent ways).
    kernel_ns: Option<f64>,
    /// Messages sent but not decoded (the decoding ways).
    lost: u64,
}

/// What watches during a run, stopped (and checked) after it.
struct Watcher {
    way: Way,
    children: Vec<Guarded>,
    out: PathBuf,
    poller: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

const HTTP: &str = "127.0.0.1:7093";
const FILTER: [&str; 3] = ["tcp", "port", "2181"];

fn start(o: &Options, way: Way, ns: &NetNs, dir: &Path) -> Result<Watcher, String> {
    let bin = o.zktraffic.to_string_lossy().into_owned();
    let out = dir.join(format!("{way:?}.out"));
    let err = dir.join(format!("{way:?}.err"));
    let iface = VethPair::SERVER_IF;
    let mut children = Vec::new();
    let mut poller = None;
    match way {
        Way::None => {}
        Way::Agent | Way::AgentAllAcks => {
            let mut c = ns.command(&bin);
            c.args(["dump", "--iface", iface, "--summary", "--format", "json"]);
            if way == Way::AgentAllAcks {
                c.arg("--keep-pure-acks");
            }
            let g = spawn(&mut c, &out, &err)?;
            let pid = g.pid();
            wait_for("the agent", || bpf_links(pid) >= 2)?;
            children.push(g);
        }
        Way::Serve => {
            let mut c = ns.command(&bin);
            c.args(["serve", "--iface", iface, "--http-addr", HTTP]);
            children.push(spawn(&mut c, &out, &err)?);
            let http: SocketAddr = HTTP.parse().expect("address");
            wait_for("the daemon", || {
                ns.enter(|| get(http, "/healthz").is_some_and(|b| b.starts_with("OK")))
            })?;
            let stop = Arc::new(AtomicBool::new(false));
            let (flag, name) = (stop.clone(), ns.name.clone());
            let t = std::thread::spawn(move || {
                move_current_thread_into(&name);
                while !flag.load(Ordering::Relaxed) {
                    let _ = get(http, "/metrics");
                    let _ = get(http, "/json/paths");
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
            poller = Some((stop, t));
        }
        Way::Tcpdump => {
            let mut c = ns.command("tcpdump");
            c.args(["-i", iface, "-w", "/dev/null", "-s", "0", "-B", "32768"]).args(FILTER);
            children.push(spawn(&mut c, &out, &err)?);
            wait_for("tcpdump", || read(&err).contains("listening on"))?;
        }
        Way::TcpdumpPipe => {
            let mut td = ns.command("tcpdump");
            td.args(["-i", iface, "-U", "-w", "-", "-s", "0", "-B", "32768"]).args(FILTER);
            let td_err = dir.join("pipe-tcpdump.err");
            // Its own process group, as `spawn` gives: stopping it (SIGINT to the group) ends
            // the decoder's input, and the decoder then prints its summary.
            let mut tcpdump = td
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&td_err).map_err(|e| e.to_string())?)
                .spawn()
                .map_err(|e| format!("tcpdump: {e}"))?;
            let pipe = tcpdump.stdout.take().ok_or("no tcpdump stdout")?;
            let mut z = Command::new(&bin);
            z.args(["dump", "--pcap", "-", "--summary", "--format", "json"]);
            let decoder = z
                .stdin(Stdio::from(pipe))
                .stdout(std::fs::File::create(&out).map_err(|e| e.to_string())?)
                .stderr(std::fs::File::create(&err).map_err(|e| e.to_string())?)
                .spawn()
                .map_err(|e| format!("zktraffic dump --pcap -: {e}"))?;
            // tcpdump first: stopping it ends the decoder's input.
            children.push(Guarded(Some(tcpdump)));
            children.push(Guarded(Some(decoder)));
            wait_for("tcpdump", || read(&td_err).contains("listening on"))?;
        }
    }
    Ok(Watcher { way, children, out, poller })
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// `GET path` → the body (None when the daemon does not answer).
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// Stops the watcher; for the decoding ways, returns the messages decoded.
fn stop(mut w: Watcher) -> Result<Option<u64>, String> {
    if let Some((flag, t)) = w.poller.take() {
        flag.store(true, Ordering::Relaxed);
        let _ = t.join();
    }
    let mut children: Vec<Child> = w.children.iter_mut().filter_map(|g| g.0.take()).collect();
    if let Some(first) = children.first() {
        interrupt(first);
    }
    for c in &children {
        let _ = wait_usage(c)?;
    }
    children.clear();
    if !matches!(w.way, Way::Agent | Way::AgentAllAcks | Way::TcpdumpPipe) {
        return Ok(None);
    }
    let summary: serde_json::Value = serde_json::from_str(&read(&w.out))
        .map_err(|e| format!("{}: summary is not JSON ({e})", w.way.name()))?;
    let n = |k: &str| summary[k].as_u64().unwrap_or(0);
    Ok(Some(n("requests") + n("replies")))
}

/// One closed-loop load: (messages, seconds, latencies in µs).
fn load(o: &Options, pair: &VethPair, addr: SocketAddr) -> Result<(u64, f64, Vec<u32>), String> {
    let per_conn = o.requests.div_ceil(o.connections);
    let start = Instant::now();
    let threads: Vec<_> = (0..o.connections)
        .map(|_| {
            let (ns, depth) = (pair.client.name.clone(), o.depth);
            std::thread::spawn(move || {
                move_current_thread_into(&ns);
                let mut lat = Vec::with_capacity(per_conn);
                drive_connection(addr, per_conn, depth, Some(&mut lat)).map(|n| (n, lat))
            })
        })
        .collect();
    let (mut requests, mut latencies) = (0u64, Vec::new());
    for t in threads {
        let (n, lat) = t.join().map_err(|_| "a load thread panicked".to_string())??;
        requests += n;
        latencies.extend(lat);
    }
    Ok((2 * requests, start.elapsed().as_secs_f64(), latencies))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The median of per-round figures and their middle half (first to third quartile).
struct Spread {
    median: f64,
    low: f64,
    high: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        v.sort_by(f64::total_cmp);
        let last = v.len().saturating_sub(1);
        let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
        Spread { median: at(v.len() / 2), low: at(last / 4), high: at((3 * last).div_ceil(4)) }
    }

    /// `median [low, high]unit` with `digits` decimals.
    fn show(&self, digits: usize, unit: &str) -> String {
        format!(
            "{:.*}{unit} [{:.*}, {:.*}]",
            digits, self.median, digits, self.low, digits, self.high
        )
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench observe: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let o = parse_options()?;
    if !privileged("bench observe") {
        return Err("needs root".into());
    }
    if !zookeeper::installed() {
        return Err("the zookeeper package is missing: run `cargo xtask setup`".into());
    }
    if !o.zktraffic.is_file() {
        return Err(format!("{} not found (cargo build --release)", o.zktraffic.display()));
    }
    let dir = TempDir::new("observe");
    let pair = VethPair::new("obs");
    let addr: SocketAddr = format!("{}:2181", VethPair::SERVER_IP).parse().expect("address");
    eprintln!("bench observe: starting ZooKeeper in {} …", pair.server.name);
    let server = ZkServer::start(&pair.server, addr, "observe");
    let _stats = BpfStats::enable()?;
    // A warm-up run: the JVM compiles its hot paths before anything is measured.
    load(&o, &pair, addr)?;
    let mut runs: Vec<(Way, Run)> = Vec::new();
    for round in 1..=o.rounds {
        for way in Way::ALL {
            let w = start(&o, way, &pair.server, &dir.0)?;
            let agent_pid = matches!(way, Way::Agent | Way::AgentAllAcks | Way::Serve)
                .then(|| w.children[0].pid());
            let before_progs = agent_pid.map(program_stats).unwrap_or_default();
            let busy = machine_busy_s();
            let (messages, secs, mut lat) = load(&o, &pair, addr)?;
            let busy = machine_busy_s() - busy;
            let kernel_ns = agent_pid.and_then(|pid| {
                let sum = |s: &[(String, u64, u64)]| {
                    s.iter().fold((0u64, 0u64), |a, (_, c, t)| (a.0 + c, a.1 + t))
                };
                let ((c0, t0), (c1, t1)) = (sum(&before_progs), sum(&program_stats(pid)));
                (c1 > c0).then(|| (t1 - t0) as f64 / (c1 - c0) as f64)
            });
            // Let the capture catch up before it stops.
            std::thread::sleep(Duration::from_millis(300));
            let decoded = stop(w)?;
            // Our agent must see everything; tcpdump's ring may drop under load (reported).
            if matches!(way, Way::Agent | Way::AgentAllAcks) && decoded != Some(messages) {
                return Err(format!(
                    "the agent decoded {decoded:?} messages of {messages} sent (round {round})"
                ));
            }
            let lost = decoded.map_or(0, |d| messages.saturating_sub(d));
            lat.sort_unstable();
            let p99 = lat.get(lat.len() * 99 / 100).copied().unwrap_or(0);
            let run = Run {
                requests_per_s: messages as f64 / 2.0 / secs,
                p99_ms: f64::from(p99) / 1e3,
                cpu_per_m: busy / (messages as f64 / 1e6),
                kernel_ns,
                lost,
            };
            eprintln!(
                "bench observe: round {round} {:<26} {:>8.0} requests/s, p99 {:.2} ms, machine {:.2} s CPU per M messages, {lost} not decoded",
                way.name(),
                run.requests_per_s,
                run.p99_ms,
                run.cpu_per_m
            );
            runs.push((way, run));
        }
    }
    drop(server);

    // Each way is compared with the `none` run of its own round (minutes apart at most), so a
    // drift of the VM's speed over the whole benchmark cancels out; the spread of those
    // per-round ratios says how far the figures can be trusted.
    let paired = |way: Way, f: &dyn Fn(&Run, &Run) -> f64| {
        let v: Vec<f64> = runs
            .chunks(Way::ALL.len())
            .filter_map(|round| {
                let none = round.iter().find(|(w, _)| *w == Way::None)?;
                let this = round.iter().find(|(w, _)| *w == way)?;
                Some(f(&this.1, &none.1))
            })
            .collect();
        Spread::of(v)
    };
    let ratio =
        |get: fn(&Run) -> f64| move |r: &Run, none: &Run| 100.0 * get(r) / get(none).max(1e-9);
    let throughput = |way| paired(way, &ratio(|r| r.requests_per_s));
    let cpu_over = |way| paired(way, &|r: &Run, none: &Run| r.cpu_per_m - none.cpu_per_m);
    let med = |way: Way, f: fn(&Run) -> f64| {
        median(runs.iter().filter(|(w, _)| *w == way).map(|(_, r)| f(r)).collect())
    };
    let kernel = |way: Way| {
        let v: Vec<f64> =
            runs.iter().filter(|(w, _)| *w == way).filter_map(|(_, r)| r.kernel_ns).collect();
        (!v.is_empty()).then(|| median(v))
    };
    println!(
        "bench observe: ZooKeeper at {addr} through a veth pair; {} requests per run over {} connections × {} in flight; {} alternating rounds",
        o.requests, o.connections, o.depth, o.rounds
    );
    println!(
        "  medians; \"of none\" and \"over none\" against the same round's uncaptured run, with the middle half of the rounds in brackets"
    );
    println!(
        "  {:<26} {:>11} {:>22} {:>8} {:>8} {:>10} {:>22} {:>12} {:>7}",
        "watching",
        "requests/s",
        "of none",
        "p99 ms",
        "of none",
        "CPU s/M",
        "over none",
        "kernel ns",
        "lost"
    );
    for way in Way::ALL {
        let lost: u64 = runs.iter().filter(|(w, _)| *w == way).map(|(_, r)| r.lost).sum();
        let lost = if matches!(way, Way::Agent | Way::AgentAllAcks | Way::TcpdumpPipe) {
            lost.to_string()
        } else {
            "-".into()
        };
        println!(
            "  {:<26} {:>11.0} {:>22} {:>8.2} {:>7.1}% {:>10.3} {:>22} {:>12} {:>7}",
            way.name(),
            med(way, |r| r.requests_per_s),
            throughput(way).show(1, "%"),
            med(way, |r| r.p99_ms),
            paired(way, &ratio(|r| r.p99_ms)).median,
            med(way, |r| r.cpu_per_m),
            cpu_over(way).show(3, " s"),
            kernel(way).map_or("-".to_owned(), |k| format!("{k:.0} /packet")),
            lost,
        );
    }
    let (agent, tcpdump) = (throughput(Way::Agent), throughput(Way::Tcpdump));
    println!(
        "observer effect: throughput with the agent = {:.1} % of without (tcpdump: {:.1} %); machine CPU per million messages: agent {:.3} s, tcpdump {:.3} s; middle half of the rounds: agent {:.1}–{:.1} %, tcpdump {:.1}–{:.1} %",
        agent.median,
        tcpdump.median,
        cpu_over(Way::Agent).median,
        cpu_over(Way::Tcpdump).median,
        agent.low,
        agent.high,
        tcpdump.low,
        tcpdump.high,
    );
    Ok(())
}
