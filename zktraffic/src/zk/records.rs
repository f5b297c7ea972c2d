//! Decoders of every request and response record (protocol reference §A2, §A5, §A6).
//!
//! Each decoder reads exactly one record from a [`Cursor`]; callers decide whether trailing
//! bytes are an error (they are while resynchronising, where strictness is what tells a frame
//! boundary from noise).

use super::cursor::{Cursor, DecodeError};
use super::error::ErrorCode;
use super::message::{
    Acl, ConnectRequest, ConnectResponse, CreateMode, CreateRequest, MultiOp, MultiResult,
    ReplyRecord, RequestRecord, STAT_LEN, SetWatches, Stat, WatchEvent,
};
use super::opcode::OpCode;

/// RequestHeader bytes.
pub const REQUEST_HEADER: usize = 8;
/// ReplyHeader bytes.
pub const REPLY_HEADER: usize = 16;
/// Bytes in the handshake request, without / with the trailing `readOnly` byte.
pub const CONNECT_REQUEST_LENS: [usize; 2] = [44, 45];
/// Bytes in the handshake response, without / with the trailing `readOnly` byte.
pub const CONNECT_RESPONSE_LENS: [usize; 2] = [36, 37];
/// The handshake password is always 16 bytes.
const PASSWORD_LEN: usize = 16;
/// The smallest jute record of each element kind, bounding vector counts by the frame size.
const MIN_STRING: usize = 4;
const MIN_ACL: usize = 4 + 4 + 4;

/// Decodes a ConnectRequest body (after the length prefix): 44 or 45 bytes.
pub fn connect_request(body: &[u8]) -> Result<ConnectRequest, DecodeError> {
    let mut c = Cursor::new(body);
    let protocol_version = c.i32()?;
    let last_zxid_seen = c.i64()?;
    let timeout_ms = c.i32()?;
    let session_id = c.i64()?;
    password(&mut c)?;
    let read_only = optional_bool(&mut c)?;
    c.finish()?;
    Ok(ConnectRequest { protocol_version, last_zxid_seen, timeout_ms, session_id, read_only })
}

/// Decodes a ConnectResponse body: 36 or 37 bytes.
pub fn connect_response(body: &[u8]) -> Result<ConnectResponse, DecodeError> {
    let mut c = Cursor::new(body);
    let protocol_version = c.i32()?;
    let timeout_ms = c.i32()?;
    let session_id = c.i64()?;
    password(&mut c)?;
    let read_only = optional_bool(&mut c)?;
    c.finish()?;
    Ok(ConnectResponse { protocol_version, timeout_ms, session_id, read_only })
}

fn password(c: &mut Cursor<'_>) -> Result<(), DecodeError> {
    match c.buffer()? {
        Some(p) if p.len() == PASSWORD_LEN => Ok(()),
        other => Err(DecodeError::InvalidValue {
            what: "password length",
            value: other.map_or(-1, |p| p.len() as i64),
        }),
    }
}

fn optional_bool(c: &mut Cursor<'_>) -> Result<Option<bool>, DecodeError> {
    if c.remaining() == 0 { Ok(None) } else { c.bool().map(Some) }
}

/// A path: a non-null string (jute allows null, the server rejects it).
fn path<'a>(c: &mut Cursor<'a>) -> Result<&'a str, DecodeError> {
    c.string()?.ok_or(DecodeError::InvalidValue { what: "null path", value: -1 })
}

fn acl_list<'a>(c: &mut Cursor<'a>) -> Result<Vec<Acl<'a>>, DecodeError> {
    let n = c.vector_len(MIN_ACL)?;
    let mut acl = Vec::with_capacity(n);
    for _ in 0..n {
        let perms = c.i32()?;
        let scheme = c.string_or_empty()?;
        let id = c.string_or_empty()?;
        acl.push(Acl { perms, scheme, id });
    }
    Ok(acl)
}

fn string_list<'a>(c: &mut Cursor<'a>) -> Result<Vec<&'a str>, DecodeError> {
    let n = c.vector_len(MIN_STRING)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(c.string_or_empty()?);
    }
    Ok(out)
}

/// Skips a vector of strings, returning its length (no allocation).
fn count_strings(c: &mut Cursor<'_>) -> Result<usize, DecodeError> {
    let n = c.vector_len(MIN_STRING)?;
    for _ in 0..n {
        c.buffer()?;
    }
    Ok(n)
}

/// Takes a Stat (68 bytes), undecoded.
pub fn stat<'a>(c: &mut Cursor<'a>) -> Result<Stat<'a>, DecodeError> {
    let bytes = c.bytes(STAT_LEN)?;
    let raw: &[u8; STAT_LEN] = bytes.try_into().map_err(|_| DecodeError::InvalidValue {
        what: "stat length",
        value: bytes.len() as i64,
    })?;
    Ok(Stat(raw))
}

fn create<'a>(op: OpCode, c: &mut Cursor<'a>) -> Result<CreateRequest<'a>, DecodeError> {
    let path = path(c)?;
    let data_len = c.buffer()?.map_or(0, <[u8]>::len);
    let acl = acl_list(c)?;
    let flags = c.i32()?;
    let ttl_ms = if op == OpCode::CreateTtl { Some(c.i64()?) } else { None };
    if let CreateMode::Invalid(flags) = CreateMode::from_flags(flags) {
        return Err(DecodeError::InvalidValue { what: "create flags", value: flags as i64 });
    }
    Ok(CreateRequest { path, data_len, acl, flags, ttl_ms })
}

/// Decodes the record that follows a RequestHeader with opcode `op`.
pub fn request<'a>(op: OpCode, c: &mut Cursor<'a>) -> Result<RequestRecord<'a>, DecodeError> {
    Ok(match op {
        OpCode::Create | OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
            RequestRecord::Create(create(op, c)?)
        }
        OpCode::Delete | OpCode::Check => {
            RequestRecord::PathVersion { path: path(c)?, version: c.i32()? }
        }
        OpCode::Exists | OpCode::GetData | OpCode::GetChildren | OpCode::GetChildren2 => {
            RequestRecord::PathWatch { path: path(c)?, watch: c.bool()? }
        }
        OpCode::GetAcl | OpCode::Sync | OpCode::GetEphemerals | OpCode::GetAllChildrenNumber => {
            RequestRecord::Path { path: path(c)? }
        }
        OpCode::SetData => {
            let path = path(c)?;
            let data_len = c.buffer()?.map_or(0, <[u8]>::len);
            RequestRecord::SetData { path, data_len, version: c.i32()? }
        }
        OpCode::SetAcl => {
            RequestRecord::SetAcl { path: path(c)?, acl: acl_list(c)?, version: c.i32()? }
        }
        OpCode::Multi | OpCode::MultiRead => RequestRecord::Multi(multi_request(c)?),
        OpCode::Reconfig => RequestRecord::Reconfig {
            joining: c.string_or_empty()?,
            leaving: c.string_or_empty()?,
            new_members: c.string_or_empty()?,
            config_id: c.i64()?,
        },
        OpCode::CheckWatches | OpCode::RemoveWatches => {
            RequestRecord::Watches { path: path(c)?, watcher_type: c.i32()? }
        }
        OpCode::AddWatch => RequestRecord::AddWatch { path: path(c)?, mode: c.i32()? },
        OpCode::Auth => RequestRecord::Auth {
            auth_type: c.i32()?,
            scheme: c.string_or_empty()?,
            credential: c.buffer()?.unwrap_or_default(),
        },
        OpCode::SetWatches | OpCode::SetWatches2 => {
            let mut w = SetWatches {
                relative_zxid: c.i64()?,
                data: string_list(c)?,
                exist: string_list(c)?,
                child: string_list(c)?,
                ..SetWatches::default()
            };
            if op == OpCode::SetWatches2 {
                w.persistent = string_list(c)?;
                w.persistent_recursive = string_list(c)?;
            }
            RequestRecord::SetWatches(Box::new(w))
        }
        OpCode::Sasl => RequestRecord::Sasl { token_len: c.buffer()?.map_or(0, <[u8]>::len) },
        OpCode::Ping | OpCode::Close | OpCode::WhoAmI => RequestRecord::Empty,
        OpCode::Connect | OpCode::DeleteContainer | OpCode::CreateSession | OpCode::Unknown(_) => {
            RequestRecord::Unknown { body_len: c.bytes(c.remaining())?.len() }
        }
    })
}

fn multi_header(c: &mut Cursor<'_>) -> Result<(i32, bool, i32), DecodeError> {
    Ok((c.i32()?, c.bool()?, c.i32()?))
}

/// Sub-operations of a multi/multiRead request, up to the `done` header (§A6).
fn multi_request<'a>(c: &mut Cursor<'a>) -> Result<Vec<MultiOp<'a>>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        // Each iteration consumes at least a header, so the loop is bounded by the frame size.
        let (op, done, _err) = multi_header(c)?;
        if done {
            return Ok(ops);
        }
        let op = OpCode::from_wire(op);
        let (path, create_mode) = match op {
            OpCode::Create | OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                let r = create(op, c)?;
                (r.path, Some(r.mode()))
            }
            OpCode::Delete
            | OpCode::Check
            | OpCode::SetData
            | OpCode::GetChildren
            | OpCode::GetData => (request(op, c)?.path().unwrap_or_default(), None),
            other => {
                return Err(DecodeError::InvalidValue {
                    what: "multi sub-operation",
                    value: other.to_wire() as i64,
                });
            }
        };
        ops.push(MultiOp { op, path: Some(path), create_mode });
    }
}

/// Sub-results of a multi/multiRead response (§A6).
fn multi_response<'a>(c: &mut Cursor<'a>) -> Result<Vec<MultiResult<'a>>, DecodeError> {
    let mut results = Vec::new();
    loop {
        let (op, done, err) = multi_header(c)?;
        if done {
            return Ok(results);
        }
        let op = OpCode::from_wire(op);
        let mut err = ErrorCode(err);
        let mut path = None;
        match op {
            OpCode::Create | OpCode::CreateContainer => path = Some(self::path(c)?),
            OpCode::Create2 | OpCode::CreateTtl => {
                path = Some(self::path(c)?);
                stat(c)?;
            }
            OpCode::Delete | OpCode::Check => {}
            OpCode::SetData => {
                stat(c)?;
            }
            OpCode::GetChildren => {
                count_strings(c)?;
            }
            OpCode::GetData => {
                c.buffer()?;
                stat(c)?;
            }
            // An ErrorResult: the header's err is −1 and the real code follows.
            OpCode::Unknown(-1) => err = ErrorCode(c.i32()?),
            other => {
                return Err(DecodeError::InvalidValue {
                    what: "multi sub-result",
                    value: other.to_wire() as i64,
                });
            }
        }
        results.push(MultiResult { op, err, path });
    }
}

/// Decodes the record after a successful (`err == 0`) ReplyHeader answering `op`.
pub fn reply<'a>(op: OpCode, c: &mut Cursor<'a>) -> Result<ReplyRecord<'a>, DecodeError> {
    Ok(match op {
        OpCode::Create => ReplyRecord::Path { path: path(c)?, stat: None },
        OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
            ReplyRecord::Path { path: path(c)?, stat: Some(stat(c)?) }
        }
        OpCode::Sync => ReplyRecord::Path { path: path(c)?, stat: None },
        OpCode::Exists | OpCode::SetData | OpCode::SetAcl | OpCode::Check => {
            ReplyRecord::Stat(stat(c)?)
        }
        OpCode::GetData | OpCode::Reconfig => {
            let data_len = c.buffer()?.map_or(0, <[u8]>::len);
            ReplyRecord::Data { data_len, stat: stat(c)? }
        }
        OpCode::GetAcl => ReplyRecord::Acl { acl: acl_list(c)?, stat: stat(c)? },
        OpCode::GetChildren | OpCode::GetEphemerals => {
            ReplyRecord::Children { count: count_strings(c)?, stat: None }
        }
        OpCode::GetChildren2 => {
            ReplyRecord::Children { count: count_strings(c)?, stat: Some(stat(c)?) }
        }
        OpCode::Multi | OpCode::MultiRead => ReplyRecord::Multi(multi_response(c)?),
        OpCode::GetAllChildrenNumber => ReplyRecord::ChildrenNumber(c.i32()?),
        OpCode::AddWatch => ReplyRecord::ErrorBody(ErrorCode(c.i32()?)),
        OpCode::Sasl => ReplyRecord::Sasl { token_len: c.buffer()?.map_or(0, <[u8]>::len) },
        OpCode::WhoAmI => {
            let n = c.vector_len(2 * MIN_STRING)?;
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                ids.push((c.string_or_empty()?, c.string_or_empty()?));
            }
            ReplyRecord::WhoAmI(ids)
        }
        OpCode::Delete
        | OpCode::Ping
        | OpCode::CheckWatches
        | OpCode::RemoveWatches
        | OpCode::Auth
        | OpCode::SetWatches
        | OpCode::SetWatches2
        | OpCode::Close => ReplyRecord::Empty,
        OpCode::Connect | OpCode::DeleteContainer | OpCode::CreateSession | OpCode::Unknown(_) => {
            ReplyRecord::Undecoded { body_len: c.bytes(c.remaining())?.len() }
        }
    })
}

/// Decodes a WatcherEvent (after a ReplyHeader with xid −1).
pub fn watch_event<'a>(zxid: i64, c: &mut Cursor<'a>) -> Result<WatchEvent<'a>, DecodeError> {
    Ok(WatchEvent { zxid, event_type: c.i32()?, state: c.i32()?, path: c.string_or_empty()? })
}

#[cfg(test)]
mod tests;
