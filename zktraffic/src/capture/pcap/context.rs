//! What a record parser may use of the reader: the input, the file's name, the counters and
//! the warnings ([`Context`]), and what it hands back ([`Step`]).

use pcap_parser::{PcapError, nom};

use super::error::CaptureError;
use super::input::Input;
use super::stats::CaptureStats;
use crate::Timestamp;
use crate::capture::link::LinkType;

/// Warnings kept as text; further ones are only counted.
const MAX_WARNINGS: usize = 100;

/// The reader's state that record parsers share, borrowed field by field so that the reader
/// can lend it next to its per-format state.
pub(super) struct Context<'a> {
    /// The name used in messages (the path, or `<stdin>`).
    pub(super) name: &'a str,
    /// The input; its next record starts at `input.data()[0]`.
    pub(super) input: &'a mut Input,
    /// The reader's counters.
    pub(super) stats: &'a mut CaptureStats,
    /// The warnings kept as text.
    pub(super) warnings: &'a mut Vec<String>,
}

/// What the next record is, without borrowing the buffer (so the caller can).
pub(super) enum Step {
    /// A packet whose data is `data()[start..end]`; the record is `len` bytes long.
    Packet { link: LinkType, ts: Timestamp, orig_len: u32, start: usize, end: usize, len: usize },
    /// A record to pass over.
    Skip { len: usize },
    /// Nothing more to read.
    End,
}

impl Context<'_> {
    /// Makes `want` bytes available if the input has them; returns how many are.
    pub(super) fn fill(&mut self, want: usize) -> Result<usize, CaptureError> {
        self.input.fill(want).map_err(|source| CaptureError::Read {
            name: self.name.to_string(),
            offset: self.input.offset + self.input.data().len() as u64,
            source,
        })
    }

    /// The record at the current offset is damaged.
    pub(super) fn corrupt(&self, detail: String) -> CaptureError {
        CaptureError::Corrupt { name: self.name.to_string(), offset: self.input.offset, detail }
    }

    /// Counts a warning, and keeps its text if fewer than [`MAX_WARNINGS`] are kept.
    pub(super) fn warn(&mut self, message: String) {
        self.stats.warnings += 1;
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(message);
        }
    }

    /// The input ended inside a record: keep what came before, say so, stop.
    pub(super) fn truncated(&mut self, present: usize, needed: usize) -> Step {
        self.stats.truncated_records += 1;
        let message = format!(
            "{}: the last record (offset {}) is truncated: {present} of {needed} bytes present; \
             ignored it (was the capture still being written?)",
            self.name, self.input.offset
        );
        self.warn(message);
        Step::End
    }

    /// Says once per file or interface that its frames will all be skipped.
    pub(super) fn check_link_type(&mut self, link: LinkType, whose: &str) {
        if let LinkType::Unsupported(code) = link {
            let message = format!(
                "{}: {whose} has link type {code}, which zktraffic does not decode; its frames \
                 are skipped (supported: Ethernet, Linux cooked v1/v2, raw IP, BSD loopback)",
                self.name
            );
            self.warn(message);
        }
    }
}

/// A pcap-parser error, without the input bytes its `Display` would dump.
pub(super) fn describe(e: &nom::Err<PcapError<&[u8]>>) -> String {
    match e {
        nom::Err::Incomplete(_) => "its fields run past its end".to_string(),
        nom::Err::Error(e) | nom::Err::Failure(e) => match e {
            PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
                format!("invalid content ({kind:?})")
            }
            other => format!("{other:?}"),
        },
    }
}
