//! The ZooKeeper client protocol: jute decoding, records, the per-connection session
//! (framing, handshake, four-letter words, request/reply pairing) and the decoded messages.

pub mod cursor;
pub mod decoder;
pub mod encode;
pub mod error;
pub mod fourletter;
pub mod framing;
pub mod message;
pub mod opcode;
pub mod pairing;
pub mod records;
mod resync;
pub mod session;
pub mod sink;

pub use decoder::Decoder;
pub use error::ErrorCode;
pub use message::{Body, Message, Reply, Request};
pub use opcode::OpCode;
pub use sink::{ClientSink, DecodeStats, DecoderConfig};
