//! Live capture (the eBPF programs) as a [`SegmentSource`].

use std::time::Duration;

use tokio::runtime::Runtime;

use serde::Serialize;

use super::{Poll, SegmentSource, SourceCounters, SourceError, SourceInfo};
use crate::capture::Segment;
use crate::capture::ebpf::{
    AttachmentStats, KernelStats, LiveCapture, LiveCaptureConfig, ReaderStats,
};

/// How long one poll waits for the ring buffer before reporting [`Poll::Idle`]: short enough
/// to publish, roll windows on the wall clock and notice shutdown promptly.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// The kernel programs' ring buffer, read on the capture thread through a current-thread
/// runtime (the reader waits on the ring's fd with tokio).
pub struct LiveSource {
    runtime: Runtime,
    capture: LiveCapture,
    iface: String,
}

impl LiveSource {
    /// Loads and attaches the programs.
    pub fn start(config: LiveCaptureConfig) -> Result<Self, SourceError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::Other(format!("cannot start the capture runtime: {e}")))?;
        let iface = config.iface.clone();
        let (ports, ring_bytes) = (config.ports.clone(), config.ring_bytes);
        // The ring's AsyncFd registers with the runtime that is current when it is created.
        let capture = runtime.block_on(async { LiveCapture::start(config) })?;
        let hook = match capture.xdp_mode() {
            Some(mode) => format!("XDP ({mode} mode)"),
            None => "TC".to_owned(),
        };
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        tracing::info!(
            "capturing on {iface}: {hook}, programs {}, server ports {}, ring buffer {} KiB",
            capture.attached_programs().join(", "),
            ports.join(", "),
            ring_bytes >> 10,
        );
        Ok(LiveSource { runtime, capture, iface })
    }
}

impl SegmentSource for LiveSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            mode: "live",
            interface: Some(self.iface.clone()),
            name: self.iface.clone(),
            live: true,
        }
    }

    fn poll(
        &mut self,
        _max: usize,
        sink: &mut dyn FnMut(&Segment<'_>),
    ) -> Result<Poll, SourceError> {
        let mut n = 0;
        let capture = &mut self.capture;
        let waited = self.runtime.block_on(async {
            tokio::time::timeout(
                POLL_TIMEOUT,
                capture.next_batch(|seg| {
                    n += 1;
                    sink(seg);
                }),
            )
            .await
        });
        match waited {
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(())) | Err(_) => Ok(if n == 0 { Poll::Idle } else { Poll::Delivered(n) }),
        }
    }

    fn counters(&self) -> SourceCounters {
        SourceCounters::Live(LiveCounters {
            kernel: self.capture.kernel_stats(),
            reader: self.capture.reader_stats(),
            attachment: self.capture.attachment_stats(),
        })
    }

    fn drain(&mut self, sink: &mut dyn FnMut(&Segment<'_>)) {
        self.capture.drain(|seg, _| sink(seg));
    }

    fn warnings(&self) -> Vec<String> {
        self.capture
            .xdp_mode()
            .map(|mode| format!("XDP attached in {mode} mode"))
            .into_iter()
            .collect()
    }

    /// Unhealthy while the interface is gone (or attaching to it again failed).
    fn health(&self) -> Result<(), String> {
        self.capture.health().map_err(|why| format!("live capture on {}: {why}", self.iface))
    }
}

/// What live capture counts before reassembly.
#[derive(Clone, Debug, Serialize)]
pub struct LiveCounters {
    /// The kernel programs' counters, summed over CPUs.
    #[serde(flatten)]
    pub kernel: KernelStats,
    /// The ring reader's counters.
    pub reader: ReaderStats,
    /// Interface losses and re-attachments.
    pub attachment: AttachmentStats,
}
