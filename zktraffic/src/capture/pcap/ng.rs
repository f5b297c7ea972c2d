//! pcapng: blocks framed here and parsed by pcap-parser, one file per block type — the section
//! header ([`section`]), interface descriptions ([`interface`]) and the packet blocks
//! ([`packet`]); every other block is counted and passed over.

mod interface;
mod packet;
mod section;

use pcap_parser::pcapng::{BOM_MAGIC, EPB_MAGIC, IDB_MAGIC, SHB_MAGIC, SPB_MAGIC};

use packet::OBSOLETE_PB_MAGIC;
pub(super) use section::NgSection;

use super::context::{Context, Step};
use super::error::CaptureError;
use super::input::MAX_RECORD_LEN;

impl NgSection {
    /// Frames the next block (type, lengths, trailer) and hands it to its block type's parser.
    pub(super) fn next_block(&mut self, cx: &mut Context<'_>) -> Result<Step, CaptureError> {
        let available = cx.fill(12)?;
        if available == 0 {
            return Ok(Step::End);
        }
        if available < 12 {
            return Ok(cx.truncated(available, 12));
        }
        let head = cx.input.data();
        let word = |at: usize| [head[at], head[at + 1], head[at + 2], head[at + 3]];
        // A section header carries its own byte order; other blocks use the section's.
        let big_endian = if u32::from_le_bytes(word(0)) == SHB_MAGIC {
            match u32::from_le_bytes(word(8)) {
                BOM_MAGIC => false,
                bom if bom == BOM_MAGIC.swap_bytes() => true,
                bom => {
                    return Err(cx.corrupt(format!(
                        "section header with unknown byte-order magic 0x{bom:08x}"
                    )));
                }
            }
        } else {
            self.big_endian
        };
        let u32_at = |bytes: [u8; 4]| {
            if big_endian { u32::from_be_bytes(bytes) } else { u32::from_le_bytes(bytes) }
        };
        let block_type = u32_at(word(0));
        let len = u32_at(word(4)) as usize;
        if len < 12 || !len.is_multiple_of(4) {
            return Err(cx.corrupt(format!(
                "block of type 0x{block_type:08x} has length {len} (must be a multiple of 4, at \
                 least 12)"
            )));
        }
        if len > MAX_RECORD_LEN {
            return Err(cx.corrupt(format!(
                "block of type 0x{block_type:08x} has length {len}, more than the \
                 {MAX_RECORD_LEN}-byte limit"
            )));
        }
        let available = cx.fill(len)?;
        if available < len {
            return Ok(cx.truncated(available, len));
        }
        let block = &cx.input.data()[..len];
        let trailer = &block[len - 4..];
        let trailer = u32_at([trailer[0], trailer[1], trailer[2], trailer[3]]) as usize;
        if trailer != len {
            return Err(cx.corrupt(format!(
                "block of type 0x{block_type:08x} has length {len} at its start but {trailer} at \
                 its end"
            )));
        }
        match block_type {
            SHB_MAGIC => self.section_header(cx, big_endian, len),
            IDB_MAGIC => {
                interface::interface_description(&mut self.interfaces, self.big_endian, cx, len)
            }
            EPB_MAGIC => self.enhanced_packet(cx, len),
            SPB_MAGIC => self.simple_packet(cx, len),
            OBSOLETE_PB_MAGIC => self.obsolete_packet(cx, len),
            _ => {
                cx.stats.ignored_blocks += 1;
                Ok(Step::Skip { len })
            }
        }
    }
}
