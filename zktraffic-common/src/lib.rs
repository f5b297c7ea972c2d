//! Types shared by the zktraffic kernel programs and user space.
//!
//! This crate is `no_std` so that the eBPF programs can use it; everything in it is
//! plain data with a fixed layout. It is the one contract between the two worlds.
#![no_std]

/// ZooKeeper's default client port.
pub const ZK_CLIENT_PORT: u16 = 2181;
/// ZooKeeper's default quorum (ZAB, leader ↔ learner) port.
pub const ZK_QUORUM_PORT: u16 = 2888;
/// ZooKeeper's default leader-election port.
pub const ZK_ELECTION_PORT: u16 = 3888;

/// TCP header flag bits, as they appear in the 13th byte of the TCP header.
pub mod tcp_flags {
    /// No more data from the sender.
    pub const FIN: u8 = 0x01;
    /// Synchronise sequence numbers (connection start).
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push buffered data to the application.
    pub const PSH: u8 = 0x08;
    /// The acknowledgement field is significant.
    pub const ACK: u8 = 0x10;
}

pub mod record;
