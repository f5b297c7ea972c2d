//! The stats daemon on live traffic: a real ZooKeeper server and `zkCli.sh` on the loopback of
//! a fresh network namespace, `zktraffic --iface lo` (the bare daemon form) capturing with its
//! kernel programs, and its HTTP endpoints read from inside the namespace.
//!
//! Needs root and the Debian `zookeeper` package (skips loudly otherwise, as the other live
//! tests). No timing assertion: the endpoints are polled until the workload shows, with a
//! generous bound only to fail instead of hanging.

mod serve_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serve_support::{at, get};
use zktraffic_tests::agent::{DaemonProcess, binary};
use zktraffic_tests::netns::{NetNs, privileged, skip};
use zktraffic_tests::zookeeper::{self, ZkServer, zkcli};

/// Polls `path` inside `ns` until `done` accepts the JSON (or two minutes pass).
fn poll(
    ns: &NetNs,
    http: SocketAddr,
    path: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let got = ns.enter(|| std::net::TcpStream::connect(http).ok().map(|_| get(http, path)));
        if let Some((200, body)) = got
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
            && (done(&v) || start.elapsed() > Duration::from_secs(120))
        {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{path} never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn live_daemon_counts_a_real_server() {
    if !privileged("live_daemon_counts_a_real_server") {
        return;
    }
    if !zookeeper::installed() {
        skip(
            "live_daemon_counts_a_real_server",
            "the `zookeeper` package is missing; run `cargo xtask setup`",
        );
        return;
    }
    let ns = NetNs::new("serve");
    let addr: SocketAddr = "127.0.0.1:2181".parse().expect("address");
    let _server = ZkServer::start(&ns, addr, "serve");
    let http: SocketAddr = "127.0.0.1:7070".parse().expect("address");
    let bin = binary().to_string_lossy().into_owned();
    let mut daemon = DaemonProcess(
        ns.command(&bin)
            .args(["--iface", "lo", "--attach", "tc", "--http-addr", &http.to_string()])
            .spawn()
            .expect("start the daemon"),
    );
    let info = poll(&ns, http, "/json/info", |v| v["capture"]["source"]["mode"] == "live");
    assert_eq!(info["capture"]["source"]["interface"], "lo", "{info}");
    // zkCli.sh exits with an error after a failed command, so no NoNode here (the error
    // endpoint is checked on captures with known errors).
    zkcli(&ns, addr, &["create /serve x", "get -w /serve", "set /serve y"]);
    let paths = poll(&ns, http, "/json/paths?scope=cumulative", |v| {
        v.get("SetDataRequest/serve").is_some() && v.get("NodeDataChanged/serve").is_some()
    });
    assert_eq!(at(&paths, "CreateRequest/serve"), 1, "{paths}");
    assert_eq!(at(&paths, "SetDataRequest/serve"), 1, "{paths}");
    assert_eq!(at(&paths, "GetDataRequest/serve"), 1, "{paths}");
    assert_eq!(at(&paths, "watches/serve"), 1, "{paths}");
    assert_eq!(at(&paths, "NodeDataChanged/serve"), 1, "{paths}");
    let errors =
        poll(&ns, http, "/json/errors?scope=cumulative", |v| v["replies"].as_u64() >= Some(4));
    assert_eq!(errors["errors"], 0, "{errors}");
    let latency = poll(&ns, http, "/json/latency?scope=cumulative", |v| {
        v["by_type"]["SetDataRequest"]["count"] == 1
    });
    assert!(latency["by_type"]["SetDataRequest"]["max_us"].as_f64() > Some(0.0), "{latency}");
    let (status, _) = ns.enter(|| get(http, "/healthz"));
    assert_eq!(status, 200);
    // SIGTERM: a graceful stop.
    ns.exec(&["kill", "-TERM", &daemon.0.id().to_string()]);
    let status = daemon.0.wait().expect("wait for the daemon");
    assert!(status.success(), "daemon exit: {status}");
}

/// Live `dump` says where it captures on standard error as it starts (as tcpdump says
/// `listening on lo`) and what it decoded when it stops; standard output holds only the dump.
#[test]
fn live_dump_logs_its_start_and_stop_on_stderr_only() {
    if !privileged("live_dump_logs_its_start_and_stop_on_stderr_only") {
        return;
    }
    let ns = NetNs::new("dlog");
    let bin = binary().to_string_lossy().into_owned();
    let log = std::env::temp_dir().join(format!("zktraffic-dlog-{}.err", std::process::id()));
    let err = std::fs::File::create(&log).expect("stderr file");
    let child = ns
        .command(&bin)
        .args(["dump", "--iface", "lo", "--summary"])
        .stdout(std::process::Stdio::piped())
        .stderr(err)
        .spawn()
        .expect("start the dump");
    let mut child = DaemonProcess(child);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let start = Instant::now();
    while !read_log().contains("capturing on") {
        assert!(start.elapsed() < Duration::from_secs(60), "never attached: {}", read_log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let child =
        std::mem::replace(&mut child.0, std::process::Command::new("true").spawn().unwrap());
    let out = child.wait_with_output().expect("the dump stops");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), read_log());
    let _ = std::fs::remove_file(&log);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("INFO capturing on lo: TC, programs zk_tc_egress"), "{stderr}");
    assert!(stderr.contains("INFO stopped: 0 requests"), "{stderr}");
    assert!(
        stdout.starts_with("messages: 0 requests") && !stdout.contains("capturing"),
        "{stdout}"
    );
}
