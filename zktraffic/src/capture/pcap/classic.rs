//! Classic pcap: the file header's settings and the records after it.

use pcap_parser::{PcapHeader, parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified};

use super::context::{Context, Step, describe};
use super::error::CaptureError;
use super::input::MAX_RECORD_LEN;
use crate::Timestamp;
use crate::capture::link::LinkType;

/// libpcap's largest snap length: a classic record longer than this and than the file's snap
/// length is corruption (libpcap refuses it the same way).
const LIBPCAP_MAX_SNAPLEN: usize = 262_144;

/// What the file header says about every record.
#[derive(Clone, Copy)]
pub(super) struct PcapFile {
    /// Fields are big-endian.
    big_endian: bool,
    /// Timestamps have nanoseconds (else microseconds).
    nanos: bool,
    /// Kuznetzov's patched format: 8 more bytes per record header.
    modified: bool,
    /// The file's snap length.
    snaplen: u32,
    /// Link type of every frame.
    pub(super) link: LinkType,
}

impl PcapFile {
    /// The settings of a file with this header.
    pub(super) fn new(header: &PcapHeader) -> Self {
        PcapFile {
            big_endian: header.is_bigendian(),
            nanos: header.is_nanosecond_precision(),
            modified: header.is_modified_format(),
            snaplen: header.snaplen,
            // The upper 16 bits carry FCS information, not the link type.
            link: LinkType::from_code(header.network.0 as u32 & 0xffff),
        }
    }

    /// Frames the next record and parses its header.
    pub(super) fn next_record(&self, cx: &mut Context<'_>) -> Result<Step, CaptureError> {
        let header_len = if self.modified { 24 } else { 16 };
        let available = cx.fill(header_len)?;
        if available == 0 {
            return Ok(Step::End);
        }
        if available < header_len {
            return Ok(cx.truncated(available, header_len));
        }
        let field = &cx.input.data()[8..12];
        let field = [field[0], field[1], field[2], field[3]];
        let caplen =
            if self.big_endian { u32::from_be_bytes(field) } else { u32::from_le_bytes(field) }
                as usize;
        if caplen > (self.snaplen as usize).max(LIBPCAP_MAX_SNAPLEN) {
            return Err(cx.corrupt(format!(
                "record claims {caplen} captured bytes, more than the file's snap length {}",
                self.snaplen
            )));
        }
        let len = header_len + caplen;
        if len > MAX_RECORD_LEN {
            return Err(cx.corrupt(format!(
                "record of {len} bytes exceeds the {MAX_RECORD_LEN}-byte limit"
            )));
        }
        let available = cx.fill(len)?;
        if available < len {
            return Ok(cx.truncated(available, len));
        }
        let record = &cx.input.data()[..len];
        let parsed = if self.modified {
            parse_pcap_frame_modified(record)
        } else if self.big_endian {
            parse_pcap_frame_be(record)
        } else {
            parse_pcap_frame(record)
        };
        let (ts_sec, ts_frac, origlen) = match parsed {
            Ok((_, frame)) => (frame.ts_sec, frame.ts_usec, frame.origlen),
            Err(e) => return Err(cx.corrupt(format!("bad record: {}", describe(&e)))),
        };
        let frac_nanos = if self.nanos { u64::from(ts_frac) } else { u64::from(ts_frac) * 1000 };
        let ts =
            Timestamp(u64::from(ts_sec).saturating_mul(1_000_000_000).saturating_add(frac_nanos));
        Ok(Step::Packet {
            link: self.link,
            ts,
            orig_len: origlen,
            start: header_len,
            end: len,
            len,
        })
    }
}
