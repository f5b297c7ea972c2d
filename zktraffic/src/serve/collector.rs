//! The daemon without its HTTP side: the capture and aggregation threads and the snapshots
//! they publish. `serve` puts HTTP in front of it; `top` draws it on a terminal.

use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::watch;

use super::capture::{self, CaptureStatus};
use super::control::Control;
use super::error::ServeError;
use super::snapshot::{Snapshot, View};
use super::{ServeConfig, aggregate};
use crate::capture::SegmentSource;
use crate::stats::Tally;
use crate::stats::connections::ConnTable;

/// Capture and aggregation running on their own threads, publishing [`Snapshot`]s.
pub struct Collector {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    control: Arc<Control>,
    capture: Option<JoinHandle<()>>,
}

impl Collector {
    /// Starts capturing from `source`.
    pub fn start(
        config: ServeConfig,
        source: Box<dyn SegmentSource>,
    ) -> Result<Collector, ServeError> {
        let started = Instant::now();
        let empty = |config: &ServeConfig| {
            Arc::new(View::new(Tally::new(config.stats.limits), ConnTable::new(0, 0)))
        };
        let first_status = CaptureStatus::starting(source.info(), &config);
        let first = Arc::new(Snapshot {
            window: empty(&config),
            cumulative: empty(&config),
            recent: Vec::new(),
            history: Vec::new(),
            info: first_status.info.clone(),
            health: first_status.health.clone(),
            finished: false,
            started,
            live_connections: 0,
            quorum: None,
            metrics: Default::default(),
        });
        let (tx, rx) = watch::channel(first);
        let control = Arc::new(Control::default());
        // Bounded (`--max-queued-*`): a replay waits for room, live capture drops and counts.
        let (work_tx, work_rx) = mpsc::sync_channel(capture::queue_batches(&config));
        let (spare_tx, spare_rx) = mpsc::channel();
        let aggregation = {
            let (config, control) = (config.clone(), control.clone());
            std::thread::Builder::new()
                .name("zktraffic-aggregate".into())
                .spawn(move || {
                    aggregate::run(&config, work_rx, spare_tx, &tx, first_status, started, &control)
                })
                .map_err(ServeError::Start)?
        };
        let capture = {
            let control = control.clone();
            std::thread::Builder::new()
                .name("zktraffic-capture".into())
                .spawn(move || {
                    capture::run(source, &config, work_tx, spare_rx, &control.stop);
                    // The work channel is closed now: aggregation publishes what it has and ends.
                    let _ = aggregation.join();
                })
                .map_err(ServeError::Start)?
        };
        Ok(Collector { snapshots: rx, control, capture: Some(capture) })
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }

    /// A receiver of every publication (HTTP's).
    pub(super) fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }

    /// The flags the threads watch (HTTP sets `stop` on SIGINT/SIGTERM).
    pub(super) fn control(&self) -> Arc<Control> {
        self.control.clone()
    }

    /// Forgets every count so far: the next snapshots count from now on.
    pub fn reset(&self) {
        self.control.reset.store(true, Ordering::Relaxed);
    }

    /// Asks capture to stop (without waiting).
    pub fn stop(&self) {
        self.control.stop.store(true, Ordering::Relaxed);
    }

    /// Waits until the capture thread ends (a replayed capture is fully aggregated and
    /// published, the source failed, or [`Collector::stop`] was called).
    pub fn wait(&mut self) {
        if let Some(t) = self.capture.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop();
    }
}
