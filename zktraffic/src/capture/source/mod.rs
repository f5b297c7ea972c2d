//! Where segments come from, for every front-end: a capture file (or standard input) or live
//! capture, behind one [`SegmentSource`] that every front-end (`dump`, `serve`) polls the same
//! way.

#[cfg(feature = "ebpf")]
mod live;
mod pipe;

use std::ops::ControlFlow;
use std::path::Path;

use serde::Serialize;
use thiserror::Error;

use super::Segment;
use super::pcap::{CaptureError, CaptureReader, CaptureStats};
#[cfg(feature = "ebpf")]
pub use live::{LiveCounters, LiveSource};

/// What a source is, for `/json/info`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SourceInfo {
    /// `pcap` (a replayed file) or `live`.
    pub mode: &'static str,
    /// The interface, for live capture.
    pub interface: Option<String>,
    /// The file or interface name.
    pub name: String,
    /// Live sources also roll windows on a wall-clock tick when traffic stops.
    pub live: bool,
}

/// What one [`SegmentSource::poll`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// Segments were delivered (possibly fewer than asked).
    Delivered(usize),
    /// Nothing arrived within the source's poll timeout (live sources).
    Idle,
    /// The input ended (end of file); no more segments will come.
    Finished,
}

/// Why a source failed.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The capture file could not be read.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// This binary was built without live capture.
    #[error(
        "this zktraffic was built without live capture (the `ebpf` feature), so it cannot \
         capture on {iface}: build it with `cargo xtask build`, or read a capture file with \
         --pcap FILE"
    )]
    LiveUnavailable {
        /// The interface asked for.
        iface: String,
    },
    /// Live capture failed to start or to continue.
    #[cfg(feature = "ebpf")]
    #[error(transparent)]
    Live(#[from] crate::capture::ebpf::LiveCaptureError),
    /// Any other failure of a source.
    #[error("{0}")]
    Other(String),
}

/// A producer of TCP segments, polled by the capture thread.
pub trait SegmentSource: Send {
    /// What the source is.
    fn info(&self) -> SourceInfo;

    /// Delivers up to `max` segments to `sink`, returning within a bounded time (a live source
    /// waits at most its poll timeout, then returns [`Poll::Idle`]) so the caller can roll
    /// windows, publish snapshots and notice shutdown.
    fn poll(&mut self, max: usize, sink: &mut dyn FnMut(&Segment<'_>))
    -> Result<Poll, SourceError>;

    /// The source's counters (frames, drops, …).
    fn counters(&self) -> SourceCounters;

    /// `Err(reason)` when the source is not healthy (e.g. its ring buffer is not draining).
    fn health(&self) -> Result<(), String> {
        Ok(())
    }

    /// Delivers what is already buffered, without waiting (`dump` calls it when it stops).
    fn drain(&mut self, _sink: &mut dyn FnMut(&Segment<'_>)) {}

    /// Non-fatal problems for standard error at the end (a truncated last record, the XDP
    /// mode that was used).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A source's counters. `dump --summary` shows them under `capture` (a file) or `kernel` (live);
/// `/json/info` and `/metrics` under `capture.stats` (see [`SourceCounters::info`]).
#[derive(Clone, Debug, Serialize)]
pub enum SourceCounters {
    /// A capture file's records, frames and what was skipped.
    #[serde(rename = "capture")]
    File(CaptureStats),
    /// The kernel programs' and the ring reader's counters.
    #[cfg(feature = "ebpf")]
    #[serde(rename = "kernel")]
    Live(LiveCounters),
}

impl SourceCounters {
    /// The form `/json/info` gives as `capture.stats`: a file's counters as they are, live
    /// capture's as `kernel`, `reader` and `attachment`.
    pub fn info(&self) -> serde_json::Value {
        match self {
            SourceCounters::File(c) => serde_json::to_value(c).unwrap_or_default(),
            #[cfg(feature = "ebpf")]
            SourceCounters::Live(l) => serde_json::json!({
                "kernel": l.kernel,
                "reader": l.reader,
                "attachment": l.attachment,
            }),
        }
    }
}

/// A capture file replayed as fast as it can be read.
pub struct PcapSource {
    reader: CaptureReader,
}

impl PcapSource {
    /// Opens a pcap or pcapng file (`-` for standard input).
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        Ok(PcapSource { reader: CaptureReader::open(path)? })
    }

    /// Standard input read as a pipe (`tcpdump -U -w - | zktraffic serve --pcap -`): once the
    /// file header is in, a poll that finds the pipe empty for 100 ms returns [`Poll::Idle`]
    /// instead of waiting, so the daemon goes on publishing while the capture is quiet.
    pub fn stdin() -> Result<Self, SourceError> {
        Self::stdin_with(|| {})
    }

    /// [`PcapSource::stdin`] calling `on_dry` each time the pipe runs dry, before it waits
    /// (`dump` flushes its output there, so a quiet pipe's messages show at once).
    pub fn stdin_with(on_dry: impl FnMut() + Send + 'static) -> Result<Self, SourceError> {
        let (input, armed) = pipe::PipeInput::new(Box::new(on_dry));
        let reader = CaptureReader::from_reader("<stdin>".to_owned(), Box::new(input))?;
        armed.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(PcapSource { reader })
    }
}

impl SegmentSource for PcapSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            mode: "pcap",
            interface: None,
            name: self.reader.name().to_owned(),
            live: false,
        }
    }

    fn poll(
        &mut self,
        max: usize,
        sink: &mut dyn FnMut(&Segment<'_>),
    ) -> Result<Poll, SourceError> {
        let mut n = 0;
        self.reader.try_for_each_segment(|seg| {
            sink(seg);
            n += 1;
            if n >= max { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })?;
        // The reader returns before the end when the closure stopped it, or when a pipe read
        // through `PcapSource::stdin` found nothing for a while.
        Ok(if self.reader.is_finished() {
            Poll::Finished
        } else if n == 0 {
            Poll::Idle
        } else {
            Poll::Delivered(n)
        })
    }

    fn counters(&self) -> SourceCounters {
        SourceCounters::File(self.reader.stats().clone())
    }

    fn warnings(&self) -> Vec<String> {
        self.reader.warnings().to_vec()
    }
}

/// Opens live capture as `config` says (interface, server ports, hook, ring size), or says
/// that this build has none.
pub fn open_live(config: LiveConfig) -> Result<Box<dyn SegmentSource>, SourceError> {
    #[cfg(feature = "ebpf")]
    return Ok(Box::new(LiveSource::start(config.into())?));
    #[cfg(not(feature = "ebpf"))]
    Err(SourceError::LiveUnavailable { iface: config.iface })
}

/// What live capture is asked for, in every build (the kernel side's own configuration exists
/// only with the `ebpf` feature).
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// The interface.
    pub iface: String,
    /// ZooKeeper's server ports.
    pub ports: Vec<u16>,
    /// The kernel hook.
    pub attach: LiveHook,
    /// Ring buffer size in bytes.
    pub ring_bytes: usize,
    /// Show the verifier's log when the kernel rejects a program.
    pub verbose_verifier: bool,
    /// Send pure ACKs too (they carry nothing the decoder needs; a `--write-pcap` copy wants
    /// them).
    pub keep_pure_acks: bool,
}

/// Where the kernel programs attach (`--attach`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LiveHook {
    /// TC classifier on ingress and egress: a host's own traffic, both directions.
    Tc,
    /// XDP on ingress (mirror/SPAN ports): native mode if the driver has it, else generic.
    Xdp,
    /// XDP in generic mode only.
    XdpGeneric,
}

#[cfg(feature = "ebpf")]
impl From<LiveConfig> for super::ebpf::LiveCaptureConfig {
    fn from(c: LiveConfig) -> Self {
        use super::ebpf::AttachMode;
        super::ebpf::LiveCaptureConfig {
            iface: c.iface,
            ports: c.ports,
            attach: match c.attach {
                LiveHook::Tc => AttachMode::Tc,
                LiveHook::Xdp => AttachMode::Xdp,
                LiveHook::XdpGeneric => AttachMode::XdpGeneric,
            },
            ring_bytes: c.ring_bytes,
            verbose_verifier: c.verbose_verifier,
            keep_pure_acks: c.keep_pure_acks,
            ..Default::default()
        }
    }
}
