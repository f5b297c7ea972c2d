//! Pairing on hand-built request sequences, and against a scanned-queue model (proptest).

use super::*;
use crate::zk::opcode::xid;

fn ts(n: u64) -> Timestamp {
    Timestamp(n)
}

#[test]
fn pairs_in_order_and_settles_skipped_requests() {
    let mut p = PendingRequests::default();
    for xid in 1..=3 {
        assert_eq!(
            p.push(
                xid,
                OpCode::Exists,
                "ExistsRequest",
                ts(xid as u64),
                Some("/a"),
                10,
                usize::MAX
            ),
            Pushed::Remembered
        );
    }
    let t = p.take(1);
    assert_eq!((t.request.as_ref().map(|r| r.ts), t.unanswered), (Some(ts(1)), 0));
    assert_eq!(t.request.as_ref().and_then(Pending::path), Some("/a"));
    // The reply to 2 was lost: taking 3 settles it.
    let t = p.take(3);
    assert_eq!((t.request.map(|r| r.xid), t.unanswered), (Some(3), 1));
    assert!(p.is_empty());
    assert!(p.take(9).request.is_none());
}

#[test]
fn auth_is_answered_out_of_band() {
    let mut p = PendingRequests::default();
    p.push(5, OpCode::GetData, "GetDataRequest", ts(1), Some("/x"), 10, usize::MAX);
    p.push(-4, OpCode::Auth, "SetAuthRequest", ts(2), None, 10, usize::MAX);
    p.push(6, OpCode::GetData, "GetDataRequest", ts(3), Some("/y"), 10, usize::MAX);
    // The auth reply overtakes the GetData reply without settling it.
    let t = p.take(-4);
    assert_eq!((t.request.map(|r| r.op), t.unanswered), (Some(OpCode::Auth), 0));
    assert_eq!(p.take(5).request.map(|r| r.xid), Some(5));
    assert_eq!(p.len(), 1);
}

#[test]
fn pings_pair_oldest_first_and_cap_holds() {
    let mut p = PendingRequests::default();
    assert_eq!(
        p.push(-2, OpCode::Ping, "PingRequest", ts(1), None, 2, usize::MAX),
        Pushed::Remembered
    );
    assert_eq!(
        p.push(-2, OpCode::Ping, "PingRequest", ts(2), None, 2, usize::MAX),
        Pushed::Remembered
    );
    assert_eq!(p.push(-2, OpCode::Ping, "PingRequest", ts(3), None, 2, usize::MAX), Pushed::CapHit);
    assert_eq!(p.take(-2).request.map(|r| r.ts), Some(ts(1)));
    assert_eq!(p.peek_op(-2), Some(OpCode::Ping));
    assert_eq!(p.clear(), 1);
}

#[test]
fn long_paths_are_not_remembered() {
    let mut p = PendingRequests::default();
    let long = "/".repeat(MAX_REMEMBERED_PATH + 1);
    p.push(1, OpCode::Sync, "SyncRequest", ts(1), Some(&long), 10, usize::MAX);
    assert_eq!(p.take(1).request.and_then(|r| r.path().map(str::len)), None);
}

/// The pairing rules as first written: one queue, scanned.
#[derive(Default)]
struct Model(Vec<(i32, OpCode, u64)>);

impl Model {
    fn take(&mut self, xid: i32) -> (Option<u64>, u64) {
        let Some(k) = self.0.iter().position(|p| p.0 == xid) else { return (None, 0) };
        let (_, op, ts) = self.0.remove(k);
        let mut unanswered = 0;
        if !matches!(op, OpCode::Auth | OpCode::Sasl) {
            let mut i = 0;
            for _ in 0..k {
                if matches!(self.0[i].1, OpCode::Auth | OpCode::Sasl) {
                    i += 1;
                } else {
                    self.0.remove(i);
                    unanswered += 1;
                }
            }
        }
        (Some(ts), unanswered)
    }
}

proptest::proptest! {
    /// Index or scan, pairing answers as the single scanned queue did.
    #[test]
    fn pairs_as_the_scanned_queue(ops in proptest::collection::vec((0u8..8, -4i32..40), 1..400)) {
        let mut p = PendingRequests::default();
        let mut m = Model::default();
        for (i, (kind, xid)) in ops.into_iter().enumerate() {
            let t = i as u64;
            match kind {
                0..=3 => {
                    let op = if xid == xid::AUTH { OpCode::Auth } else if kind == 3 { OpCode::Sasl } else { OpCode::GetData };
                    let pushed = p.push(xid, op, "R", ts(t), Some("/p"), 64, usize::MAX);
                    proptest::prop_assert_eq!(pushed == Pushed::Remembered, m.0.len() < 64);
                    if pushed == Pushed::Remembered {
                        m.0.push((xid, op, t));
                    }
                }
                4..=6 => {
                    let got = p.take(xid);
                    let (want, unanswered) = m.take(xid);
                    proptest::prop_assert_eq!(got.request.map(|r| r.ts.0), want);
                    proptest::prop_assert_eq!(got.unanswered, unanswered);
                }
                _ => {
                    let want = m.0.iter().find(|q| q.0 == xid).map(|q| q.1);
                    proptest::prop_assert_eq!(p.peek_op(xid), want);
                    proptest::prop_assert_eq!(p.front_op(), m.0.first().map(|q| q.1));
                }
            }
            proptest::prop_assert_eq!(p.len(), m.0.len());
            proptest::prop_assert_eq!(p.bytes(), m.0.len() * (ENTRY_BYTES + 2));
        }
    }
}

#[test]
fn unknown_xids_do_not_walk_a_long_queue() {
    let mut p = PendingRequests::default();
    for xid in 1..=10_000 {
        assert_eq!(
            p.push(
                xid,
                OpCode::GetData,
                "GetDataRequest",
                ts(xid as u64),
                None,
                10_000,
                usize::MAX
            ),
            Pushed::Remembered
        );
    }
    assert!(p.indexed, "a long queue is indexed");
    for xid in 20_000..21_000 {
        assert!(p.take(xid).request.is_none());
    }
    // The reply to 5 000 settles the 4 999 before it; the index follows.
    let t = p.take(5_000);
    assert_eq!((t.request.map(|r| r.xid), t.unanswered), (Some(5_000), 4_999));
    assert_eq!(p.peek_op(5_001), Some(OpCode::GetData));
    assert_eq!(p.peek_op(4_000), None);
    assert_eq!(p.len(), 5_000);
}

#[test]
fn the_budget_holds_and_is_given_back() {
    let mut p = PendingRequests::default();
    let path = "/".repeat(100);
    let one = ENTRY_BYTES + 100;
    for xid in 1..=3 {
        let r =
            p.push(xid, OpCode::Sync, "SyncRequest", ts(1), Some(&path), 10, 2 * one - p.bytes());
        assert_eq!(r, if xid <= 2 { Pushed::Remembered } else { Pushed::BudgetHit });
    }
    assert_eq!(p.bytes(), 2 * one);
    p.take(2);
    assert_eq!(p.bytes(), 0);
}
