//! The section header block: a section's byte order, and the state that lasts as long as
//! the section.

use pcap_parser::pcapng::parse_sectionheaderblock;

use super::interface::NgInterface;
use crate::Timestamp;
use crate::capture::pcap::context::{Context, Step, describe};
use crate::capture::pcap::error::CaptureError;

/// State of the current pcapng section.
#[derive(Default)]
pub(in crate::capture::pcap) struct NgSection {
    /// Byte order of the section's blocks.
    pub(super) big_endian: bool,
    /// The interfaces the section described, by id.
    pub(super) interfaces: Vec<NgInterface>,
    /// Simple packet blocks carry no timestamp: they get the previous packet's.
    pub(super) last_ts: Timestamp,
    /// A packet for an undescribed interface was warned about.
    pub(super) warned_unknown_interface: bool,
}

impl NgSection {
    /// A section header block: a new section in `big_endian` byte order, with no interfaces.
    pub(super) fn section_header(
        &mut self,
        cx: &mut Context<'_>,
        big_endian: bool,
        len: usize,
    ) -> Result<Step, CaptureError> {
        let version = match parse_sectionheaderblock(&cx.input.data()[..len]) {
            Ok((_, shb)) => (shb.major_version, shb.minor_version),
            Err(e) => return Err(cx.corrupt(format!("bad section header: {}", describe(&e)))),
        };
        if version.0 != 1 {
            return Err(cx.corrupt(format!(
                "pcapng version {}.{} is not supported (only 1.x)",
                version.0, version.1
            )));
        }
        self.big_endian = big_endian;
        self.interfaces.clear();
        cx.stats.sections += 1;
        Ok(Step::Skip { len })
    }
}
