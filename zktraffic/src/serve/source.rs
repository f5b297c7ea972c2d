//! Where the daemon's segments come from: a replayed capture file now, live capture later.
//!
//! The capture thread only sees a [`SegmentSource`]; a live source plugs in through
//! [`open_live`] without touching anything else.

use std::ops::ControlFlow;
use std::path::Path;

use serde::Serialize;
use thiserror::Error;

use crate::capture::Segment;
use crate::capture::pcap::{CaptureError, CaptureReader};

/// What a source is, for `/json/info`.
#[derive(Clone, Debug, Serialize)]
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
        "live capture on {iface} needs a zktraffic built with the `ebpf` feature; replay a \
         capture with `zktraffic serve --pcap FILE`"
    )]
    LiveUnavailable { iface: String },
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

    /// The source's counters (frames, drops, …) for `/json/info` and `/metrics`.
    fn stats(&self) -> serde_json::Value;

    /// `Err(reason)` when the source is not healthy (e.g. its ring buffer is not draining).
    fn health(&self) -> Result<(), String> {
        Ok(())
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
        // The reader only returns before the end when the closure stopped it.
        Ok(if n >= max { Poll::Delivered(n) } else { Poll::Finished })
    }

    fn stats(&self) -> serde_json::Value {
        serde_json::to_value(self.reader.stats()).unwrap_or_default()
    }
}

/// Opens live capture as `config` says (interface, server ports, hook, ring size).
#[cfg(feature = "ebpf")]
pub fn open_live(
    config: crate::capture::ebpf::LiveCaptureConfig,
) -> Result<Box<dyn SegmentSource>, SourceError> {
    Ok(Box::new(super::live::LiveSource::start(config)?))
}
