//! The benchmarks' load generator and process plumbing (`zk-live-bench`, `zk-observe-bench`):
//! pipelined ExistsRequests over raw frames, children in their own process group measured
//! with `wait4`, the kernel programs' run-time statistics.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use zktraffic::encode::{FrameWriter, connect_request};

/// One connection of the load generator: handshake, `requests` ExistsRequests on `/zookeeper`
/// in batches of `depth` (each batch written at once, then its replies read), and a close.
/// Returns the requests sent (handshake and close included); with `latencies`, pushes each
/// request's time from its batch's write to its reply, in microseconds.
pub fn drive_connection(
    addr: SocketAddr,
    requests: usize,
    depth: usize,
    mut latencies: Option<&mut Vec<u32>>,
) -> Result<u64, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| format!("connection to {addr}: {e}");
    s.write_all(&connect_request(0, 0, 30_000)).map_err(io)?;
    let mut buf = vec![0u8; 1 << 16];
    read_frames(&mut s, 1, &mut buf, None).map_err(io)?;
    let mut xid = 1i32;
    let mut left = requests;
    let mut batch = Vec::with_capacity(depth * 32);
    while left > 0 {
        let n = left.min(depth);
        batch.clear();
        for _ in 0..n {
            let frame =
                FrameWriter::new().request_header(xid, 3).string("/zookeeper").bool(false).finish();
            batch.extend_from_slice(&frame);
            xid += 1;
        }
        let sent = Instant::now();
        s.write_all(&batch).map_err(io)?;
        let timing = latencies.as_deref_mut().map(|l| (sent, l));
        read_frames(&mut s, n, &mut buf, timing).map_err(io)?;
        left -= n;
    }
    // CloseSession (op -11) and its reply.
    s.write_all(&FrameWriter::new().request_header(xid, -11).finish()).map_err(io)?;
    read_frames(&mut s, 1, &mut buf, None).map_err(io)?;
    Ok(requests as u64 + 2)
}

/// Reads `count` length-prefixed frames (with `timing`, pushes each one's time since the
/// instant given, in microseconds).
fn read_frames(
    s: &mut TcpStream,
    count: usize,
    buf: &mut Vec<u8>,
    mut timing: Option<(Instant, &mut Vec<u32>)>,
) -> std::io::Result<()> {
    for _ in 0..count {
        let mut len = [0u8; 4];
        s.read_exact(&mut len)?;
        let n = u32::from_be_bytes(len) as usize;
        if buf.len() < n {
            buf.resize(n, 0);
        }
        s.read_exact(&mut buf[..n])?;
        if let Some((sent, out)) = timing.as_mut() {
            out.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    Ok(())
}

/// A child in its own process group, killed on drop unless taken.
pub struct Guarded(pub Option<Child>);

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Guarded {
    /// Its process id (0 once taken).
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }
}

/// Spawns `cmd` in its own process group, its output in `out` and `err`.
pub fn spawn(cmd: &mut std::process::Command, out: &Path, err: &Path) -> Result<Guarded, String> {
    let shown = format!("{cmd:?}");
    let stdout = std::fs::File::create(out).map_err(|e| e.to_string())?;
    let stderr = std::fs::File::create(err).map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map(|c| Guarded(Some(c)))
        .map_err(|e| format!("starting {shown}: {e}"))
}

/// Waits until `cond` holds, at most 30 s.
pub fn wait_for(what: &str, cond: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("{what}: not ready within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// CPU time and exit status of a finished child, from `wait4`.
pub struct Usage {
    /// User and system time.
    pub cpu_s: f64,
    /// The user-mode part of `cpu_s`.
    pub user_s: f64,
    /// Peak resident memory.
    pub max_rss_mib: f64,
    /// Exited with status 0.
    pub success: bool,
}

/// Waits for `child` with `wait4`, returning its resource usage.
pub fn wait_usage(child: &Child) -> Result<Usage, String> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child` is our child, not yet waited for; the pointers are valid for the call.
    let rc = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    if rc < 0 {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Usage {
        cpu_s: tv(usage.ru_utime) + tv(usage.ru_stime),
        user_s: tv(usage.ru_utime),
        max_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
    })
}

/// Sends SIGINT to a child's process group (as Ctrl-C does: a pipeline's every process).
pub fn interrupt(child: &Child) {
    // SAFETY: a plain syscall on our own child's process group (it leads it).
    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGINT) };
}

/// Turns `kernel.bpf_stats_enabled` on, restoring the previous value on drop.
pub struct BpfStats {
    before: String,
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    /// Turns the statistics on.
    pub fn enable() -> Result<BpfStats, String> {
        let before = std::fs::read_to_string(BPF_STATS).map_err(|e| format!("{BPF_STATS}: {e}"))?;
        std::fs::write(BPF_STATS, "1").map_err(|e| format!("enabling {BPF_STATS}: {e}"))?;
        Ok(BpfStats { before: before.trim().to_string() })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, &self.before);
    }
}

/// (program name, run count, run time in ns) of every BPF program process `pid` holds, from
/// its `/proc/PID/fdinfo` (filled while `kernel.bpf_stats_enabled` is 1).
pub fn program_stats(pid: u32) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return out };
    for e in dir.flatten() {
        let Ok(info) = std::fs::read_to_string(e.path()) else { continue };
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let (Some(id), Some(cnt), Some(ns)) =
            (field("prog_id:"), field("run_cnt:"), field("run_time_ns:"))
            && !info.contains("link_type:")
        {
            let name = aya::programs::loaded_programs()
                .flatten()
                .find(|p| u64::from(p.id()) == id)
                .and_then(|p| p.name_as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("program {id}"));
            out.push((name, cnt, ns));
        }
    }
    out
}

/// The whole machine's busy CPU time so far (user, nice, system, irq, softirq from
/// `/proc/stat`), in seconds.
pub fn machine_busy_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq …
    let busy: u64 = [0, 1, 2, 5, 6].iter().filter_map(|&i| ticks.get(i)).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    busy as f64 / hz
}
