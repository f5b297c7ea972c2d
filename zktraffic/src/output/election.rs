//! Leader-election messages in dump's two formats: a zk-dump-style line, and a JSON object
//! with the fields of `"dir":"election"`. SASL tokens are counted, never shown.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde::Serialize;

use crate::election::{ElectionBody, ElectionMessage, state_name};

/// A server the config text names.
#[derive(Serialize)]
struct JsonServer<'a> {
    sid: i64,
    host: &'a str,
    quorum_port: u16,
    election_port: u16,
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_port: Option<u16>,
}

/// The JSON shape of an election message; absent fields are left out.
#[derive(Serialize, Default)]
pub struct ElectionJson<'a> {
    ts: String,
    dir: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    from: Option<SocketAddr>,
    to: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<i64>,
    /// The initial message's protocol version (none: 3.4's sid-only form).
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    addresses: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    leader: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zxid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    election_epoch: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_epoch: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    servers: Option<Vec<JsonServer<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sasl_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_bytes: Option<usize>,
    size: usize,
}

/// The message's type in output.
fn kind(body: &ElectionBody<'_>) -> &'static str {
    match body {
        ElectionBody::Initial { .. } => "Initial",
        ElectionBody::Sasl { .. } => "Sasl",
        ElectionBody::Notification(_) => "Notification",
    }
}

impl<'a> ElectionJson<'a> {
    /// The JSON of `msg`, stamped `ts` (RFC 3339).
    pub fn new(msg: &ElectionMessage<'a>, ts: String) -> Self {
        let mut j = ElectionJson {
            ts,
            dir: "election",
            kind: kind(&msg.body),
            from: Some(msg.from),
            to: Some(msg.to),
            sid: msg.sid,
            size: msg.size,
            ..ElectionJson::default()
        };
        match msg.body {
            ElectionBody::Initial { sid, protocol, addresses } => {
                j.sid = Some(sid);
                j.protocol = protocol;
                j.addresses = addresses;
            }
            ElectionBody::Sasl { status, token_bytes } => {
                j.sasl_status = Some(status);
                j.token_bytes = Some(token_bytes);
            }
            ElectionBody::Notification(n) => {
                j.state = Some(state_name(n.state));
                j.leader = Some(n.leader);
                j.zxid = Some(n.zxid);
                j.election_epoch = Some(n.election_epoch);
                j.peer_epoch = n.peer_epoch;
                j.version = n.version;
                j.servers = n.config.map(|_| {
                    n.servers()
                        .map(|s| JsonServer {
                            sid: s.sid,
                            host: s.host,
                            quorum_port: s.quorum_port,
                            election_port: s.election_port,
                            role: s.role,
                            client_port: s.client_port,
                        })
                        .collect()
                });
            }
        }
        j
    }
}

/// Appends `Type(field=value, …)` of an election message (the wire's text escaped by the
/// caller).
pub fn describe(s: &mut String, msg: &ElectionMessage<'_>) {
    let _ = write!(s, "{}(", kind(&msg.body));
    let _ = match msg.body {
        ElectionBody::Initial { sid, protocol, addresses } => {
            let version = match protocol {
                None => "3.4".to_owned(),
                Some(v) => v.to_string(),
            };
            let _ = write!(s, "sid={sid}, protocol={version}");
            match addresses {
                Some(a) => write!(s, ", addresses={a}"),
                None => Ok(()),
            }
        }
        ElectionBody::Sasl { status, token_bytes } => {
            write!(s, "status={status}, token={token_bytes} bytes")
        }
        ElectionBody::Notification(n) => {
            let _ = write!(
                s,
                "state={}, leader={}, zxid={:#x}, election_epoch={:#x}",
                state_name(n.state),
                n.leader,
                n.zxid,
                n.election_epoch
            );
            if let Some(e) = n.peer_epoch {
                let _ = write!(s, ", peer_epoch={e:#x}");
            }
            if let Some(v) = n.version {
                let _ = write!(s, ", version={v:#x}");
            }
            let servers: Vec<String> = n
                .servers()
                .map(|v| format!("{}={}:{}:{}", v.sid, v.host, v.quorum_port, v.election_port))
                .collect();
            if servers.is_empty() { Ok(()) } else { write!(s, ", servers=[{}]", servers.join(" ")) }
        }
    };
    if let Some(sid) = msg.sid.filter(|_| !matches!(msg.body, ElectionBody::Initial { .. })) {
        let _ = write!(s, ", sender_sid={sid}");
    }
    let _ = write!(s, ", size={}, from={}, to={})", msg.size, msg.from, msg.to);
}
