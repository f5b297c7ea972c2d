//! zktraffic: a ZooKeeper traffic analyzer.
//!
//! The crate is shaped as the data flows:
//!
//! ```text
//! capture ──Segment──▶ tcp ──ordered bytes + gaps──▶ zk ──Message──▶ output
//! (pcap files,          (flow table, per-direction     (framing, handshake,      (dump printers,
//!  eBPF ring buffer)     reassembly, bounded buffers)   records, xid pairing)     summary)
//! ```
//!
//! [`pipeline::Pipeline`] wires the stages together; every front-end differs only in its sink.

pub mod capture;
pub mod cli;
pub mod dump;
pub mod error_chain;
pub mod output;
pub mod pipeline;
pub mod serve;
pub mod signals;
pub mod stats;
pub mod stderr_log;
#[cfg(feature = "test-helpers")]
pub mod synth;
pub mod tcp;
pub mod timestamp;
pub mod zk;

pub use timestamp::Timestamp;
