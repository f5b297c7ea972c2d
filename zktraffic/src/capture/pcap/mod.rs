//! pcap and pcapng capture files, read as a stream.
//!
//! [`CaptureReader`] reads classic pcap (µs or ns, either byte order) and pcapng (every section
//! and interface, each with its own link type, snap length and timestamp resolution) from a file
//! or from standard input, in bounded memory: records are framed here, in a buffer that grows
//! only for a record larger than itself and never beyond [`MAX_RECORD_LEN`]; each complete
//! record is then parsed by pcap-parser. Framing ourselves (rather than using pcap-parser's
//! streaming readers) is what lets us cap untrusted lengths before reading them, keep I/O errors
//! and file offsets for messages, and tell a truncated last record from corruption.
//!
//! Segments borrow the reader's buffer: nothing is copied between the file and the callback.

use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;

use pcap_parser::nom;
use pcap_parser::pcapng::{
    BOM_MAGIC, EPB_MAGIC, IDB_MAGIC, OptionCode, SHB_MAGIC, SPB_MAGIC,
    parse_enhancedpacketblock_be, parse_enhancedpacketblock_le, parse_interfacedescriptionblock_be,
    parse_interfacedescriptionblock_le, parse_sectionheaderblock, parse_simplepacketblock_be,
    parse_simplepacketblock_le,
};
use pcap_parser::{
    PcapError, parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
};

use super::Segment;
use super::link::{self, LinkType, SkipReason};
use super::pcap_write::units_per_sec;
use crate::Timestamp;

/// Largest record (pcap record header + data, or whole pcapng block) accepted. Real captures
/// stay under 256 KiB per frame; a larger length is corruption, and refusing it keeps a bad
/// length from making us allocate gigabytes.
pub const MAX_RECORD_LEN: usize = 16 << 20;
/// Read buffer size; it only grows (up to [`MAX_RECORD_LEN`]) for a record larger than this.
const INITIAL_BUFFER_LEN: usize = 256 << 10;
/// Warnings kept as text; further ones are only counted.
const MAX_WARNINGS: usize = 100;
/// Interfaces per pcapng section: each costs memory, and the obsolete packet block can only
/// address 65 536 of them anyway.
const MAX_INTERFACES: usize = 1 << 16;
/// libpcap's largest snap length: a classic record longer than this and than the file's snap
/// length is corruption (libpcap refuses it the same way).
const LIBPCAP_MAX_SNAPLEN: usize = 262_144;

/// The obsolete pcapng Packet Block, superseded by the Enhanced Packet Block; pcap-parser has
/// no constant for it.
const OBSOLETE_PB_MAGIC: u32 = 0x0000_0002;

/// Why a capture could not be read. Every variant names the file; offsets are byte offsets
/// from the start of the file (or of standard input).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened.
    #[error("{name}: cannot open: {source}")]
    Open {
        /// File name as given.
        name: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// Reading failed.
    #[error("{name}: read failed at offset {offset}: {source}")]
    Read {
        /// File name as given.
        name: String,
        /// Where the read was to start.
        offset: u64,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The input does not start like a pcap or pcapng file.
    #[error(
        "{name}: not a pcap or pcapng file (offset {offset}: {detail}); zktraffic reads captures \
         written by tcpdump -w, dumpcap or Wireshark"
    )]
    NotCapture {
        /// File name as given.
        name: String,
        /// Where the problem is.
        offset: u64,
        /// What was found instead.
        detail: String,
    },
    /// The file is damaged at `offset`; every record before it was delivered.
    #[error(
        "{name}: corrupt capture at offset {offset}: {detail}; records before it were processed, \
         the rest of the file was not"
    )]
    Corrupt {
        /// File name as given.
        name: String,
        /// Start of the damaged record.
        offset: u64,
        /// What is wrong with it.
        detail: String,
    },
}

/// What a [`CaptureReader`] has seen so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaptureStats {
    /// Packet records read (pcap records; pcapng enhanced, simple and obsolete packet blocks).
    pub frames: u64,
    /// Captured bytes in those records.
    pub captured_bytes: u64,
    /// Records captured shorter than they were on the wire (snap length).
    pub truncated_frames: u64,
    /// TCP segments delivered.
    pub tcp_segments: u64,
    /// Captured TCP payload bytes delivered.
    pub tcp_payload_bytes: u64,
    /// Delivered segments whose payload was cut short (`payload.len() < wire_len`).
    pub truncated_payloads: u64,
    /// Frames skipped: not IPv4/IPv6.
    pub skipped_not_ip: u64,
    /// Frames skipped: IP but not TCP.
    pub skipped_not_tcp: u64,
    /// Frames skipped: IP fragments.
    pub skipped_ip_fragments: u64,
    /// Frames skipped: link type not supported.
    pub skipped_unsupported_link: u64,
    /// Frames skipped: captured bytes end inside the headers.
    pub skipped_truncated_headers: u64,
    /// Frames skipped: impossible header values.
    pub skipped_malformed: u64,
    /// pcapng packets skipped because their interface was never described.
    pub skipped_unknown_interface: u64,
    /// pcapng sections started.
    pub sections: u64,
    /// pcapng interfaces described.
    pub interfaces: u64,
    /// pcapng blocks that carry no packets and were ignored (statistics, name resolution, …).
    pub ignored_blocks: u64,
    /// A last record cut off by the end of the file (0 or 1).
    pub truncated_records: u64,
    /// Warnings raised (also those beyond the ones kept as text).
    pub warnings: u64,
}

impl CaptureStats {
    fn count_skip(&mut self, reason: SkipReason) {
        let counter = match reason {
            SkipReason::NotIp => &mut self.skipped_not_ip,
            SkipReason::NotTcp => &mut self.skipped_not_tcp,
            SkipReason::Fragment => &mut self.skipped_ip_fragments,
            SkipReason::UnsupportedLink => &mut self.skipped_unsupported_link,
            SkipReason::TruncatedHeaders => &mut self.skipped_truncated_headers,
            SkipReason::Malformed => &mut self.skipped_malformed,
        };
        *counter += 1;
    }

    fn count_segment(&mut self, segment: &Segment<'_>) {
        self.tcp_segments += 1;
        self.tcp_payload_bytes += segment.payload.len() as u64;
        if (segment.payload.len() as u64) < u64::from(segment.wire_len) {
            self.truncated_payloads += 1;
        }
    }
}

/// One captured frame, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// Link type of the interface that captured it.
    pub link: LinkType,
    /// The captured bytes.
    pub data: &'a [u8],
    /// Length of the frame on the wire (≥ `data.len()` in a well-formed file).
    pub orig_len: u32,
    /// Offset of the frame's record in the file.
    pub offset: u64,
}

/// Streaming reader of a pcap or pcapng capture.
pub struct CaptureReader {
    name: String,
    input: Input,
    format: Format,
    ng: NgSection,
    stats: CaptureStats,
    warnings: Vec<String>,
    /// End of input, a truncated last record or an error was met: nothing more to read.
    finished: bool,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.name)
            .field("offset", &self.input.offset)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
enum Format {
    Pcap(PcapFile),
    PcapNg,
}

#[derive(Clone, Copy)]
struct PcapFile {
    big_endian: bool,
    nanos: bool,
    /// Kuznetzov's patched format: 8 more bytes per record header.
    modified: bool,
    snaplen: u32,
    link: LinkType,
}

/// State of the current pcapng section.
#[derive(Default)]
struct NgSection {
    big_endian: bool,
    interfaces: Vec<NgInterface>,
    /// Simple packet blocks carry no timestamp: they get the previous packet's.
    last_ts: Timestamp,
    warned_unknown_interface: bool,
}

#[derive(Clone, Copy)]
struct NgInterface {
    link: LinkType,
    /// 0: no limit.
    snaplen: u32,
    units_per_sec: u64,
    offset_secs: i64,
}

impl NgInterface {
    fn timestamp(&self, high: u32, low: u32) -> Timestamp {
        let units = (u128::from(high) << 32) | u128::from(low);
        // u128/i128: 2^64 units × 10^9 cannot overflow, and offsets may be negative.
        let nanos = (units * 1_000_000_000 / u128::from(self.units_per_sec.max(1))) as i128
            + i128::from(self.offset_secs) * 1_000_000_000;
        Timestamp(nanos.clamp(0, i128::from(u64::MAX)) as u64)
    }
}

/// What the next record is, without borrowing the buffer (so the caller can).
enum Step {
    /// A packet whose data is `data()[start..end]`; the record is `len` bytes long.
    Packet { link: LinkType, ts: Timestamp, orig_len: u32, start: usize, end: usize, len: usize },
    /// A record to pass over.
    Skip { len: usize },
    /// Nothing more to read.
    End,
}

impl CaptureReader {
    /// Opens a capture file; `-` reads standard input (e.g. `tcpdump -w - | zktraffic …`).
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        if path == Path::new("-") {
            return Self::from_reader("<stdin>".to_string(), Box::new(io::stdin()));
        }
        let name = path.display().to_string();
        match File::open(path) {
            Ok(file) => Self::from_reader(name, Box::new(file)),
            Err(source) => Err(CaptureError::Open { name, source }),
        }
    }

    /// Reads a capture from `reader`; `name` is used in messages. Reads and checks the file
    /// header.
    pub fn from_reader(name: String, reader: Box<dyn Read + Send>) -> Result<Self, CaptureError> {
        let mut input = Input::new(reader);
        if let Err(source) = input.fill(24) {
            return Err(CaptureError::Read { name, offset: 0, source });
        }
        let not_capture = |name: String, offset: u64, detail: String| {
            Err(CaptureError::NotCapture { name, offset, detail })
        };
        let head = input.data();
        let Some(magic) = head.get(..4) else {
            let detail = if head.is_empty() {
                "the input is empty".to_string()
            } else {
                format!("only {} bytes", head.len())
            };
            return not_capture(name, 0, detail);
        };
        let magic = [magic[0], magic[1], magic[2], magic[3]];
        let le = u32::from_le_bytes(magic);
        let be = u32::from_be_bytes(magic);
        let format = if matches!(le, 0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34)
            || matches!(be, 0xa1b2_c3d4 | 0xa1b2_3c4d)
        {
            let header = match head.get(..24).map(parse_pcap_header) {
                Some(Ok((_, header))) => header,
                _ => {
                    let detail = format!("pcap file header cut off after {} bytes", head.len());
                    return not_capture(name, 0, detail);
                }
            };
            input.consume(24);
            Format::Pcap(PcapFile {
                big_endian: header.is_bigendian(),
                nanos: header.is_nanosecond_precision(),
                modified: header.is_modified_format(),
                snaplen: header.snaplen,
                // The upper 16 bits carry FCS information, not the link type.
                link: LinkType::from_code(header.network.0 as u32 & 0xffff),
            })
        } else if le == SHB_MAGIC {
            let Some(bom) = head.get(8..12) else {
                let detail = format!("pcapng section header cut off after {} bytes", head.len());
                return not_capture(name, 0, detail);
            };
            let bom = u32::from_le_bytes([bom[0], bom[1], bom[2], bom[3]]);
            if bom != BOM_MAGIC && bom != BOM_MAGIC.swap_bytes() {
                let detail =
                    format!("pcapng section header with unknown byte-order magic 0x{bom:08x}");
                return not_capture(name, 8, detail);
            }
            // The section header itself is read like every other block.
            Format::PcapNg
        } else {
            let mut detail = format!("unknown magic 0x{be:08x}");
            if magic[..2] == [0x1f, 0x8b] {
                detail
                    .push_str(", gzip-compressed: decompress it first (zcat FILE | zktraffic … -)");
            }
            return not_capture(name, 0, detail);
        };
        let mut reader = CaptureReader {
            name,
            input,
            format,
            ng: NgSection::default(),
            stats: CaptureStats::default(),
            warnings: Vec::new(),
            finished: false,
        };
        if let Format::Pcap(file) = format {
            reader.check_link_type(file.link, "the file");
        }
        Ok(reader)
    }

    /// Says once per file or interface that its frames will all be skipped.
    fn check_link_type(&mut self, link: LinkType, whose: &str) {
        if let LinkType::Unsupported(code) = link {
            let message = format!(
                "{}: {whose} has link type {code}, which zktraffic does not decode; its frames \
                 are skipped (supported: Ethernet, Linux cooked v1/v2, raw IP, BSD loopback)",
                self.name
            );
            self.warn(message);
        }
    }

    /// The name used in messages (the path, or `<stdin>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counters so far.
    pub fn stats(&self) -> &CaptureStats {
        &self.stats
    }

    /// Problems that did not stop reading (truncated last record, unknown interfaces, …); the
    /// first 100 are kept, `stats().warnings` counts all.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Calls `f` for every TCP segment, in file order, and returns when the input ends.
    ///
    /// Frames that are not usable TCP segments are counted in [`CaptureStats`]. A truncated last
    /// record is a warning, not an error; corruption stops reading with an error after every
    /// earlier segment was delivered.
    pub fn for_each_segment(
        &mut self,
        mut f: impl FnMut(&Segment<'_>),
    ) -> Result<(), CaptureError> {
        self.try_for_each_segment(|segment| {
            f(segment);
            ControlFlow::Continue(())
        })
    }

    /// Like [`for_each_segment`](Self::for_each_segment), but `f` can stop early; a later call
    /// continues after the last segment delivered.
    pub fn try_for_each_segment(
        &mut self,
        mut f: impl FnMut(&Segment<'_>) -> ControlFlow<()>,
    ) -> Result<(), CaptureError> {
        self.run(|stats, frame| {
            match link::decode(frame.link, frame.data, frame.orig_len, frame.ts) {
                Ok(segment) => {
                    stats.count_segment(&segment);
                    f(&segment)
                }
                Err(reason) => {
                    stats.count_skip(reason);
                    ControlFlow::Continue(())
                }
            }
        })
    }

    /// Calls `f` for every captured frame, undecoded (e.g. to copy frames to another file).
    /// Only frame-level counters are updated. `f` can stop early; a later call continues.
    pub fn try_for_each_frame(
        &mut self,
        mut f: impl FnMut(&Frame<'_>) -> ControlFlow<()>,
    ) -> Result<(), CaptureError> {
        self.run(|_, frame| f(frame))
    }

    fn run(
        &mut self,
        mut f: impl FnMut(&mut CaptureStats, &Frame<'_>) -> ControlFlow<()>,
    ) -> Result<(), CaptureError> {
        while !self.finished {
            let step = match self.format {
                Format::Pcap(file) => self.next_pcap_record(file),
                Format::PcapNg => self.next_pcapng_block(),
            };
            match step {
                Err(e) => {
                    self.finished = true;
                    return Err(e);
                }
                Ok(Step::End) => self.finished = true,
                Ok(Step::Skip { len }) => self.input.consume(len),
                Ok(Step::Packet { link, ts, orig_len, start, end, len }) => {
                    let frame = Frame {
                        ts,
                        link,
                        data: &self.input.data()[start..end],
                        orig_len,
                        offset: self.input.offset,
                    };
                    self.stats.frames += 1;
                    self.stats.captured_bytes += frame.data.len() as u64;
                    if orig_len as usize > frame.data.len() {
                        self.stats.truncated_frames += 1;
                    }
                    let flow = f(&mut self.stats, &frame);
                    self.input.consume(len);
                    if flow.is_break() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Makes `want` bytes available if the input has them; returns how many are.
    fn fill(&mut self, want: usize) -> Result<usize, CaptureError> {
        self.input.fill(want).map_err(|source| CaptureError::Read {
            name: self.name.clone(),
            offset: self.input.offset + self.input.data().len() as u64,
            source,
        })
    }

    fn corrupt(&self, detail: String) -> CaptureError {
        CaptureError::Corrupt { name: self.name.clone(), offset: self.input.offset, detail }
    }

    fn warn(&mut self, message: String) {
        self.stats.warnings += 1;
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(message);
        }
    }

    /// The input ended inside a record: keep what came before, say so, stop.
    fn truncated(&mut self, present: usize, needed: usize) -> Step {
        self.stats.truncated_records += 1;
        let message = format!(
            "{}: the last record (offset {}) is truncated: {present} of {needed} bytes present; \
             ignored it (was the capture still being written?)",
            self.name, self.input.offset
        );
        self.warn(message);
        Step::End
    }

    fn next_pcap_record(&mut self, file: PcapFile) -> Result<Step, CaptureError> {
        let header_len = if file.modified { 24 } else { 16 };
        let available = self.fill(header_len)?;
        if available == 0 {
            return Ok(Step::End);
        }
        if available < header_len {
            return Ok(self.truncated(available, header_len));
        }
        let field = &self.input.data()[8..12];
        let field = [field[0], field[1], field[2], field[3]];
        let caplen =
            if file.big_endian { u32::from_be_bytes(field) } else { u32::from_le_bytes(field) }
                as usize;
        if caplen > (file.snaplen as usize).max(LIBPCAP_MAX_SNAPLEN) {
            return Err(self.corrupt(format!(
                "record claims {caplen} captured bytes, more than the file's snap length {}",
                file.snaplen
            )));
        }
        let len = header_len + caplen;
        if len > MAX_RECORD_LEN {
            return Err(self.corrupt(format!(
                "record of {len} bytes exceeds the {MAX_RECORD_LEN}-byte limit"
            )));
        }
        let available = self.fill(len)?;
        if available < len {
            return Ok(self.truncated(available, len));
        }
        let record = &self.input.data()[..len];
        let parsed = if file.modified {
            parse_pcap_frame_modified(record)
        } else if file.big_endian {
            parse_pcap_frame_be(record)
        } else {
            parse_pcap_frame(record)
        };
        let (ts_sec, ts_frac, origlen) = match parsed {
            Ok((_, frame)) => (frame.ts_sec, frame.ts_usec, frame.origlen),
            Err(e) => return Err(self.corrupt(format!("bad record: {}", describe(&e)))),
        };
        let frac_nanos = if file.nanos { u64::from(ts_frac) } else { u64::from(ts_frac) * 1000 };
        let ts =
            Timestamp(u64::from(ts_sec).saturating_mul(1_000_000_000).saturating_add(frac_nanos));
        Ok(Step::Packet {
            link: file.link,
            ts,
            orig_len: origlen,
            start: header_len,
            end: len,
            len,
        })
    }

    fn next_pcapng_block(&mut self) -> Result<Step, CaptureError> {
        let available = self.fill(12)?;
        if available == 0 {
            return Ok(Step::End);
        }
        if available < 12 {
            return Ok(self.truncated(available, 12));
        }
        let head = self.input.data();
        let word = |at: usize| [head[at], head[at + 1], head[at + 2], head[at + 3]];
        // A section header carries its own byte order; other blocks use the section's.
        let big_endian = if u32::from_le_bytes(word(0)) == SHB_MAGIC {
            match u32::from_le_bytes(word(8)) {
                BOM_MAGIC => false,
                bom if bom == BOM_MAGIC.swap_bytes() => true,
                bom => {
                    return Err(self.corrupt(format!(
                        "section header with unknown byte-order magic 0x{bom:08x}"
                    )));
                }
            }
        } else {
            self.ng.big_endian
        };
        let u32_at = |bytes: [u8; 4]| {
            if big_endian { u32::from_be_bytes(bytes) } else { u32::from_le_bytes(bytes) }
        };
        let block_type = u32_at(word(0));
        let len = u32_at(word(4)) as usize;
        if len < 12 || !len.is_multiple_of(4) {
            return Err(self.corrupt(format!(
                "block of type 0x{block_type:08x} has length {len} (must be a multiple of 4, at \
                 least 12)"
            )));
        }
        if len > MAX_RECORD_LEN {
            return Err(self.corrupt(format!(
                "block of type 0x{block_type:08x} has length {len}, more than the \
                 {MAX_RECORD_LEN}-byte limit"
            )));
        }
        let available = self.fill(len)?;
        if available < len {
            return Ok(self.truncated(available, len));
        }
        let block = &self.input.data()[..len];
        let trailer = &block[len - 4..];
        let trailer = u32_at([trailer[0], trailer[1], trailer[2], trailer[3]]) as usize;
        if trailer != len {
            return Err(self.corrupt(format!(
                "block of type 0x{block_type:08x} has length {len} at its start but {trailer} at \
                 its end"
            )));
        }
        match block_type {
            SHB_MAGIC => self.section_header(big_endian, len),
            IDB_MAGIC => self.interface_description(len),
            EPB_MAGIC => self.enhanced_packet(len),
            SPB_MAGIC => self.simple_packet(len),
            OBSOLETE_PB_MAGIC => self.obsolete_packet(len),
            _ => {
                self.stats.ignored_blocks += 1;
                Ok(Step::Skip { len })
            }
        }
    }

    fn section_header(&mut self, big_endian: bool, len: usize) -> Result<Step, CaptureError> {
        let version = match parse_sectionheaderblock(&self.input.data()[..len]) {
            Ok((_, shb)) => (shb.major_version, shb.minor_version),
            Err(e) => return Err(self.corrupt(format!("bad section header: {}", describe(&e)))),
        };
        if version.0 != 1 {
            return Err(self.corrupt(format!(
                "pcapng version {}.{} is not supported (only 1.x)",
                version.0, version.1
            )));
        }
        self.ng.big_endian = big_endian;
        self.ng.interfaces.clear();
        self.stats.sections += 1;
        Ok(Step::Skip { len })
    }

    fn interface_description(&mut self, len: usize) -> Result<Step, CaptureError> {
        let block = &self.input.data()[..len];
        let big_endian = self.ng.big_endian;
        let parsed = if big_endian {
            parse_interfacedescriptionblock_be(block)
        } else {
            parse_interfacedescriptionblock_le(block)
        };
        let idb = match parsed {
            Ok((_, idb)) => idb,
            Err(e) => {
                return Err(self.corrupt(format!("bad interface description: {}", describe(&e))));
            }
        };
        // pcap-parser reads if_tsoffset little-endian whatever the section's byte order.
        let offset_secs = idb
            .options
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
        if self.ng.interfaces.len() >= MAX_INTERFACES {
            return Err(
                self.corrupt(format!("more than {MAX_INTERFACES} interfaces in one section"))
            );
        }
        let whose =
            format!("interface {} (offset {})", self.ng.interfaces.len(), self.input.offset);
        self.check_link_type(link, &whose);
        if units.is_none() {
            let message = format!(
                "{}: offset {}: interface {} has if_tsresol 0x{tsresol:02x}, which is out of \
                 range; reading its timestamps as microseconds",
                self.name,
                self.input.offset,
                self.ng.interfaces.len()
            );
            self.warn(message);
        }
        self.ng.interfaces.push(NgInterface {
            link,
            snaplen,
            units_per_sec: units.unwrap_or(1_000_000),
            offset_secs,
        });
        self.stats.interfaces += 1;
        Ok(Step::Skip { len })
    }

    fn enhanced_packet(&mut self, len: usize) -> Result<Step, CaptureError> {
        let block = &self.input.data()[..len];
        let parsed = if self.ng.big_endian {
            parse_enhancedpacketblock_be(block)
        } else {
            parse_enhancedpacketblock_le(block)
        };
        let (if_id, high, low, caplen, orig_len) = match parsed {
            Ok((_, epb)) => (epb.if_id, epb.ts_high, epb.ts_low, epb.caplen, epb.origlen),
            Err(e) => {
                return Err(self.corrupt(format!("bad enhanced packet block: {}", describe(&e))));
            }
        };
        // pcap-parser checked that caplen (padded) fits the block; the data starts at 28.
        self.packet(if_id, Some((high, low)), 28, caplen as usize, orig_len, len)
    }

    fn simple_packet(&mut self, len: usize) -> Result<Step, CaptureError> {
        let block = &self.input.data()[..len];
        let parsed = if self.ng.big_endian {
            parse_simplepacketblock_be(block)
        } else {
            parse_simplepacketblock_le(block)
        };
        let orig_len = match parsed {
            Ok((_, spb)) => spb.origlen,
            Err(e) => {
                return Err(self.corrupt(format!("bad simple packet block: {}", describe(&e))));
            }
        };
        // Captured length: the original length, cut to the interface's snap length and to
        // the block (which holds it padded).
        let mut caplen = (orig_len as usize).min(len - 16);
        if let Some(interface) = self.ng.interfaces.first()
            && interface.snaplen != 0
        {
            caplen = caplen.min(interface.snaplen as usize);
        }
        self.packet(0, None, 12, caplen, orig_len, len)
    }

    /// The pre-EPB "Packet Block" (type 2), which pcap-parser leaves unparsed: 16-bit interface
    /// id and drop count, then the same fields as an EPB.
    fn obsolete_packet(&mut self, len: usize) -> Result<Step, CaptureError> {
        let block = &self.input.data()[..len];
        if len < 32 {
            return Err(self.corrupt(format!(
                "packet block of {len} bytes is shorter than its 32-byte header"
            )));
        }
        let big_endian = self.ng.big_endian;
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
            return Err(self.corrupt(format!(
                "packet block claims {caplen} captured bytes but holds at most {}",
                len - 32
            )));
        }
        self.packet(u32::from(if_id), Some((high, low)), 28, caplen as usize, orig_len, len)
    }

    fn packet(
        &mut self,
        if_id: u32,
        ts: Option<(u32, u32)>,
        start: usize,
        caplen: usize,
        orig_len: u32,
        len: usize,
    ) -> Result<Step, CaptureError> {
        let Some(interface) = self.ng.interfaces.get(if_id as usize).copied() else {
            self.stats.skipped_unknown_interface += 1;
            if !self.ng.warned_unknown_interface {
                self.ng.warned_unknown_interface = true;
                let message = format!(
                    "{}: offset {}: packet for interface {if_id}, but the section describes only \
                     {}; skipping such packets",
                    self.name,
                    self.input.offset,
                    self.ng.interfaces.len()
                );
                self.warn(message);
            }
            return Ok(Step::Skip { len });
        };
        let ts = match ts {
            Some((high, low)) => interface.timestamp(high, low),
            None => self.ng.last_ts,
        };
        self.ng.last_ts = ts;
        Ok(Step::Packet { link: interface.link, ts, orig_len, start, end: start + caplen, len })
    }
}

/// A pcap-parser error, without the input bytes its `Display` would dump.
fn describe(e: &nom::Err<PcapError<&[u8]>>) -> String {
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

/// A read buffer over the input: `buf[start..end]` holds unconsumed bytes starting at file
/// offset `offset`.
struct Input {
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    offset: u64,
    eof: bool,
}

impl Input {
    fn new(reader: Box<dyn Read + Send>) -> Self {
        Input { reader, buf: vec![0; INITIAL_BUFFER_LEN], start: 0, end: 0, offset: 0, eof: false }
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads until `want` bytes are available or the input ends; returns how many are.
    /// Callers keep `want` ≤ [`MAX_RECORD_LEN`].
    fn fill(&mut self, want: usize) -> io::Result<usize> {
        while self.end - self.start < want && !self.eof {
            if self.buf.len() - self.start < want {
                // The record does not fit after `start`: move it to the front, and grow the
                // buffer if it is larger than the whole buffer.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.buf.len() < want {
                    self.buf.resize(want.next_power_of_two().min(MAX_RECORD_LEN).max(want), 0);
                }
            }
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end - self.start)
    }
}

#[cfg(test)]
mod tests;
