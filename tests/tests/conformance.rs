//! The original zktraffic's test captures, with the wire-true values of
//! `../shared/conformance/EXPECTED.md` asserted exactly.

use serde_json::{Value, json};
use zktraffic_tests::{conformance, count, dump, dump_json, with};

macro_rules! capture {
    ($name:literal) => {
        match conformance($name) {
            Some(p) => p,
            None => return,
        }
    };
}

fn types(msgs: &[Value]) -> Vec<&str> {
    msgs.iter().map(|m| m["type"].as_str().unwrap_or("?")).collect()
}

#[test]
fn auth_credential_is_decoded_and_redacted() {
    let p = capture!("auth.pcap");
    let msgs = dump_json(&p, &[]);
    assert_eq!(types(&msgs), ["SetAuthRequest", "AuthReply"]);
    let (req, rep) = (&msgs[0], &msgs[1]);
    assert_eq!((req["xid"].as_i64(), req["size"].as_u64()), (Some(-4), Some(37)));
    assert_eq!(
        (req["scheme"].as_str(), req["credential"].as_str()),
        (Some("digest"), Some("tacos:<redacted>"))
    );
    assert_eq!(
        (rep["xid"].as_i64(), rep["zxid"].as_i64(), rep["error"].as_str()),
        (Some(-4), Some(0), Some("Ok"))
    );
    assert_eq!(rep["request_type"], "SetAuthRequest");
    for format in [
        &["--format", "json"][..],
        &[],
        &["--summary"],
        &["--summary", "--format", "json"],
        &["--unpaired"],
    ] {
        let (out, _) = dump(&p, format);
        assert!(!out.contains("tacos:tacos"), "password leaked with {format:?}: {out}");
    }
    let shown = dump_json(&p, &["--show-secrets"]);
    assert_eq!(shown[0]["credential"], "tacos:tacos");
}

#[test]
fn connect_replies_three_sessions() {
    let p = capture!("connect_replies.pcap");
    let msgs = dump_json(&p, &[]);
    assert_eq!(types(&msgs), ["ConnectRequest", "ConnectReply"].repeat(3));
    for (i, port) in (60724..=60726).enumerate() {
        let req = msgs[2 * i].clone();
        let rep = msgs[2 * i + 1].clone();
        assert_eq!(req["client"], format!("127.0.0.1:{port}"));
        assert_eq!(req["server"], "127.0.0.1:2181");
        assert_eq!((req["size"].as_u64(), req["timeout_ms"].as_i64()), (Some(45), Some(10000)));
        assert_eq!((req["session"].as_str(), req["last_zxid"].as_i64()), (Some("0x0"), Some(0)));
        assert_eq!(req["read_only"], false);
        assert_eq!(rep["client"], format!("127.0.0.1:{port}"));
        assert_eq!(rep["session"], format!("0x1001113200f000{}", i + 1));
        assert_eq!((rep["timeout_ms"].as_i64(), rep["error"].as_str()), (Some(10000), Some("Ok")));
        assert_eq!(rep["request_type"], "ConnectRequest");
        assert!(rep["latency_us"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn connects_client_to_server_only() {
    let p = capture!("connects.pcap");
    let msgs = dump_json(&p, &[]);
    assert_eq!(types(&msgs), ["ConnectRequest", "CloseRequest"].repeat(3));
    for (i, port) in (55244..=55246).enumerate() {
        let (c, close) = (&msgs[2 * i], &msgs[2 * i + 1]);
        assert_eq!(c["client"], format!("127.0.0.1:{port}"));
        assert_eq!((c["size"].as_u64(), c["read_only"].as_bool()), (Some(45), Some(true)));
        assert_eq!((close["xid"].as_i64(), close["size"].as_u64()), (Some(1), Some(8)));
    }
    assert!(with(&msgs, "dir", "reply").is_empty(), "no replies are invented");
}

#[test]
fn c_client_with_length_prefixes_in_their_own_segments() {
    let p = capture!("create-pyzookeeper.pcap");
    let msgs = dump_json(&p, &[]);
    assert_eq!(types(&msgs), ["ConnectRequest", "CreateRequest"]);
    let create = &msgs[1];
    assert_eq!(create["path"], "/git/twitter-config_sha");
    assert_eq!(create["xid"], 1374558329);
    assert_eq!(create["mode"], "PERSISTENT");
    // The frame length, not the data length the original reported (60).
    assert_eq!(create["size"], 130);
    assert_eq!(create["data_len"], 60);
}

#[test]
fn dump_mid_session_with_watch_event() {
    let p = capture!("dump.pcap");
    let msgs = dump_json(&p, &["--include-pings"]);
    let requests = with(&msgs, "dir", "request");
    let replies = with(&msgs, "dir", "reply");
    assert_eq!((requests.len(), replies.len(), with(&msgs, "dir", "event").len()), (13, 13, 1));
    assert_eq!((count(&msgs, "PingRequest"), count(&msgs, "PingReply")), (3, 3));
    assert!(msgs.iter().all(|m| m["client"] == "127.0.0.1:60446"));

    let exists = with(&msgs, "type", "ExistsReply");
    let by_xid: Vec<(i64, &str)> =
        exists.iter().map(|m| (m["xid"].as_i64().unwrap(), m["error"].as_str().unwrap())).collect();
    assert_eq!(by_xid, [(6, "NoNode"), (8, "NoNode"), (10, "Ok"), (12, "NoNode"), (14, "Ok")]);
    let exists_paths: Vec<&str> =
        with(&msgs, "type", "ExistsRequest").iter().map(|m| m["path"].as_str().unwrap()).collect();
    let mut sorted = exists_paths.clone();
    sorted.sort();
    assert_eq!(sorted, ["/dkni", "/dknigh", "/dknightly", "/dknightly", "/dknightly"]);

    let create = with(&msgs, "type", "CreateRequest");
    assert_eq!(
        (create[0]["xid"].as_i64(), create[0]["path"].as_str(), create[0]["size"].as_u64()),
        (Some(7), Some("/dknightly"), Some(62))
    );
    let create_reply = with(&msgs, "type", "CreateReply");
    assert_eq!(create_reply[0]["path"], "/dknightly");
    let children: Vec<(i64, i64)> = with(&msgs, "type", "GetChildrenReply")
        .iter()
        .map(|m| (m["xid"].as_i64().unwrap(), m["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(children, [(9, 4), (13, 4)]);
    let get = with(&msgs, "type", "GetDataRequest");
    assert_eq!((get[0]["xid"].as_i64(), get[0]["watch"].as_bool()), (Some(11), Some(true)));
    let set = with(&msgs, "type", "SetDataRequest");
    assert_eq!((set[0]["xid"].as_i64(), set[0]["size"].as_u64()), (Some(15), Some(40)));

    // The event arrives before the SetData reply.
    let event = msgs.iter().position(|m| m["dir"] == "event").unwrap();
    let set_reply = msgs.iter().position(|m| m["type"] == "SetDataReply").unwrap();
    assert!(event < set_reply);
    assert_eq!(msgs[event]["event"], "NodeDataChanged");
    assert_eq!(
        (msgs[event]["state"].as_str(), msgs[event]["path"].as_str()),
        (Some("SyncConnected"), Some("/dknightly"))
    );

    // Every reply is paired and has a positive latency.
    for r in &replies {
        assert!(r["request_type"].is_string(), "unpaired: {r}");
        assert!(r["latency_us"].as_f64().unwrap() > 0.0);
    }
    // Without pings: 10 and 10.
    let quiet = dump_json(&p, &[]);
    assert_eq!(
        (with(&quiet, "dir", "request").len(), with(&quiet, "dir", "reply").len()),
        (10, 10)
    );
}

#[test]
fn four_letter_words_are_not_frames() {
    let p = capture!("get_children_with_four_letter.pcap");
    let msgs = dump_json(&p, &["--include-pings"]);
    let flw: Vec<(&str, &str)> = with(&msgs, "dir", "fourletter")
        .iter()
        .map(|m| (m["command"].as_str().unwrap(), m["client"].as_str().unwrap()))
        .collect();
    assert_eq!(flw, [("stat", "127.0.0.1:45870"), ("conf", "127.0.0.1:45876")]);
    assert_eq!(with(&msgs, "dir", "fourletter")[0]["size"], 241);
    let zk: Vec<&Value> = msgs.iter().filter(|m| m["client"] == "127.0.0.1:45873").collect();
    let zk_types: Vec<&str> = zk.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(
        zk_types,
        [
            "ConnectRequest",
            "ConnectReply",
            "GetChildrenRequest",
            "GetChildrenReply",
            "PingRequest",
            "PingReply",
            "PingRequest",
            "PingReply"
        ]
    );
    assert_eq!(zk[0]["timeout_ms"], 30000);
    assert_eq!(zk[1]["session"], "0x100157f63eb0000");
    assert_eq!(
        (zk[2]["path"].as_str(), zk[2]["xid"].as_i64(), zk[2]["size"].as_u64()),
        (Some("/"), Some(1), Some(14))
    );
    assert_eq!((zk[3]["count"].as_i64(), zk[3]["zxid"].as_i64()), (Some(1), Some(4294967297)));
    assert_eq!(msgs.len(), 10);
}

#[test]
fn getdata_watches() {
    let p = capture!("getdata_watches.pcap");
    let msgs = dump_json(&p, &[]);
    assert_eq!(msgs[0]["type"], "ConnectRequest");
    assert_eq!(msgs[0]["read_only"], true);
    let reads: Vec<Value> = msgs[1..]
        .iter()
        .map(|m| json!([m["type"], m["path"], m["xid"], m["watch"], m["size"]]))
        .collect();
    assert_eq!(
        reads,
        [
            json!(["GetChildrenRequest", "/test", 1, false, 18]),
            json!(["GetChildrenRequest", "/test", 2, true, 18]),
            json!(["GetDataRequest", "/test", 3, false, 18]),
            json!(["GetDataRequest", "/test", 4, true, 18]),
        ]
    );
}

#[test]
fn multi_with_every_sub_operation() {
    let p = capture!("multi.pcap");
    let msgs = dump_json(&p, &["--include-pings"]);
    assert_eq!(types(&msgs), ["PingRequest", "PingReply", "MultiRequest", "MultiReply"]);
    assert_eq!(msgs[1]["zxid"], 5);
    let (req, rep) = (&msgs[2], &msgs[3]);
    assert_eq!(
        (req["xid"].as_i64(), req["size"].as_u64(), req["path"].as_str()),
        (Some(5), Some(96), Some("/foo"))
    );
    assert_eq!(
        req["ops"],
        json!([
            {"type": "CreateRequest", "path": "/foo", "mode": "PERSISTENT"},
            {"type": "SetDataRequest", "path": "/foo"},
        ])
    );
    assert_eq!(
        (rep["xid"].as_i64(), rep["zxid"].as_i64(), rep["error"].as_str()),
        (Some(5), Some(6), Some("Ok"))
    );
    assert_eq!(
        rep["ops"],
        json!([
            {"type": "CreateReply", "path": "/foo", "error": "Ok"},
            {"type": "SetDataReply", "error": "Ok"},
        ])
    );
}

#[test]
fn reconfig_unimplemented() {
    let p = capture!("reconfig.pcap");
    let msgs = dump_json(&p, &["--include-pings"]);
    assert_eq!(types(&msgs), ["PingRequest", "PingReply", "ReconfigRequest", "ReconfigReply"]);
    assert_eq!(msgs[1]["zxid"], 1833);
    assert_eq!((msgs[2]["xid"].as_i64(), msgs[2]["size"].as_u64()), (Some(4), Some(81)));
    let (out, _) = dump(&p, &["--unpaired"]);
    assert!(
        out.contains(
            "joining=server.100=0.0.0.0:56954:37866:observer;0.0.0.0:42969, leaving=, new_members="
        ),
        "{out}"
    );
    assert_eq!(
        (msgs[3]["xid"].as_i64(), msgs[3]["zxid"].as_i64(), msgs[3]["error"].as_str()),
        (Some(4), Some(1834), Some("Unimplemented"))
    );
}

#[test]
fn set_data_is_wire_true() {
    let p = capture!("set_data.pcap");
    let msgs = dump_json(&p, &[]);
    assert_eq!(
        (
            count(&msgs, "ConnectRequest"),
            count(&msgs, "ExistsRequest"),
            count(&msgs, "SetDataRequest")
        ),
        (6, 5, 25)
    );
    assert_eq!(count(&msgs, "ReConnectRequest"), 0, "the original's xid-1 misparse");
    let exists: Vec<(i64, &str)> = with(&msgs, "type", "ExistsRequest")
        .iter()
        .map(|m| (m["xid"].as_i64().unwrap(), m["path"].as_str().unwrap()))
        .collect();
    let expected: Vec<(i64, String)> =
        (0..5).map(|i| (i + 1, format!("/load-testing/{i}"))).collect();
    assert_eq!(exists.iter().map(|(x, p)| (*x, p.to_string())).collect::<Vec<_>>(), expected);
    assert!(with(&msgs, "type", "ExistsRequest").iter().all(|m| m["size"] == 28));
    for port in [59814, 59815, 59816, 59817, 59819] {
        let client = format!("127.0.0.1:{port}");
        let sets: Vec<&Value> = with(&msgs, "type", "SetDataRequest")
            .into_iter()
            .filter(|m| m["client"] == client)
            .collect();
        assert_eq!(
            sets.iter().map(|m| m["xid"].as_i64().unwrap()).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        let path = sets[0]["path"].as_str().unwrap();
        assert!(path.starts_with("/load-testing/") && sets.iter().all(|m| m["path"] == path));
        assert!(sets.iter().all(|m| m["size"] == 550 || m["size"] == 549));
    }
    let writes = msgs.iter().filter(|m| m["type"] == "SetDataRequest").count();
    assert_eq!(writes, 25);
}

#[test]
fn setwatches_after_a_real_reconnect() {
    let p = capture!("setwatches.pcap");
    let msgs = dump_json(&p, &["--include-pings"]);
    let first: Vec<&str> = msgs
        .iter()
        .filter(|m| m["client"] == "127.0.0.1:60657")
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(first, ["PingRequest", "PingReply", "PingRequest"]);
    let ping_reply = with(&msgs, "type", "PingReply");
    assert_eq!(ping_reply[0]["zxid"], 1840);
    let second: Vec<&Value> = msgs.iter().filter(|m| m["client"] == "127.0.0.1:60673").collect();
    let second_types: Vec<&str> = second.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(
        second_types,
        ["ReConnectRequest", "ConnectReply", "SetWatchesRequest", "SetWatchesReply"]
    );
    let c = second[0];
    assert_eq!(
        (c["last_zxid"].as_i64(), c["timeout_ms"].as_i64(), c["session"].as_str()),
        (Some(1840), Some(30000), Some("0x10009b61d370014"))
    );
    let w = second[2];
    assert_eq!(
        (w["xid"].as_i64(), w["size"].as_u64(), w["last_zxid"].as_i64()),
        (Some(13), Some(78), Some(1840))
    );
    assert_eq!(w["watches"]["child"], json!(["/foo", "/in", "/zookeeper", "/in/portland", "/"]));
    assert_eq!(
        (
            w["watches"]["data"].as_array().map(Vec::len),
            w["watches"]["exist"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    assert_eq!(second[3]["request_type"], "SetWatchesRequest");
}

#[test]
fn quorum_captures_decode_nothing_on_the_client_port_and_do_not_fail() {
    for name in [
        "zab_commitandactivate.pcap",
        "zab_followerinfo.pcap",
        "zab_request.pcap",
        "zab_revalidate.pcap",
    ] {
        let p = capture!("zab_request.pcap").with_file_name(name);
        let (out, outcome) = dump(&p, &["--format", "json"]);
        assert!(out.is_empty(), "{name}: {out}");
        assert!(outcome.counters.capture().unwrap().tcp_segments > 0, "{name}");
    }
}

#[test]
fn summary_counts_the_dump_capture() {
    let p = capture!("dump.pcap");
    let (out, _) = dump(&p, &["--summary", "--format", "json", "--include-pings"]);
    let s: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (s["requests"].as_u64(), s["replies"].as_u64(), s["events"].as_u64()),
        (Some(13), Some(13), Some(1))
    );
    assert_eq!(s["types"]["ExistsRequest"]["requests"], 5);
    assert_eq!(s["errors"]["ExistsRequest"]["NoNode"], 3);
    assert_eq!(s["latency"]["ExistsRequest"]["count"], 5);
    assert!(s["latency"]["SetDataRequest"]["p99_us"].as_f64().unwrap() > 1000.0);
    assert_eq!(s["counters"]["decode"]["unpaired_replies"], 0);
    assert!(s["counters"]["capture"]["tcp_segments"].as_u64().unwrap() > 20);
    let (text, _) = dump(&p, &["--summary"]);
    assert!(
        text.contains("ExistsRequest") && text.contains("NoNode") && text.contains("p99"),
        "{text}"
    );
}

#[test]
fn text_output_pairs_replies_under_requests() {
    let p = capture!("dump.pcap");
    let (out, _) = dump(&p, &["--utc"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 21, "{out}");
    let i = lines.iter().position(|l| l.contains("GetDataRequest(xid=11, path=/dknightly, watch=True, size=23, client=127.0.0.1:60446)")).expect(&out);
    assert!(
        lines[i + 1].starts_with("————►") && lines[i + 1].contains("GetDataReply(xid=11"),
        "{out}"
    );
    assert!(lines[0].chars().nth(8) == Some(':'), "HH:MM:SS:micros: {}", lines[0]);
}

/// The four ZAB captures of the original's suite (leader port 20022), counted per type and
/// sender as EXPECTED.md gives them, with the fields that matter.
#[test]
fn zab_captures_decode_every_packet() {
    let zab = ["--protocol", "zab", "--zab-port", "20022"];
    let counts = |name: &str| -> Option<Vec<(String, usize)>> {
        let msgs = dump_json(&conformance(name)?, &zab);
        let msgs: Vec<Value> = msgs.into_iter().filter(|m| m["dir"] != "ensemble").collect();
        assert!(msgs.iter().all(|m| m["dir"] == "quorum"), "{name}: only quorum packets");
        let mut by: std::collections::BTreeMap<String, usize> = Default::default();
        for m in &msgs {
            *by.entry(m["type"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        Some(by.into_iter().collect())
    };
    let expect = |pairs: &[(&str, usize)]| -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> =
            pairs.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect();
        v.sort();
        v
    };
    let Some(request) = counts("zab_request.pcap") else { return };
    assert_eq!(
        request,
        expect(&[("Request", 3), ("Proposal", 6), ("Ack", 6), ("Commit", 6), ("Ping", 57)])
    );
    if let Some(c) = counts("zab_commitandactivate.pcap") {
        let want =
            [("Request", 2), ("Proposal", 4), ("Ack", 4), ("CommitAndActivate", 4), ("Ping", 40)];
        assert_eq!(c, expect(&want));
    }
    if let Some(c) = counts("zab_followerinfo.pcap") {
        let want = [
            ("FollowerInfo", 2),
            ("LeaderInfo", 2),
            ("AckEpoch", 2),
            ("Diff", 2),
            ("NewLeader", 2),
            ("Ack", 4),
            ("UpToDate", 2),
            ("Ping", 10),
        ];
        assert_eq!(c, expect(&want));
    }
    if let Some(c) = counts("zab_revalidate.pcap") {
        assert_eq!(c, expect(&[("Revalidate", 2), ("Ping", 36)]));
    }

    // The fields: a forwarded request, its proposal, a multi-field learner info, the
    // designated leader, both REVALIDATE forms.
    let msgs = dump_json(&conformance("zab_request.pcap").unwrap(), &zab);
    let requests = with(&msgs, "type", "Request");
    assert_eq!(requests[0]["request_type"], "CreateSessionRequest");
    assert_eq!(requests[0]["session"], "0x1001df405af0000");
    assert_eq!((requests[0]["cxid"].as_i64(), requests[0]["zxid"].as_i64()), (Some(0), Some(-1)));
    let creates: Vec<_> =
        requests.iter().filter(|r| r["request_type"] == "CreateRequest").collect();
    let cxids: Vec<i64> = creates.iter().map(|r| r["cxid"].as_i64().unwrap()).collect();
    assert_eq!(cxids, [2, 4]);
    assert!(creates.iter().all(|r| r["auth_entries"] == 1 && r.get("credential").is_none()));
    let proposals = with(&msgs, "type", "Proposal");
    assert_eq!(
        (proposals[0]["zxid"].as_i64(), proposals[0]["txn_type"].as_str()),
        (Some(0x1_0000_0001), Some("createSession"))
    );
    assert_eq!(
        (proposals[2]["zxid"].as_i64(), proposals[2]["txn_type"].as_str()),
        (Some(0x1_0000_0002), Some("create"))
    );
    let commits: Vec<i64> =
        with(&msgs, "type", "Commit").iter().map(|c| c["zxid"].as_i64().unwrap()).collect();
    assert_eq!(
        commits,
        [0x1_0000_0001, 0x1_0000_0001, 0x1_0000_0002, 0x1_0000_0002, 0x1_0000_0003, 0x1_0000_0003]
    );
    assert_eq!(with(&msgs, "type", "Ping")[0]["zxid"].as_i64(), Some(0x1_0000_0000));
    // Derived: the three writes committed, each acknowledged by both learners.
    let committed: Vec<&Value> = with(&msgs, "type", "Committed");
    let zxids: Vec<i64> = committed.iter().map(|c| c["zxid"].as_i64().unwrap()).collect();
    assert_eq!(zxids, [0x1_0000_0001, 0x1_0000_0002, 0x1_0000_0003]);
    assert_eq!(committed[1]["path"], "/foo");
    assert!(
        committed
            .iter()
            .all(|c| c["dir"] == "ensemble" && c["acks"].as_array().unwrap().len() == 2)
    );

    if let Some(path) = conformance("zab_followerinfo.pcap") {
        let msgs = dump_json(&path, &zab);
        let sids: Vec<i64> = with(&msgs, "type", "FollowerInfo")
            .iter()
            .map(|m| m["sid"].as_i64().unwrap())
            .collect();
        assert_eq!(sids, [2, 1]);
        let info = with(&msgs, "type", "FollowerInfo")[0];
        assert_eq!(
            (info["protocol_version"].as_i64(), info["config_version"].as_i64()),
            (Some(0x10000), Some(0))
        );
        assert!(with(&msgs, "type", "LeaderInfo").iter().all(|m| m["zxid"] == 0x1_0000_0000i64));
        assert!(with(&msgs, "type", "AckEpoch").iter().all(|m| m["epoch"] == 0));
        let config = with(&msgs, "type", "NewLeader")[0]["config"].as_str().unwrap();
        assert!(config.contains("server.3=localhost:20022:20021:participant"), "{config}");
    }
    if let Some(path) = conformance("zab_commitandactivate.pcap") {
        let msgs = dump_json(&path, &zab);
        let cna = with(&msgs, "type", "CommitAndActivate");
        assert!(cna.iter().all(|m| m["leader"] == 3), "{cna:?}");
        let first = cna.iter().map(|m| m["zxid"].as_i64().unwrap()).min();
        assert_eq!(first, Some(0x1_0000_000d));
        let reconfigs: Vec<&Value> = with(&msgs, "txn_type", "reconfig")
            .into_iter()
            .filter(|m| m["dir"] == "quorum")
            .collect();
        assert_eq!(reconfigs.len(), 4);
        let committed = with(&msgs, "type", "Committed");
        assert!(committed.iter().all(|c| c["txn_type"] == "reconfig"), "{committed:?}");
        assert_eq!(committed.len(), 2, "both reconfigs committed (by COMMITANDACTIVATE)");
        let zxids: std::collections::BTreeSet<i64> =
            reconfigs.iter().map(|m| m["zxid"].as_i64().unwrap()).collect();
        assert_eq!(zxids.into_iter().collect::<Vec<_>>(), [0x1_0000_000d, 0x1_0000_000e]);
        assert!(
            with(&msgs, "type", "Request").iter().all(|m| m["request_type"] == "ReconfigRequest")
        );
    }
    if let Some(path) = conformance("zab_revalidate.pcap") {
        let msgs = dump_json(&path, &zab);
        let r = with(&msgs, "type", "Revalidate");
        assert_eq!(
            (r[0]["from"].as_str(), r[0]["timeout_ms"].as_i64()),
            (Some("learner"), Some(10000))
        );
        assert_eq!((r[1]["from"].as_str(), r[1]["valid"].as_bool()), (Some("leader"), Some(true)));
        assert!(r.iter().all(|m| m["session"] == "0x3001df405ba0000"));
    }
    // The client protocol alone (the default) sees nothing on these ports, and says so.
    let (out, outcome) = zktraffic_tests::dump(&conformance("zab_request.pcap").unwrap(), &[]);
    assert!(
        out.is_empty() && outcome.warnings.iter().any(|w| w.contains("20022")),
        "{:?}",
        outcome.warnings
    );
}
