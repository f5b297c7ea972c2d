//! The packet blocks: enhanced (EPB), simple (SPB) and the obsolete packet block.

use std::ops::Range;

use pcap_parser::pcapng::{
    parse_enhancedpacketblock_be, parse_enhancedpacketblock_le, parse_simplepacketblock_be,
    parse_simplepacketblock_le,
};

use super::section::NgSection;
use crate::capture::pcap::context::{Context, Step, describe};
use crate::capture::pcap::error::CaptureError;

/// The obsolete pcapng Packet Block, superseded by the Enhanced Packet Block; pcap-parser has
/// no constant for it.
pub(super) const OBSOLETE_PB_MAGIC: u32 = 0x0000_0002;

impl NgSection {
    /// An enhanced packet block.
    pub(super) fn enhanced_packet(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
    ) -> Result<Step, CaptureError> {
        let block = &cx.input.data()[..len];
        let parsed = if self.big_endian {
            parse_enhancedpacketblock_be(block)
        } else {
            parse_enhancedpacketblock_le(block)
        };
        let (if_id, high, low, caplen, orig_len) = match parsed {
            Ok((_, epb)) => (epb.if_id, epb.ts_high, epb.ts_low, epb.caplen, epb.origlen),
            Err(e) => {
                return Err(cx.corrupt(format!("bad enhanced packet block: {}", describe(&e))));
            }
        };
        // pcap-parser checked that caplen (padded) fits the block; the data starts at 28.
        self.packet(cx, if_id, Some((high, low)), 28..28 + caplen as usize, orig_len, len)
    }

    /// A simple packet block: interface 0, the previous packet's time.
    pub(super) fn simple_packet(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
    ) -> Result<Step, CaptureError> {
        let block = &cx.input.data()[..len];
        let parsed = if self.big_endian {
            parse_simplepacketblock_be(block)
        } else {
            parse_simplepacketblock_le(block)
        };
        let orig_len = match parsed {
            Ok((_, spb)) => spb.origlen,
            Err(e) => {
                return Err(cx.corrupt(format!("bad simple packet block: {}", describe(&e))));
            }
        };
        // Captured length: the original length, cut to the interface's snap length and to
        // the block (which holds it padded).
        let mut caplen = (orig_len as usize).min(len - 16);
        if let Some(interface) = self.interfaces.first()
            && interface.snaplen != 0
        {
            caplen = caplen.min(interface.snaplen as usize);
        }
        self.packet(cx, 0, None, 12..12 + caplen, orig_len, len)
    }

    /// The pre-EPB "Packet Block" (type 2), which pcap-parser leaves unparsed: 16-bit interface
    /// id and drop count, then the same fields as an EPB.
    pub(super) fn obsolete_packet(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
    ) -> Result<Step, CaptureError> {
        let block = &cx.input.data()[..len];
        if len < 32 {
            return Err(cx.corrupt(format!(
                "packet block of {len} bytes is shorter than its 32-byte header"
            )));
        }
        let big_endian = self.big_endian;
        let u32_at = |at: usize| {
            let b = [block[at], block[at + 1], block[at + 2], block[at + 3]];
            if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
        };
        let if_id = if big_endian {
            u16::from_be_bytes([block[8], block[9]])
        } else {
            u16::from_le_bytes([block[8], block[9]])
        };
        let (high, low, caplen, orig_len) = (u32_at(12), u32_at(16), u32_at(20), u32_at(24));
        if caplen as usize > len - 32 {
            return Err(cx.corrupt(format!(
                "packet block claims {caplen} captured bytes but holds at most {}",
                len - 32
            )));
        }
        self.packet(
            cx,
            u32::from(if_id),
            Some((high, low)),
            28..28 + caplen as usize,
            orig_len,
            len,
        )
    }

    /// A packet on interface `if_id` at `ts` (`None`: the previous packet's time) whose
    /// captured bytes are `data` of its `len`-byte block.
    fn packet(
        &mut self,
        cx: &mut Context<'_>,
        if_id: u32,
        ts: Option<(u32, u32)>,
        data: Range<usize>,
        orig_len: u32,
        len: usize,
    ) -> Result<Step, CaptureError> {
        let Some(interface) = self.interfaces.get(if_id as usize).copied() else {
            cx.stats.skipped_unknown_interface += 1;
            if !self.warned_unknown_interface {
                self.warned_unknown_interface = true;
                let message = format!(
                    "{}: offset {}: packet for interface {if_id}, but the section describes only \
                     {}; skipping such packets",
                    cx.name,
                    cx.input.offset,
                    self.interfaces.len()
                );
                cx.warn(message);
            }
            return Ok(Step::Skip { len });
        };
        let ts = match ts {
            Some((high, low)) => interface.timestamp(high, low),
            None => self.last_ts,
        };
        self.last_ts = ts;
        let (start, end) = (data.start, data.end);
        Ok(Step::Packet { link: interface.link, ts, orig_len, start, end, len })
    }
}
