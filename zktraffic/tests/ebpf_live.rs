//! Live capture on real interfaces inside fresh network namespaces: TC on `lo`, XDP (generic and
//! native) and TC on a veth pair between two namespaces. A TCP connection to port 2181 carries
//! known bytes both ways; the test asserts the segments delivered. Needs root; skips loudly
//! without. Namespaces are removed on drop, also when an assertion fails.
#![cfg(feature = "ebpf")]

mod ebpf_support;

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ebpf_support::netns::NetNs;
use ebpf_support::privileged;
use zktraffic::ebpf::{AttachMode, Hook, KernelStats, LiveCapture, LiveCaptureConfig};
use zktraffic_common::record::MAX_CAPTURE;
use zktraffic_common::tcp_flags::SYN;

#[derive(Debug, Clone)]
struct Got {
    hook: Hook,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    flags: u8,
    payload: Vec<u8>,
    wire_len: u32,
}

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt) ^ (i >> 9) as u8).collect()
}

fn start(ns: &NetNs, iface: &str, attach: AttachMode) -> LiveCapture {
    let cfg = LiveCaptureConfig { iface: iface.into(), attach, ..Default::default() };
    ns.enter(|| LiveCapture::start(cfg))
        .unwrap_or_else(|e| panic!("starting capture on {iface}: {e}"))
}

/// Connects from `client_ns` to `server` (listening in `server_ns`), sends `request`, gets
/// `reply`, and closes. Returns the client's address.
fn exchange(
    server_ns: &NetNs,
    client_ns: &NetNs,
    server: SocketAddr,
    request: &[u8],
    reply: &[u8],
) -> SocketAddr {
    let listener = server_ns.enter(|| TcpListener::bind(server)).expect("bind");
    let mut client = client_ns.enter(|| TcpStream::connect(server)).expect("connect");
    let (mut conn, _) = listener.accept().expect("accept");
    let local = client.local_addr().expect("local addr");
    let (req, rep) = (request.to_vec(), reply.to_vec());
    let server_side = std::thread::spawn(move || {
        let mut got = Vec::new();
        conn.read_to_end(&mut got).expect("server read");
        assert!(got == req, "server received other bytes");
        conn.write_all(&rep).expect("server write");
        conn.shutdown(Shutdown::Write).expect("server shutdown");
    });
    client.write_all(request).expect("client write");
    client.shutdown(Shutdown::Write).expect("client shutdown");
    let mut got = Vec::new();
    client.read_to_end(&mut got).expect("client read");
    assert!(got == reply, "client received other bytes");
    server_side.join().expect("server thread");
    local
}

/// Reads segments from the captures until `done` says so or 10 s pass.
fn collect(caps: &mut [&mut LiveCapture], done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
    read_until(caps, Duration::from_secs(10), |_, got| done(got))
}

/// Reads segments from the captures until `done` (given the captures and what they delivered)
/// says so or `limit` passes.
fn read_until(
    caps: &mut [&mut LiveCapture],
    limit: Duration,
    done: impl Fn(&[&mut LiveCapture], &[Got]) -> bool,
) -> Vec<Got> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut got = Vec::new();
    let deadline = Instant::now() + limit;
    rt.block_on(async {
        while !done(caps, &got) && Instant::now() < deadline {
            for cap in caps.iter_mut() {
                let batch = cap.next_batch_with_hook(|s, hook| {
                    got.push(Got {
                        hook,
                        src: s.src,
                        dst: s.dst,
                        seq: s.seq,
                        flags: s.flags,
                        payload: s.payload.to_vec(),
                        wire_len: s.wire_len,
                    })
                });
                // A capture with nothing to say must not block the others.
                let _ = tokio::time::timeout(Duration::from_millis(50), batch).await;
            }
        }
    });
    got
}

/// The bytes of one direction rebuilt by sequence number, checking that no byte was captured
/// twice and that segments follow each other exactly. A segment over the capture limit
/// arrives truncated: its missing tail is filled with zeros and counted in the second value.
fn stream(got: &[Got], src: SocketAddr, dst: SocketAddr) -> (Vec<u8>, usize) {
    let mut segs: Vec<&Got> = got.iter().filter(|g| g.src == src && g.dst == dst).collect();
    let syn =
        segs.iter().find(|g| g.flags & SYN != 0).unwrap_or_else(|| panic!("no SYN {src} → {dst}"));
    let isn = syn.seq;
    segs.retain(|g| !g.payload.is_empty());
    segs.sort_by_key(|g| g.seq.wrapping_sub(isn));
    let (mut out, mut missing) = (Vec::new(), 0);
    for g in segs {
        assert_eq!(
            g.seq.wrapping_sub(isn) as usize - 1,
            out.len(),
            "gap or duplicate in {src} → {dst}"
        );
        assert!(
            g.payload.len() == g.wire_len as usize || g.payload.len() == MAX_CAPTURE as usize,
            "cut short"
        );
        out.extend_from_slice(&g.payload);
        out.resize(out.len() + g.wire_len as usize - g.payload.len(), 0);
        missing += g.wire_len as usize - g.payload.len();
    }
    (out, missing)
}

/// Compares a rebuilt stream with what was sent, ignoring the zero-filled truncated tails.
fn assert_stream(got: (Vec<u8>, usize), sent: &[u8], what: &str) {
    let (bytes, missing) = got;
    assert_eq!(bytes.len(), sent.len(), "{what}: length");
    let differing = bytes.iter().zip(sent).filter(|(a, b)| a != b).count();
    assert!(
        differing <= missing,
        "{what}: {differing} bytes differ, only {missing} were truncated"
    );
    if missing == 0 {
        assert!(bytes == sent, "{what}: bytes differ");
    }
}

fn has_stream(got: &[Got], src: SocketAddr, dst: SocketAddr, len: usize) -> bool {
    let n: usize =
        got.iter().filter(|g| g.src == src && g.dst == dst).map(|g| g.payload.len()).sum();
    n >= len
}

fn assert_clean(stats: KernelStats) {
    assert_eq!(
        (stats.ring_full_drops, stats.truncated, stats.parse_failures, stats.load_failures),
        (0, 0, 0, 0),
        "{stats:?}"
    );
}

#[test]
fn tc_on_loopback() {
    if !privileged("tc_on_loopback") {
        return;
    }
    let ns = NetNs::new("lo");
    let mut cap = start(&ns, "lo", AttachMode::Tc);
    // Loopback: egress alone sees every packet exactly once.
    assert_eq!(cap.attached_programs(), vec!["zk_tc_egress"]);
    let server: SocketAddr = "127.0.0.1:2181".parse().expect("addr");
    let request = pattern(600_000, 1); // GSO segments on lo, BIG TCP ones above 64 KiB
    let reply = b"\x00\x00\x00\x10zookeeper reply!".to_vec();
    let client = exchange(&ns, &ns, server, &request, &reply);

    let got = collect(&mut [&mut cap], |g| {
        has_stream(g, client, server, request.len()) && has_stream(g, server, client, reply.len())
    });
    assert!(got.iter().all(|g| g.hook == Hook::TcEgress));
    assert!(
        got.iter().any(|g| g.payload.len() > 4096),
        "expected segments spanning several records"
    );
    let up = stream(&got, client, server);
    // Segments above 64 KiB (BIG TCP on lo) arrive whole; truncation would only happen past
    // MAX_CAPTURE, and would be counted by the kernel.
    let truncated_segments =
        got.iter().filter(|g| (g.wire_len as usize) > g.payload.len()).count() as u64;
    let largest = got.iter().map(|g| g.wire_len).max().unwrap_or(0);
    eprintln!("largest segment on lo: {largest} bytes; {truncated_segments} truncated");
    if largest <= MAX_CAPTURE {
        assert_eq!(truncated_segments, 0);
    }
    assert_stream(up, &request, "client → server");
    assert_stream(stream(&got, server, client), &reply, "server → client");
    let stats = cap.kernel_stats();
    assert_eq!(stats.truncated, truncated_segments, "{stats:?}");
    assert_eq!(
        (stats.ring_full_drops, stats.parse_failures, stats.load_failures),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(cap.reader_stats().incomplete_segments, 0);
}

/// Two namespaces joined by a veth pair: `a` (server, 10.231.x.1) and `b` (client, .2).
struct Pair {
    a: NetNs,
    b: NetNs,
    server: SocketAddr,
}

fn veth_pair(tag: &str, v6: bool) -> Pair {
    let a = NetNs::new(&format!("{tag}a"));
    let b = NetNs::new(&format!("{tag}b"));
    a.exec(&["ip", "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &b.name]);
    let (addr_a, addr_b, server) = if v6 {
        ("fd00:231::1/64", "fd00:231::2/64", "[fd00:231::1]:2181")
    } else {
        ("10.231.0.1/24", "10.231.0.2/24", "10.231.0.1:2181")
    };
    a.exec(&["ip", "addr", "add", addr_a, "dev", "va", "nodad"][..if v6 { 7 } else { 6 }]);
    b.exec(&["ip", "addr", "add", addr_b, "dev", "vb", "nodad"][..if v6 { 7 } else { 6 }]);
    a.exec(&["ip", "link", "set", "va", "up"]);
    b.exec(&["ip", "link", "set", "vb", "up"]);
    Pair { a, b, server: server.parse().expect("addr") }
}

fn xdp_on_veth(mode: AttachMode, want_mode: &str, v6: bool) {
    let pair = veth_pair(if v6 { "x6" } else { "x4" }, v6);
    // XDP sees ingress only: one program per end gives both directions.
    let mut at_server = start(&pair.a, "va", mode);
    let mut at_client = start(&pair.b, "vb", mode);
    assert_eq!(at_server.xdp_mode(), Some(want_mode));
    let request = pattern(100_000, 2);
    let reply = pattern(20_000, 3);
    let client = exchange(&pair.a, &pair.b, pair.server, &request, &reply);
    let got = collect(&mut [&mut at_server, &mut at_client], |g| {
        has_stream(g, client, pair.server, request.len())
            && has_stream(g, pair.server, client, reply.len())
    });
    assert!(got.iter().all(|g| g.hook == Hook::Xdp));
    assert_eq!(stream(&got, client, pair.server), (request, 0), "client → server");
    assert_eq!(stream(&got, pair.server, client), (reply, 0), "server → client");
    assert_clean(at_server.kernel_stats());
    assert_clean(at_client.kernel_stats());
}

#[test]
fn xdp_generic_on_veth() {
    if !privileged("xdp_generic_on_veth") {
        return;
    }
    xdp_on_veth(AttachMode::XdpGeneric, "generic", false);
}

#[test]
fn xdp_native_or_fallback_on_veth_ipv6() {
    if !privileged("xdp_native_or_fallback_on_veth_ipv6") {
        return;
    }
    // veth has native XDP at MTU 1500.
    xdp_on_veth(AttachMode::Xdp, "native", true);
}

#[test]
fn tc_on_veth_sees_both_directions() {
    if !privileged("tc_on_veth_sees_both_directions") {
        return;
    }
    let pair = veth_pair("tc", false);
    let mut cap = start(&pair.a, "va", AttachMode::Tc);
    assert_eq!(cap.attached_programs(), vec!["zk_tc_ingress", "zk_tc_egress"]);
    let request = pattern(50_000, 4);
    let reply = pattern(70_000, 5);
    let client = exchange(&pair.a, &pair.b, pair.server, &request, &reply);
    let got = collect(&mut [&mut cap], |g| {
        has_stream(g, client, pair.server, request.len())
            && has_stream(g, pair.server, client, reply.len())
    });
    // At the server's end requests arrive (ingress) and replies leave (egress).
    assert!(got.iter().filter(|g| g.src == client).all(|g| g.hook == Hook::TcIngress));
    assert!(got.iter().filter(|g| g.src == pair.server).all(|g| g.hook == Hook::TcEgress));
    assert_eq!(stream(&got, client, pair.server), (request, 0), "client → server");
    assert_eq!(stream(&got, pair.server, client), (reply, 0), "server → client");
    assert_clean(cap.kernel_stats());
}

#[test]
fn detaches_on_drop_and_cleans_stale_at_start() {
    if !privileged("detaches_on_drop_and_cleans_stale_at_start") {
        return;
    }
    let pair = veth_pair("dt", false);
    let cap = start(&pair.a, "va", AttachMode::Tc);
    drop(cap);
    let cap = start(&pair.a, "va", AttachMode::XdpGeneric);
    drop(cap);
    // Nothing of ours is left: no XDP program, no TC filter, no TCX program.
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &pair.a.name, "ip", "-d", "link", "show", "va"])
        .output()
        .expect("ip link");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("xdp"), "XDP left attached: {text}");
    for dir in ["ingress", "egress"] {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &pair.a.name, "tc", "filter", "show", "dev", "va", dir])
            .output()
            .expect("tc filter");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("zk_"), "TC filter left on {dir}");
    }
    // A missing interface is a clear error.
    let err = pair
        .a
        .enter(|| {
            LiveCapture::start(LiveCaptureConfig { iface: "nope0".into(), ..Default::default() })
        })
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("interface \"nope0\" not found"), "{err}");
}

/// Kernel run time per packet from the kernel's BPF statistics (`kernel.bpf_stats_enabled`):
/// a ping-pong of small ZooKeeper-sized messages on a veth pair, TC at the server end. The same
/// packets cross the client end, where the empty classifier `zk_tc_pass` runs on ingress and
/// egress: its figure is the fixed cost of TC dispatch plus the statistics themselves on this
/// machine, measured in the same run (machines are noisy).
/// Not a pass/fail test: `cargo test --release --test ebpf_live -- --ignored --nocapture`.
#[test]
#[ignore = "measurement; run explicitly"]
fn measure_kernel_run_time() {
    if !privileged("measure_kernel_run_time") {
        return;
    }
    let stats_path = "/proc/sys/kernel/bpf_stats_enabled";
    let before = std::fs::read_to_string(stats_path).unwrap_or_default();
    std::fs::write(stats_path, "1").expect("enable bpf stats");
    let pair = veth_pair("ms", false);
    let ring_bytes =
        std::env::var("ZKT_RING").ok().and_then(|v| v.parse().ok()).unwrap_or(16 << 20);
    let cfg = LiveCaptureConfig { iface: "va".into(), ring_bytes, ..Default::default() };
    let mut cap = pair.a.enter(|| LiveCapture::start(cfg)).expect("start");
    // Kept alive (attached) until the end of the test.
    let _baseline = pair
        .b
        .enter(|| -> Result<aya::Ebpf, Box<dyn std::error::Error>> {
            let mut ebpf = aya::EbpfLoader::new().load(zktraffic::ebpf::kernel_object())?;
            let p: &mut aya::programs::SchedClassifier =
                ebpf.program_mut("zk_tc_pass").ok_or("no zk_tc_pass")?.try_into()?;
            ebpf_support::load_retrying(|| p.load())?;
            p.attach("vb", aya::programs::TcAttachType::Ingress)?;
            p.attach("vb", aya::programs::TcAttachType::Egress)?;
            Ok(ebpf)
        })
        .expect("baseline program");
    let listener = pair.a.enter(|| TcpListener::bind(pair.server)).expect("bind");
    let mut client = pair.b.enter(|| TcpStream::connect(pair.server)).expect("connect");
    let (mut conn, _) = listener.accept().expect("accept");
    client.set_nodelay(true).expect("nodelay");
    conn.set_nodelay(true).expect("nodelay");
    let rounds = std::env::var("ZKT_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        for _ in 0..rounds {
            conn.read_exact(&mut buf).expect("read");
            conn.write_all(&buf[..40]).expect("write");
        }
    });
    let t = Instant::now();
    let mut buf = [0u8; 40];
    for _ in 0..rounds {
        client.write_all(&[7u8; 64]).expect("write");
        client.read_exact(&mut buf).expect("read");
    }
    let elapsed = t.elapsed();
    server.join().expect("server");
    let mut n = 0u64;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        // Read until the ring stays quiet for 200 ms (a batch returns empty after a poll tick).
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < Duration::from_millis(200) {
            let before = n;
            cap.next_batch(|_| n += 1).await.expect("ring");
            if n != before {
                quiet_since = Instant::now();
            }
        }
    });
    let (mut zk, mut pass) = ((0u128, 0u64), (0u128, 0u64));
    for info in aya::programs::loaded_programs().flatten() {
        let name = info.name_as_str().unwrap_or("").to_owned();
        if name.starts_with("zk_tc_") {
            let (cnt, ns) = (info.run_count(), info.run_time().as_nanos());
            if cnt > 0 {
                eprintln!("MEASURE {name}: {cnt} runs, {:.0} ns/run", ns as f64 / cnt as f64);
                let acc = if name == "zk_tc_pass" { &mut pass } else { &mut zk };
                acc.0 += ns;
                acc.1 += cnt;
            }
        }
    }
    let per = |(ns, cnt): (u128, u64)| ns as f64 / cnt.max(1) as f64;
    eprintln!(
        "MEASURE capture {:.0} ns/run, empty baseline {:.0} ns/run, capture minus baseline {:.0} ns",
        per(zk),
        per(pass),
        per(zk) - per(pass)
    );
    eprintln!(
        "MEASURE {rounds} round trips in {elapsed:?}; {n} segments read; {:?}",
        cap.kernel_stats()
    );
    drop(cap);
    std::fs::write(stats_path, before.trim()).expect("restore bpf stats");
}

/// Reads segments until `until` holds for the capture (its health, its counters) or 20 s pass.
fn drive(cap: &mut LiveCapture, until: impl Fn(&LiveCapture) -> bool) -> Vec<Got> {
    read_until(&mut [cap], Duration::from_secs(20), |caps, _| until(caps[0]))
}

/// The veth pair of [`veth_pair`] made again (after `va` was deleted, which takes `vb` along).
fn recreate_veth(pair: &Pair) {
    let (a, b) = (&pair.a, &pair.b);
    a.exec(&["ip", "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &b.name]);
    a.exec(&["ip", "addr", "add", "10.231.0.1/24", "dev", "va"]);
    b.exec(&["ip", "addr", "add", "10.231.0.2/24", "dev", "vb"]);
    a.exec(&["ip", "link", "set", "va", "up"]);
    b.exec(&["ip", "link", "set", "vb", "up"]);
}

/// One exchange after the interface came back: every byte of both directions is captured.
fn assert_captures_again(pair: &Pair, cap: &mut LiveCapture, salt: u8) {
    let request = pattern(30_000, salt);
    let reply = pattern(10_000, salt + 1);
    let client = exchange(&pair.a, &pair.b, pair.server, &request, &reply);
    let got = collect(&mut [cap], |g| {
        has_stream(g, client, pair.server, request.len())
            && has_stream(g, pair.server, client, reply.len())
    });
    assert_eq!(stream(&got, client, pair.server), (request, 0), "client → server after return");
    assert_eq!(stream(&got, pair.server, client), (reply, 0), "server → client after return");
}

/// Issue 9, attack 7: the captured veth is deleted (a pod going away). The capture says so
/// (health, counters) instead of going silent, and attaches again when an interface of that
/// name returns, so the traffic after it is captured whole (before: none of it).
#[test]
fn capture_attaches_again_when_the_interface_returns() {
    if !privileged("capture_attaches_again_when_the_interface_returns") {
        return;
    }
    let pair = veth_pair("ra", false);
    // Started inside the namespace, read from outside it: attaching again must go back in.
    let mut cap = start(&pair.a, "va", AttachMode::Tc);
    assert_eq!(cap.health(), Ok(()));
    let first = cap.attachment_stats().ifindex;
    assert!(first > 0);
    assert_captures_again(&pair, &mut cap, 10);

    pair.a.exec(&["ip", "link", "del", "va"]);
    drive(&mut cap, |c| c.health().is_err());
    let why = cap.health().expect_err("unhealthy once the interface is gone");
    assert!(why.contains("interface va was deleted"), "{why}");
    let s = cap.attachment_stats();
    assert_eq!((s.interface_lost, s.reattached, s.ifindex), (1, 0, 0), "{s:?}");
    assert!(cap.attached_programs().is_empty());

    recreate_veth(&pair);
    drive(&mut cap, |c| c.health().is_ok());
    assert_eq!(cap.health(), Ok(()));
    let s = cap.attachment_stats();
    assert_eq!((s.interface_lost, s.reattached, s.reattach_failures), (1, 1, 0), "{s:?}");
    assert!(s.ifindex > 0 && s.ifindex != first, "{s:?}");
    assert_eq!(cap.attached_programs(), vec!["zk_tc_ingress", "zk_tc_egress"]);
    assert_captures_again(&pair, &mut cap, 20);
    assert_clean(cap.kernel_stats());
}

/// The interface is deleted and recreated between two checks: only its new ifindex tells;
/// the capture counts a loss and attaches to the new one (XDP this time).
#[test]
fn capture_follows_an_interface_recreated_between_checks() {
    if !privileged("capture_follows_an_interface_recreated_between_checks") {
        return;
    }
    let pair = veth_pair("rb", false);
    // XDP sees ingress only: at the server's end, the requests.
    let mut cap = start(&pair.a, "va", AttachMode::XdpGeneric);
    let first = cap.attachment_stats().ifindex;
    pair.a.exec(&["ip", "link", "del", "va"]);
    recreate_veth(&pair);
    drive(&mut cap, |c| c.attachment_stats().reattached == 1);
    let s = cap.attachment_stats();
    assert_eq!((s.interface_lost, s.reattached), (1, 1), "{s:?}");
    assert!(s.ifindex != first && s.ifindex > 0, "{s:?}");
    assert_eq!(cap.health(), Ok(()));
    assert_eq!(cap.xdp_mode(), Some("generic"));
    let request = pattern(30_000, 30);
    let client = exchange(&pair.a, &pair.b, pair.server, &request, b"ok");
    let got = collect(&mut [&mut cap], |g| has_stream(g, client, pair.server, request.len()));
    assert_eq!(stream(&got, client, pair.server), (request, 0));
}

/// The XDP programs on `iface` in `ns`, as `ip -d link show` prints them (`prog/xdp id N`).
fn xdp_ids(ns: &ebpf_support::netns::NetNs, iface: &str) -> Vec<u32> {
    let text = ns.exec(&["ip", "-d", "link", "show", iface]);
    text.split("prog/xdp id ")
        .skip(1)
        .filter_map(|t| t.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Issue 9, attack 8 (and item 10): another tool's XDP program with an empty name sits on the
/// interface. Neither a TC nor an XDP capture removes it (the old cleanup matched on a name
/// prefix, which the empty name is); XDP fails with a message naming the holder and the ways
/// out.
#[test]
fn a_foreign_xdp_program_is_left_alone() {
    if !privileged("a_foreign_xdp_program_is_left_alone") {
        return;
    }
    let pair = veth_pair("fx", false);
    pair.a
        .enter(|| ebpf_support::other_tool::attach_xdp("va"))
        .expect("attach the foreign program");
    let foreign = xdp_ids(&pair.a, "va");
    assert_eq!(foreign.len(), 1, "the foreign program is attached");

    let cap = start(&pair.a, "va", AttachMode::Tc);
    assert_eq!(cap.attached_programs(), vec!["zk_tc_ingress", "zk_tc_egress"]);
    drop(cap);
    assert_eq!(xdp_ids(&pair.a, "va"), foreign, "TC capture removed the foreign XDP program");

    for mode in [AttachMode::XdpGeneric, AttachMode::Xdp] {
        let cfg = LiveCaptureConfig { iface: "va".into(), attach: mode, ..Default::default() };
        let err = pair.a.enter(|| LiveCapture::start(cfg)).err().expect("XDP must not attach");
        let msg = err.to_string();
        let holder = format!("another XDP program (id {}, name \"\", generic mode)", foreign[0]);
        assert!(msg.contains(&holder), "{msg}");
        assert!(msg.contains("cannot attach XDP to va"), "{msg}");
        assert!(msg.contains("--attach tc"), "{msg}");
        assert!(msg.contains("ip link set dev va xdp off"), "{msg}");
        assert_eq!(xdp_ids(&pair.a, "va"), foreign, "{mode:?} removed the foreign program");
    }
}

/// Item 10: a ring too small for one full-size record is refused, naming the minimum.
#[test]
fn a_ring_smaller_than_one_record_is_refused() {
    if !privileged("a_ring_smaller_than_one_record_is_refused") {
        return;
    }
    let min = zktraffic::ebpf::min_ring_bytes();
    let ns = NetNs::new("rg");
    let cfg = LiveCaptureConfig { iface: "lo".into(), ring_bytes: 4096, ..Default::default() };
    let err = ns.enter(|| LiveCapture::start(cfg)).err().expect("4096 bytes must be refused");
    assert!(err.to_string().contains(&format!("between {min} (one full-size record")), "{err}");
    let cfg = LiveCaptureConfig { iface: "lo".into(), ring_bytes: min, ..Default::default() };
    assert!(ns.enter(|| LiveCapture::start(cfg)).is_ok(), "the minimum itself is accepted");
}

/// What a crashed run leaves on a kernel without TCX or XDP links: netlink attachments of our
/// programs, which outlive the process. Simulated here by attaching our programs through
/// netlink and dropping them without detaching. The next run removes exactly its own (same
/// name, type and tag) and leaves the rest: `zk_tc_pass` (our object, another program) stays.
#[test]
fn stale_attachments_of_ours_are_removed_and_nothing_else() {
    use aya::programs::tc::{NlOptions, TcAttachOptions};
    use aya::programs::{SchedClassifier, TcAttachType, Xdp};
    use std::os::fd::{AsFd as _, AsRawFd as _};

    if !privileged("stale_attachments_of_ours_are_removed_and_nothing_else") {
        return;
    }
    let pair = veth_pair("st", false);
    let tc = |dir: &str| pair.a.exec(&["tc", "filter", "show", "dev", "va", dir]);
    pair.a
        .enter(|| -> Result<(), Box<dyn std::error::Error>> {
            let _ = aya::programs::tc::qdisc_add_clsact("va");
            let mut ebpf = aya::EbpfLoader::new().load(zktraffic::ebpf::kernel_object())?;
            for name in ["zk_tc_ingress", "zk_tc_pass"] {
                let p: &mut SchedClassifier = ebpf.program_mut(name).ok_or(name)?.try_into()?;
                ebpf_support::load_retrying(|| p.load())?;
                let opts = TcAttachOptions::Netlink(NlOptions::default());
                let link = p.attach_with_options("va", TcAttachType::Ingress, opts)?;
                std::mem::forget(p.take_link(link)?); // a crash: never detached
            }
            let p: &mut Xdp = ebpf.program_mut("zk_xdp").ok_or("zk_xdp")?.try_into()?;
            ebpf_support::load_retrying(|| p.load())?;
            ebpf_support::other_tool::attach_xdp_fd("va", p.fd()?.as_fd().as_raw_fd())?;
            Ok(())
        })
        .expect("leave stale attachments");
    assert!(tc("ingress").contains("zk_tc_ingress") && tc("ingress").contains("zk_tc_pass"));
    assert_eq!(xdp_ids(&pair.a, "va").len(), 1);

    // XDP mode: our stale XDP program is removed (else this attach would fail), TC is not
    // its business.
    let cap = start(&pair.a, "va", AttachMode::XdpGeneric);
    assert_eq!(cap.xdp_mode(), Some("generic"));
    drop(cap);
    assert!(xdp_ids(&pair.a, "va").is_empty());
    assert!(tc("ingress").contains("zk_tc_ingress"));

    // TC mode: our stale filter goes, zk_tc_pass (another program) stays.
    let cap = start(&pair.a, "va", AttachMode::Tc);
    drop(cap);
    let left = tc("ingress");
    assert!(!left.contains("zk_tc_ingress"), "{left}");
    assert!(left.contains("zk_tc_pass"), "{left}");
}

/// Another tool force-detaches one of our links (`bpftool link detach`) while the interface
/// stays: the capture notices (fdinfo shows the link without its device), says so, and
/// attaches again at once.
#[test]
fn capture_attaches_again_when_its_programs_are_detached() {
    if !privileged("capture_attaches_again_when_its_programs_are_detached") {
        return;
    }
    let pair = veth_pair("dl", false);
    let mut cap = start(&pair.a, "va", AttachMode::Tc);
    let links = ebpf_support::other_tool::link_ids_of(&cap.program_ids());
    assert_eq!(links.len(), 2, "one TCX link per direction");
    ebpf_support::other_tool::detach_link(links[0]).expect("detach one of our links");
    drive(&mut cap, |c| c.attachment_stats().reattached == 1);
    let s = cap.attachment_stats();
    assert_eq!((s.programs_detached, s.reattached, s.interface_lost), (1, 1, 0), "{s:?}");
    assert_eq!(cap.health(), Ok(()));
    assert_captures_again(&pair, &mut cap, 40);
}
