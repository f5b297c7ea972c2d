//! A capture file replayed at its own pace (`top --pcap FILE --speed N`): each segment is
//! handed on when as much wall-clock time has passed since the first, divided by the speed,
//! as capture time did.

use std::time::{Duration, Instant};

use crate::Timestamp;
use crate::capture::{
    OwnedSegment, Poll, Segment, SegmentSource, SourceCounters, SourceError, SourceInfo,
};

/// Longest sleep of one poll: the caller publishes and notices a stop this often.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// `inner` slowed down to `speed` × its capture pace.
pub struct PacedSource {
    inner: Box<dyn SegmentSource>,
    speed: f64,
    /// The first segment's capture time and when it was handed on.
    origin: Option<(Timestamp, Instant)>,
    /// One segment read ahead, waiting for its time.
    held: Option<OwnedSegment>,
    /// The last payload buffer handed on, for the next read.
    spare: Vec<u8>,
    finished: bool,
}

impl PacedSource {
    /// Replays `inner` at `speed` (greater than 0) times its capture pace.
    pub fn new(inner: Box<dyn SegmentSource>, speed: f64) -> Self {
        PacedSource { inner, speed, origin: None, held: None, spare: Vec::new(), finished: false }
    }

    /// How long until `ts` is due (zero when it is).
    fn wait_for(&mut self, ts: Timestamp, now: Instant) -> Duration {
        let (t0, wall0) = *self.origin.get_or_insert((ts, now));
        let capture = Duration::from_nanos(ts.0.saturating_sub(t0.0));
        (wall0 + capture.div_f64(self.speed)).saturating_duration_since(now)
    }

    /// Reads the next segment into `held` (none when the input is quiet or ended).
    fn read_ahead(&mut self) -> Result<(), SourceError> {
        let mut spare = Some(std::mem::take(&mut self.spare));
        let mut held = None;
        let polled = self.inner.poll(1, &mut |s| {
            held = Some(OwnedSegment::copy_into(s, spare.take().unwrap_or_default()));
        })?;
        self.spare = spare.unwrap_or_default();
        self.held = held;
        self.finished |= polled == Poll::Finished;
        Ok(())
    }
}

impl SegmentSource for PacedSource {
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }

    fn poll(
        &mut self,
        max: usize,
        sink: &mut dyn FnMut(&Segment<'_>),
    ) -> Result<Poll, SourceError> {
        let mut delivered = 0;
        let started = Instant::now();
        while delivered < max {
            if self.held.is_none() {
                if self.finished {
                    break;
                }
                self.read_ahead()?;
            }
            let Some(ts) = self.held.as_ref().map(|h| h.ts) else { break };
            let now = Instant::now();
            let wait = self.wait_for(ts, now);
            if !wait.is_zero() {
                let left = MAX_WAIT.saturating_sub(now - started);
                if delivered > 0 || left.is_zero() {
                    break;
                }
                std::thread::sleep(wait.min(left));
                continue;
            }
            if let Some(h) = self.held.take() {
                sink(&h.segment());
                self.spare = h.payload;
                delivered += 1;
            }
        }
        Ok(match delivered {
            0 if self.finished && self.held.is_none() => Poll::Finished,
            0 => Poll::Idle,
            n => Poll::Delivered(n),
        })
    }

    fn counters(&self) -> SourceCounters {
        self.inner.counters()
    }

    fn health(&self) -> Result<(), String> {
        self.inner.health()
    }

    fn warnings(&self) -> Vec<String> {
        self.inner.warnings()
    }
}
