//! Windows driven by an injectable clock: capture time, so replays are deterministic.

use crate::Timestamp;

/// Consecutive windows of a fixed length, the first starting at the first instant observed.
#[derive(Clone, Debug)]
pub struct WindowClock {
    len_ns: u64,
    start: Option<u64>,
}

/// What observing an instant did to the windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advance {
    /// Still in the current window (or the clock went backwards: kept in the current one).
    Same,
    /// The current window ended; `skipped` empty windows followed it before `now`.
    Rolled { ended_at: Timestamp, skipped: u64 },
}

impl WindowClock {
    /// Windows of `len_ns` nanoseconds (at least 1).
    pub fn new(len_ns: u64) -> Self {
        WindowClock { len_ns: len_ns.max(1), start: None }
    }

    /// Start of the current window, once one has begun.
    pub fn start(&self) -> Option<Timestamp> {
        self.start.map(Timestamp)
    }

    /// The window length in nanoseconds.
    pub fn len_ns(&self) -> u64 {
        self.len_ns
    }

    /// Windows from the current one on last `len_ns`.
    pub fn set_len(&mut self, len_ns: u64) {
        self.len_ns = len_ns.max(1);
    }

    /// Moves the clock to `now`.
    pub fn observe(&mut self, now: Timestamp) -> Advance {
        let Some(start) = self.start else {
            self.start = Some(now.0);
            return Advance::Same;
        };
        let elapsed = now.0.saturating_sub(start) / self.len_ns;
        if elapsed == 0 {
            return Advance::Same;
        }
        let ended_at = Timestamp(start.saturating_add(self.len_ns));
        self.start = Some(start.saturating_add(elapsed.saturating_mul(self.len_ns)));
        Advance::Rolled { ended_at, skipped: elapsed - 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolls_on_boundaries() {
        let mut c = WindowClock::new(10);
        assert_eq!(c.observe(Timestamp(100)), Advance::Same);
        assert_eq!(c.observe(Timestamp(109)), Advance::Same);
        assert_eq!(c.observe(Timestamp(50)), Advance::Same);
        assert_eq!(
            c.observe(Timestamp(110)),
            Advance::Rolled { ended_at: Timestamp(110), skipped: 0 }
        );
        assert_eq!(
            c.observe(Timestamp(145)),
            Advance::Rolled { ended_at: Timestamp(120), skipped: 2 }
        );
        assert_eq!(c.start(), Some(Timestamp(140)));
    }
}
