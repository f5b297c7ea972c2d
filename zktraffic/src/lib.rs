//! zktraffic: a ZooKeeper traffic analyzer.
//!
//! The crate is shaped as the data flows:
//!
//! ```text
//! capture ──Segment──▶ tcp ──ordered bytes + gaps──▶ zk ──Message──▶ outputs
//! (pcap files,          (flow table, per-direction     (framing, handshake,      (dump printers,
//!  eBPF ring buffer)     reassembly, bounded buffers)   records, xid pairing)     reports, daemon)
//! ```
//!
//! A [`SegmentSource`] (a capture file, standard input or live capture) feeds a [`Pipeline`],
//! which reassembles TCP, decodes every message and hands it to a [`MessageSink`]; every
//! front-end (`dump`, `serve`) differs only in its sink.
//!
//! ```no_run
//! use zktraffic::{Message, MessageSink, PcapSource, Pipeline, PipelineConfig, Poll, SegmentSource};
//!
//! /// Counts the messages of a capture.
//! struct Count(u64);
//!
//! impl MessageSink for Count {
//!     fn message(&mut self, _: &Message<'_>) {
//!         self.0 += 1;
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut source = PcapSource::open("capture.pcap".as_ref())?;
//! let mut pipeline = Pipeline::new(PipelineConfig::default(), Count(0));
//! while source.poll(4096, &mut |segment| pipeline.push(segment))? != Poll::Finished {}
//! pipeline.finish();
//! println!("{} messages", pipeline.sink().0);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod capture;
mod cli;
mod dump;
mod election;
mod ensemble;
mod error_chain;
mod logging;
mod output;
mod partial_budget;
mod pipeline;
pub mod privilege;
mod quorum;
mod resync_search;
mod serve;
mod signals;
mod sink;
mod stats;
#[cfg(feature = "test-helpers")]
pub mod synth;
mod tcp;
mod timestamp;
mod top;
mod zk;

// The stages, as the data flows.
pub use capture::{
    CaptureError, CaptureReader, CaptureStats, Frame, FrameBuilder, LinkType, LiveConfig, LiveHook,
    PcapNgWriter, PcapSource, PcapWriter, Poll, Segment, SegmentSource, SkipReason, SourceCounters,
    SourceError, SourceInfo, open_live,
};
#[cfg(feature = "ebpf")]
pub use capture::{LiveCounters, LiveSource, ebpf};
pub use pipeline::{Pipeline, PipelineConfig, PipelineLimits, PipelineStats};
pub use sink::MessageSink;
// The ensemble's protocols, as sinks see them.
pub use election::{ElectionBody, ElectionMessage, Notification, Server};
pub use quorum::{Side, Txn, ZabBody, ZabMessage, ZabType};
pub use tcp::{TcpLimits, TcpStats};
pub use timestamp::Timestamp;
pub use zk::encode;
pub use zk::opcode::xid;
pub use zk::{Body, DecodeStats, DecoderConfig, ErrorCode, Message, OpCode, Reply, Request};

// The front-ends and what the binary needs around them.
pub use cli::{
    Cli, CollectArgs, Command, ConfigError, DumpArgs, Generate, ServeArgs, TopArgs, generate,
    parse_cli,
};
pub use dump::{
    DumpCounters, DumpError, DumpOutcome, WritePcapStats, dump, dump_file, dump_file_until,
    dump_stdin_until, open_live_dump,
};
pub use error_chain::error_chain;
pub use logging::{LogFormat, init_logging};
pub use output::time_format::TimeFormatter;
pub use serve::{
    Daemon, HttpLimits, Info, Reload, RenderOptions, ServeConfig, ServeError, process,
};
pub use signals::{stop_flag, stop_signal};
pub use top::{
    TopError, require_terminal as top_require_terminal, run as top, run_batch as top_batch,
};
