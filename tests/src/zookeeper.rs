//! A real ZooKeeper server (the Debian package) started inside a network namespace with its own
//! configuration and data directory, killed and cleaned up on drop; and `zkCli.sh`, the Java
//! client.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::netns::NetNs;

/// Where the Debian package puts the scripts.
const ZK_BIN: &str = "/usr/share/zookeeper/bin";

/// True when the `zookeeper` package (and Java) are installed; otherwise the caller skips.
pub fn installed() -> bool {
    Path::new(ZK_BIN).join("zkServer.sh").is_file() && Path::new("/usr/bin/java").exists()
}

/// A directory under the system temp dir, removed with its content on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `zkt-<tag>-<pid>` afresh.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("zkt-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        TempDir(dir)
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A standalone ZooKeeper server running in a namespace; killed (its whole process group) on
/// drop, its data directory removed.
#[derive(Debug)]
pub struct ZkServer {
    child: Child,
    /// The client address, reachable from the namespace and its peers.
    pub addr: SocketAddr,
    ns_name: String,
    dir: TempDir,
    /// Running (not killed).
    running: bool,
}

impl ZkServer {
    /// Starts a server listening on `addr` inside `ns` and waits until it answers `ruok` and
    /// `srvr` (at most 60 s). Four-letter words are all allowed, TTL nodes enabled, the admin
    /// server off.
    pub fn start(ns: &NetNs, addr: SocketAddr, tag: &str) -> ZkServer {
        let mut server = ZkServer::spawn(ns, addr, tag, None, "");
        server.wait_ready(ns);
        server
    }

    /// Starts a server without waiting for it: `myid` and `extra` config lines (the
    /// `server.N=` lines of an ensemble).
    fn spawn(ns: &NetNs, addr: SocketAddr, tag: &str, myid: Option<u32>, extra: &str) -> ZkServer {
        let dir = TempDir::new(&format!("zk-{tag}"));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("create the data dir");
        if let Some(id) = myid {
            std::fs::write(data.join("myid"), format!("{id}\n")).expect("write myid");
        }
        let cfg = dir.join("zoo.cfg");
        let text = format!(
            "tickTime=2000\n\
             dataDir={}\n\
             clientPort={}\n\
             clientPortAddress={}\n\
             maxClientCnxns=0\n\
             4lw.commands.whitelist=*\n\
             extendedTypesEnabled=true\n\
             admin.enableServer=false\n\
             {extra}",
            data.display(),
            addr.port(),
            addr.ip(),
        );
        std::fs::write(&cfg, text).expect("write zoo.cfg");
        let child = launch(ns, &dir);
        ZkServer { child, addr, ns_name: ns.name.clone(), dir, running: true }
    }

    /// Kills the server (`kill -9` of its whole process group), keeping its data.
    pub fn kill(&mut self) {
        // SAFETY: a plain syscall; the group id is our child's pid.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.wait();
        self.running = false;
    }

    /// Starts a killed server again on its data, without waiting for it.
    pub fn restart(&mut self, ns: &NetNs) {
        assert!(!self.running, "restart of a running server");
        self.child = launch(ns, &self.dir);
        self.running = true;
    }

    /// Waits until the server answers `ruok` and `srvr` (at most 60 s).
    pub fn wait_ready(&mut self, ns: &NetNs) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ruok = ns.enter(|| four_letter(self.addr, "ruok"));
            if let Ok(answer) = &ruok
                && answer == "imok"
                && ns.enter(|| four_letter(self.addr, "srvr")).is_ok_and(|s| s.contains("Mode:"))
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("ZooKeeper exited ({status}) before answering; log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "ZooKeeper did not answer ruok within 60 s ({ruok:?}); log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The namespace the server runs in.
    pub fn netns(&self) -> &str {
        &self.ns_name
    }
}

/// Runs `zkServer.sh start-foreground` on `dir`'s config inside `ns`, its output appended to
/// `dir/server.log`.
fn launch(ns: &NetNs, dir: &TempDir) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("open server.log");
    ns.command(&format!("{ZK_BIN}/zkServer.sh"))
        .arg("start-foreground")
        .arg(dir.join("zoo.cfg"))
        .env("JVMFLAGS", "-Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("starting zkServer.sh: {e}"))
}

impl Drop for ZkServer {
    fn drop(&mut self) {
        // The process group we created at spawn: `ip netns exec` → the script → java.
        // SAFETY: a plain syscall; the group id is our child's pid.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// A three-server ensemble: server N (sid N) at `ips[N-1]` in `nss[N-1]`, with `client`,
/// `quorum` and `election` as every server's ports.
pub struct ZkEnsemble {
    /// The servers, server 1 first.
    pub servers: Vec<ZkServer>,
}

impl ZkEnsemble {
    /// All three on the loopback of `ns`: server N on 127.0.0.N.
    pub fn start(ns: &NetNs, tag: &str, client: u16, quorum: u16, election: u16) -> ZkEnsemble {
        let ips: Vec<IpAddr> = (1..=3u8).map(|n| IpAddr::from([127, 0, 0, n])).collect();
        ZkEnsemble::start_across(&[ns, ns, ns], &ips, tag, client, quorum, election)
    }

    /// Starts the three servers together and waits until each serves (a leader is elected
    /// and the followers have synced), at most 60 s each.
    pub fn start_across(
        nss: &[&NetNs; 3],
        ips: &[IpAddr],
        tag: &str,
        client: u16,
        quorum: u16,
        election: u16,
    ) -> ZkEnsemble {
        let lines: String = ips
            .iter()
            .zip(1..)
            .map(|(ip, n)| format!("server.{n}={ip}:{quorum}:{election}\n"))
            .collect();
        let extra = format!("initLimit=10\nsyncLimit=5\n{lines}");
        let mut servers: Vec<ZkServer> = (0..3)
            .map(|i| {
                let addr = SocketAddr::new(ips[i], client);
                let tag = format!("{tag}-{}", i + 1);
                ZkServer::spawn(nss[i], addr, &tag, Some(i as u32 + 1), &extra)
            })
            .collect();
        for (s, ns) in servers.iter_mut().zip(nss) {
            s.wait_ready(ns);
        }
        ZkEnsemble { servers }
    }

    /// The sid of the leader (from `srvr`), asking each running server in its namespace.
    pub fn leader(&self, nss: &[&NetNs]) -> Option<u32> {
        self.servers.iter().zip(nss).zip(1..).find_map(|((s, ns), n)| {
            if !s.running {
                return None;
            }
            let srvr = ns.enter(|| four_letter(s.addr, "srvr")).ok()?;
            srvr.contains("Mode: leader").then_some(n)
        })
    }
}

/// Sends a four-letter word from the calling thread's namespace and returns the answer.
pub fn four_letter(addr: SocketAddr, word: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(word.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Runs `zkCli.sh -server ADDR` in `ns` with `commands` on its standard input (one per line;
/// it exits at the end of the input after closing its session). Returns its output; panics
/// with it when the client fails.
pub fn zkcli(ns: &NetNs, addr: SocketAddr, commands: &[&str]) -> String {
    let mut child = ns
        .command(&format!("{ZK_BIN}/zkCli.sh"))
        .args(["-server", &addr.to_string()])
        .env("CLIENT_JVMFLAGS", "-XX:TieredStopAtLevel=1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting zkCli.sh: {e}"));
    let input = commands.join("\n") + "\nquit\n";
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write zkCli.sh commands");
    }
    let out = child.wait_with_output().expect("wait for zkCli.sh");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "zkCli.sh failed ({}):\n{text}", out.status);
    text
}
