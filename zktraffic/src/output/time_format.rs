//! Timestamp formats: zk-dump's `HH:MM:SS:micros` and RFC 3339 with microseconds.

use time::{OffsetDateTime, UtcOffset};

use crate::Timestamp;

/// Formats timestamps in one time zone, caching the calendar work per second.
#[derive(Debug)]
pub struct TimeFormatter {
    offset: UtcOffset,
    cached_secs: u64,
    cached_clock: String,
    cached_date: String,
}

impl TimeFormatter {
    /// Formats in UTC.
    pub fn utc() -> Self {
        Self::with_offset(UtcOffset::UTC)
    }

    /// Formats in the given offset from UTC.
    pub fn with_offset(offset: UtcOffset) -> Self {
        TimeFormatter {
            offset,
            cached_secs: u64::MAX,
            cached_clock: String::new(),
            cached_date: String::new(),
        }
    }

    /// The local time zone's offset. On Linux this must be asked before any thread starts
    /// (the `time` crate refuses otherwise); `None` when it cannot be determined.
    pub fn local_offset() -> Option<UtcOffset> {
        UtcOffset::current_local_offset().ok()
    }

    fn refresh(&mut self, ts: Timestamp) {
        if ts.secs() == self.cached_secs {
            return;
        }
        self.cached_secs = ts.secs();
        let t = OffsetDateTime::from_unix_timestamp(ts.secs().min(i64::MAX as u64) as i64)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .to_offset(self.offset);
        self.cached_clock = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
        let (h, m, _) = self.offset.as_hms();
        let zone = if self.offset.is_utc() {
            "Z".to_owned()
        } else {
            format!(
                "{}{:02}:{:02}",
                if self.offset.is_negative() { '-' } else { '+' },
                h.abs(),
                m.abs()
            )
        };
        self.cached_date = format!(
            "{:04}-{:02}-{:02}T{}|{}",
            t.year(),
            t.month() as u8,
            t.day(),
            self.cached_clock,
            zone
        );
    }

    /// zk-dump's `HH:MM:SS:micros`.
    pub fn clock(&mut self, ts: Timestamp) -> String {
        self.refresh(ts);
        format!("{}:{:06}", self.cached_clock, ts.subsec_nanos() / 1000)
    }

    /// RFC 3339 with microseconds, e.g. `2015-03-04T18:41:41.123456Z`.
    pub fn rfc3339(&mut self, ts: Timestamp) -> String {
        self.refresh(ts);
        let (date, zone) = self.cached_date.split_once('|').unwrap_or((&self.cached_date, "Z"));
        format!("{date}.{:06}{zone}", ts.subsec_nanos() / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let mut f = TimeFormatter::utc();
        let ts = Timestamp::from_parts(1_425_494_501, 123_456_789);
        assert_eq!(f.clock(ts), "18:41:41:123456");
        assert_eq!(f.rfc3339(ts), "2015-03-04T18:41:41.123456Z");
        let mut f = TimeFormatter::with_offset(UtcOffset::from_hms(-5, -30, 0).unwrap());
        assert_eq!(f.rfc3339(ts), "2015-03-04T13:11:41.123456-05:30");
        assert_eq!(f.clock(Timestamp(0)), "18:30:00:000000");
    }
}
