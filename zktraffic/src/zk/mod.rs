//! The ZooKeeper client protocol: jute decoding, records, the per-connection session
//! (framing, handshake, four-letter words, request/reply pairing) and the decoded messages.

pub mod cursor;
pub mod encode;
pub mod error;
pub mod framing;
pub mod message;
pub mod opcode;
pub mod records;

pub use error::ErrorCode;
pub use message::{Body, Message, Reply, Request};
pub use opcode::OpCode;
