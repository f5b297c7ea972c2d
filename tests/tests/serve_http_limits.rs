//! The daemon's HTTP limits against the slow-socket attack: thousands of idle and trickling
//! sockets do not lock a fresh poller out (the idle ones are shed at the cap), a half-sent
//! head and an idle keep-alive connection are closed by the header-read timeout. Asserts are
//! on counts; wall-clock bounds only turn a hang into a failure.

mod serve_support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use serve_support::{at, get, json, serve, temp_capture, write_capture};

/// The `http` counters of `/json/info`.
fn http(addr: SocketAddr) -> Value {
    json(addr, "/json/info")["http"].clone()
}

/// Reads until EOF or reset (the server closed), failing after `bound`.
fn reads_eof(s: &mut TcpStream, bound: Duration) -> bool {
    s.set_read_timeout(Some(bound)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn started(name: &str, args: &[&str]) -> serve_support::Served {
    let pcap = temp_capture(name);
    write_capture(&pcap, 1, &[(0, 0, "/a")]);
    let s = serve(&pcap, args);
    let _ = std::fs::remove_file(&pcap);
    s
}

#[test]
fn thousands_of_idle_and_trickling_sockets_leave_room_for_a_fresh_poller() {
    let cap = 64;
    let s = started("http-flood", &["--http-max-connections", "64", "--http-header-timeout", "60"]);
    let (idle_n, trickle_n) = (2000, 200);
    let mut idle = Vec::with_capacity(idle_n);
    for _ in 0..idle_n {
        idle.push(TcpStream::connect(s.addr).expect("connect"));
    }
    let mut trickling = Vec::with_capacity(trickle_n);
    for _ in 0..trickle_n {
        let mut t = TcpStream::connect(s.addr).expect("connect");
        // A head that never ends: one byte now, and more below.
        let _ = t.write_all(b"G");
        trickling.push(t);
    }
    for t in &mut trickling {
        let _ = t.write_all(b"E");
    }
    // Every attacking socket is in (accepted, then shed or still held) before the poller.
    let start = Instant::now();
    loop {
        let (status, body) = get(s.addr, "/healthz");
        if status == 200 {
            assert_eq!(body, "OK\n");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "/healthz never answered");
    }
    let h = http(s.addr);
    let attackers = (idle_n + trickle_n) as u64;
    assert_eq!(at(&h, "max_connections"), cap, "{h}");
    assert!(at(&h, "connections_open") <= cap, "{h}");
    // Every attacker beyond the cap was shed (none was busy, so none rejected).
    assert!(at(&h, "connections_shed") >= attackers - cap, "{h}");
    assert_eq!(at(&h, "connections_rejected"), 0, "{h}");
    assert!(at(&h, "connections_accepted") >= attackers + 2, "{h}");
    // The oldest sockets were the victims: the first idle ones read EOF.
    for sock in idle.iter_mut().take(10) {
        assert!(reads_eof(sock, Duration::from_secs(30)), "an early idle socket was not shed");
    }
    let (status, _) = get(s.addr, "/metrics");
    assert_eq!(status, 200);
    let metrics = get(s.addr, "/metrics").1;
    assert!(metrics.contains("zktraffic_http_connections_shed_total "), "{metrics}");
    let (_, _, om) =
        serve_support::get_accept(s.addr, "/metrics", Some("application/openmetrics-text"));
    assert!(om.contains("zktraffic_http_connections_shed_total ") && om.ends_with("# EOF\n"));
}

#[test]
fn a_half_sent_head_is_closed_by_the_header_timeout() {
    let s = started("http-header-timeout", &["--http-header-timeout", "1"]);
    let before = at(&http(s.addr), "header_timeouts");
    let mut t = TcpStream::connect(s.addr).expect("connect");
    t.write_all(b"GET /healthz HTTP/1.1\r\nHo").expect("send");
    assert!(reads_eof(&mut t, Duration::from_secs(30)), "half-sent head never closed");
    assert!(at(&http(s.addr), "header_timeouts") > before);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let s = started("http-idle", &["--http-header-timeout", "1"]);
    let before = at(&http(s.addr), "header_timeouts");
    let mut t = TcpStream::connect(s.addr).expect("connect");
    write!(t, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
    t.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut buf = [0u8; 1024];
    let n = t.read(&mut buf).expect("a response");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&buf[..n]));
    // Keep-alive: the connection stays open, then the idle wait for a next head ends it.
    assert!(reads_eof(&mut t, Duration::from_secs(30)), "idle connection never closed");
    assert!(at(&http(s.addr), "header_timeouts") > before);
}

/// The daemon binary as a child process, killed when dropped (also when the test fails).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn idle_sockets_beyond_a_low_file_limit_do_not_starve_a_poller() {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let pcap = temp_capture("http-fd-limit");
    write_capture(&pcap, 1, &[(0, 0, "/a")]);
    let bin = zktraffic_tests::agent::binary();
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["serve", "--pcap", pcap.to_str().expect("utf-8"), "--http-addr", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let r = libc::rlimit { rlim_cur: 256, rlim_max: 256 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = Child(cmd.spawn().expect("start the daemon"));
    let stderr = child.0.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("the daemon says where it serves").expect("stderr");
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.trim_end_matches('/').parse().expect("address");
        }
    };
    // Four times the file limit, held open and idle.
    let idle: Vec<TcpStream> =
        (0..1024).map(|_| TcpStream::connect(addr).expect("connect")).collect();
    let (status, body) = get(addr, "/healthz");
    assert_eq!((status, body.as_str()), (200, "OK\n"));
    let h = http(addr);
    let cap = at(&h, "max_connections");
    assert_eq!(cap, 256 - 64, "the cap is clamped below the file limit: {h}");
    assert!(at(&h, "connections_shed") >= idle.len() as u64 - cap, "{h}");
    assert_eq!(at(&h, "accept_errors"), 0, "{h}");
    assert_eq!(at(&h, "connections_rejected"), 0, "{h}");
    drop(idle);
    let _ = std::fs::remove_file(&pcap);
}
