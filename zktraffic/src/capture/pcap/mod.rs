//! pcap and pcapng capture files, read as a stream.
//!
//! [`CaptureReader`] reads classic pcap (µs or ns, either byte order) and pcapng (every section
//! and interface, each with its own link type, snap length and timestamp resolution) from a file
//! or from standard input, in bounded memory: records are framed here, in a buffer that grows
//! only for a record larger than itself and never beyond [`MAX_RECORD_LEN`](input::MAX_RECORD_LEN); each complete
//! record is then parsed by pcap-parser. Framing ourselves (rather than using pcap-parser's
//! streaming readers) is what lets us cap untrusted lengths before reading them, keep I/O errors
//! and file offsets for messages, and tell a truncated last record from corruption.
//!
//! Segments borrow the reader's buffer: nothing is copied between the file and the callback.
//!
//! One job per file: `input.rs` (the bounded buffer), `classic.rs` (classic pcap records),
//! `ng.rs` and `ng/` (pcapng blocks, one file per block type), with the reader's errors,
//! counters and shared record helpers in `error.rs`, `stats.rs` and `context.rs`; this file
//! sniffs the format and drives the reading loop.

mod classic;
mod context;
mod error;
mod input;
mod ng;
mod stats;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;

use pcap_parser::parse_pcap_header;
use pcap_parser::pcapng::{BOM_MAGIC, SHB_MAGIC};

use classic::PcapFile;
use context::{Context, Step};
pub use error::CaptureError;
use input::Input;
pub use input::PipeQuiet;
use ng::NgSection;
pub use stats::CaptureStats;

use super::Segment;
use super::link::{self, LinkType};
use crate::Timestamp;

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
    /// The name used in messages (the path, or `<stdin>`).
    name: String,
    /// The input, framed record by record.
    input: Input,
    /// The file's format, from its first bytes.
    format: Format,
    /// The current pcapng section (unused for classic pcap).
    ng: NgSection,
    /// Counters so far.
    stats: CaptureStats,
    /// The first warnings, as text.
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

/// Which of the two formats the file is in.
#[derive(Clone, Copy)]
enum Format {
    /// Classic pcap, with its file header's settings.
    Pcap(PcapFile),
    /// pcapng (the current section's state is the reader's `ng`).
    PcapNg,
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
            Format::Pcap(PcapFile::new(&header))
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
            reader.context().check_link_type(file.link, "the file");
        }
        Ok(reader)
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

    /// True once the input ended (or failed): no later call reads more.
    pub fn is_finished(&self) -> bool {
        self.finished
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

    /// The reading loop: frames every record in turn, and calls `f` for each packet.
    fn run(
        &mut self,
        mut f: impl FnMut(&mut CaptureStats, &Frame<'_>) -> ControlFlow<()>,
    ) -> Result<(), CaptureError> {
        while !self.finished {
            let step = match self.format {
                Format::Pcap(file) => file.next_record(&mut self.context()),
                Format::PcapNg => {
                    // Built field by field (not by `context()`) to lend `ng` beside it.
                    let mut cx = Context {
                        name: &self.name,
                        input: &mut self.input,
                        stats: &mut self.stats,
                        warnings: &mut self.warnings,
                    };
                    self.ng.next_block(&mut cx)
                }
            };
            match step {
                // A pipe with nothing to read yet (see `PcapSource::stdin`): nothing was
                // consumed, the next call goes on from here.
                Err(e) if e.would_block() => return Ok(()),
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

    /// What record parsers may use of the reader (all of it but the format's state).
    fn context(&mut self) -> Context<'_> {
        Context {
            name: &self.name,
            input: &mut self.input,
            stats: &mut self.stats,
            warnings: &mut self.warnings,
        }
    }
}
