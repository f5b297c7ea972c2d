//! The aggregation thread: facts from the capture thread → [`Aggregator`] → immutable
//! [`Snapshot`]s, published when a window closes and, for the cumulative scope, at most every
//! `publish_interval` (more rarely when publishing is expensive). With `recent_ns` it also keeps
//! the windows of that span and a point per window (`top`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use tokio::sync::watch;

use super::ServeConfig;
use super::capture::{CaptureStatus, Work};
use super::control::Control;
use super::info::{AggregationInfo, WindowInfo};
use super::snapshot::{HISTORY, Snapshot, View, WindowPoint};
use crate::Timestamp;
use crate::stats::Aggregator;
use crate::stats::fact::FactBatch;

/// Runs until the capture thread hangs up.
pub(super) fn run(
    config: &ServeConfig,
    work: Receiver<Work>,
    spare: Sender<FactBatch>,
    tx: &watch::Sender<Arc<Snapshot>>,
    first: CaptureStatus,
    started: Instant,
    control: &Control,
) {
    let capture_start = Instant::now();
    let mut agg = Aggregator::new(config.stats);
    let mut status = first;
    let mut window = tx.borrow().window.clone();
    let mut recent = Recent::default();
    let mut last_publish = Instant::now();
    // Publishing copies the cumulative totals; spacing publications by 20× their cost keeps
    // that under 5 % of the aggregation thread whatever the cardinality.
    let mut publish_every = config.publish_interval;
    while let Ok(w) = work.recv() {
        let mut publish = false;
        if let Some(next) = control.reconfigure.lock().ok().and_then(|mut n| n.take()) {
            tracing::info!(
                "aggregation settings change when the current window closes: window {} s, \
                 at most {} paths, {} IPs, {} keys",
                next.window_ns / 1_000_000_000,
                next.limits.max_paths,
                next.limits.max_ips,
                next.limits.max_keys
            );
            agg.reconfigure(next);
        }
        if control.reset.swap(false, Ordering::Relaxed) {
            agg.reset();
            recent = Recent::default();
            let empty = crate::stats::Tally::new(config.stats.limits);
            window = Arc::new(View::new(empty, agg.connections().clone()));
            publish = true;
        }
        match w {
            Work::Facts(mut batch) => {
                for f in batch.iter() {
                    agg.apply(f);
                }
                batch.clear();
                // The capture thread may be gone; the batch is then simply dropped.
                let _ = spare.send(batch);
            }
            Work::Idle(idle) => {
                let last = agg.last_ts();
                if last != Timestamp::default() {
                    agg.advance_to(Timestamp(last.0.saturating_add(idle.as_nanos() as u64)));
                }
            }
            Work::Status(s) => {
                // A change of health (ready, interface lost or back) is published at once.
                let health_changed = s.health.is_ok() != status.health.is_ok();
                status = *s;
                if status.finished {
                    agg.finish();
                }
                publish =
                    status.finished || health_changed || last_publish.elapsed() >= publish_every;
            }
        }
        let mut closed = agg.take_all_completed();
        if closed.is_empty() && !publish {
            continue;
        }
        let cost = Instant::now();
        if config.recent_ns > 0 {
            for t in &closed[..closed.len().saturating_sub(1)] {
                recent.add(Arc::new(View::new(t.clone(), agg.connections().clone())), config);
            }
        }
        if let Some(t) = closed.pop() {
            tracing::debug!(
                "window closed: {} to {}, {} requests, {} replies, {} events",
                t.start,
                t.end,
                t.counts.requests,
                t.counts.replies,
                t.counts.events
            );
            window = Arc::new(View::new(t, agg.connections().clone()));
            if config.recent_ns > 0 {
                recent.add(window.clone(), config);
            }
        }
        let mut snap = snapshot(&agg, &status, &window, started, capture_start);
        snap.recent = recent.windows.iter().cloned().collect();
        snap.history = recent.history.iter().copied().collect();
        tx.send_replace(Arc::new(snap));
        last_publish = Instant::now();
        publish_every = config.publish_interval.max(cost.elapsed() * 20);
    }
}

/// The windows of the last `recent_ns` that held traffic, and a point per window.
#[derive(Default)]
struct Recent {
    windows: VecDeque<Arc<View>>,
    history: VecDeque<WindowPoint>,
}

impl Recent {
    fn add(&mut self, w: Arc<View>, config: &ServeConfig) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(WindowPoint::of(&w.tally));
        let end = w.tally.end.0;
        let c = &w.tally.counts;
        if c.requests + c.replies + c.events + c.pings > 0 {
            self.windows.push_back(w);
        }
        let from = end.saturating_sub(config.recent_ns);
        while self.windows.front().is_some_and(|v| v.tally.end.0 <= from) {
            self.windows.pop_front();
        }
    }
}

fn snapshot(
    agg: &Aggregator,
    status: &CaptureStatus,
    window: &Arc<View>,
    started: Instant,
    capture_start: Instant,
) -> Snapshot {
    let conns = agg.connections();
    let cumulative = agg.cumulative();
    let mut info = status.info.clone();
    info.capture.elapsed_seconds = capture_start.elapsed().as_secs_f64();
    info.aggregation = Some(AggregationInfo {
        window_seconds: agg.config().window_ns as f64 / 1e9,
        windows_completed: agg.windows_completed,
        current_window_start: agg.window_start().map(|t| t.to_string()),
        last_packet: agg.last_ts().to_string(),
        window: WindowInfo {
            start: window.tally.start.to_string(),
            end: window.tally.end.to_string(),
            counts: window.tally.counts.clone(),
        },
        cumulative: cumulative.counts.clone(),
        distinct_paths: cumulative.paths.len(),
        max_paths: agg.config().limits.max_paths,
    });
    let c = &mut info.connections;
    c.tracked = conns.len();
    c.open = conns.open();
    c.sessions = conns.sessions();
    c.not_tracked = conns.overflowed;
    c.expired = conns.expired;
    c.closed = conns.closed;
    Snapshot {
        window: window.clone(),
        cumulative: Arc::new(View::new(cumulative, conns.clone())),
        recent: Vec::new(),
        history: Vec::new(),
        info,
        health: status.health.clone(),
        finished: status.finished,
        started,
        live_connections: status.live_connections,
        quorum: status.quorum.clone(),
        metrics: Default::default(),
    }
}
