//! Derived ensemble events in dump's two formats: a line, and a JSON object with
//! `"dir":"ensemble"`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::ensemble::EnsembleEvent;

/// The JSON shape of an event.
#[derive(Serialize)]
pub struct EnsembleJson<'a> {
    ts: String,
    dir: &'static str,
    #[serde(flatten)]
    event: &'a EnsembleEvent,
}

impl<'a> EnsembleJson<'a> {
    /// The JSON of `event`, stamped `ts` (RFC 3339).
    pub fn new(event: &'a EnsembleEvent, ts: String) -> Self {
        EnsembleJson { ts, dir: "ensemble", event }
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "?".to_owned(), |v| v.to_string())
}

/// Appends `Type(field=value, …)` of an event.
pub fn describe(s: &mut String, event: &EnsembleEvent) {
    let _ = write!(s, "{}(", event.name());
    let _ = match event {
        EnsembleEvent::ElectionStarted { election_epoch } => {
            write!(s, "election_epoch={election_epoch:#x}")
        }
        EnsembleEvent::ElectionFinished { election_epoch, leader, duration_ms, voters } => write!(
            s,
            "election_epoch={election_epoch:#x}, leader={leader}, duration={duration_ms:.3}ms, \
             voters=[{}]",
            voters.join(", ")
        ),
        EnsembleEvent::LeaderChanged { epoch, leader_addr, leader } => {
            write!(s, "epoch={epoch}, leader={}, leader_addr={leader_addr}", opt(*leader))
        }
        EnsembleEvent::LearnerSync { learner, learner_addr, mode, zxid, duration_ms } => write!(
            s,
            "learner={}, mode={}, zxid={}, duration={}, learner_addr={learner_addr}",
            opt(*learner),
            opt(*mode),
            opt(zxid.map(|z| format!("{z:#x}"))),
            opt(duration_ms.map(|d| format!("{d:.3}ms")))
        ),
        EnsembleEvent::Committed { zxid, txn_type, path, commit_latency_us, acks } => {
            let acks: Vec<String> = acks
                .iter()
                .map(|a| format!("{}={:.3}ms", opt(a.learner), a.latency_us / 1e3))
                .collect();
            let path = path.as_deref().map(|p| format!(", path={p}")).unwrap_or_default();
            write!(
                s,
                "zxid={zxid:#x}, txn={txn_type}{path}, commit_latency={:.3}ms, acks=[{}]",
                commit_latency_us / 1e3,
                acks.join(", ")
            )
        }
    };
    s.push(')');
}
