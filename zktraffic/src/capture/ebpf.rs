//! Live capture through the kernel programs of `zktraffic-ebpf`.
//!
//! [`LiveCapture::start`] loads the embedded object, fills the port filter, attaches TC (ingress
//! and egress) or XDP to one interface and reads the ring buffer on tokio. The kernel sends each
//! kept TCP segment as one or more fixed-size records (see `zktraffic_common::record`); they are
//! put back together here into [`Segment`]s, the same type the pcap reader produces.
//!
//! Everything is detached when the [`LiveCapture`] is dropped; programs left by a crashed run
//! are removed at start (only ours: same name, type and tag). When the interface goes away the
//! capture says so ([`LiveCapture::health`]) and attaches again once an interface of that name
//! is back (see `ebpf/watch.rs`).

mod assemble;
mod stale;
mod supervise;
mod system;
mod watch;

use std::io;
use std::time::Duration;

use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::tc::{self, SchedClassifierLinkId, TcAttachType};
use aya::programs::xdp::XdpLinkId;
use aya::programs::{ProgramError, SchedClassifier, Xdp, XdpMode};
#[cfg(feature = "test-helpers")]
use aya::programs::{TestRun as _, TestRunOptions};
use aya::{Ebpf, EbpfError, EbpfLoader, VerifierLogLevel};
use serde::Serialize;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use zktraffic_common::record::{
    self, DEFAULT_RING_BYTES, GLOBAL_CAPTURE_LIMIT, GLOBAL_PORT_COUNT, GLOBAL_PORT_LIST,
    GLOBAL_PURE_ACKS, GLOBAL_WAKEUP_BYTES, MAP_EVENTS, MAP_STATS, MAX_CAPTURE, MAX_PORTS, Stats,
    WAKEUP_RING_FRACTION, programs, stat,
};

use assemble::Assembler;
pub use assemble::{Hook, ReaderStats};
pub use watch::AttachmentStats;

use crate::capture::Segment;
use crate::error_chain::error_chain;

/// The kernel object built by `build.rs` (empty when built with `AYA_BUILD_SKIP=1`).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/zktraffic"));

/// The embedded kernel object (8-byte aligned), for measurements that load programs of their
/// own (the empty `zk_tc_pass` baseline).
#[cfg(feature = "test-helpers")]
pub fn kernel_object() -> &'static [u8] {
    OBJECT
}

/// Most records handled per [`LiveCapture::next_batch`] call, so one call stays short.
const BATCH_RECORDS: usize = 4096;
/// How often the reader looks at the ring without being woken: the kernel wakes it only once
/// the ring holds an eighth of its size (wakeups per packet cost more than the packets), so a
/// trickle of traffic waits at most this long.
const POLL_TICK: Duration = Duration::from_millis(10);
/// A segment whose next chunk has not arrived for this long lost it to a full ring.
const CHUNK_WAIT: Duration = Duration::from_millis(200);

/// Which kernel hook captures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttachMode {
    /// TC classifier on ingress and egress: both directions of a host's own traffic.
    #[default]
    Tc,
    /// XDP, ingress only (mirror/SPAN ports); native mode if the driver has it, else generic.
    Xdp,
    /// XDP in generic (skb) mode only, whatever the driver offers.
    XdpGeneric,
}

/// What to capture and how.
#[derive(Clone, Debug)]
pub struct LiveCaptureConfig {
    /// Interface to attach to (in the current network namespace).
    pub iface: String,
    /// TCP ports to keep (source or destination); at most [`record::MAX_PORTS`].
    pub ports: Vec<u16>,
    /// Hook to attach.
    pub attach: AttachMode,
    /// Ring buffer size in bytes: a power of two, at least one page.
    pub ring_bytes: usize,
    /// Ask the verifier for its full log, shown when it rejects a program.
    pub verbose_verifier: bool,
    /// Enable the kernel programs' debug log (aya-log), forwarded to the `log` crate.
    pub kernel_debug_log: bool,
    /// Payload bytes copied per segment, at most [`MAX_CAPTURE`] (the default); longer
    /// payloads are truncated and marked (a counted gap in reassembly).
    pub capture_limit: u32,
    /// Send pure ACKs too (`--write-pcap`, `--keep-pure-acks`; see
    /// [`record::GLOBAL_PURE_ACKS`]).
    pub keep_pure_acks: bool,
}

impl Default for LiveCaptureConfig {
    fn default() -> Self {
        LiveCaptureConfig {
            iface: "lo".into(),
            ports: vec![zktraffic_common::ZK_CLIENT_PORT],
            attach: AttachMode::Tc,
            ring_bytes: DEFAULT_RING_BYTES as usize,
            verbose_verifier: false,
            kernel_debug_log: false,
            capture_limit: MAX_CAPTURE,
            keep_pure_acks: false,
        }
    }
}

/// Why live capture could not start or continue. Each message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum LiveCaptureError {
    /// No such interface in this network namespace.
    #[error("interface {iface:?} not found; interfaces here: {available}")]
    InterfaceNotFound {
        /// The name asked for.
        iface: String,
        /// The interfaces that do exist, comma-separated.
        available: String,
    },
    /// The process lacks capabilities.
    #[error(
        "{action} needs CAP_NET_ADMIN and CAP_BPF (missing: {missing}); run as root or grant them, e.g. `setcap cap_bpf,cap_net_admin,cap_perfmon+ep <binary>`"
    )]
    Privileges {
        /// What was being done.
        action: String,
        /// The capabilities found missing (or "unknown" when a syscall said EPERM).
        missing: String,
    },
    /// The kernel lacks a needed feature.
    #[error(
        "the kernel ({kernel}) is too old for live capture: {what} (needs Linux 5.8 or later; XDP needs 5.18)"
    )]
    KernelTooOld {
        /// The kernel release.
        kernel: String,
        /// What failed.
        what: String,
    },
    /// The verifier rejected a program.
    #[error("the kernel verifier rejected program {program} ({errno}){}", verifier_hint(.log))]
    Verifier {
        /// Program name.
        program: String,
        /// The syscall error.
        errno: io::Error,
        /// The verifier log (full with `verbose_verifier`).
        log: String,
    },
    /// The configuration cannot work.
    #[error("invalid live capture configuration: {0}")]
    Config(String),
    /// The binary was built without the kernel object.
    #[error(
        "this zktraffic was built without its kernel programs (AYA_BUILD_SKIP); rebuild it with bpf-linker installed (`cargo xtask setup`)"
    )]
    NoKernelObject,
    /// Another BPF operation failed.
    #[error("{context}: {source}")]
    Bpf {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another program holds the XDP hook (the kernel said EEXIST or EBUSY).
    #[error(
        "cannot attach XDP to {iface}: another XDP program ({holders}) already holds its XDP hook; \
         capture with `--attach tc` instead (it leaves XDP alone), or, if nothing needs that \
         program, detach it with `ip link set dev {iface} xdp off` and start again"
    )]
    XdpHookBusy {
        /// The interface.
        iface: String,
        /// The programs found on the hook (id, name, mode), or "unknown".
        holders: String,
    },
    /// Reading the ring buffer failed.
    #[error("reading the ring buffer: {0}")]
    Io(#[from] io::Error),
}

fn verifier_hint(log: &str) -> String {
    if log.trim().is_empty() {
        "; run with -v for the verifier log".into()
    } else {
        format!("; verifier log:\n{log}")
    }
}

/// The kernel programs' counters, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelStats {
    /// TCP/IP packets looked at (any port).
    pub packets_seen: u64,
    /// Segments kept (port matched).
    pub segments_kept: u64,
    /// Payload bytes sent to user space.
    pub bytes_kept: u64,
    /// Segments or segment tails dropped because the ring buffer was full.
    pub ring_full_drops: u64,
    /// Segments whose payload exceeded the capture limit (the rest became a gap).
    pub truncated: u64,
    /// Packets whose headers did not parse.
    pub parse_failures: u64,
    /// Ring records sent.
    pub records: u64,
    /// Payload copies the kernel refused (should stay 0).
    pub load_failures: u64,
    /// Pure ACKs of kept ports not sent (nothing for the decoder; see `keep_pure_acks`).
    pub pure_acks_skipped: u64,
}

/// The result of one `BPF_PROG_TEST_RUN`.
#[cfg(feature = "test-helpers")]
#[derive(Clone, Copy, Debug)]
pub struct TestRunOutcome {
    /// The program's return value (TC: -1 as u32 = continue; XDP: 2 = pass).
    pub return_value: u32,
    /// Kernel-measured run time.
    pub duration: Duration,
}

enum Ring {
    /// Not yet registered with tokio (registration needs a runtime; `start` is synchronous).
    Plain(RingBuf<MapData>),
    Async(AsyncFd<RingBuf<MapData>>),
    /// Transient state while switching.
    Gone,
}

/// A running kernel capture. Detaches its programs when dropped.
pub struct LiveCapture {
    ebpf: Ebpf,
    ring: Ring,
    assembler: Assembler,
    iface: Option<String>,
    tc_links: Vec<(&'static str, SchedClassifierLinkId)>,
    xdp_link: Option<XdpLinkId>,
    xdp_mode: Option<&'static str>,
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
    /// The hook asked for (to attach again after the interface returns).
    attach: AttachMode,
    /// The interface and our links to it; None for [`LiveCapture::load_unattached`].
    watch: Option<watch::Watch>,
}

impl LiveCapture {
    /// Loads the programs, cleans stale ones from the interface, attaches and starts capturing.
    pub fn start(cfg: LiveCaptureConfig) -> Result<Self, LiveCaptureError> {
        if system::if_index(&cfg.iface).is_none() {
            return Err(LiveCaptureError::InterfaceNotFound {
                iface: cfg.iface.clone(),
                available: system::interface_names().join(", "),
            });
        }
        let hook_name = match cfg.attach {
            AttachMode::Tc => "TC",
            AttachMode::Xdp | AttachMode::XdpGeneric => "XDP",
        };
        let action = format!("attaching the {hook_name} program to {}", cfg.iface);
        check_privileges(&action)?;
        // Only what will be attached is loaded: verifying a program costs ~0.1 s of CPU.
        let wanted: Vec<&'static str> = match cfg.attach {
            AttachMode::Tc => tc_hooks(&cfg.iface).iter().map(|&(name, _)| name).collect(),
            AttachMode::Xdp | AttachMode::XdpGeneric => vec![programs::XDP],
        };
        let mut cap = Self::load(&cfg, &wanted)?;
        cap.attach = cfg.attach;
        let ours: Vec<stale::Ours> = wanted
            .iter()
            .filter_map(|&name| {
                let info = cap.ebpf.program(name)?.info().ok()?;
                Some(stale::Ours { name, info })
            })
            .collect();
        let cleanup = stale::remove_stale_programs(&cfg.iface, &ours);
        if !cleanup.removed.is_empty() {
            tracing::warn!(
                "removed stale zktraffic programs from {}: {}",
                cfg.iface,
                cleanup.removed.join("; ")
            );
        }
        if !cleanup.left.is_empty() {
            tracing::info!(
                "left alone on {} (not ours: other name, type or tag): {}",
                cfg.iface,
                cleanup.left.join("; ")
            );
        }
        cap.iface = Some(cfg.iface.clone());
        cap.attach_all(&cfg.iface, &action)?;
        let ifindex = system::if_index(&cfg.iface).unwrap_or(0);
        match watch::Watch::new(&cfg.iface, ifindex, &cap.program_ids()) {
            Ok(w) => cap.watch = Some(w),
            Err(e) => tracing::warn!("cannot watch {} for removal: {e}", cfg.iface),
        }
        Ok(cap)
    }

    fn attach_all(&mut self, iface: &str, action: &str) -> Result<(), LiveCaptureError> {
        match self.attach {
            AttachMode::Tc => self.attach_tc(iface, action),
            AttachMode::Xdp => self.attach_xdp(iface, action, true),
            AttachMode::XdpGeneric => self.attach_xdp(iface, action, false),
        }
    }

    /// Kernel ids of the programs attached (as `bpftool prog` shows them; their links are
    /// the ones the capture watches).
    pub fn program_ids(&self) -> Vec<u32> {
        self.attached_programs()
            .iter()
            .filter_map(|&n| Some(self.ebpf.program(n)?.info().ok()?.id()))
            .collect()
    }

    /// Loads every program without attaching anything: for [`LiveCapture::test_run`] (kernel
    /// self-tests with hand-built frames). `cfg.iface` and `cfg.attach` are ignored.
    #[cfg(feature = "test-helpers")]
    pub fn load_unattached(cfg: &LiveCaptureConfig) -> Result<Self, LiveCaptureError> {
        check_privileges("loading the kernel programs")?;
        Self::load(cfg, &[programs::TC_INGRESS, programs::TC_EGRESS, programs::XDP])
    }

    fn load(cfg: &LiveCaptureConfig, wanted: &[&str]) -> Result<Self, LiveCaptureError> {
        if OBJECT.is_empty() {
            return Err(LiveCaptureError::NoKernelObject);
        }
        let ring_bytes = ring_size(cfg.ring_bytes)?;
        if cfg.ports.is_empty() || cfg.ports.len() > record::MAX_PORTS as usize {
            return Err(LiveCaptureError::Config(format!(
                "give between 1 and {} ports (got {})",
                record::MAX_PORTS,
                cfg.ports.len()
            )));
        }
        if cfg.capture_limit == 0 || cfg.capture_limit > MAX_CAPTURE {
            return Err(LiveCaptureError::Config(format!(
                "the capture limit must be between 1 and {MAX_CAPTURE} bytes (got {})",
                cfg.capture_limit
            )));
        }
        system::raise_memlock();

        // aya-log levels: 0 = off, 4 = debug. The kernel programs only log at debug level.
        let log_level: u8 = if cfg.kernel_debug_log { 4 } else { 0 };
        let mut loader = EbpfLoader::new();
        // The port filter is read-only data of the programs (no map lookup per packet).
        let mut port_list = [0u16; MAX_PORTS as usize];
        port_list[..cfg.ports.len()].copy_from_slice(&cfg.ports);
        let port_count = cfg.ports.len() as u32;
        let wakeup_bytes = ring_bytes / WAKEUP_RING_FRACTION;
        let pure_acks: u32 = if cfg.keep_pure_acks { 1 } else { 2 };
        loader
            .map_max_entries(MAP_EVENTS, ring_bytes)
            .override_global(GLOBAL_PORT_LIST, &port_list, true)
            .override_global(GLOBAL_PORT_COUNT, &port_count, true)
            .override_global(aya_log::LEVEL, &log_level, false)
            .override_global(GLOBAL_CAPTURE_LIMIT, &cfg.capture_limit, true)
            .override_global(GLOBAL_WAKEUP_BYTES, &wakeup_bytes, true)
            .override_global(GLOBAL_PURE_ACKS, &pure_acks, true);
        if cfg.verbose_verifier {
            loader.verifier_log_level(VerifierLogLevel::VERBOSE | VerifierLogLevel::STATS);
        }
        let mut ebpf = loader.load(OBJECT).map_err(load_error)?;

        for &name in wanted {
            let prog = ebpf.program_mut(name).ok_or_else(|| missing("program", name))?;
            // The verifier gives up with EAGAIN when a signal arrives while it works (a child
            // exiting, a timer): that is no verdict on the program, so try again, as libbpf does.
            let mut attempts = 0;
            let res = loop {
                let res = match &mut *prog {
                    aya::programs::Program::SchedClassifier(p) => p.load(),
                    aya::programs::Program::Xdp(p) => p.load(),
                    _ => Err(ProgramError::UnexpectedProgramType),
                };
                attempts += 1;
                let interrupted = matches!(&res, Err(ProgramError::LoadError { io_error, .. })
                    if io_error.raw_os_error() == Some(libc::EAGAIN));
                if !interrupted || attempts == 5 {
                    break res;
                }
            };
            res.map_err(|e| program_error(name, e))?;
        }

        let map = ebpf.take_map(MAP_EVENTS).ok_or_else(|| missing("map", MAP_EVENTS))?;
        let ring = RingBuf::try_from(map).map_err(bpf("opening the ring buffer"))?;

        let logger = if cfg.kernel_debug_log {
            match aya_log::EbpfLogger::init(&mut ebpf) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!("kernel debug log unavailable: {e}");
                    None
                }
            }
        } else {
            None
        };

        Ok(LiveCapture {
            ebpf,
            ring: Ring::Plain(ring),
            assembler: Assembler::new(system::monotonic_to_realtime_offset()),
            iface: None,
            tc_links: Vec::new(),
            xdp_link: None,
            xdp_mode: None,
            logger,
            attach: AttachMode::Tc,
            watch: None,
        })
    }

    fn attach_tc(&mut self, iface: &str, action: &str) -> Result<(), LiveCaptureError> {
        // Only needed for the netlink path (kernels before 6.6, no TCX); fails harmlessly when a
        // clsact qdisc exists. Real failures surface in `attach`.
        let _ = tc::qdisc_add_clsact(iface);
        for &(name, attach_type) in tc_hooks(iface) {
            let prog: &mut SchedClassifier = self
                .ebpf
                .program_mut(name)
                .ok_or_else(|| missing("program", name))?
                .try_into()
                .map_err(bpf(format!("program {name}")))?;
            let link = prog.attach(iface, attach_type).map_err(|e| attach_error(action, e))?;
            self.tc_links.push((name, link));
        }
        Ok(())
    }

    fn attach_xdp(
        &mut self,
        iface: &str,
        action: &str,
        try_native: bool,
    ) -> Result<(), LiveCaptureError> {
        let prog: &mut Xdp = self
            .ebpf
            .program_mut(programs::XDP)
            .ok_or_else(|| missing("program", programs::XDP))?
            .try_into()
            .map_err(bpf("program zk_xdp"))?;
        // aya has no mode fallback: try native, then generic, and say which one held.
        let native = if try_native {
            prog.attach(iface, XdpMode::Driver)
        } else {
            Err(ProgramError::NotAttached) // not tried
        };
        match native {
            Ok(link) => {
                self.xdp_link = Some(link);
                self.xdp_mode = Some("native");
            }
            Err(native) => {
                if try_native {
                    tracing::info!(
                        "native XDP unavailable on {iface} ({}); using generic XDP",
                        error_chain(&native)
                    );
                }
                let link = prog
                    .attach(iface, XdpMode::Skb)
                    .map_err(|e| xdp_attach_error(iface, action, e))?;
                self.xdp_link = Some(link);
                self.xdp_mode = Some("generic");
            }
        }
        Ok(())
    }

    /// The XDP mode in use ("native" or "generic"), None with TC.
    pub fn xdp_mode(&self) -> Option<&'static str> {
        self.xdp_mode
    }

    /// The kernel hooks attached, by program name (e.g. `["zk_tc_egress"]` on loopback).
    pub fn attached_programs(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.tc_links.iter().map(|(n, _)| *n).collect();
        if self.xdp_link.is_some() {
            v.push(programs::XDP);
        }
        v
    }

    /// Waits for ring-buffer data and calls `f` for each segment of one batch (at most a few
    /// thousand records), rebuilt from its chunks. Must run inside a tokio runtime.
    pub async fn next_batch(
        &mut self,
        mut f: impl FnMut(&Segment<'_>),
    ) -> Result<(), LiveCaptureError> {
        self.next_batch_with_hook(|s, _| f(s)).await
    }

    /// Like [`LiveCapture::next_batch`], also telling where each segment was captured.
    pub async fn next_batch_with_hook(
        &mut self,
        mut f: impl FnMut(&Segment<'_>, Hook),
    ) -> Result<(), LiveCaptureError> {
        if let Ring::Plain(_) = self.ring
            && let Ring::Plain(ring) = std::mem::replace(&mut self.ring, Ring::Gone)
        {
            // SAFETY: the ring buffer's fd stays open while the AsyncFd owns the RingBuf, and is
            // deregistered before it is closed (AsyncFd's drop order).
            let fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) };
            self.ring = Ring::Async(fd.map_err(|e| LiveCaptureError::Io(e.into()))?);
        }
        self.supervise();
        let Ring::Async(fd) = &mut self.ring else {
            return Err(LiveCaptureError::Io(io::Error::other("ring buffer unavailable")));
        };
        // Records below the kernel's wakeup threshold arrive without a wakeup: read what is
        // there, and only when there is nothing wait for a wakeup or the next tick.
        let mut handled = read_records(fd.get_mut(), &mut self.assembler, &mut f);
        if handled == 0 {
            if let Ok(guard) = tokio::time::timeout(POLL_TICK, fd.readable_mut()).await {
                // Cleared before reading: a wakeup that comes while reading is kept.
                guard?.clear_ready();
            }
            handled = read_records(fd.get_mut(), &mut self.assembler, &mut f);
        }
        if handled < BATCH_RECORDS {
            self.assembler.flush_stale(CHUNK_WAIT, &mut f);
        }
        if let Some(logger) = &mut self.logger {
            logger.flush();
        }
        Ok(())
    }

    /// Reads what the ring holds now without waiting (tests, shutdown).
    pub fn drain(&mut self, mut f: impl FnMut(&Segment<'_>, Hook)) -> usize {
        let mut handled = 0;
        loop {
            let n = match &mut self.ring {
                Ring::Plain(r) => read_records(r, &mut self.assembler, &mut f),
                Ring::Async(fd) => read_records(fd.get_mut(), &mut self.assembler, &mut f),
                Ring::Gone => 0,
            };
            if n == 0 {
                break;
            }
            handled += n;
        }
        if let Some(logger) = &mut self.logger {
            logger.flush();
        }
        handled
    }

    /// Runs one program on `frame` with `BPF_PROG_TEST_RUN` (needs a capture from
    /// [`LiveCapture::load_unattached`]); what it keeps lands in the ring as usual.
    #[cfg(feature = "test-helpers")]
    pub fn test_run(
        &mut self,
        hook: Hook,
        frame: &[u8],
    ) -> Result<TestRunOutcome, LiveCaptureError> {
        let name = match hook {
            Hook::TcIngress => programs::TC_INGRESS,
            Hook::TcEgress => programs::TC_EGRESS,
            Hook::Xdp => programs::XDP,
        };
        let opts = TestRunOptions { data_in: Some(frame), ..TestRunOptions::default() };
        let prog = self.ebpf.program_mut(name).ok_or_else(|| missing("program", name))?;
        let res = match prog {
            aya::programs::Program::SchedClassifier(p) => p.test_run(opts),
            aya::programs::Program::Xdp(p) => p.test_run(opts),
            _ => Err(ProgramError::UnexpectedProgramType),
        }
        .map_err(bpf(format!("BPF_PROG_TEST_RUN of {name}")))?;
        Ok(TestRunOutcome { return_value: res.return_value, duration: res.duration })
    }

    /// The kernel counters, summed over CPUs.
    pub fn kernel_stats(&self) -> KernelStats {
        let Some(map) = self.ebpf.map(MAP_STATS) else {
            return KernelStats::default();
        };
        let Ok(stats) = PerCpuArray::<_, Stats>::try_from(map) else {
            return KernelStats::default();
        };
        let Ok(per_cpu) = stats.get(&0, 0) else {
            return KernelStats::default();
        };
        let get = |i: u32| per_cpu.iter().map(|s| s[i as usize]).sum::<u64>();
        KernelStats {
            packets_seen: get(stat::SEEN),
            segments_kept: get(stat::KEPT),
            bytes_kept: get(stat::BYTES_KEPT),
            ring_full_drops: get(stat::RING_FULL),
            truncated: get(stat::TRUNCATED),
            parse_failures: get(stat::PARSE_FAILED),
            records: get(stat::RECORDS),
            load_failures: get(stat::LOAD_FAILED),
            pure_acks_skipped: get(stat::PURE_ACKS),
        }
    }

    /// Counters of the user-space ring reader.
    pub fn reader_stats(&self) -> ReaderStats {
        self.assembler.stats()
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        self.detach_all();
        if let Some(iface) = &self.iface {
            tracing::debug!("detached zktraffic programs from {iface}");
        }
    }
}

impl LiveCapture {
    /// Detaches every link (dropping `ebpf` would too; doing it here makes failures visible).
    fn detach_all(&mut self) {
        for (name, link) in self.tc_links.drain(..) {
            let res = match self.ebpf.program_mut(name).map(<&mut SchedClassifier>::try_from) {
                Some(Ok(p)) => p.detach(link),
                _ => continue,
            };
            if let Err(e) = res {
                tracing::warn!("detaching {name}: {}", error_chain(&e));
            }
        }
        if let Some(link) = self.xdp_link.take()
            && let Some(Ok(p)) = self.ebpf.program_mut(programs::XDP).map(<&mut Xdp>::try_from)
            && let Err(e) = p.detach(link)
        {
            tracing::warn!("detaching {}: {}", programs::XDP, error_chain(&e));
        }
        self.xdp_mode = None;
    }
}

/// The TC programs to attach to `iface`, and where. On loopback every packet passes egress and
/// then ingress: one hook sees everything once.
fn tc_hooks(iface: &str) -> &'static [(&'static str, TcAttachType)] {
    if system::is_loopback(iface) {
        &[(programs::TC_EGRESS, TcAttachType::Egress)]
    } else {
        &[
            (programs::TC_INGRESS, TcAttachType::Ingress),
            (programs::TC_EGRESS, TcAttachType::Egress),
        ]
    }
}

/// Hands at most [`BATCH_RECORDS`] waiting records to the assembler; returns how many.
fn read_records(
    ring: &mut RingBuf<MapData>,
    assembler: &mut Assembler,
    f: &mut impl FnMut(&Segment<'_>, Hook),
) -> usize {
    let mut handled = 0;
    while handled < BATCH_RECORDS {
        let Some(item) = ring.next() else { break };
        assembler.push(&item, f);
        handled += 1;
    }
    handled
}

fn check_privileges(action: &str) -> Result<(), LiveCaptureError> {
    let missing = system::missing_capabilities();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LiveCaptureError::Privileges { action: action.to_owned(), missing: missing.join(", ") })
    }
}

/// The smallest ring (`--ring-bytes`) that holds one full-size record: the kernel cannot
/// reserve a record larger than the ring, so a smaller ring would drop every segment with a
/// full chunk.
pub fn min_ring_bytes() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    // Each ring entry has an 8-byte header and is rounded up to 8 bytes.
    let entry = (record::BIG_RECORD + 8).next_multiple_of(8);
    entry.next_power_of_two().max(page)
}

fn ring_size(bytes: usize) -> Result<u32, LiveCaptureError> {
    let min = min_ring_bytes();
    if !bytes.is_power_of_two() || bytes < min || bytes > (1 << 30) {
        return Err(LiveCaptureError::Config(format!(
            "ring buffer size {bytes} must be a power of two between {min} (one full-size \
             record of {} bytes) and 1 GiB (1073741824); e.g. --ring-bytes {}",
            record::BIG_RECORD,
            (bytes.max(min)).next_power_of_two().min(1 << 30)
        )));
    }
    Ok(bytes as u32)
}

fn missing(kind: &str, name: &str) -> LiveCaptureError {
    LiveCaptureError::Bpf {
        context: format!("the kernel object has no {kind} {name}"),
        source: "object and loader out of sync; rebuild".into(),
    }
}

fn bpf<E: std::error::Error + Send + Sync + 'static>(
    context: impl Into<String>,
) -> impl FnOnce(E) -> LiveCaptureError {
    let context = context.into();
    move |e| LiveCaptureError::Bpf { context, source: Box::new(e) }
}

/// Classifies errors of `EbpfLoader::load` (map creation, relocation).
fn load_error(e: EbpfError) -> LiveCaptureError {
    let errno = system::errno_of(&e);
    if let EbpfError::MapError(aya::maps::MapError::CreateError { name, .. }) = &e {
        match errno {
            Some(libc::EPERM) | Some(libc::EACCES) => {
                return LiveCaptureError::Privileges {
                    action: format!("creating BPF map {name}"),
                    missing: "unknown (the kernel said EPERM)".into(),
                };
            }
            Some(libc::EINVAL) if name == MAP_EVENTS || name == "AYA_LOGS" => {
                return LiveCaptureError::KernelTooOld {
                    kernel: system::kernel_release(),
                    what: format!("creating ring buffer map {name} failed (BPF_MAP_TYPE_RINGBUF)"),
                };
            }
            _ => {}
        }
    }
    LiveCaptureError::Bpf { context: "loading the kernel object".into(), source: Box::new(e) }
}

/// Classifies errors of `load()` on a program.
fn program_error(name: &str, e: ProgramError) -> LiveCaptureError {
    match e {
        ProgramError::LoadError { io_error, verifier_log } => match io_error.raw_os_error() {
            Some(libc::EPERM) => LiveCaptureError::Privileges {
                action: format!("loading program {name}"),
                missing: "unknown (the kernel said EPERM)".into(),
            },
            Some(libc::EINVAL) if verifier_log.to_string().trim().is_empty() => {
                LiveCaptureError::KernelTooOld {
                    kernel: system::kernel_release(),
                    what: format!(
                        "the kernel refused program {name} without a verifier log ({io_error})"
                    ),
                }
            }
            _ => LiveCaptureError::Verifier {
                program: name.to_owned(),
                errno: io_error,
                log: verifier_log.to_string(),
            },
        },
        other => LiveCaptureError::Bpf {
            context: format!("loading program {name}"),
            source: Box::new(other),
        },
    }
}

/// Classifies XDP attach errors: EEXIST/EBUSY mean another program holds the hook.
fn xdp_attach_error(iface: &str, action: &str, e: ProgramError) -> LiveCaptureError {
    match system::errno_of(&e) {
        Some(libc::EEXIST) | Some(libc::EBUSY) => {
            let holders: Vec<String> =
                stale::xdp_holders(iface).iter().map(ToString::to_string).collect();
            LiveCaptureError::XdpHookBusy {
                iface: iface.to_owned(),
                holders: if holders.is_empty() { "unknown".into() } else { holders.join("; ") },
            }
        }
        _ => attach_error(action, e),
    }
}

/// Classifies attach errors.
fn attach_error(action: &str, e: ProgramError) -> LiveCaptureError {
    match system::errno_of(&e) {
        Some(libc::EPERM) | Some(libc::EACCES) => LiveCaptureError::Privileges {
            action: action.to_owned(),
            missing: "unknown (the kernel said EPERM)".into(),
        },
        _ => LiveCaptureError::Bpf { context: action.to_owned(), source: Box::new(e) },
    }
}
