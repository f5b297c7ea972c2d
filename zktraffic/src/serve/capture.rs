//! The capture thread: source → sampling → reassembly and decoding → facts, sent in batches to
//! the aggregation thread through a bounded channel.
//!
//! The channel is bounded (`--max-queued-*`). When aggregation falls behind, a replay waits
//! (it must stay exact), and live capture drops the batch that does not fit and counts its
//! messages: capture keeps draining the kernel's ring buffer, so decoding stays in sync and
//! only the counting of those messages is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use super::ServeConfig;
use super::info::{CaptureInfo, ConnectionsInfo, Info, QueueDropped, QueueInfo, SamplingInfo};
use super::sampling::Sampler;
use crate::Timestamp;
use crate::capture::{Poll, SegmentSource, SourceInfo};
use crate::ensemble::state::{QuorumState, QuorumView};
use crate::output::drop_warnings::DropWarnings;
use crate::output::numbers::flatten_numbers;
use crate::pipeline::Pipeline;
use crate::sink::MessageSink;
use crate::stats::fact::{FactBatch, FactKind};
use crate::tcp::{CloseReason, ConnKey};
use crate::zk::Message;

/// Facts per batch sent: large enough that a hand-over costs nothing per message, small enough
/// (about 1 MiB) to stay in the caches.
const FACTS_PER_BATCH: usize = 8192;

/// How long a partial batch may wait for more facts. Under load only full batches are sent, so
/// the queue's capacity (counted in batches) holds the messages `--max-queued-*` promise; when
/// traffic is light, a partial batch goes at this pace, which aggregation easily keeps up with.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Batches the capture → aggregation channel holds for `config.queue_messages` messages.
pub(super) fn queue_batches(config: &ServeConfig) -> usize {
    config.queue_messages.div_ceil(FACTS_PER_BATCH).max(1)
}

/// What the capture thread sends the aggregation thread, in order.
pub(super) enum Work {
    /// Messages, as facts.
    Facts(FactBatch),
    /// Live capture is idle and this much wall-clock time passed since its last traffic:
    /// windows may close on it.
    Idle(Duration),
    /// The capture's state, for the publications that follow.
    Status(Box<CaptureStatus>),
}

/// Segments handed to the pipeline per poll: small enough to publish and stop promptly.
const BATCH: usize = 4096;

/// What the capture side contributes to a snapshot.
pub(super) struct CaptureStatus {
    /// `/json/info` as far as capture knows it: `capture` (source, counters, error),
    /// `pipeline`, `sampling`, `queue`, `connections.live`.
    pub info: Info,
    pub health: Result<(), String>,
    /// Live TCP connections in the flow table.
    pub live_connections: usize,
    /// The source ended (a replay is complete, or capture failed or stopped).
    pub finished: bool,
    /// The ensemble, once quorum or election traffic was seen.
    pub quorum: Option<Arc<QuorumView>>,
}

/// The pipeline's sink on the capture thread: turns messages into facts and hands full batches
/// over, reusing the batches the aggregation thread sends back.
struct FactSink {
    batch: FactBatch,
    work: SyncSender<Work>,
    spare: Receiver<FactBatch>,
    /// Drop a batch when the queue is full (live capture) instead of waiting (replay).
    drop_when_full: bool,
    dropped: QueueDropped,
    /// The aggregation thread is gone (it stopped or panicked).
    gone: bool,
    /// When the last batch was handed over (or dropped).
    last_sent: Instant,
    /// The quorum protocols' figures (kept here: they are few, and need no aggregation).
    quorum: QuorumState,
}

impl FactSink {
    /// Hands the batch over, if it holds anything.
    fn send(&mut self) {
        if self.batch.is_empty() || self.gone {
            return;
        }
        self.last_sent = Instant::now();
        let next = self.spare.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.batch, next);
        if let Some(Work::Facts(mut lost)) = self.offer(Work::Facts(full), false) {
            self.count_dropped(&lost);
            // Its memory serves again.
            lost.clear();
            self.batch = lost;
        }
    }

    /// Queues `w`. Live capture does not wait for room unless `must_arrive`: what did not fit
    /// comes back. Notes when the aggregation thread is gone.
    fn offer(&mut self, w: Work, must_arrive: bool) -> Option<Work> {
        if must_arrive || !self.drop_when_full {
            self.gone |= self.work.send(w).is_err();
            return None;
        }
        match self.work.try_send(w) {
            Ok(()) => None,
            Err(TrySendError::Full(w)) => Some(w),
            Err(TrySendError::Disconnected(_)) => {
                self.gone = true;
                None
            }
        }
    }

    fn count_dropped(&mut self, batch: &FactBatch) {
        for f in batch.iter() {
            let d = &mut self.dropped;
            match f.fact.kind {
                FactKind::Request { .. } => d.requests += 1,
                FactKind::Reply { .. } => d.replies += 1,
                FactKind::Event { .. } => d.events += 1,
                FactKind::Ping | FactKind::FourLetter | FactKind::Closed => d.other += 1,
            }
        }
    }
}

impl MessageSink for FactSink {
    fn message(&mut self, msg: &Message<'_>) {
        self.batch.push(msg);
        if self.batch.len() >= FACTS_PER_BATCH {
            self.send();
        }
    }

    fn closed(&mut self, conn: &ConnKey, ts: Timestamp, reason: CloseReason) {
        self.batch.push_closed(conn, ts, reason);
    }

    fn zab(&mut self, msg: &crate::quorum::ZabMessage<'_>) {
        self.quorum.zab(msg);
    }

    fn election(&mut self, msg: &crate::election::ElectionMessage<'_>) {
        self.quorum.election(msg);
    }
}

/// Runs until the source ends, `stop` is set, or the aggregation thread is gone.
pub(super) fn run(
    mut source: Box<dyn SegmentSource>,
    config: &ServeConfig,
    work: SyncSender<Work>,
    spare: Receiver<FactBatch>,
    stop: &AtomicBool,
) {
    let info = source.info();
    let sampler = Sampler::new(config.sampling);
    let sink = FactSink {
        batch: FactBatch::default(),
        work,
        spare,
        drop_when_full: info.live,
        dropped: QueueDropped::default(),
        gone: false,
        last_sent: Instant::now(),
        quorum: QuorumState::default(),
    };
    let mut pipeline = Pipeline::new(config.pipeline.clone(), sink);
    let mut unsampled = 0u64;
    // The first status goes after the first poll (it makes the daemon ready).
    let mut last_status: Option<Instant> = None;
    let mut last_traffic = Instant::now();
    let mut error = None;
    let mut drops = DropWarnings::default();
    while !stop.load(Ordering::Relaxed) {
        let polled = source.poll(BATCH, &mut |seg| {
            if sampler.keep(seg) {
                pipeline.push(seg);
            } else {
                unsampled += 1;
            }
        });
        let mut idle = None;
        let finished = match polled {
            Ok(Poll::Delivered(_)) => {
                last_traffic = Instant::now();
                false
            }
            Ok(Poll::Idle) => {
                idle = info.live.then(|| last_traffic.elapsed());
                false
            }
            Ok(Poll::Finished) => true,
            Err(e) => {
                tracing::error!(
                    "capture from {} failed: {e}; the daemon keeps serving what it counted",
                    info.name
                );
                error = Some(e.to_string());
                true
            }
        };
        if finished {
            pipeline.finish();
        }
        let sink = pipeline.sink_mut();
        if finished || idle.is_some() || sink.last_sent.elapsed() >= FLUSH_INTERVAL {
            sink.send();
        }
        if let Some(idle) = idle {
            // A tick that does not fit is not missed: the next one carries the time.
            pipeline.sink_mut().offer(Work::Idle(idle), false);
        }
        if info.live {
            drops.observe(|| live_counters(&pipeline, &*source));
        }
        if finished || last_status.is_none_or(|t| t.elapsed() >= config.publish_interval) {
            let status = status(&pipeline, &*source, config, unsampled, &error, finished);
            // The last status must arrive; a periodic one that does not fit goes next poll.
            if pipeline.sink_mut().offer(Work::Status(Box::new(status)), finished).is_none() {
                last_status = Some(Instant::now());
            }
        }
        if finished || pipeline.sink().gone {
            break;
        }
    }
}

/// Live capture's counters, flattened, for [`DropWarnings`].
fn live_counters(pipeline: &Pipeline<FactSink>, source: &dyn SegmentSource) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    flatten_numbers("", &source.counters(), '.', &mut out);
    flatten_numbers("", &pipeline.stats(), '.', &mut out);
    flatten_numbers("queue_dropped", &pipeline.sink().dropped, '.', &mut out);
    out
}

impl CaptureStatus {
    /// Before the first poll: what the source is, and the settings already known.
    pub(super) fn starting(source: SourceInfo, config: &ServeConfig) -> Self {
        let capture = CaptureInfo { source, ..CaptureInfo::default() };
        let sampling = SamplingInfo { probability: config.sampling, segments_sampled_out: 0 };
        let queue = QueueInfo {
            capacity_messages: queue_batches(config) * FACTS_PER_BATCH,
            dropped: QueueDropped::default(),
        };
        CaptureStatus {
            info: Info { capture, sampling, queue, ..Info::default() },
            // Ready (`/healthz` 200) once the capture thread has read from the source: for
            // live capture, the programs are attached and the ring is being drained.
            health: Err("starting: the source has not been read yet".to_owned()),
            live_connections: 0,
            finished: false,
            quorum: None,
        }
    }
}

fn status(
    pipeline: &Pipeline<FactSink>,
    source: &dyn SegmentSource,
    config: &ServeConfig,
    unsampled: u64,
    error: &Option<String>,
    finished: bool,
) -> CaptureStatus {
    let info = source.info();
    // A failed source, or a live one that stopped, is unhealthy; a replay that ended is not
    // (the daemon keeps serving its result).
    let health = match (error, finished && info.live) {
        (Some(e), _) => Err(format!("capture failed: {e}")),
        (None, true) => Err("live capture stopped".to_owned()),
        (None, false) => source.health(),
    };
    // A source that is running but not capturing (its interface went away) says why here too.
    let error = error.clone().or_else(|| health.clone().err());
    CaptureStatus {
        info: Info {
            capture: CaptureInfo {
                source: info,
                stats: source.counters().info(),
                error,
                elapsed_seconds: 0.0,
            },
            pipeline: pipeline.stats(),
            sampling: SamplingInfo {
                probability: config.sampling,
                segments_sampled_out: unsampled,
            },
            queue: QueueInfo {
                capacity_messages: queue_batches(config) * FACTS_PER_BATCH,
                dropped: pipeline.sink().dropped,
            },
            connections: ConnectionsInfo { live: pipeline.connections(), ..Default::default() },
            ..Info::default()
        },
        health,
        live_connections: pipeline.connections(),
        finished,
        quorum: pipeline.sink().quorum.view().map(Arc::new),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::tcp::ConnKey;

    fn sink(work: SyncSender<Work>, spare: Receiver<FactBatch>, drop_when_full: bool) -> FactSink {
        FactSink {
            batch: FactBatch::default(),
            work,
            spare,
            drop_when_full,
            dropped: QueueDropped::default(),
            gone: false,
            last_sent: Instant::now(),
            quorum: QuorumState::default(),
        }
    }

    /// Live capture never waits for aggregation: a batch that does not fit is dropped and
    /// its messages counted; the next one goes through once there is room.
    #[test]
    fn a_full_queue_drops_and_counts_in_live_capture() {
        let (work_tx, work_rx) = mpsc::sync_channel(1);
        let (_spare_tx, spare_rx) = mpsc::channel();
        let mut s = sink(work_tx, spare_rx, true);
        let conn = ConnKey {
            client: "10.0.0.1:5000".parse().unwrap(),
            server: "10.0.0.2:2181".parse().unwrap(),
        };
        let close = |s: &mut FactSink, n| {
            for i in 0..n {
                s.closed(&conn, Timestamp(i), CloseReason::Fin);
            }
            s.send();
        };
        close(&mut s, 2); // fills the queue
        close(&mut s, 3); // dropped
        assert_eq!((s.dropped.other, s.batch.len(), s.gone), (3, 0, false));
        let Ok(Work::Facts(b)) = work_rx.try_recv() else { panic!("the first batch") };
        assert_eq!(b.len(), 2);
        close(&mut s, 1);
        assert!(matches!(work_rx.try_recv(), Ok(Work::Facts(b)) if b.len() == 1));
        drop(work_rx);
        close(&mut s, 1);
        assert!(s.gone);
    }
}
