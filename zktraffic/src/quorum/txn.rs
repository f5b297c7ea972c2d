//! Transactions as a PROPOSAL or INFORM carries them: `TxnHeader` then the record its type
//! names (quorum reference §1, "Transactions").

use crate::zk::cursor::{Cursor, DecodeError};

/// A transaction's header and what it touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Txn<'a> {
    /// The client session (`clientId`).
    pub session: i64,
    /// The client's request id.
    pub cxid: i32,
    /// The transaction's zxid.
    pub zxid: i64,
    /// When the leader logged it (ms since the epoch).
    pub time_ms: i64,
    /// The transaction type (client opcodes; −10 createSession, −11 closeSession, −1 error).
    pub txn_type: i32,
    /// The znode it changes (create, delete, setData, setACL, check; `/zookeeper/config` for
    /// reconfig).
    pub path: Option<&'a str>,
    /// A multi's sub-transactions, undecoded (see [`Txn::multi_ops`]).
    multi: Option<&'a [u8]>,
    /// The error code of an error transaction.
    pub error: Option<i32>,
}

/// ZooKeeper's name for a transaction type, as its logs and `txn_type` give it.
pub fn txn_type_name(t: i32) -> &'static str {
    match t {
        1 => "create",
        2 => "delete",
        5 => "setData",
        7 => "setACL",
        13 => "check",
        14 => "multi",
        15 => "create2",
        16 => "reconfig",
        19 => "createContainer",
        20 => "deleteContainer",
        21 => "createTTL",
        -10 => "createSession",
        -11 => "closeSession",
        -1 => "error",
        _ => "unknown",
    }
}

/// Reads the path a record of type `t` starts with, if it has one.
fn path_of<'a>(t: i32, c: &mut Cursor<'a>) -> Result<Option<&'a str>, DecodeError> {
    match t {
        1 | 2 | 5 | 7 | 13 | 15 | 19 | 20 | 21 => c.string(),
        16 => Ok(Some("/zookeeper/config")),
        _ => Ok(None),
    }
}

impl<'a> Txn<'a> {
    /// Decodes a transaction (the whole of `data`: header, record, and a 3.6 digest after it,
    /// which is not read).
    pub fn parse(data: &'a [u8]) -> Result<Txn<'a>, DecodeError> {
        let mut c = Cursor::new(data);
        let session = c.i64()?;
        let cxid = c.i32()?;
        let zxid = c.i64()?;
        let time_ms = c.i64()?;
        let txn_type = c.i32()?;
        let mut txn =
            Txn { session, cxid, zxid, time_ms, txn_type, path: None, multi: None, error: None };
        match txn_type {
            14 => txn.multi = Some(c.bytes(c.remaining())?),
            -1 => txn.error = Some(c.i32()?),
            t => txn.path = path_of(t, &mut c)?,
        }
        Ok(txn)
    }

    /// ZooKeeper's name of the type.
    pub fn type_name(&self) -> &'static str {
        txn_type_name(self.txn_type)
    }

    /// A multi's sub-transactions, as (type, path): decoded as they are read, so a malformed
    /// one ends the iteration with its error.
    pub fn multi_ops(&self) -> MultiOps<'a> {
        MultiOps { c: Cursor::new(self.multi.unwrap_or(&[])), left: None }
    }
}

/// The sub-transactions of a multi (see [`Txn::multi_ops`]).
#[derive(Clone, Debug)]
pub struct MultiOps<'a> {
    c: Cursor<'a>,
    /// Sub-transactions still to read (unknown before the count).
    left: Option<usize>,
}

impl<'a> Iterator for MultiOps<'a> {
    type Item = Result<(i32, Option<&'a str>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let left = match self.left {
            Some(n) => n,
            None if self.c.remaining() == 0 => return None,
            // Each `Txn{int type, buffer data}` takes at least 8 bytes.
            None => match self.c.vector_len(8) {
                Ok(n) => n,
                Err(e) => {
                    self.left = Some(0);
                    return Some(Err(e));
                }
            },
        };
        if left == 0 {
            self.left = Some(0);
            return None;
        }
        self.left = Some(left - 1);
        let item = (|| {
            let t = self.c.i32()?;
            let data = self.c.buffer()?.unwrap_or(&[]);
            Ok((t, path_of(t, &mut Cursor::new(data))?))
        })();
        if item.is_err() {
            self.left = Some(0);
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(t: i32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0x0100_1df4_05af_0000_i64.to_be_bytes());
        b.extend_from_slice(&2i32.to_be_bytes());
        b.extend_from_slice(&0x1_0000_0002i64.to_be_bytes());
        b.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        b.extend_from_slice(&t.to_be_bytes());
        b
    }

    fn string(b: &mut Vec<u8>, s: &str) {
        b.extend_from_slice(&(s.len() as i32).to_be_bytes());
        b.extend_from_slice(s.as_bytes());
    }

    #[test]
    fn a_create_gives_its_path() {
        let mut b = header(1);
        string(&mut b, "/foo");
        b.extend_from_slice(&[0, 0, 0, 1, b'x', 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let t = Txn::parse(&b).unwrap();
        assert_eq!(
            (t.type_name(), t.path, t.cxid, t.zxid),
            ("create", Some("/foo"), 2, 0x1_0000_0002)
        );
        assert!(matches!(Txn::parse(&b[..38]), Err(DecodeError::BadLength { offset: 32, .. })));
    }

    #[test]
    fn multi_sub_transactions_and_errors() {
        let mut b = header(14);
        b.extend_from_slice(&2i32.to_be_bytes());
        let mut create = Vec::new();
        string(&mut create, "/a");
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&(create.len() as i32).to_be_bytes());
        b.extend_from_slice(&create);
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&4i32.to_be_bytes());
        b.extend_from_slice(&(-101i32).to_be_bytes());
        let t = Txn::parse(&b).unwrap();
        let ops: Vec<_> = t.multi_ops().collect();
        assert_eq!(ops, [Ok((1, Some("/a"))), Ok((-1, None))]);
        let mut e = header(-1);
        e.extend_from_slice(&(-110i32).to_be_bytes());
        assert_eq!(Txn::parse(&e).unwrap().error, Some(-110));
        // A count larger than the bytes: one error, then the end.
        let mut bad = header(14);
        bad.extend_from_slice(&1000i32.to_be_bytes());
        let t = Txn::parse(&bad).unwrap();
        assert_eq!(t.multi_ops().filter(Result::is_err).count(), 1);
        assert_eq!(t.multi_ops().count(), 1);
    }
}
