//! Helpers shared by the kernel tests: privilege gate and network namespaces (from
//! `tests/src/netns.rs`), frame builder.
#![allow(dead_code)] // each test file uses a different subset

// The privilege gate, the skip banner and the network namespaces are the end-to-end tests' own
// (`zktraffic-tests`, which depends on this crate, so it cannot be a dev-dependency): one file.
#[path = "../../../tests/src/netns.rs"]
pub mod netns;

pub mod other_tool;

pub use netns::privileged;

/// Network layer of a test frame.
#[derive(Clone, Copy)]
pub enum Ip {
    V4([u8; 4], [u8; 4]),
    /// With `ext`, a hop-by-hop and a destination-options header precede TCP.
    V6 {
        src: [u8; 16],
        dst: [u8; 16],
        ext: bool,
    },
}

/// A TCP segment to put in a frame.
#[derive(Clone)]
pub struct Tcp<'a> {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// TCP option bytes (a multiple of 4).
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

/// Builds an Ethernet frame with `vlans` (TPIDs, outermost first). IP length fields that cannot
/// hold the size (over 64 KiB) are set to 0, as BIG TCP does.
pub fn frame(vlans: &[u16], ip: Ip, tcp: &Tcp<'_>) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
    for (i, tpid) in vlans.iter().enumerate() {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(100 + i as u16).to_be_bytes()); // TCI: VLAN id
    }
    let mut l4 = Vec::new();
    l4.extend_from_slice(&tcp.sport.to_be_bytes());
    l4.extend_from_slice(&tcp.dport.to_be_bytes());
    l4.extend_from_slice(&tcp.seq.to_be_bytes());
    l4.extend_from_slice(&tcp.ack.to_be_bytes());
    l4.push((((20 + tcp.options.len()) / 4) as u8) << 4);
    l4.push(tcp.flags);
    l4.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]); // window, checksum, urgent
    l4.extend_from_slice(tcp.options);
    l4.extend_from_slice(tcp.payload);
    match ip {
        Ip::V4(src, dst) => {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let tot = 20 + l4.len();
            let tot = if tot > 0xffff { 0 } else { tot as u16 };
            f.extend_from_slice(&[0x45, 0]);
            f.extend_from_slice(&tot.to_be_bytes());
            f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
            f.extend_from_slice(&src);
            f.extend_from_slice(&dst);
        }
        Ip::V6 { src, dst, ext } => {
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
            let mut exts = Vec::new();
            let first = if ext {
                // hop-by-hop (8 bytes, PadN) → destination options (16 bytes, PadN) → TCP
                exts.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
                exts.extend_from_slice(&[6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                0
            } else {
                6
            };
            let plen = exts.len() + l4.len();
            let plen = if plen > 0xffff { 0 } else { plen as u16 };
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&plen.to_be_bytes());
            f.extend_from_slice(&[first, 64]);
            f.extend_from_slice(&src);
            f.extend_from_slice(&dst);
            f.extend_from_slice(&exts);
        }
    }
    f.extend_from_slice(&l4);
    f
}

/// Runs `load` again while the verifier gives up with EAGAIN: a signal arrived while it worked
/// (another test's child process exiting), which is no verdict on the program. The library's
/// loader retries the same way.
pub fn load_retrying(
    mut load: impl FnMut() -> Result<(), aya::programs::ProgramError>,
) -> Result<(), aya::programs::ProgramError> {
    for _ in 0..4 {
        match load() {
            Err(aya::programs::ProgramError::LoadError { io_error, .. })
                if io_error.raw_os_error() == Some(libc::EAGAIN) => {}
            other => return other,
        }
    }
    load()
}
