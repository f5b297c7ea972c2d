//! ZAB packets in dump's two formats: a zk-dump-style line, and a JSON object with the fields
//! of `"dir":"quorum"`. Authinfo is counted, never shown.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde::Serialize;

use super::{hex_session, py_bool};
use crate::quorum::{Txn, ZabBody, ZabMessage};

/// A multi's sub-transaction.
#[derive(Serialize)]
struct JsonOp<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
}

/// The JSON shape of a ZAB packet; absent fields are left out.
#[derive(Serialize, Default)]
pub struct ZabJson<'a> {
    ts: String,
    dir: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    leader_addr: Option<SocketAddr>,
    learner_addr: Option<SocketAddr>,
    from: &'static str,
    zxid: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epoch: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cxid: Option<i32>,
    /// A forwarded client request's type (`GetDataRequest`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    request_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    txn_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    txn_zxid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ops: Option<Vec<JsonOp<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    leader: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol_version: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid: Option<bool>,
    /// Authinfo entries a REQUEST carried (never their contents).
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_entries: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    undecoded: Option<bool>,
    size: usize,
}

impl<'a> ZabJson<'a> {
    /// The JSON of `msg`, stamped `ts` (RFC 3339).
    pub fn new(msg: &ZabMessage<'a>, ts: String) -> Self {
        let mut j = ZabJson {
            ts,
            dir: "quorum",
            kind: msg.kind.name(),
            leader_addr: Some(msg.conn.server),
            learner_addr: Some(msg.conn.client),
            from: msg.from.name(),
            zxid: msg.zxid,
            auth_entries: (msg.auth > 0).then_some(msg.auth),
            size: msg.size,
            ..ZabJson::default()
        };
        let epoch = Some(msg.zxid >> 32);
        let txn = |j: &mut ZabJson<'a>, t: &Txn<'a>| {
            j.session = Some(hex_session(t.session));
            j.cxid = Some(t.cxid);
            j.txn_type = Some(t.type_name());
            j.txn_zxid = (t.zxid != msg.zxid).then_some(t.zxid);
            j.path = t.path;
            j.error = t.error;
            if t.txn_type == 14 {
                let ops = t.multi_ops().map_while(Result::ok);
                let ops = ops
                    .map(|(t, path)| JsonOp { kind: crate::quorum::txn::txn_type_name(t), path });
                j.ops = Some(ops.collect());
            }
        };
        match msg.body {
            ZabBody::None => {}
            ZabBody::Request { session: s, cxid, op, path } => {
                j.session = Some(hex_session(s));
                j.cxid = Some(cxid);
                j.request_type = Some(op.request_name());
                j.path = path;
            }
            ZabBody::Txn(t) => txn(&mut j, &t),
            ZabBody::InformAndActivate { leader, txn: t } => {
                j.leader = Some(leader);
                txn(&mut j, &t);
            }
            ZabBody::CommitAndActivate { leader } => j.leader = Some(leader),
            ZabBody::LearnerInfo { sid, protocol_version, config_version } => {
                j.sid = Some(sid);
                j.epoch = epoch;
                j.protocol_version = protocol_version;
                j.config_version = config_version;
            }
            ZabBody::LeaderInfo { protocol_version } => {
                j.epoch = epoch;
                j.protocol_version = Some(protocol_version);
            }
            ZabBody::AckEpoch { epoch: e } => j.epoch = Some(i64::from(e)),
            ZabBody::NewLeader { config } => j.config = Some(config),
            ZabBody::PingSessions { sessions } => j.sessions = Some(sessions),
            ZabBody::RevalidateAsk { session: s, timeout_ms } => {
                j.session = Some(hex_session(s));
                j.timeout_ms = Some(timeout_ms);
            }
            ZabBody::RevalidateAnswer { session: s, valid } => {
                j.session = Some(hex_session(s));
                j.valid = Some(valid);
            }
            ZabBody::Undecoded => j.undecoded = Some(true),
        }
        j
    }
}

/// Appends `Type(field=value, …)` of a ZAB packet (the wire's text escaped by the caller).
pub fn describe(s: &mut String, msg: &ZabMessage<'_>) {
    // A REQUEST's unused zxid is −1: shown as such, not as 0xffff….
    let _ = match msg.zxid {
        z if z < 0 => write!(s, "{}(zxid={z}", msg.kind.name()),
        z => write!(s, "{}(zxid={z:#x}", msg.kind.name()),
    };
    let txn = |s: &mut String, t: &Txn<'_>| {
        let _ = write!(
            s,
            ", txn={}, session={}, cxid={}",
            t.type_name(),
            hex_session(t.session),
            t.cxid
        );
        if let Some(p) = t.path {
            let _ = write!(s, ", path={p}");
        }
        if let Some(e) = t.error {
            let _ = write!(s, ", error={e}");
        }
        if t.txn_type == 14 {
            let ops: Vec<String> = t
                .multi_ops()
                .map_while(Result::ok)
                .map(|(t, p)| {
                    format!(
                        "{}{}",
                        crate::quorum::txn::txn_type_name(t),
                        p.map(|p| format!(" {p}")).unwrap_or_default()
                    )
                })
                .collect();
            let _ = write!(s, ", ops=[{}]", ops.join(", "));
        }
    };
    let _ = match msg.body {
        ZabBody::None => Ok(()),
        ZabBody::Request { session: id, cxid, op, path } => {
            let _ = write!(
                s,
                ", request={}, session={}, cxid={cxid}",
                op.request_name(),
                hex_session(id)
            );
            match path {
                Some(p) => write!(s, ", path={p}"),
                None => Ok(()),
            }
        }
        ZabBody::Txn(t) => {
            txn(s, &t);
            Ok(())
        }
        ZabBody::InformAndActivate { leader, txn: t } => {
            let _ = write!(s, ", leader_sid={leader}");
            txn(s, &t);
            Ok(())
        }
        ZabBody::CommitAndActivate { leader } => write!(s, ", leader_sid={leader}"),
        ZabBody::LearnerInfo { sid, protocol_version, config_version } => {
            let _ = write!(s, ", sid={sid}, epoch={}", msg.zxid >> 32);
            if let Some(v) = protocol_version {
                let _ = write!(s, ", protocol={v:#x}");
            }
            match config_version {
                Some(v) => write!(s, ", config_version={v:#x}"),
                None => Ok(()),
            }
        }
        ZabBody::LeaderInfo { protocol_version } => {
            write!(s, ", epoch={}, protocol={protocol_version:#x}", msg.zxid >> 32)
        }
        ZabBody::AckEpoch { epoch } => write!(s, ", epoch={epoch}"),
        ZabBody::NewLeader { config } => write!(s, ", config={config:?}"),
        ZabBody::PingSessions { sessions } => write!(s, ", sessions={sessions}"),
        ZabBody::RevalidateAsk { session: id, timeout_ms } => {
            write!(s, ", session={}, timeout={timeout_ms}", hex_session(id))
        }
        ZabBody::RevalidateAnswer { session: id, valid } => {
            write!(s, ", session={}, valid={}", hex_session(id), py_bool(valid))
        }
        ZabBody::Undecoded => write!(s, ", undecoded"),
    };
    if msg.auth > 0 {
        let _ = write!(s, ", auth_entries={}", msg.auth);
    }
    let _ = write!(
        s,
        ", size={}, from={}, leader_addr={}, learner_addr={})",
        msg.size,
        msg.from.name(),
        msg.conn.server,
        msg.conn.client
    );
}
