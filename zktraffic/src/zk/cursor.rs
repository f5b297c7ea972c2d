//! A zero-copy reader of jute's binary encoding (protocol reference §A1).
//!
//! Every read checks the remaining length and returns a [`DecodeError`] instead of panicking;
//! strings and buffers borrow from the input.

use thiserror::Error;

/// Why a record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The record needs more bytes than the frame holds.
    #[error("record truncated: needed {needed} bytes at offset {offset}, frame has {len}")]
    Truncated { offset: usize, needed: usize, len: usize },
    /// A length field is negative (other than −1 for null) or larger than the frame.
    #[error("bad length {length} at offset {offset}")]
    BadLength { offset: usize, length: i32 },
    /// A string is not valid UTF-8.
    #[error("string at offset {offset} is not UTF-8")]
    NotUtf8 { offset: usize },
    /// Bytes remain after the record ends.
    #[error("{extra} unexpected trailing bytes")]
    TrailingBytes { extra: usize },
    /// A field holds a value the protocol does not allow here.
    #[error("invalid {what} value {value}")]
    InvalidValue { what: &'static str, value: i64 },
}

/// Jute reads over a byte slice, big-endian.
#[derive(Clone, Copy, Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl DecodeError {
    /// For a truncated read, the bytes it needed in all from the buffer's start (0 otherwise):
    /// how long a buffer must be before reading it again can give another answer.
    pub fn needed_in_all(&self) -> usize {
        match *self {
            DecodeError::Truncated { offset, needed, .. } => offset.saturating_add(needed),
            _ => 0,
        }
    }
}

impl<'a> Cursor<'a> {
    /// Starts reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Offset of the next read.
    #[cfg(test)]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Takes the next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: n,
                len: self.buf.len(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// jute `int`.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// jute `long`.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// jute `boolean`: one byte, 0 or 1 (anything else is rejected so resync stays strict).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        let offset = self.pos;
        match self.array::<1>()?[0] {
            0 => Ok(false),
            1 => Ok(true),
            v => {
                self.pos = offset;
                Err(DecodeError::InvalidValue { what: "boolean", value: v as i64 })
            }
        }
    }

    /// A length field for a buffer, string or vector: `None` for −1 (null), an error for any
    /// other negative value or a length that cannot fit in what remains (each element needs at
    /// least `min_elem` bytes).
    fn length(&mut self, min_elem: usize) -> Result<Option<usize>, DecodeError> {
        let offset = self.pos;
        let length = self.i32()?;
        if length == -1 {
            return Ok(None);
        }
        let ok = length >= 0 && (length as usize).saturating_mul(min_elem) <= self.remaining();
        if !ok {
            self.pos = offset;
            return Err(DecodeError::BadLength { offset, length });
        }
        Ok(Some(length as usize))
    }

    /// jute `buffer`; `None` when null.
    pub fn buffer(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.length(1)? {
            None => Ok(None),
            Some(n) => self.bytes(n).map(Some),
        }
    }

    /// jute `ustring`; `None` when null.
    pub fn string(&mut self) -> Result<Option<&'a str>, DecodeError> {
        let offset = self.pos;
        match self.buffer()? {
            None => Ok(None),
            Some(b) => std::str::from_utf8(b).map(Some).map_err(|_| {
                self.pos = offset;
                DecodeError::NotUtf8 { offset }
            }),
        }
    }

    /// jute `ustring` where null reads as the empty string.
    pub fn string_or_empty(&mut self) -> Result<&'a str, DecodeError> {
        Ok(self.string()?.unwrap_or(""))
    }

    /// The element count of a jute `vector` (0 for null); each element needs at least
    /// `min_elem` bytes, which bounds the count by the frame size.
    pub fn vector_len(&mut self, min_elem: usize) -> Result<usize, DecodeError> {
        Ok(self.length(min_elem.max(1))?.unwrap_or(0))
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_primitives_big_endian() {
        let buf = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1];
        let mut c = Cursor::new(&buf);
        assert_eq!(c.i32(), Ok(256));
        assert_eq!(c.i64(), Ok(2));
        assert_eq!(c.bool(), Ok(true));
        assert_eq!(c.finish(), Ok(()));
        assert!(matches!(c.i32(), Err(DecodeError::Truncated { offset: 13, needed: 4, len: 13 })));
    }

    #[test]
    fn strings_and_nulls() {
        let buf = [0, 0, 0, 2, b'/', b'a', 0xff, 0xff, 0xff, 0xff];
        let mut c = Cursor::new(&buf);
        assert_eq!(c.string(), Ok(Some("/a")));
        assert_eq!(c.string(), Ok(None));
        assert_eq!(c.remaining(), 0);
    }

    #[test]
    fn rejects_lengths_beyond_the_frame_and_negative() {
        let mut c = Cursor::new(&[0x40, 0, 0, 0, b'x']);
        assert!(matches!(c.string(), Err(DecodeError::BadLength { offset: 0, .. })));
        assert_eq!(c.position(), 0, "a failed read does not advance");
        let mut c = Cursor::new(&[0xff, 0xff, 0xff, 0xfe]);
        assert!(matches!(c.buffer(), Err(DecodeError::BadLength { length: -2, .. })));
        // A billion-element vector of 4-byte items cannot fit in 8 bytes.
        let mut c = Cursor::new(&[0x3b, 0x9a, 0xca, 0x00, 0, 0, 0, 0]);
        assert!(c.vector_len(4).is_err());
    }

    #[test]
    fn rejects_non_utf8_and_bad_booleans() {
        let mut c = Cursor::new(&[0, 0, 0, 1, 0xc3]);
        assert_eq!(c.string(), Err(DecodeError::NotUtf8 { offset: 0 }));
        let mut c = Cursor::new(&[2]);
        assert!(c.bool().is_err());
    }
}
