//! What the loader needs from the system: interfaces, capabilities, clocks, namespaces.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::MetadataExt as _;

/// Capabilities bits, as in `/proc/self/status` `CapEff`.
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The interface's index, or None when there is no such interface.
pub(crate) fn if_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// Names of the interfaces of the current network namespace (for error messages).
pub(crate) fn interface_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|dir| dir.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// True for a loopback interface (IFF_LOOPBACK).
pub(crate) fn is_loopback(name: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{name}/flags"))
        .ok()
        .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
        .is_some_and(|flags| flags & libc::IFF_LOOPBACK as u32 != 0)
}

fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

/// The capabilities live capture lacks, by name; empty when it has what it needs (or when the
/// kernel does not say, in which case the syscalls will).
pub(crate) fn missing_capabilities() -> Vec<&'static str> {
    let Some(caps) = effective_caps() else {
        return Vec::new();
    };
    let has = |bit: u32| caps & (1u64 << bit) != 0;
    let mut missing = Vec::new();
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    missing
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC in ns: adds to `bpf_ktime_get_ns()` to get wall-clock time.
pub(crate) fn monotonic_to_realtime_offset() -> i128 {
    fn now(clock: libc::clockid_t) -> i128 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a valid timespec to fill.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    }
    // Bracket the realtime read by two monotonic reads to halve the error.
    let m1 = now(libc::CLOCK_MONOTONIC);
    let r = now(libc::CLOCK_REALTIME);
    let m2 = now(libc::CLOCK_MONOTONIC);
    r - (m1 + m2) / 2
}

/// Raises RLIMIT_MEMLOCK: kernels before 5.11 charge BPF maps to it (harmless after).
pub(crate) fn raise_memlock() {
    let rlim = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: plain syscall with a valid struct; failure only matters on old kernels, where map
    // creation then reports EPERM itself.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) };
}

/// Runs `f` in the network namespace `ns` (when the calling thread is elsewhere), then returns
/// the thread to its own. Needs CAP_SYS_ADMIN only when a switch is needed.
pub(crate) fn in_netns<T>(ns: Option<&File>, f: impl FnOnce() -> T) -> io::Result<T> {
    let Some(ns) = ns else { return Ok(f()) };
    let own = File::open("/proc/thread-self/ns/net")?;
    let same = |a: &File, b: &File| {
        let (Ok(a), Ok(b)) = (a.metadata(), b.metadata()) else { return false };
        (a.dev(), a.ino()) == (b.dev(), b.ino())
    };
    if same(ns, &own) {
        return Ok(f());
    }
    // SAFETY: setns on valid descriptors; the thread goes back before returning.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let out = f();
    // SAFETY: as above.
    if unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        tracing::error!(
            "could not return to the thread's network namespace: {}",
            io::Error::last_os_error()
        );
    }
    Ok(out)
}

/// The errno inside an error chain, if any.
pub(crate) fn errno_of(err: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>()
            && let Some(code) = io.raw_os_error()
        {
            return Some(code);
        }
        cur = e.source();
    }
    None
}

/// The running kernel's release string, for messages.
pub(crate) fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}
