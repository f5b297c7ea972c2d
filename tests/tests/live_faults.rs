//! Live capture when the world changes under it (issue 9, attacks 7 and 10): the captured veth
//! is deleted and comes back (a pod's veth going away and a new pod taking its name), and
//! `--write-pcap` hits a full disk. The daemon and `dump` say so when it happens, keep running,
//! and capture again once the interface returns.
//!
//! Needs root (and the Debian `zookeeper` package for the interface test); skips loudly
//! otherwise. No timing assertion: states are polled with generous bounds.

mod serve_support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serve_support::{at, get};
use zktraffic_tests::agent::{Agent, DaemonProcess, binary};
use zktraffic_tests::decoded::decoded;
use zktraffic_tests::netns::{NetNs, VethPair, privileged, skip};
use zktraffic_tests::zookeeper::{self, TempDir, ZkServer, zkcli};

/// Polls `path` inside `ns` until `done(status, body)` holds (at most two minutes).
fn poll(
    ns: &NetNs,
    http: SocketAddr,
    path: &str,
    done: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let start = Instant::now();
    loop {
        let got = ns.enter(|| TcpStream::connect(http).ok().map(|_| get(http, path)));
        if let Some((status, body)) = got
            && done(status, &body)
        {
            return (status, body);
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{path}: never as expected");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Attack 7: the daemon (`serve --iface zs`) and `dump --iface zs` capture a real ZooKeeper
/// server at the server's end of a veth pair. The pair is deleted: `/healthz` answers 503 with
/// the reason, `/json/info` has it in `capture.error`, both log it. The pair comes back: both
/// attach again (counted) and every request made after that is counted (before this fix: none
/// of them, as nothing re-attached).
#[test]
fn capture_reports_a_deleted_interface_and_attaches_again_when_it_returns() {
    let name = "capture_reports_a_deleted_interface_and_attaches_again_when_it_returns";
    if !privileged(name) {
        return;
    }
    if !zookeeper::installed() {
        skip(name, "the `zookeeper` package is missing; run `cargo xtask setup`");
        return;
    }
    let dir = TempDir::new("faults");
    let pair = VethPair::new("lf");
    let addr: SocketAddr = format!("{}:2181", VethPair::SERVER_IP).parse().expect("address");
    let _server = ZkServer::start(&pair.server, addr, "faults");
    let http: SocketAddr = "127.0.0.1:7071".parse().expect("address");
    let log = dir.join("daemon.err");
    let bin = binary().to_string_lossy().into_owned();
    let _daemon = DaemonProcess(
        pair.server
            .command(&bin)
            .args(["--iface", VethPair::SERVER_IF, "--attach", "tc"])
            .args(["--http-addr", &http.to_string()])
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("daemon log"))
            .spawn()
            .expect("start the daemon"),
    );
    let mut agent = Agent::start(
        &pair.server,
        VethPair::SERVER_IF,
        &["--attach", "tc", "--format", "json"],
        2,
        &dir.0,
        "faults",
    );
    poll(&pair.server, http, "/healthz", |s, _| s == 200);
    zkcli(&pair.client, addr, &["create /before x"]);
    poll(&pair.server, http, "/json/paths?scope=cumulative", |_, b| {
        json(b).get("CreateRequest/before").is_some()
    });

    pair.delete_link();
    let (_, why) = poll(&pair.server, http, "/healthz", |s, _| s == 503);
    assert!(why.contains("interface zs was deleted"), "{why}");
    let (_, info) = poll(&pair.server, http, "/json/info", |_, _| true);
    let info = json(&info);
    let error = info["capture"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("interface zs was deleted"), "{info}");
    assert_eq!(info["capture"]["stats"]["attachment"]["interface_lost"], 1, "{info}");
    assert_eq!(info["capture"]["stats"]["attachment"]["reattached"], 0, "{info}");
    // /healthz's state as a gauge, from the same snapshots.
    let (_, metrics) = poll(&pair.server, http, "/metrics", |_, _| true);
    assert!(metrics.contains("\nzktraffic_capture_healthy 0\n"), "{metrics}");
    agent.wait_stderr("interface zs was deleted");
    let daemon_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(daemon_log.contains("interface zs was deleted"), "{daemon_log}");

    pair.create_link();
    poll(&pair.server, http, "/healthz", |s, _| s == 200);
    agent.wait_stderr("zs is back");
    let (_, info) = poll(&pair.server, http, "/json/info", |_, _| true);
    let info = json(&info);
    assert_eq!(info["capture"]["error"], serde_json::Value::Null, "{info}");
    let attachment = &info["capture"]["stats"]["attachment"];
    assert_eq!((&attachment["interface_lost"], &attachment["reattached"]), (&1.into(), &1.into()));
    // /healthz's state as a gauge, from the same snapshots.
    let (_, metrics) = poll(&pair.server, http, "/metrics", |_, _| true);
    assert!(metrics.contains("\nzktraffic_capture_healthy 1\n"), "{metrics}");

    zkcli(&pair.client, addr, &["create /after x", "set /after y", "get /after"]);
    let (_, paths) = poll(&pair.server, http, "/json/paths?scope=cumulative", |_, b| {
        json(b).get("GetDataRequest/after").is_some()
    });
    let paths = json(&paths);
    for kind in ["CreateRequest", "SetDataRequest", "GetDataRequest"] {
        assert_eq!(at(&paths, &format!("{kind}/after")), 1, "{kind}: {paths}");
    }
    let out = agent.stop();
    let seen = decoded(&out.lines, true);
    for kind in ["CreateRequest", "SetDataRequest", "GetDataRequest"] {
        let n = seen.requests.get(&(kind.to_owned(), "/after".to_owned())).copied();
        assert_eq!(n, Some(1), "dump: {kind} /after");
    }
}

/// Item 10: `--write-pcap` to a full device (/dev/full: every write says ENOSPC). The error is
/// logged while capture runs (not only at exit) with the path, writing stops, capture goes on,
/// and the exit status still says the file is incomplete.
#[test]
fn a_write_pcap_error_is_reported_when_it_happens() {
    if !privileged("a_write_pcap_error_is_reported_when_it_happens") {
        return;
    }
    let dir = TempDir::new("fullpcap");
    let ns = NetNs::new("fp");
    let mut agent = Agent::start(
        &ns,
        "lo",
        &["--format", "json", "--write-pcap", "/dev/full"],
        1,
        &dir.0,
        "fp",
    );
    // More than the file buffer (8 KiB) so that a write reaches the device.
    let server: SocketAddr = "127.0.0.1:2181".parse().expect("address");
    let listener = ns.enter(|| TcpListener::bind(server)).expect("bind");
    let mut client = ns.enter(|| TcpStream::connect(server)).expect("connect");
    let (mut conn, _) = listener.accept().expect("accept");
    client.write_all(&vec![0u8; 200_000]).expect("write");
    client.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut sink = Vec::new();
    conn.read_to_end(&mut sink).expect("read");
    agent.wait_stderr("writing /dev/full failed");
    assert!(agent.running(), "capture goes on after the write error");
    let (status, stderr) = agent.interrupt();
    assert!(!status.success(), "the exit status says the pcap is incomplete");
    assert_eq!(stderr.matches("writing /dev/full failed").count(), 1, "logged once: {stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
}
