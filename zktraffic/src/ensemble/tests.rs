//! The derived events from hand-built message sequences.

use std::net::SocketAddr;

use super::*;
use crate::election::{ElectionBody, Notification};
use crate::quorum::{Side, Txn, ZabBody, ZabType};
use crate::tcp::ConnKey;

const MS: u64 = 1_000_000;

fn conn(learner_port: u16) -> ConnKey {
    ConnKey {
        client: format!("10.0.0.2:{learner_port}").parse().unwrap(),
        server: "10.0.0.3:2888".parse().unwrap(),
    }
}

fn zab<'a>(
    t: u64,
    port: u16,
    from: Side,
    kind: ZabType,
    zxid: i64,
    body: ZabBody<'a>,
) -> ZabMessage<'a> {
    ZabMessage {
        ts: Timestamp(t * MS),
        conn: conn(port),
        from,
        kind,
        zxid,
        body,
        size: 20,
        auth: 0,
    }
}

fn create_txn(zxid: i64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x55i64.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&zxid.to_be_bytes());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&2i32.to_be_bytes());
    b.extend_from_slice(b"/a");
    b
}

fn feed(t: &mut Tracker, msgs: &[ZabMessage<'_>]) -> Vec<EnsembleEvent> {
    let mut out = Vec::new();
    for m in msgs {
        t.zab(m, &mut out);
    }
    out.into_iter().map(|(_, e)| e).collect()
}

fn info(sid: i64) -> ZabBody<'static> {
    ZabBody::LearnerInfo { sid, protocol_version: Some(0x10000), config_version: Some(0) }
}

#[test]
fn a_commit_waits_for_every_ack_and_says_each_latency() {
    let zxid = 0x1_0000_0007;
    let txn_bytes = create_txn(zxid);
    let txn = ZabBody::Txn(Txn::parse(&txn_bytes).unwrap());
    let (f1, f2) = (50001, 50002);
    let mut t = Tracker::default();
    let events = feed(
        &mut t,
        &[
            zab(0, f1, Side::Learner, ZabType::FollowerInfo, 0, info(1)),
            zab(0, f2, Side::Learner, ZabType::FollowerInfo, 0, info(2)),
            zab(100, f1, Side::Leader, ZabType::Proposal, zxid, txn),
            zab(101, f2, Side::Leader, ZabType::Proposal, zxid, txn),
            zab(102, f1, Side::Learner, ZabType::Ack, zxid, ZabBody::None),
            zab(103, f1, Side::Leader, ZabType::Commit, zxid, ZabBody::None),
            zab(103, f2, Side::Leader, ZabType::Commit, zxid, ZabBody::None),
        ],
    );
    assert!(events.is_empty(), "the second ACK is still due: {events:?}");
    let events = feed(&mut t, &[zab(105, f2, Side::Learner, ZabType::Ack, zxid, ZabBody::None)]);
    let [EnsembleEvent::Committed { zxid: z, txn_type, path, commit_latency_us, acks }] =
        events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(
        (*z, *txn_type, path.as_deref(), *commit_latency_us),
        (zxid, "create", Some("/a"), 3000.0)
    );
    let acks: Vec<(Option<i64>, f64)> = acks.iter().map(|a| (a.learner, a.latency_us)).collect();
    assert_eq!(acks, [(Some(1), 2000.0), (Some(2), 4000.0)]);
    assert_eq!(t.stats, EnsembleStats::default());
}

#[test]
fn a_missing_ack_is_given_up_a_second_after_the_commit() {
    let zxid = 0x1_0000_0008;
    let txn_bytes = create_txn(zxid);
    let txn = ZabBody::Txn(Txn::parse(&txn_bytes).unwrap());
    let mut t = Tracker::default();
    let events = feed(
        &mut t,
        &[
            zab(0, 1, Side::Leader, ZabType::Proposal, zxid, txn),
            zab(0, 2, Side::Leader, ZabType::Proposal, zxid, txn),
            zab(1, 1, Side::Learner, ZabType::Ack, zxid, ZabBody::None),
            zab(2, 1, Side::Leader, ZabType::Commit, zxid, ZabBody::None),
            zab(500, 1, Side::Leader, ZabType::Ping, 0, ZabBody::None),
        ],
    );
    assert!(events.is_empty());
    let events = feed(&mut t, &[zab(1_003, 1, Side::Leader, ZabType::Ping, 0, ZabBody::None)]);
    assert!(
        matches!(events.as_slice(), [EnsembleEvent::Committed { acks, .. }] if acks.len() == 1)
    );
    // Its last ACK, later, and a COMMIT of an unseen proposal are counted, not reported.
    let late = [
        zab(1_004, 2, Side::Learner, ZabType::Ack, zxid, ZabBody::None),
        zab(1_005, 2, Side::Leader, ZabType::Commit, zxid + 5, ZabBody::None),
        zab(1_006, 1, Side::Leader, ZabType::Commit, zxid + 5, ZabBody::None),
    ];
    assert!(feed(&mut t, &late).is_empty());
    assert_eq!((t.stats.acks_unmatched, t.stats.commits_unmatched), (0, 1));
}

#[test]
fn a_learner_sync_and_a_new_leader() {
    let mut t = Tracker::default();
    let events = feed(
        &mut t,
        &[
            zab(0, 7, Side::Learner, ZabType::FollowerInfo, 0, info(2)),
            zab(
                1,
                7,
                Side::Leader,
                ZabType::LeaderInfo,
                1 << 32,
                ZabBody::LeaderInfo { protocol_version: 0x10000 },
            ),
            zab(2, 7, Side::Learner, ZabType::AckEpoch, 0, ZabBody::AckEpoch { epoch: 0 }),
            zab(3, 7, Side::Leader, ZabType::Diff, 0x5, ZabBody::None),
            zab(3, 7, Side::Leader, ZabType::NewLeader, 1 << 32, ZabBody::None),
            zab(12, 7, Side::Leader, ZabType::UpToDate, 0, ZabBody::None),
            zab(
                13,
                8,
                Side::Leader,
                ZabType::LeaderInfo,
                1 << 32,
                ZabBody::LeaderInfo { protocol_version: 0x10000 },
            ),
        ],
    );
    assert_eq!(
        events,
        [
            EnsembleEvent::LeaderChanged { epoch: 1, leader_addr: conn(7).server, leader: None },
            EnsembleEvent::LearnerSync {
                learner: Some(2),
                learner_addr: conn(7).client,
                mode: Some("DIFF"),
                zxid: Some(5),
                duration_ms: Some(12.0),
            },
        ]
    );
}

fn vote<'a>(
    t: u64,
    from: &str,
    sid: Option<i64>,
    leader: i64,
    config: &'a str,
) -> ElectionMessage<'a> {
    let n = Notification {
        state: 0,
        leader,
        zxid: 0,
        election_epoch: 1,
        peer_epoch: Some(0),
        version: Some(2),
        config: Some(config),
    };
    let from: SocketAddr = from.parse().unwrap();
    ElectionMessage {
        ts: Timestamp(t * MS),
        from,
        to: "10.0.0.9:3888".parse().unwrap(),
        sid,
        body: ElectionBody::Notification(n),
        size: 100,
    }
}

#[test]
fn an_election_finishes_on_a_quorum_of_votes_for_one_leader() {
    let config = "server.1=10.0.0.1:2888:3888:participant\nserver.2=10.0.0.2:2888:3888:participant\n\
                  server.3=10.0.0.3:2888:3888:participant\nversion=0";
    let mut t = Tracker::default();
    let mut out = Vec::new();
    // 1 and, from its listening address, 2 first agree on 2 (a quorum that does not last);
    // then 3's vote comes, and both switch to it.
    for m in [
        vote(10, "10.0.0.1:40000", Some(1), 2, config),
        vote(11, "10.0.0.2:3888", None, 2, config),
        vote(12, "10.0.0.3:40001", Some(3), 3, config),
        vote(20, "10.0.0.1:40000", Some(1), 3, config),
        vote(25, "10.0.0.2:3888", None, 3, config),
    ] {
        t.election(&m, &mut out);
    }
    assert_eq!(out.len(), 1, "not settled yet: {out:?}");
    // A second later (capture time), with no vote against it, it is the outcome.
    t.election(&vote(1_100, "10.0.0.3:40001", Some(3), 3, config), &mut out);
    let events: Vec<EnsembleEvent> = out.into_iter().map(|(_, e)| e).collect();
    assert_eq!(
        events,
        [
            EnsembleEvent::ElectionStarted { election_epoch: 1 },
            EnsembleEvent::ElectionFinished {
                election_epoch: 1,
                leader: 3,
                duration_ms: 10.0,
                voters: vec!["1".into(), "2".into(), "3".into()],
            },
        ]
    );
    assert_eq!(t.election.last_leader(), Some(3));
}
