//! A jute writer: builds ZooKeeper frames byte for byte.
//!
//! The decoder never needs it; the traffic generator of `cargo xtask bench decode` and the
//! tests do, to produce exactly the bytes real clients and servers send.

/// Appends jute-encoded values to a frame; [`FrameWriter::finish`] fills in the length prefix.
#[derive(Clone, Debug, Default)]
pub struct FrameWriter {
    buf: Vec<u8>,
}

impl FrameWriter {
    /// Starts a frame (reserves the 4-byte length prefix).
    pub fn new() -> Self {
        FrameWriter { buf: vec![0; 4] }
    }

    /// jute `int`.
    pub fn i32(mut self, v: i32) -> Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// jute `long`.
    pub fn i64(mut self, v: i64) -> Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// jute `boolean`.
    pub fn bool(mut self, v: bool) -> Self {
        self.buf.push(v as u8);
        self
    }

    /// jute `buffer` (`None` = null).
    pub fn buffer(self, v: Option<&[u8]>) -> Self {
        match v {
            None => self.i32(-1),
            Some(b) => {
                let mut w = self.i32(b.len() as i32);
                w.buf.extend_from_slice(b);
                w
            }
        }
    }

    /// jute `ustring`.
    pub fn string(self, v: &str) -> Self {
        self.buffer(Some(v.as_bytes()))
    }

    /// jute `vector<ustring>`.
    pub fn strings(self, v: &[&str]) -> Self {
        v.iter().fold(self.i32(v.len() as i32), |w, s| w.string(s))
    }

    /// Raw bytes, unencoded.
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.buf.extend_from_slice(b);
        self
    }

    /// A RequestHeader.
    pub fn request_header(self, xid: i32, op: i32) -> Self {
        self.i32(xid).i32(op)
    }

    /// A ReplyHeader.
    pub fn reply_header(self, xid: i32, zxid: i64, err: i32) -> Self {
        self.i32(xid).i64(zxid).i32(err)
    }

    /// A Stat whose fields are all `v` (enough for decoders that only skip it).
    pub fn stat(self, v: i64) -> Self {
        self.i64(v).i64(v).i64(v).i64(v).i32(1).i32(2).i32(3).i64(0).i32(4).i32(5).i64(v)
    }

    /// The finished frame, length prefix included.
    pub fn finish(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as u32;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }
}

/// A ConnectRequest frame (45 bytes after the prefix, with the readOnly byte).
pub fn connect_request(session_id: i64, last_zxid: i64, timeout_ms: i32) -> Vec<u8> {
    FrameWriter::new()
        .i32(0)
        .i64(last_zxid)
        .i32(timeout_ms)
        .i64(session_id)
        .buffer(Some(&[0; 16]))
        .bool(false)
        .finish()
}

/// A ConnectResponse frame (37 bytes after the prefix).
pub fn connect_response(session_id: i64, timeout_ms: i32) -> Vec<u8> {
    FrameWriter::new()
        .i32(0)
        .i32(timeout_ms)
        .i64(session_id)
        .buffer(Some(&[7; 16]))
        .bool(false)
        .finish()
}
