//! `--config FILE` and SIGHUP (issue 14): the daemon binary capturing the loopback of a fresh
//! network namespace takes its settings from a TOML file (a flag overrides one), and on SIGHUP
//! re-reads it: the window and caps change from the next window; a broken file is logged with
//! its line and changes nothing; a broken file at start is an error naming the line.
//!
//! Needs root (skips loudly otherwise). No timing assertion: states are polled with generous
//! bounds.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use zktraffic_tests::agent::{DaemonProcess, binary};
use zktraffic_tests::netns::{NetNs, privileged};
use zktraffic_tests::zookeeper::TempDir;

/// `GET path` with the bearer token, inside `ns` → the JSON body, once `done` accepts it.
fn poll(ns: &NetNs, http: SocketAddr, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let got = ns.enter(|| {
            let mut s = TcpStream::connect(http).ok()?;
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer cfg-token\r\nConnection: close\r\n\r\n"
            );
            s.write_all(req.as_bytes()).ok()?;
            let mut out = String::new();
            s.read_to_string(&mut out).ok()?;
            out.split_once("\r\n\r\n").and_then(|(_, body)| serde_json::from_str(body).ok())
        });
        if let Some(v) = got
            && done(&v)
        {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{path}: never as expected");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn settings(v: &Value) -> (f64, u64) {
    let a = &v["aggregation"];
    (a["window_seconds"].as_f64().unwrap_or(0.0), a["max_paths"].as_u64().unwrap_or(0))
}

#[test]
fn sighup_rereads_the_config_file() {
    let name = "sighup_rereads_the_config_file";
    if !privileged(name) {
        return;
    }
    let dir = TempDir::new("config");
    let ns = NetNs::new("cfg");
    // Something on the ZooKeeper port for a four-letter word, so that windows start.
    let listener = ns.enter(|| TcpListener::bind("127.0.0.1:2181")).expect("listen");
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut word = [0u8; 4];
            let _ = s.read_exact(&mut word);
            let _ = s.write_all(b"imok");
        }
    });
    let token = dir.join("token");
    std::fs::write(&token, "cfg-token\n").expect("token");
    let config = dir.join("zktraffic.toml");
    let write = |window: u64, max_paths: u64| {
        let text = format!(
            "# the daemon's settings\niface = \"lo\"\nhttp-addr = \"127.0.0.1:7085\"\n\
             http-token-file = \"{}\"\nwindow = {window}\nmax-paths = {max_paths}\n",
            token.display()
        );
        std::fs::write(&config, text).expect("config");
    };
    write(1, 100);
    let http: SocketAddr = "127.0.0.1:7085".parse().expect("addr");
    let log = dir.join("daemon.err");
    let bin = binary().to_string_lossy().into_owned();
    let d = DaemonProcess(
        ns.command(&bin)
            .args(["serve", "--config", config.to_str().expect("utf-8"), "--max-ips", "77"])
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start the daemon"),
    );
    let info = poll(&ns, http, "/json/info", |v| v["capture"]["source"]["interface"] == "lo");
    assert_eq!(info["capture"]["source"]["mode"], "live", "{info}");
    ns.enter(|| {
        let mut s = TcpStream::connect("127.0.0.1:2181").expect("connect");
        s.write_all(b"ruok").expect("ruok");
        let mut reply = [0u8; 4];
        s.read_exact(&mut reply).expect("imok");
    });
    poll(&ns, http, "/json/info", |v| {
        settings(v) == (1.0, 100) && v["aggregation"]["windows_completed"].as_u64() > Some(0)
    });

    write(2, 50);
    let hup = || {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(d.0.id() as i32, libc::SIGHUP) }, 0);
    };
    hup();
    poll(&ns, http, "/json/info", |v| settings(v) == (2.0, 50));

    std::fs::write(&config, "iface = \"lo\"\nwindow = \"soon\"\n").expect("break it");
    hup();
    let start = Instant::now();
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("line 2: `window`") {
        assert!(start.elapsed() < Duration::from_secs(30), "no error logged for the bad file");
        std::thread::sleep(Duration::from_millis(100));
    }
    let info = poll(&ns, http, "/json/info", |_| true);
    assert_eq!(settings(&info), (2.0, 50), "a broken file changes nothing");
    drop(d);
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(said.contains("SIGHUP: settings re-read"), "{said}");

    // At start, the broken file is the error, with its line.
    let out = Command::new(binary())
        .args(["serve", "--config", config.to_str().expect("utf-8")])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("zktraffic.toml line 2: `window`"), "{err}");
}
