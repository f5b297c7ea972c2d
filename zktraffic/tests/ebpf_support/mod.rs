//! Helpers shared by the kernel tests: privilege gate, frame builder, network namespaces.
#![allow(dead_code)] // each test file uses a different subset

use std::process::Command;

/// Capability bits (`CapEff` in /proc/self/status).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// True when the kernel tests can run. Otherwise prints a loud notice; when
/// `ZKTRAFFIC_REQUIRE_KERNEL_TESTS=1` it fails instead, so CI never passes on skipped tests.
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
        let msg = format!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! SKIPPED kernel test `{test}`: needs root (CAP_BPF, CAP_NET_ADMIN,\n\
             !!! CAP_SYS_ADMIN for network namespaces). Run `cargo test` as root.\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
        assert!(std::env::var("ZKTRAFFIC_REQUIRE_KERNEL_TESTS").as_deref() != Ok("1"), "{msg}");
        // Straight to the stderr handle: the test harness captures eprintln! of passing tests.
        let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
    }
    ok
}

/// Network layer of a test frame.
#[derive(Clone, Copy)]
pub enum Ip {
    V4([u8; 4], [u8; 4]),
    /// With `ext`, a hop-by-hop and a destination-options header precede TCP.
    V6 {
        src: [u8; 16],
        dst: [u8; 16],
        ext: bool,
    },
}

/// A TCP segment to put in a frame.
#[derive(Clone)]
pub struct Tcp<'a> {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// TCP option bytes (a multiple of 4).
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

/// Builds an Ethernet frame with `vlans` (TPIDs, outermost first). IP length fields that cannot
/// hold the size (over 64 KiB) are set to 0, as BIG TCP does.
pub fn frame(vlans: &[u16], ip: Ip, tcp: &Tcp<'_>) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
    for (i, tpid) in vlans.iter().enumerate() {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(100 + i as u16).to_be_bytes()); // TCI: VLAN id
    }
    let mut l4 = Vec::new();
    l4.extend_from_slice(&tcp.sport.to_be_bytes());
    l4.extend_from_slice(&tcp.dport.to_be_bytes());
    l4.extend_from_slice(&tcp.seq.to_be_bytes());
    l4.extend_from_slice(&tcp.ack.to_be_bytes());
    l4.push((((20 + tcp.options.len()) / 4) as u8) << 4);
    l4.push(tcp.flags);
    l4.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]); // window, checksum, urgent
    l4.extend_from_slice(tcp.options);
    l4.extend_from_slice(tcp.payload);
    match ip {
        Ip::V4(src, dst) => {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let tot = 20 + l4.len();
            let tot = if tot > 0xffff { 0 } else { tot as u16 };
            f.extend_from_slice(&[0x45, 0]);
            f.extend_from_slice(&tot.to_be_bytes());
            f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
            f.extend_from_slice(&src);
            f.extend_from_slice(&dst);
        }
        Ip::V6 { src, dst, ext } => {
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
            let mut exts = Vec::new();
            let first = if ext {
                // hop-by-hop (8 bytes, PadN) → destination options (16 bytes, PadN) → TCP
                exts.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
                exts.extend_from_slice(&[6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                0
            } else {
                6
            };
            let plen = exts.len() + l4.len();
            let plen = if plen > 0xffff { 0 } else { plen as u16 };
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&plen.to_be_bytes());
            f.extend_from_slice(&[first, 64]);
            f.extend_from_slice(&src);
            f.extend_from_slice(&dst);
            f.extend_from_slice(&exts);
        }
    }
    f.extend_from_slice(&l4);
    f
}

/// Runs a command, returning whether it succeeded (its output goes to the test log on failure).
pub fn sh(args: &[&str]) -> bool {
    match Command::new(args[0]).args(&args[1..]).output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!("`{}` failed: {}", args.join(" "), String::from_utf8_lossy(&o.stderr).trim());
            false
        }
        Err(e) => {
            eprintln!("`{}` could not start: {e}", args.join(" "));
            false
        }
    }
}

/// Runs a command, panicking with its stderr when it fails.
pub fn must(args: &[&str]) {
    assert!(sh(args), "`{}` failed", args.join(" "));
}

/// A named network namespace, deleted on drop (also when the test panics).
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new(tag: &str) -> NetNs {
        let name = format!("zkt-{tag}-{}", std::process::id());
        if std::path::Path::new("/run/netns").join(&name).exists() {
            let _ = sh(&["ip", "netns", "del", &name]); // a leftover from a killed run
        }
        must(&["ip", "netns", "add", &name]);
        let ns = NetNs { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace, panicking on failure.
    pub fn exec(&self, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        must(&full);
    }

    /// Runs `f` with the calling thread switched into the namespace, then switches back.
    /// (Sockets and aya's interface lookups use the calling thread's namespace.)
    pub fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = Enter::new(&format!("/var/run/netns/{}", self.name));
        f()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.name]);
    }
}

/// Moves the current thread into a network namespace until dropped.
pub struct Enter {
    orig: std::fs::File,
}

impl Enter {
    pub fn new(path: &str) -> Enter {
        use std::os::fd::AsRawFd as _;
        let orig = std::fs::File::open("/proc/thread-self/ns/net").expect("open own netns");
        let target = std::fs::File::open(path).expect("open target netns");
        // SAFETY: plain syscall on valid fds.
        let rc = unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        Enter { orig }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd as _;
        // SAFETY: plain syscall on a valid fd.
        let rc = unsafe { libc::setns(self.orig.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            eprintln!(
                "could not return to the original netns: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}
