//! Inside a real ensemble: three ZooKeeper servers on the loopback of a network namespace of
//! the test's own (127.0.0.1–3, client port 12181, quorum 12888, election 3888), captured live
//! from before they start with `dump --protocol all`. The election, the learners' sync and a
//! write's proposal and commit are asserted from the decoded stream, and so are the events
//! derived from them (the election finished, each learner's sync, the commit with each
//! follower's ACK latency); then the capture written
//! alongside (`--write-pcap`) is decoded again offline without the quorum port: it is learned
//! from the election's config text.
//!
//! Needs root and the Debian `zookeeper` package (skips loudly otherwise).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use serde_json::Value;
use zktraffic_tests::agent::Agent;
use zktraffic_tests::netns::{Bridged, NetNs, privileged, skip};
use zktraffic_tests::zookeeper::{self, TempDir, ZkEnsemble, zkcli};

const CLIENT: u16 = 12181;
const QUORUM: u16 = 12888;
const ELECTION: u16 = 3888;

fn of<'a>(msgs: &'a [Value], dir: &str, kind: &str) -> Vec<&'a Value> {
    msgs.iter().filter(|m| m["dir"] == dir && m["type"] == kind).collect()
}

/// What every decode of the ensemble's traffic must show.
fn assert_ensemble(msgs: &[Value], leader: i64, what: &str) {
    // The election: every server introduced itself and voted; the last votes name the leader.
    let initial_sids: BTreeSet<i64> =
        of(msgs, "election", "Initial").iter().filter_map(|m| m["sid"].as_i64()).collect();
    assert!(initial_sids.len() >= 2, "{what}: initial messages from {initial_sids:?}");
    let votes = of(msgs, "election", "Notification");
    assert!(votes.iter().any(|v| v["state"] == "LOOKING"), "{what}: no LOOKING vote");
    // Each server's last vote names the elected leader (servers that decide together send only
    // LOOKING votes; one that joins late gets FOLLOWING/LEADING answers).
    // The sender: its sid when it connected (its initial message), else the listening server
    // 127.0.0.N:3888.
    let sender = |v: &Value| -> i64 {
        v["sid"].as_i64().unwrap_or_else(|| {
            let from = v["from"].as_str().unwrap();
            from.strip_prefix("127.0.0.").and_then(|r| r.split(':').next()?.parse().ok()).unwrap()
        })
    };
    let mut last: std::collections::BTreeMap<i64, &Value> = Default::default();
    for v in &votes {
        last.insert(sender(v), v);
    }
    assert_eq!(last.len(), 3, "{what}: votes from every server: {last:?}");
    assert!(last.values().all(|v| v["leader"] == leader), "{what}: {last:?}");
    let servers = votes.iter().find_map(|v| v["servers"].as_array()).expect("config text");
    let ports: BTreeSet<(i64, i64)> = servers
        .iter()
        .map(|s| (s["quorum_port"].as_i64().unwrap(), s["election_port"].as_i64().unwrap()))
        .collect();
    assert_eq!(ports, BTreeSet::from([(i64::from(QUORUM), i64::from(ELECTION))]), "{what}");
    assert_eq!(servers.len(), 3, "{what}: {servers:?}");

    // The learners' sync with the leader, in ZAB.
    let infos = of(msgs, "quorum", "FollowerInfo");
    let learners: BTreeSet<i64> = infos.iter().filter_map(|m| m["sid"].as_i64()).collect();
    let followers: BTreeSet<i64> = (1..=3).filter(|&n| n != leader).collect();
    assert_eq!(learners, followers, "{what}: FollowerInfo sids");
    for kind in ["LeaderInfo", "AckEpoch", "NewLeader", "UpToDate"] {
        assert!(of(msgs, "quorum", kind).len() >= 2, "{what}: {kind} per learner");
    }
    let syncs =
        ["Diff", "Trunc", "Snap"].iter().map(|k| of(msgs, "quorum", k).len()).sum::<usize>();
    assert!(syncs >= 2, "{what}: a sync mode per learner");
    let leader_port =
        of(msgs, "quorum", "LeaderInfo")[0]["leader_addr"].as_str().unwrap().to_owned();
    assert_eq!(leader_port, format!("127.0.0.{leader}:{QUORUM}"), "{what}");

    // The write: proposed to both followers, acknowledged, committed, with its path.
    let proposals: Vec<&Value> =
        of(msgs, "quorum", "Proposal").into_iter().filter(|p| p["path"] == "/ensemble").collect();
    assert_eq!(proposals.len(), 2, "{what}: one Proposal per follower");
    assert!(proposals.iter().all(|p| p["txn_type"] == "create" && p["from"] == "leader"));
    let zxid = proposals[0]["zxid"].as_i64().unwrap();
    let acks = of(msgs, "quorum", "Ack").iter().filter(|a| a["zxid"] == zxid).count();
    let commits = of(msgs, "quorum", "Commit").iter().filter(|c| c["zxid"] == zxid).count();
    assert_eq!((acks, commits), (2, 2), "{what}: zxid {zxid:#x}");
    // And the client side of it.
    let creates: Vec<&Value> =
        msgs.iter().filter(|m| m["type"] == "CreateRequest" && m["path"] == "/ensemble").collect();
    assert_eq!(creates.len(), 1, "{what}");

    // What they mean together.
    let finished = of(msgs, "ensemble", "ElectionFinished");
    assert!(finished.iter().any(|e| e["leader"] == leader), "{what}: {finished:?}");
    assert!(finished.iter().all(|e| e["duration_ms"].as_f64() >= Some(0.0)));
    assert!(!of(msgs, "ensemble", "LeaderChanged").is_empty(), "{what}: no LeaderChanged");
    let syncs = of(msgs, "ensemble", "LearnerSync");
    let synced: BTreeSet<i64> = syncs.iter().filter_map(|s| s["learner"].as_i64()).collect();
    assert_eq!(synced, followers, "{what}: {syncs:?}");
    assert!(syncs.iter().all(|s| ["DIFF", "TRUNC", "SNAP"].contains(&s["mode"].as_str().unwrap())));
    let committed: Vec<&Value> = of(msgs, "ensemble", "Committed")
        .into_iter()
        .filter(|c| c["path"] == "/ensemble")
        .collect();
    assert_eq!(committed.len(), 1, "{what}: {committed:?}");
    assert_eq!(committed[0]["zxid"], zxid);
    assert!(committed[0]["commit_latency_us"].as_f64() > Some(0.0), "{what}");
    let acked: BTreeSet<i64> = committed[0]["acks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["learner"].as_i64())
        .collect();
    assert_eq!(acked, followers, "{what}: each follower's ACK latency");
}

#[test]
fn an_ensemble_seen_from_its_election_to_a_committed_write() {
    let name = "an_ensemble_seen_from_its_election_to_a_committed_write";
    if !privileged(name) {
        return;
    }
    if !zookeeper::installed() {
        skip(name, "the `zookeeper` package is missing; run `cargo xtask setup`");
        return;
    }
    let ns = NetNs::new("ensemble");
    let dir = TempDir::new("ensemble");
    let pcap = dir.join("ensemble.pcapng");
    let pcap_arg = pcap.to_string_lossy().into_owned();
    let (client, quorum) = (CLIENT.to_string(), QUORUM.to_string());
    let agent = Agent::start(
        &ns,
        "lo",
        &[
            "--protocol",
            "all",
            "--port",
            &client,
            "--zab-port",
            &quorum,
            "--format",
            "json",
            "--write-pcap",
            &pcap_arg,
        ],
        1,
        &dir.0,
        "ensemble",
    );
    let ensemble = ZkEnsemble::start(&ns, "ensemble", CLIENT, QUORUM, ELECTION);
    let leader = ensemble.leader(&[&ns, &ns, &ns]).expect("a leader") as i64;
    let addr: SocketAddr = format!("127.0.0.{leader}:{CLIENT}").parse().unwrap();
    zkcli(&ns, addr, &["create /ensemble x"]);
    // The followers' ACKs and the COMMITs follow the reply within milliseconds; the drain
    // at stop takes what is in flight.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = agent.stop();
    drop(ensemble);
    assert_ensemble(&out.lines, leader, "live");

    // Offline, no quorum port given: the election port is the default, the quorum port is
    // learned from the election's config text. (A static config, as here, does not name the
    // client port; a dynamic one, `server.N=…;CLIENT`, does, and it is learned too.)
    let msgs = zktraffic_tests::dump_json(&pcap, &["--protocol", "all", "--port", &client]);
    assert_ensemble(&msgs, leader, "replayed with learned ports");
}

/// Waits (at most 60 s) until the running servers agree on a leader other than `not`.
fn wait_new_leader(ensemble: &ZkEnsemble, nss: &[&NetNs], not: u32) -> u32 {
    let start = std::time::Instant::now();
    loop {
        if let Some(l) = ensemble.leader(nss).filter(|&l| l != not) {
            return l;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "no new leader");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// As deployed: three servers in namespaces of their own joined by a bridge, the agent on one
/// follower's interface only. Writes go through that follower; the leader is killed (`kill -9`)
/// and restarted. From that node's traffic: both elections and their winners (as `srvr` says),
/// the follower's syncs with each leader, and a PROPOSAL with its type and path for every
/// transaction of the client's sessions.
#[test]
fn a_follower_sees_the_leader_die_and_the_next_one_elected() {
    let name = "a_follower_sees_the_leader_die_and_the_next_one_elected";
    if !privileged(name) {
        return;
    }
    if !zookeeper::installed() {
        skip(name, "the `zookeeper` package is missing; run `cargo xtask setup`");
        return;
    }
    let net = Bridged::new("zkq", 3);
    let nss: [&NetNs; 3] = [&net.members[0], &net.members[1], &net.members[2]];
    let ips: Vec<std::net::IpAddr> = (1..=3).map(Bridged::ip).collect();
    let dir = TempDir::new("bridged");
    // Server 1 (the lowest sid: a follower of a fresh ensemble, which elects the highest).
    let agent = Agent::start(
        nss[0],
        Bridged::IF,
        &["--protocol", "all", "--format", "json"],
        2,
        &dir.0,
        "bridged",
    );
    let mut ensemble = ZkEnsemble::start_across(&nss, &ips, "bridged", 2181, 2888, 3888);
    let first = ensemble.leader(&nss).expect("a leader");
    assert_ne!(first, 1, "a fresh ensemble elects the highest sid");
    let through = SocketAddr::new(ips[0], 2181);
    zkcli(nss[0], through, &["create /through x", "set /through y"]);
    ensemble.servers[first as usize - 1].kill();
    let second = wait_new_leader(&ensemble, &nss, first);
    zkcli(nss[0], through, &["create /after x"]);
    ensemble.servers[first as usize - 1].restart(nss[first as usize - 1]);
    ensemble.servers[first as usize - 1].wait_ready(nss[first as usize - 1]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = agent.stop();
    drop(ensemble);
    let msgs = &out.lines;

    let winners: Vec<i64> = of(msgs, "ensemble", "ElectionFinished")
        .iter()
        .map(|e| e["leader"].as_i64().unwrap())
        .collect();
    assert!(
        winners.contains(&i64::from(first)) && winners.contains(&i64::from(second)),
        "{winners:?}"
    );
    assert_eq!(winners.first(), Some(&i64::from(first)), "{winners:?}");
    // Server 1 synced with each leader in turn.
    let syncs = of(msgs, "ensemble", "LearnerSync");
    assert!(syncs.len() >= 2 && syncs.iter().all(|s| s["learner"] == 1), "{syncs:?}");
    let leaders: BTreeSet<String> = of(msgs, "ensemble", "LeaderChanged")
        .iter()
        .map(|l| l["leader_addr"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> =
        [first, second].iter().map(|&n| format!("{}:2888", ips[n as usize - 1])).collect();
    assert_eq!(leaders, expected);
    // Every transaction of the two client sessions reached server 1 as a PROPOSAL.
    let proposals = of(msgs, "quorum", "Proposal");
    let has = |txn: &str, path: Option<&str>| {
        proposals
            .iter()
            .filter(|p| p["txn_type"] == txn && path.is_none_or(|x| p["path"] == x))
            .count()
    };
    assert_eq!(has("create", Some("/through")), 1, "{proposals:?}");
    assert_eq!(has("setData", Some("/through")), 1);
    assert_eq!(has("create", Some("/after")), 1);
    assert!(has("createSession", None) >= 2 && has("closeSession", None) >= 2, "{proposals:?}");
    // The follower forwarded its clients' writes to the leader.
    let forwarded = of(msgs, "quorum", "Request");
    assert!(
        forwarded.iter().any(|r| r["request_type"] == "CreateRequest" && r["path"] == "/through")
    );
    // (The client ran on server 1 itself: its traffic went through `lo`, not this interface.)
}
