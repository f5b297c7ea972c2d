//! The interface description block: an interface's link type, snap length and timestamp
//! units.

use pcap_parser::pcapng::{
    OptionCode, parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le,
};

use crate::Timestamp;
use crate::capture::link::LinkType;
use crate::capture::pcap::context::{Context, Step, describe};
use crate::capture::pcap::error::CaptureError;
use crate::capture::pcap_write::units_per_sec;

/// Interfaces per pcapng section: each costs memory, and the obsolete packet block can only
/// address 65 536 of them anyway.
const MAX_INTERFACES: usize = 1 << 16;

/// One described interface, as its packets need it.
#[derive(Clone, Copy)]
pub(super) struct NgInterface {
    /// Link type of its frames.
    pub(super) link: LinkType,
    /// 0: no limit.
    pub(super) snaplen: u32,
    /// Timestamp units per second (`if_tsresol`).
    units_per_sec: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset_secs: i64,
}

impl NgInterface {
    /// The time of a packet stamped `high`:`low` (64 bits of the interface's units).
    pub(super) fn timestamp(&self, high: u32, low: u32) -> Timestamp {
        let units = (u128::from(high) << 32) | u128::from(low);
        // u128/i128: 2^64 units × 10^9 cannot overflow, and offsets may be negative.
        let nanos = (units * 1_000_000_000 / u128::from(self.units_per_sec.max(1))) as i128
            + i128::from(self.offset_secs) * 1_000_000_000;
        Timestamp(nanos.clamp(0, i128::from(u64::MAX)) as u64)
    }
}

/// An interface description block: adds the interface to `interfaces`, those of a section in
/// `big_endian` byte order.
pub(super) fn interface_description(
    interfaces: &mut Vec<NgInterface>,
    big_endian: bool,
    cx: &mut Context<'_>,
    len: usize,
) -> Result<Step, CaptureError> {
    let block = &cx.input.data()[..len];
    let parsed = if big_endian {
        parse_interfacedescriptionblock_be(block)
    } else {
        parse_interfacedescriptionblock_le(block)
    };
    let idb = match parsed {
        Ok((_, idb)) => idb,
        Err(e) => {
            return Err(cx.corrupt(format!("bad interface description: {}", describe(&e))));
        }
    };
    // pcap-parser reads if_tsoffset little-endian whatever the section's byte order.
    let offset_secs =
        idb.options
            .iter()
            .find(|option| option.code == OptionCode::IfTsoffset)
            .and_then(|option| option.as_bytes().ok())
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            .map_or(0, |bytes| {
                if big_endian { i64::from_be_bytes(bytes) } else { i64::from_le_bytes(bytes) }
            });
    let link = LinkType::from_code(u32::from(idb.linktype.0 as u16));
    let snaplen = idb.snaplen;
    let tsresol = idb.if_tsresol;
    let units = units_per_sec(tsresol).filter(|&units| units > 0);
    if interfaces.len() >= MAX_INTERFACES {
        return Err(cx.corrupt(format!("more than {MAX_INTERFACES} interfaces in one section")));
    }
    let whose = format!("interface {} (offset {})", interfaces.len(), cx.input.offset);
    cx.check_link_type(link, &whose);
    if units.is_none() {
        let message = format!(
            "{}: offset {}: interface {} has if_tsresol 0x{tsresol:02x}, which is out of \
             range; reading its timestamps as microseconds",
            cx.name,
            cx.input.offset,
            interfaces.len()
        );
        cx.warn(message);
    }
    interfaces.push(NgInterface {
        link,
        snaplen,
        units_per_sec: units.unwrap_or(1_000_000),
        offset_secs,
    });
    cx.stats.interfaces += 1;
    Ok(Step::Skip { len })
}
