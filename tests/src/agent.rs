//! The zktraffic agent as the user runs it: the built binary, `dump --iface …` inside a network
//! namespace, stopped with SIGINT; its JSON lines parsed.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::netns::NetNs;
use crate::workspace_root;

/// The zktraffic binary of the profile these tests were built with (`target/<profile>/zktraffic`
/// beside the test executable's `deps/`). `cargo test` at the workspace root builds it (zktraffic
/// has integration tests); when it is missing or older than the sources (`cargo test -p
/// zktraffic-tests`), it is built with `cargo build -p zktraffic --bin zktraffic` first. (Always
/// calling cargo would rebuild it each time: alone, zktraffic's dependencies get other features
/// than in a whole-workspace build.)
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test>-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable under target/<profile>/deps")
            .to_path_buf();
        let bin = profile_dir.join("zktraffic");
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
        if built.is_none_or(|b| newest_source() > Some(b)) {
            build(&profile_dir);
        }
        assert!(bin.is_file(), "{} missing after the build", bin.display());
        bin
    })
}

/// The newest modification time of the files the agent is built from.
fn newest_source() -> Option<std::time::SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<std::time::SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                *newest = (*newest).max(Some(t));
            }
        }
    }
    let root = workspace_root();
    let mut newest = None;
    for d in ["zktraffic/src", "zktraffic-ebpf/src", "zktraffic-common/src"] {
        walk(&root.join(d), &mut newest);
    }
    for f in ["zktraffic/build.rs", "zktraffic/Cargo.toml", "Cargo.lock"] {
        if let Ok(t) = std::fs::metadata(root.join(f)).and_then(|m| m.modified()) {
            newest = newest.max(Some(t));
        }
    }
    newest
}

/// `cargo build -p zktraffic --bin zktraffic` for the profile of `profile_dir`.
fn build(profile_dir: &Path) {
    let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
    let target_dir = profile_dir.parent().expect("target dir");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "--package", "zktraffic", "--bin", "zktraffic"])
        .arg("--target-dir")
        .arg(target_dir);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
}

/// A running `zktraffic dump --iface …` writing JSON lines to a file.
#[derive(Debug)]
pub struct Agent {
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
    what: String,
}

/// What a stopped agent printed.
#[derive(Debug)]
pub struct AgentOutput {
    /// Each standard-output line parsed as JSON.
    pub lines: Vec<Value>,
    /// Its standard error (warnings such as the XDP mode).
    pub stderr: String,
}

impl Agent {
    /// Starts `zktraffic dump --iface IFACE ARGS…` in `ns`, its output in `dir`, and waits until
    /// it holds `links` BPF links (one per attached hook: 2 for TC on a veth, 1 for TC on `lo`
    /// or for XDP), i.e. until capture has begun.
    pub fn start(
        ns: &NetNs,
        iface: &str,
        args: &[&str],
        links: usize,
        dir: &Path,
        tag: &str,
    ) -> Agent {
        let stdout = dir.join(format!("agent-{tag}.out"));
        let stderr = dir.join(format!("agent-{tag}.err"));
        let out = std::fs::File::create(&stdout).expect("create agent output file");
        let err = std::fs::File::create(&stderr).expect("create agent error file");
        let mut cmd = ns.command(&binary().to_string_lossy());
        cmd.args(["dump", "--iface", iface]).args(args);
        let what = format!("{cmd:?}");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let mut agent = Agent { child: Some(child), stdout, stderr, what };
        agent.wait_attached(links);
        agent
    }

    fn wait_attached(&mut self, links: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let pid = self.child.as_ref().map_or(0, Child::id);
            if bpf_links(pid) >= links {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "{} exited ({status}) before attaching: {}",
                    self.what,
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "{} did not attach within 30 s", self.what);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// What it wrote on standard error so far.
    pub fn stderr_now(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits (at most 60 s) until its standard error contains `text`; panics otherwise or when
    /// it exits first.
    pub fn wait_stderr(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.stderr_now().contains(text) {
            assert!(self.running(), "{} exited; stderr: {}", self.what, self.stderr_now());
            assert!(
                Instant::now() < deadline,
                "{} never said {text:?}; stderr: {}",
                self.what,
                self.stderr_now()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the agent with SIGINT and returns its exit status and standard error, whatever
    /// the status (for runs expected to fail).
    pub fn interrupt(mut self) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().expect("agent running");
        // SAFETY: a plain syscall on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} did not stop on SIGINT within 30 s", self.what);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, self.stderr_now())
    }

    /// Stops the agent with SIGINT (as Ctrl-C does) and returns what it printed; panics when it
    /// does not exit cleanly within 30 s.
    pub fn stop(mut self) -> AgentOutput {
        let mut child = self.child.take().expect("agent running");
        // `ip netns exec` execs the command: the child's pid is zktraffic's.
        // SAFETY: a plain syscall on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                other => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("{} did not stop on SIGINT within 30 s: {other:?}", self.what);
                }
            }
        };
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        assert!(status.success(), "{} failed ({status}): {stderr}", self.what);
        let text = std::fs::read_to_string(&self.stdout).expect("read agent output");
        let lines = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        AgentOutput { lines, stderr }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Only when a test failed before `stop`: SIGINT so that the programs detach.
        if let Some(mut child) = self.child.take() {
            // SAFETY: a plain syscall on our own child's pid.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How many BPF links process `pid` holds (its `/proc/PID/fdinfo` entries with a
/// `link_type`): TCX and XDP attachments are links owned by the agent.
pub fn bpf_links(pid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return 0 };
    dir.flatten()
        .filter(|e| std::fs::read_to_string(e.path()).is_ok_and(|info| info.contains("link_type:")))
        .count()
}

/// Runs `zktraffic dump --pcap FILE --summary --format json` (offline, on what an agent saved
/// with `--write-pcap`) and returns the summary object.
pub fn summary_of_pcap(pcap: &Path) -> Value {
    let out = Command::new(binary())
        .args(["dump", "--pcap"])
        .arg(pcap)
        .args(["--summary", "--format", "json"])
        .output()
        .unwrap_or_else(|e| panic!("running zktraffic on {}: {e}", pcap.display()));
    assert!(
        out.status.success(),
        "zktraffic dump --pcap {} failed: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the summary is one JSON object")
}

/// A child process (a daemon under test), killed and reaped when dropped, so that a failing
/// test leaves nothing running.
#[derive(Debug)]
pub struct DaemonProcess(pub Child);

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
