//! Network namespaces and veth pairs for the live tests, removed on drop (also when a test
//! panics), and the privilege gate that skips the live tests loudly when not root.
//!
//! Dependency-free (std and libc) on purpose: the kernel tests of the `zktraffic` crate include
//! this same file (`zktraffic/tests/ebpf_support/mod.rs`), as they cannot depend on this crate.

use std::fs::File;
use std::os::fd::AsRawFd as _;
use std::process::Command;

/// Capability bits of `CapEff` in /proc/self/status.
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// True when live and kernel tests can run (CAP_BPF or CAP_SYS_ADMIN, CAP_NET_ADMIN,
/// CAP_SYS_ADMIN for namespaces). Otherwise prints a loud notice, or fails when
/// `ZKTRAFFIC_REQUIRE_KERNEL_TESTS=1` so that CI never passes on skipped tests.
pub fn privileged(test: &str) -> bool {
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("CapEff:"))
                .and_then(|l| u64::from_str_radix(l.trim_start_matches("CapEff:").trim(), 16).ok())
        })
        .unwrap_or(0);
    let has = |b: u32| caps & (1 << b) != 0;
    let ok = (has(CAP_BPF) || has(CAP_SYS_ADMIN)) && has(CAP_NET_ADMIN) && has(CAP_SYS_ADMIN);
    if !ok {
        skip(
            test,
            "needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN for network namespaces); \
             run `cargo test` as root",
        );
    }
    ok
}

/// Prints a loud skip notice for `test`, or panics when `ZKTRAFFIC_REQUIRE_KERNEL_TESTS=1`.
pub fn skip(test: &str, why: &str) {
    let bar = "!".repeat(76);
    let msg = format!("\n{bar}\n!!! SKIPPED kernel test `{test}`: {why}\n{bar}\n");
    assert!(std::env::var("ZKTRAFFIC_REQUIRE_KERNEL_TESTS").as_deref() != Ok("1"), "{msg}");
    // Straight to the stderr handle: the test harness captures eprintln! of passing tests.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
}

/// Runs a command, returning its standard output, or an error naming the command and its
/// standard error.
pub fn run(args: &[&str]) -> Result<String, String> {
    let shown = args.join(" ");
    let out =
        Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("`{shown}`: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("`{shown}` failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Runs a command, panicking with its standard error when it fails.
pub fn must(args: &[&str]) -> String {
    run(args).unwrap_or_else(|e| panic!("{e}"))
}

/// A named network namespace (`zkt-<tag>-<pid>`), deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    /// Creates the namespace with its loopback up.
    pub fn new(tag: &str) -> NetNs {
        let name = format!("zkt-{tag}-{}", std::process::id());
        if std::path::Path::new("/run/netns").join(&name).exists() {
            let _ = run(&["ip", "netns", "del", &name]); // a leftover of a killed run
        }
        must(&["ip", "netns", "add", &name]);
        let ns = NetNs { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace, panicking on failure; returns its standard output.
    pub fn exec(&self, args: &[&str]) -> String {
        must(&self.argv(args))
    }

    /// `ip netns exec NAME ARGS…`, for commands started elsewhere.
    pub fn argv<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        full
    }

    /// A [`Command`] running `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `f` with the calling thread switched into the namespace, then switches back.
    pub fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = EnterNs::new(&self.name);
        f()
    }
}

/// Moves the calling thread into the namespace named `name` for good (for a thread of its own;
/// the namespace stays owned by its [`NetNs`]).
pub fn move_current_thread_into(name: &str) {
    std::mem::forget(EnterNs::new(name));
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = run(&["ip", "netns", "del", &self.name]) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// Keeps the current thread in a network namespace until dropped.
struct EnterNs {
    orig: File,
}

impl EnterNs {
    fn new(name: &str) -> EnterNs {
        let orig = File::open("/proc/thread-self/ns/net").expect("open own network namespace");
        let path = format!("/run/netns/{name}");
        let target = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: a plain syscall on valid file descriptors.
        let rc = unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        EnterNs { orig }
    }
}

impl Drop for EnterNs {
    fn drop(&mut self) {
        // SAFETY: a plain syscall on a valid file descriptor.
        let rc = unsafe { libc::setns(self.orig.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            eprintln!(
                "could not return to the original netns: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Two namespaces joined by a veth pair (MTU 1500): the server's end `zs` (10.231.0.1) and the
/// client's end `zc` (10.231.0.2). Field order drops the client namespace first; deleting either
/// namespace removes the pair.
#[derive(Debug)]
pub struct VethPair {
    pub client: NetNs,
    pub server: NetNs,
}

impl VethPair {
    /// The server's interface, in [`VethPair::server`].
    pub const SERVER_IF: &'static str = "zs";
    /// The client's interface, in [`VethPair::client`].
    pub const CLIENT_IF: &'static str = "zc";
    /// The server's address.
    pub const SERVER_IP: &'static str = "10.231.0.1";
    /// The client's address.
    pub const CLIENT_IP: &'static str = "10.231.0.2";

    /// Creates both namespaces and the pair, addresses assigned, links up.
    pub fn new(tag: &str) -> VethPair {
        let server = NetNs::new(&format!("{tag}s"));
        let client = NetNs::new(&format!("{tag}c"));
        let pair = VethPair { client, server };
        pair.create_link();
        pair
    }

    /// Deletes the pair (as a pod's veth going away); the namespaces stay.
    pub fn delete_link(&self) {
        self.server.exec(&["ip", "link", "del", Self::SERVER_IF]);
    }

    /// Creates the pair (again), addresses assigned, links up.
    pub fn create_link(&self) {
        let (server, client) = (&self.server, &self.client);
        let (s, c) = (Self::SERVER_IF, Self::CLIENT_IF);
        server.exec(&["ip", "link", "add", s, "mtu", "1500", "type", "veth", "peer", "name", c]);
        server.exec(&["ip", "link", "set", c, "netns", &client.name]);
        server.exec(&["ip", "addr", "add", &format!("{}/24", Self::SERVER_IP), "dev", s]);
        client.exec(&["ip", "addr", "add", &format!("{}/24", Self::CLIENT_IP), "dev", c]);
        server.exec(&["ip", "link", "set", s, "up"]);
        client.exec(&["ip", "link", "set", c, "up"]);
    }

    /// Turns TCP segmentation and receive offloads on or off at both ends (with them off every
    /// segment on the wire is at most one MSS).
    pub fn set_offloads(&self, on: bool) {
        let v = if on { "on" } else { "off" };
        for (ns, dev) in [(&self.server, Self::SERVER_IF), (&self.client, Self::CLIENT_IF)] {
            ns.exec(&["ethtool", "-K", dev, "tso", v, "gso", v, "gro", v]);
        }
    }
}

/// Namespaces of their own joined by a bridge in one more (as hosts on a switch): member N
/// (1-based) has interface `zb` with address 10.232.0.N/24. Members are dropped before the
/// bridge; deleting a namespace removes its end of the veth.
pub struct Bridged {
    /// The members, member 1 first.
    pub members: Vec<NetNs>,
    bridge: NetNs,
}

impl Bridged {
    /// Each member's interface.
    pub const IF: &'static str = "zb";

    /// Member `n`'s address.
    pub fn ip(n: usize) -> std::net::IpAddr {
        std::net::IpAddr::from([10, 232, 0, n as u8])
    }

    /// Creates `count` members and the bridge, addresses assigned, links up.
    pub fn new(tag: &str, count: usize) -> Bridged {
        let bridge = NetNs::new(&format!("{tag}b"));
        bridge.exec(&["ip", "link", "add", "br0", "type", "bridge"]);
        bridge.exec(&["ip", "link", "set", "br0", "up"]);
        let mut members = Vec::new();
        for n in 1..=count {
            let ns = NetNs::new(&format!("{tag}{n}"));
            let (port, end) = (format!("p{n}"), format!("zb{n}"));
            bridge.exec(&["ip", "link", "add", &port, "type", "veth", "peer", "name", &end]);
            bridge.exec(&["ip", "link", "set", &port, "master", "br0"]);
            bridge.exec(&["ip", "link", "set", &port, "up"]);
            bridge.exec(&["ip", "link", "set", &end, "netns", &ns.name]);
            ns.exec(&["ip", "link", "set", &end, "name", Self::IF]);
            ns.exec(&["ip", "addr", "add", &format!("{}/24", Self::ip(n)), "dev", Self::IF]);
            ns.exec(&["ip", "link", "set", Self::IF, "up"]);
            members.push(ns);
        }
        Bridged { members, bridge }
    }
}

impl Drop for Bridged {
    fn drop(&mut self) {
        self.members.clear();
        let _ = &self.bridge;
    }
}
