//! Least privilege (issue 14): once its programs are attached the daemon holds only what it
//! still needs, in every thread, and capture goes on. A real ZooKeeper server at one end of a
//! veth pair, two daemons on its interface:
//!
//! - `--user 65534:65534`: every thread runs as nobody with no capability in any set,
//!   `no_new_privs`; `/json/info` says so; requests are counted; the interface is deleted and
//!   recreated and it attaches again (TCX links need no capability);
//! - `--keep-caps reattach` (for kernels that attach through netlink): still root, CAP_BPF
//!   and CAP_NET_ADMIN only.
//!
//! `dump --iface --user 65534:65534` drops the same way and decodes what it sees. And a
//! replay (`--pcap`) keeps nothing. Needs root and the Debian `zookeeper` package (skips
//! loudly otherwise). No timing assertion: states are polled with generous bounds.

mod serve_support;

use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use serve_support::{at, get};
use zktraffic_tests::agent::{Agent, DaemonProcess, binary};
use zktraffic_tests::decoded::decoded;
use zktraffic_tests::netns::{NetNs, VethPair, privileged, skip};
use zktraffic_tests::zookeeper::{self, TempDir, ZkServer, zkcli};

/// CAP_NET_ADMIN (12) and CAP_BPF (39), as /proc/PID/status shows a set.
const REATTACH_SET: u64 = (1 << 12) | (1 << 39);

fn start(ns: &NetNs, args: &[&str], log: &std::path::Path) -> DaemonProcess {
    let bin = binary().to_string_lossy().into_owned();
    DaemonProcess(
        ns.command(&bin)
            .args(args)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(log).expect("daemon log"))
            .spawn()
            .expect("start the daemon"),
    )
}

/// Polls `path` inside `ns` until `done(status, body)` holds (at most two minutes).
fn poll(ns: &NetNs, http: SocketAddr, path: &str, done: impl Fn(u16, &str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let got = ns.enter(|| TcpStream::connect(http).ok().map(|_| get(http, path)));
        if let Some((status, body)) = got
            && done(status, &body)
        {
            return body;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{path}: never as expected");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Each thread's ids and capability sets from /proc/PID/task/*/status.
#[derive(Debug, PartialEq)]
struct Status {
    uid: String,
    gid: String,
    eff: u64,
    prm: u64,
    inh: u64,
    bnd: u64,
    amb: u64,
    no_new_privs: bool,
}

fn threads_of(pid: u32) -> Vec<Status> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let status = std::fs::read_to_string(task.expect("task").path().join("status"))
            .expect("task status");
        let field = |name: &str| -> String {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                .unwrap_or_else(|| panic!("{name} missing in {status}"))
        };
        let set = |name| u64::from_str_radix(&field(name), 16).expect("hex set");
        let first = |v: String| v.split_whitespace().next().unwrap_or_default().to_owned();
        out.push(Status {
            uid: first(field("Uid:")),
            gid: first(field("Gid:")),
            eff: set("CapEff:"),
            prm: set("CapPrm:"),
            inh: set("CapInh:"),
            bnd: set("CapBnd:"),
            amb: set("CapAmb:"),
            no_new_privs: field("NoNewPrivs:") == "1",
        });
    }
    out
}

fn requests(ns: &NetNs, http: SocketAddr, key: &str) -> Value {
    json(&poll(ns, http, "/json/paths?scope=cumulative", |_, b| json(b).get(key).is_some()))
}

#[test]
fn after_attaching_the_daemon_holds_only_what_capture_needs() {
    let name = "after_attaching_the_daemon_holds_only_what_capture_needs";
    if !privileged(name) {
        return;
    }
    if !zookeeper::installed() {
        skip(name, "the `zookeeper` package is missing; run `cargo xtask setup`");
        return;
    }
    let dir = TempDir::new("privileges");
    let pair = VethPair::new("lp");
    let addr: SocketAddr = format!("{}:2181", VethPair::SERVER_IP).parse().expect("address");
    let _server = ZkServer::start(&pair.server, addr, "privileges");
    let (nobody, bare): (SocketAddr, SocketAddr) =
        ("127.0.0.1:7081".parse().expect("addr"), "127.0.0.1:7082".parse().expect("addr"));
    let iface = ["--iface", VethPair::SERVER_IF, "--attach", "tc"];
    let a = start(
        &pair.server,
        &[&iface[..], &["--http-addr", &nobody.to_string(), "--user", "65534:65534"]].concat(),
        &dir.join("nobody.err"),
    );
    let b = start(
        &pair.server,
        &[&iface[..], &["--http-addr", &bare.to_string(), "--keep-caps", "reattach"]].concat(),
        &dir.join("bare.err"),
    );
    let user = ["--attach", "tc", "--format", "json", "--user", "65534:65534"];
    let agent = Agent::start(&pair.server, VethPair::SERVER_IF, &user, 2, &dir.0, "privileges");
    poll(&pair.server, nobody, "/healthz", |s, _| s == 200);
    poll(&pair.server, bare, "/healthz", |s, _| s == 200);
    // The dump drops right after attaching.
    let start = Instant::now();
    while threads_of(agent.pid()).iter().any(|t| t.uid != "65534") {
        assert!(start.elapsed() < Duration::from_secs(30), "dump never dropped to nobody");
        std::thread::sleep(Duration::from_millis(50));
    }

    let reduced = |uid: &str, set: u64| Status {
        uid: uid.into(),
        gid: uid.into(),
        eff: set,
        prm: set,
        inh: 0,
        bnd: set,
        amb: 0,
        no_new_privs: true,
    };
    for t in threads_of(a.0.id()) {
        assert_eq!(t, reduced("65534", 0), "a thread of the --user daemon");
    }
    for t in threads_of(agent.pid()) {
        assert_eq!(t, reduced("65534", 0), "a thread of dump --user");
    }
    for t in threads_of(b.0.id()) {
        assert_eq!(t, reduced("0", REATTACH_SET), "a thread of the --keep-caps reattach daemon");
    }
    let info = json(&poll(&pair.server, nobody, "/json/info", |s, _| s == 200));
    let p = &info["privileges"];
    assert_eq!(
        (&p["uid"], &p["gid"], &p["no_new_privs"]),
        (&65534.into(), &65534.into(), &true.into())
    );
    assert_eq!(p["effective"], serde_json::json!([]), "{info}");
    let info = json(&poll(&pair.server, bare, "/json/info", |s, _| s == 200));
    let held = &info["privileges"]["effective"];
    assert_eq!(*held, serde_json::json!(["CAP_BPF", "CAP_NET_ADMIN"]), "{info}");

    zkcli(&pair.client, addr, &["create /before x", "get /before"]);
    for http in [nobody, bare] {
        assert_eq!(
            at(&requests(&pair.server, http, "GetDataRequest/before"), "CreateRequest/before"),
            1
        );
    }
    let out = agent.stop();
    let seen = decoded(&out.lines, true);
    for kind in ["CreateRequest", "GetDataRequest"] {
        let n = seen.requests.get(&(kind.to_owned(), "/before".to_owned())).copied();
        assert_eq!(n, Some(1), "dump --user: {kind} /before ({})", out.stderr);
    }

    pair.delete_link();
    for http in [nobody, bare] {
        poll(&pair.server, http, "/healthz", |s, _| s == 503);
    }
    pair.create_link();
    for http in [nobody, bare] {
        poll(&pair.server, http, "/healthz", |s, _| s == 200);
    }
    zkcli(&pair.client, addr, &["create /after x", "get /after"]);
    for http in [nobody, bare] {
        let paths = requests(&pair.server, http, "GetDataRequest/after");
        assert_eq!(at(&paths, "CreateRequest/after"), 1, "{paths}");
        let info = json(&poll(&pair.server, http, "/json/info", |s, _| s == 200));
        let stats = &info["capture"]["stats"];
        assert_eq!(stats["attachment"]["reattached"], 1, "{info}");
        // The kernel's counters are still read (a bpf() call on an open map).
        assert!(stats["kernel"]["packets_seen"].as_u64().unwrap_or(0) > 0, "{info}");
    }
    for t in threads_of(a.0.id()) {
        assert_eq!(t, reduced("65534", 0), "after attaching again");
    }
}

/// A replay needs no privilege: run as root, it keeps none.
#[test]
fn a_replay_keeps_no_capability() {
    let name = "a_replay_keeps_no_capability";
    if !privileged(name) {
        return;
    }
    let dir = TempDir::new("privileges-replay");
    let pcap = dir.join("replay.pcap");
    let w = zktraffic::synth::Workload {
        connections: 2,
        requests_per_connection: 10,
        ..Default::default()
    };
    let file = std::fs::File::create(&pcap).expect("capture file");
    zktraffic::synth::write_workload(file, &w).expect("synthetic capture");
    let http = "127.0.0.1:7083";
    let bin = binary().to_string_lossy().into_owned();
    let d = DaemonProcess(
        std::process::Command::new(&bin)
            .args(["serve", "--pcap", pcap.to_str().expect("utf-8"), "--http-addr", http])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the daemon"),
    );
    let http: SocketAddr = http.parse().expect("addr");
    let start = Instant::now();
    let info = loop {
        if let Ok(_c) = TcpStream::connect(http)
            && let (200, body) = get(http, "/json/info")
        {
            break json(&body);
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the replay daemon never answered");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(info["privileges"]["effective"], serde_json::json!([]), "{info}");
    assert_eq!(info["privileges"]["bounding"], serde_json::json!([]), "{info}");
    for t in threads_of(d.0.id()) {
        assert_eq!((t.eff, t.prm, t.bnd, t.no_new_privs), (0, 0, 0, true), "{t:?}");
    }
}
