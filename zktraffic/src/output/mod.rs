//! Sinks: what is done with decoded messages. Printers (text modelled on zk-dump, JSON lines),
//! the `--summary` report, and the filters shared by all of them; `zab.rs` and `election.rs`
//! format the quorum protocols for both printers.

pub mod drop_warnings;
pub mod election;
pub mod ensemble;
pub mod filter;
pub mod json;
pub mod numbers;
pub mod report;
pub mod summary;
pub mod text;
pub mod time_format;
pub mod zab;

use crate::zk::message::RequestRecord;
use crate::zk::{Body, Message};

/// A boolean as the original printed it (Python's `True`/`False`).
pub fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// A session id as ZooKeeper logs it: `0x` and its hex digits, unsigned.
pub fn hex_session(id: i64) -> String {
    format!("{:#x}", id as u64)
}

/// The message's type name: `GetDataRequest`, `GetDataReply`, `NodeDataChanged`, `stat`…;
/// a request with an opcode this decoder does not know is `Unknown(<opcode>)`.
pub fn type_name<'a>(msg: &'a Message<'_>) -> std::borrow::Cow<'a, str> {
    use std::borrow::Cow;
    Cow::Borrowed(match &msg.body {
        Body::Request(r) => match r.op {
            crate::zk::OpCode::Unknown(op) => return Cow::Owned(format!("Unknown({op})")),
            _ => r.name(),
        },
        Body::Reply(r) => r.name(),
        Body::Event(e) => e.type_name(),
        Body::FourLetter(f) => f.command_str(),
    })
}

/// The path a message concerns: the request's (first sub-operation's for multi), the paired
/// request's for a reply, the event's.
pub fn path<'a>(msg: &Message<'a>) -> Option<&'a str> {
    match &msg.body {
        Body::Request(r) => r.path(),
        Body::Reply(r) => r.request.as_ref().and_then(|p| p.path),
        Body::Event(e) => Some(e.path),
        Body::FourLetter(_) => None,
    }
}

/// The `dir` field of JSON output.
pub fn direction(msg: &Message<'_>) -> &'static str {
    match msg.body {
        Body::Request(_) => "request",
        Body::Reply(_) => "reply",
        Body::Event(_) => "event",
        Body::FourLetter(_) => "fourletter",
    }
}

/// How an auth credential is shown: `user:<redacted>` for digest (the part before the first
/// colon is the user name; the rest is the password), `<redacted>` for other schemes, unless
/// secrets are explicitly shown.
pub fn credential(scheme: &str, credential: &[u8], show_secrets: bool) -> String {
    let text = String::from_utf8_lossy(credential);
    if show_secrets {
        return text.into_owned();
    }
    match (scheme, text.split_once(':')) {
        ("digest", Some((user, _))) => format!("{user}:<redacted>"),
        _ => "<redacted>".to_owned(),
    }
}

/// Appends `s` to `out` with everything that could forge a line or drive a terminal made
/// visible: `\\` doubled, `\n` `\r` `\t`, other C0 controls and DEL as `\xNN`, C1 controls,
/// line separators and bidirectional overrides as `\u{NNNN}`.
fn push_escaped(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    for c in s.chars() {
        let _ = match c {
            '\\' => out.write_str("\\\\"),
            '\n' => out.write_str("\\n"),
            '\r' => out.write_str("\\r"),
            '\t' => out.write_str("\\t"),
            '\0'..='\x1f' | '\x7f' => write!(out, "\\x{:02x}", c as u32),
            '\u{80}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => write!(out, "\\u{{{:x}}}", c as u32),
            c => {
                out.push(c);
                Ok(())
            }
        };
    }
}

/// Escapes `s` from `start` on, in place (see [`push_escaped`]): text from the wire (paths,
/// auth schemes and ids, reconfig members) goes through it before it reaches a terminal.
pub(crate) fn escape_tail(s: &mut String, start: usize) {
    if may_need_escape(&s[start..]) {
        let raw = s.split_off(start);
        push_escaped(s, &raw);
    }
}

/// False when [`push_escaped`] would copy `s` unchanged (plain printable ASCII, no backslash):
/// the common case, checked without decoding characters.
fn may_need_escape(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'\\' || b >= 0x80)
}

/// True for requests that change data (and so for their replies), in the original's
/// classification.
pub fn is_write(msg: &Message<'_>) -> bool {
    match &msg.body {
        Body::Request(r) => r.op.is_write(),
        Body::Reply(r) => r.op().is_some_and(|op| op.is_write()),
        _ => false,
    }
}

/// True for a ping request or reply.
pub fn is_ping(msg: &Message<'_>) -> bool {
    use crate::zk::OpCode;
    match &msg.body {
        Body::Request(r) => r.op == OpCode::Ping,
        Body::Reply(r) => r.op() == Some(OpCode::Ping),
        _ => false,
    }
}

/// The session id a handshake carries.
pub fn session_id(msg: &Message<'_>) -> Option<i64> {
    use crate::zk::message::ReplyRecord;
    match &msg.body {
        Body::Request(r) => match &r.record {
            RequestRecord::Connect(c) => Some(c.session_id),
            _ => None,
        },
        Body::Reply(r) => match &r.record {
            ReplyRecord::Connect(c) => Some(c.session_id),
            _ => None,
        },
        _ => None,
    }
}
